"""Entry of `panel serve dashboard [--args --root DIR --reference DIR]`; options: dashboard/app.py."""
import sys

from dashboard.app import create_app, parse_options

# Bokeh sets sys.argv to [this file, *--args] while it runs this script (not while dashboard.app runs)
options = parse_options(sys.argv[1:])
create_app(root=options.root, reference=options.reference).servable()

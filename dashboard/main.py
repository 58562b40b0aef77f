"""Entry of `panel serve dashboard [--args --root DIR --reference DIR]`; options: dashboard/app.py."""
from dashboard.app import create_app

create_app().servable()

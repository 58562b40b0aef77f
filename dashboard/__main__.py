"""``python -m dashboard --root DIR``: serve the dashboard to this machine only, unless asked.

By default the server listens on the loopback interface (127.0.0.1): nobody else on the
network can reach it. ``--network ORIGIN`` listens on every interface and accepts browsers
that reach it as ``ORIGIN`` (``HOST:PORT``, as typed in their address bar); put it behind
an authenticating proxy when the network is not trusted: the dashboard has no login.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

LOOPBACK = "127.0.0.1"


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options of the launcher."""
    parser = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None, help="folder whose runs are shown and under which jobs write "
                                                     "(default: HAZARD_ROOT or out/demo); paths outside it are refused")
    parser.add_argument("--reference", default=None, help="folder of the published maps")
    parser.add_argument("--port", type=int, default=5006, help="port (default 5006)")
    parser.add_argument("--network", metavar="ORIGIN", default=None,
                        help="serve on every interface to browsers that open http://ORIGIN/dashboard "
                             "(e.g. --network myhost.example.org:5006); default: this machine only")
    return parser.parse_args(list(argv))


def serve_options(options: argparse.Namespace) -> dict[str, object]:
    """Keyword arguments of ``panel.serve``: where to listen and which browser origins to accept."""
    if options.network:
        return {"address": "0.0.0.0", "port": options.port, "websocket_origin": [options.network]}
    return {"address": LOOPBACK, "port": options.port,
            "websocket_origin": [f"localhost:{options.port}", f"{LOOPBACK}:{options.port}"]}


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the dashboard until interrupted."""
    import panel as pn

    from dashboard.app import create_app

    options = parse(sys.argv[1:] if argv is None else argv)
    where = options.network or f"localhost:{options.port}"
    print(f"dashboard of {options.root or 'HAZARD_ROOT / out/demo'}: open http://{where}/dashboard", flush=True)
    pn.serve({"dashboard": lambda: create_app(root=options.root, reference=options.reference)}, show=False,
             title="Landslide hazard", **serve_options(options))


if __name__ == "__main__":
    main()

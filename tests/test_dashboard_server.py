"""`panel serve dashboard` opens the app on an evaluated root (a real server in a subprocess)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("panel")

from conftest import docs_screenshots

from dashboard.app import TITLE

pytestmark = pytest.mark.integration
STARTUP_S = 60
REQUEST_TIMEOUT_S = 90  # the first request builds the session: imports torch, holoviews, reads the run


def fetch(url: str, deadline: float) -> tuple[int, str]:
    """GET ``url``, retrying while the server is not yet listening (until ``deadline``)."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=REQUEST_TIMEOUT_S) as response:
                return response.status, response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def session_tabs(url: str) -> list[str]:
    """Open a Bokeh session over the websocket (as a browser does) and list the app's tab titles."""
    import panel.models  # noqa: F401  (the client must know Panel's Bokeh models to read the document)
    from bokeh.client import pull_session

    session = pull_session(url=url)
    try:
        return [model.title for root in session.document.roots for model in root.references()
                if type(model).__name__ == "TabPanel"]
    finally:
        session.close()


def test_panel_serve_opens_the_app(evaluated_root: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with docs_screenshots().serve(evaluated_root, log_path) as url:
        status, body = fetch(url, time.monotonic() + STARTUP_S)
        tabs = session_tabs(url)
    log_text = log_path.read_text(encoding="utf-8")
    assert status == 200, log_text
    assert TITLE in body
    assert {"Runs", "Inventory", "Predictors", "Train", "Maps", "Evaluation", "A cell's story"} <= set(tabs)
    assert "Error running application handler" not in log_text and "Traceback" not in log_text, log_text

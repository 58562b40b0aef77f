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


def listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp, state 0A = LISTEN)."""
    addresses = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, local_port = local.split(":")
        if state == "0A" and int(local_port, 16) == port:
            addresses.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return addresses


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the listening sockets from /proc/net/tcp")
def test_the_launcher_listens_on_this_machine_only_unless_told(evaluated_root: Path, tmp_path: Path) -> None:
    screenshots = docs_screenshots()
    port = screenshots.free_port()
    with screenshots.serve(evaluated_root, tmp_path / "local.log", port=port, launcher_args=[]) as url:
        assert listening_addresses(port) == {"127.0.0.1"}
        status, body = fetch(url, time.monotonic() + STARTUP_S)
        assert status == 200 and TITLE in body, (tmp_path / "local.log").read_text()
    port = screenshots.free_port()
    origin = f"hazard-host.example:{port}"
    with screenshots.serve(evaluated_root, tmp_path / "network.log", port=port, launcher_args=["--network", origin]):
        assert listening_addresses(port) == {"0.0.0.0"}
    assert f"open http://{origin}/dashboard" in (tmp_path / "network.log").read_text()


def test_launcher_options() -> None:
    from dashboard.__main__ import parse, serve_options

    local = serve_options(parse(["--root", "r", "--port", "7000"]))
    assert local == {"address": "127.0.0.1", "port": 7000, "websocket_origin": ["localhost:7000", "127.0.0.1:7000"]}
    network = serve_options(parse(["--network", "h.example:80", "--port", "80"]))
    assert network == {"address": "0.0.0.0", "port": 80, "websocket_origin": ["h.example:80"]}

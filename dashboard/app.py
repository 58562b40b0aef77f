"""The landslide hazard dashboard: ``create_app()`` builds it, ``python -m dashboard`` serves it.

Serve (from the repository root)::

    python -m dashboard --root DIR                          # this machine only (127.0.0.1:5006)
    python -m dashboard --root DIR --network HOST:5006      # every interface, browsers at HOST:5006
    panel serve dashboard                                   # reads runs under ./out/demo
    panel serve dashboard --args --root DIR --reference DIR
    HAZARD_ROOT=DIR HAZARD_REFERENCE=DIR panel serve dashboard

In a notebook: ``from dashboard.app import create_app; create_app(root="out/demo")``.

The page's address keeps the tab, run, slice, layer and selected cell (``?tab=4&slice=2&cell=[5, 3]``):
a copied link reopens the same view (:func:`share_in_url`). The Maps tab downloads the sidebar's layer
of the current slice as a GeoTIFF or a PNG figure, and the hazard over time as a CSV table; the About
tab says what the model and each layer are, how thresholds and calibration were set, and where the
data come from under which licence. The Scenarios tab predicts a period again with its rain scaled, a
design storm or an earthquake switched (``dashboard/scenario_view.py``).

Options (after ``--args``; the environment variables apply in notebooks too):

``--root DIR`` / ``HAZARD_ROOT``
    Folder whose runs are shown (``DIR/**/runs/<id>``); default ``out/demo`` relative to
    the current directory (the output of ``hazard demo``). The dashboard reads only under
    it (paths typed in the UI are resolved and refused outside it), and the demo and
    training write under it.
``--reference DIR`` / ``HAZARD_REFERENCE``
    Folder of the original study's published maps, shown beside ours for runs on the
    study grid; default ``../shared/reference`` relative to the repository when it exists.

Network: nothing is fetched from the internet but map tiles, and those only when the *web
basemap* switch is turned on. The page's scripts, stylesheets and fonts come from this server
(:func:`local_resources`): the Fast design's web font is not linked, and stylesheets are never
pointed at Panel's CDN.
``python -m dashboard`` (``dashboard/__main__.py``) listens on the loopback interface only
unless given ``--network``. Under ``panel serve``, the Bokeh server accepts websocket
connections only from ``localhost:PORT`` but listens on every interface unless given
``--address 127.0.0.1``. Opening it to other machines lets their users train models on
this machine: say so explicitly and prefer an authenticating proxy in front.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import holoviews as hv
import panel as pn
import param
from panel import reactive, theme
from panel.io.resources import CDN_DIST, LOCAL_DIST, patch_stylesheet

from dashboard.scenario_view import ScenarioView
from dashboard.state import DashboardState
from dashboard.views import (
    AboutView,
    CellStoryView,
    EvaluationView,
    InventoryView,
    MapsView,
    PredictorsView,
    RunChooser,
    TrainView,
    alert,
    checkbox,
    job_panel,
    markdown,
)

if TYPE_CHECKING:
    from panel.io.resources import ResourcesType

TITLE = "Landslide hazard dashboard"
#: How often (ms) the page reads the job's progress and the training log.
POLL_MS = 1000
REPOSITORY = Path(__file__).resolve().parents[1]
#: Width of the sidebar (px) and of what it holds (the sidebar pads its content).
SIDEBAR_WIDTH = 300
SIDEBAR_CONTENT = 285


class Fast(theme.Fast):
    """Panel's Fast design without its web font (Open Sans from fonts.googleapis.com): the page falls back
    to the browser's sans-serif, and asks no other machine for anything.

    Named ``Fast`` like its parent: Panel finds a design's bundled files under its class name in lower case.
    """

    _resources: ClassVar[ResourcesType] = {**theme.Fast._resources, "font": {}}


def local_dist() -> str:
    """Where this server serves Panel's static files, relative to the page (``static/extensions/panel/``)."""
    return f"{pn.state.rel_path}/{LOCAL_DIST}" if pn.state.rel_path else LOCAL_DIST


def patch_locally(stylesheet: Any, dist_url: str) -> None:
    """Panel's ``patch_stylesheet``, but a stylesheet is never pointed at Panel's CDN: at this server instead."""
    patch_stylesheet(stylesheet, local_dist() if dist_url == CDN_DIST else dist_url)


def local_resources() -> None:
    """Point every stylesheet of this server's pages at this server, never at Panel's CDN.

    Panel points a stylesheet at its CDN whenever it updates a model that is not in a document
    (a pane of a tab not shown: ``pn.Tabs(dynamic=True)`` detaches them) or before the page knows
    where the static files are; such models reached the browser when their tab was shown again
    after a job, and the browser asked cdn.holoviz.org for ``loading.css``, ``dataframe.css``,
    ``markdown.css`` (40 failed requests offline, and code lost its styling). Panel's reactive
    models patch their stylesheets through ``panel.reactive.patch_stylesheet``: under a server,
    that function is replaced by :func:`patch_locally` (once per process), and the stylesheets this
    page has cached already are patched to the local files.
    """
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return  # a notebook or a test: no page of this server
    reactive.patch_stylesheet = patch_locally
    for stylesheet in pn.state._stylesheets.get(doc, {}).values():
        patch_locally(stylesheet, CDN_DIST)


def default_reference() -> Path | None:
    """``HAZARD_REFERENCE`` if set, else ``../shared/reference`` next to the repository if it exists."""
    if os.environ.get("HAZARD_REFERENCE"):
        return Path(os.environ["HAZARD_REFERENCE"])
    folder = REPOSITORY.parent / "shared" / "reference"
    return folder if folder.is_dir() else None


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    """``--root`` and ``--reference`` from ``panel serve dashboard --args ...`` (unknown arguments ignored)."""
    parser = argparse.ArgumentParser(prog="panel serve dashboard --args", add_help=False)
    parser.add_argument("--root", default=None, help="folder whose runs are shown (default: HAZARD_ROOT or out/demo)")
    parser.add_argument("--reference", default=None, help="folder of the published maps")
    options, _ = parser.parse_known_args(list(argv))
    return options


def slice_player(state: DashboardState) -> pn.widgets.Player:
    """The slice player, linked both ways to ``state.slice``.

    A move sets the slice inside one held, frozen document (``pn.io.hold(freeze=True)``): the
    maps' updates reach the browser together and Bokeh walks the document's model graph once
    instead of once per updated plot (that walk was half the server's time per slice change).
    """
    # no loop-policy radios (they overlapped the next label in the 300 px sidebar): the player always loops
    player = pn.widgets.Player(name="Slice", start=0, end=state.param.slice.bounds[1], value=state.slice,
                               loop_policy="loop", interval=1500, width=SIDEBAR_CONTENT, show_value=False,
                               show_loop_controls=False)

    def to_state(event: param.parameterized.Event) -> None:
        if event.new != state.slice:
            with pn.io.hold(freeze=True):
                state.slice = event.new

    def to_player(*_: object) -> None:
        player.param.update(end=state.param.slice.bounds[1], value=state.slice)

    player.param.watch(to_state, "value")
    state.param.watch(to_player, ["slice", "workdir"])
    return player


def sidebar(state: DashboardState) -> list[pn.viewable.Viewable]:
    """Run and slice choosers, layer / channel, switches, the job and the last message."""
    def slice_text(*_: object) -> str:
        return f"**Slice {state.slice + 1}**: {state.slice_period}"  # the label and the period's dates

    label = markdown(pn.bind(slice_text, state.param.slice, state.param.run, state.param.revision))
    def message_text(text: str) -> str:
        return text.replace("\n", "  \n")  # one line per clause of hazardcore's messages

    def message_kind(error: bool) -> str:
        return "danger" if error else "info"

    message = alert(pn.bind(message_text, state.param.message), visible=pn.bind(bool, state.param.message),
                            alert_type=pn.bind(message_kind, state.param.message_is_error))
    return [pn.widgets.Select.from_param(state.param.run, label="Run"),
            label,
            slice_player(state),
            pn.widgets.Select.from_param(state.param.layer, label="Layer: published map, two periods"),
            pn.widgets.Select.from_param(state.param.channel, label="Predictor channel"),
            checkbox(state, "test_only", "Evaluation: test cells only"),
            checkbox(state, "basemap", "Web basemap (needs internet)"),
            job_panel(state),
            message]


#: What the page's address keeps (query parameter → the state's param): a link reopens the same view.
URL_STATE = {"run": "run", "slice": "slice", "cell": "cell", "layer": "layer"}


def share_in_url(tabs: pn.Tabs, state: DashboardState) -> None:
    """Keep the tab, run, slice, layer and selected cell in the page's address (``?tab=4&slice=1&...``).

    Opening such an address restores them; a run that is not listed under the root is refused by
    the run chooser (``check_on_set``), so a link cannot open a folder outside the root.
    """
    location = pn.state.location
    if location is None:
        return  # a notebook or a test: no page address
    location.sync(state, URL_STATE)
    location.sync(tabs, {"active": "tab"})


def create_app(root: str | Path | None = None, reference: str | Path | None = None,
               state: DashboardState | None = None) -> pn.template.FastListTemplate:
    """The dashboard as a template with a sidebar and one tab per view.

    Parameters
    ----------
    root
        Folder whose runs are shown; default ``HAZARD_ROOT``, else ``out/demo``. Under
        ``panel serve``, ``dashboard/main.py`` passes ``--root``.
    reference
        Folder of the published maps; default ``HAZARD_REFERENCE``, or ``../shared/reference``
        next to the repository. Under ``panel serve``, ``dashboard/main.py`` passes ``--reference``.
    state
        An existing state to show (then ``root`` and ``reference`` are ignored).

    Returns
    -------
    panel.template.FastListTemplate
        Call ``.servable()`` to serve it, or show it in a notebook cell.
    """
    pn.extension()
    hv.extension("bokeh", logo=False)
    local_resources()
    pn.state.onload(local_resources)
    if state is None:
        state = DashboardState(root=root, reference=reference or default_reference())
    scenarios = ScenarioView(state)
    tabs = pn.Tabs(("Runs", RunChooser(state)), ("Inventory", InventoryView(state)),
                   ("Predictors", PredictorsView(state)), ("Train", TrainView(state)), ("Maps", MapsView(state)),
                   ("Evaluation", EvaluationView(state)), ("A cell's story", CellStoryView(state)),
                   ("Scenarios", scenarios), ("About", AboutView(state)), dynamic=True)
    scenarios.follow(tabs)  # loads the run's model when the tab is first shown
    share_in_url(tabs, state)
    template = pn.template.FastListTemplate(title=TITLE, sidebar=sidebar(state), main=[tabs],
                                            sidebar_width=SIDEBAR_WIDTH, design=Fast)
    template.state = state  # type: ignore[attr-defined]  # for notebooks and tests: the app's state
    pn.state.add_periodic_callback(state.poll, period=POLL_MS)
    return template

"""Rain-factor response time of the dashboard's Scenarios tab; prints one table.

Opens the dashboard's state on ROOT (the sidebar's newest run, or ``--run``), builds the Scenarios
tab (``dashboard/scenario_view.py``) into a Bokeh document as the server does, shows it (which loads
the run's model once and computes the reference period's what-if), then moves the rain factor
``--changes`` times. Each change is timed from setting the factor until the tab holds the new result
with its maps, difference map and totals table re-rendered into the document: the server's share of
a response (the websocket round trip and the browser's drawing, a few tens of ms on one machine, are
not included). The same changes are also timed through ``hazardcore.whatif.predict`` alone.

With ``--browser``, the tab is also served (``panel serve dashboard``, as ``docs/screenshots.py``
does) and opened in headless Chromium; the rain-factor slider is moved with the keyboard, one step
at a time, and each step is timed from the key press until the page's status line names the new
factor with its computation done: the whole response a user sees, minus the drawing of the maps.

Usage (after ``make demo``)::

    .venv/bin/python benchmarks/scenario_panel.py --root out/demo [--run RUN_ID] [--changes 10] [--browser]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
#: Page side: time the next key press on the slider's handle.
ARM_JS = """(handle) => {
  window.__whatif = {t0: null};
  handle.addEventListener("keydown", () => { window.__whatif.t0 = performance.now(); }, {once: true, capture: true});
}"""
#: Page side: milliseconds since the key press once the status names ``label`` as computed (else null).
DONE_JS = """(label) => {
  const s = window.__whatif;
  if (s.t0 === null) return null;
  const done = (text) => {
    const at = text.indexOf(label);
    return at >= 0 && !/[0-9.]/.test(text.charAt(at + label.length)) && text.includes("computed in");
  };
  const views = [...Bokeh.index.all_views()].filter((v) => typeof v.model.text === "string" && done(v.model.text));
  return views.length ? performance.now() - s.t0 : null;
}"""


def factors(changes: int) -> list[float]:
    """``changes`` rain factors across the slider's range, none equal to its neighbour (from 1.0)."""
    values = [round(0.6 + 2.2 * ((k * 0.37) % 1.0), 2) for k in range(1, changes + 1)]
    return [value + 0.05 if value == 1.0 else value for value in values]


def browser_latencies(root: Path, changes: int, reference: str) -> list[float]:
    """Milliseconds from a key press on the served tab's rain-factor slider to the new totals, per step."""
    spec = importlib.util.spec_from_file_location("docs_screenshots", REPOSITORY / "docs" / "screenshots.py")
    assert spec is not None and spec.loader is not None
    shots = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = shots
    spec.loader.exec_module(shots)
    from playwright.sync_api import sync_playwright

    log = Path(tempfile.mkdtemp(prefix="scenario_panel_")) / "server.log"
    latencies: list[float] = []
    with shots.serve(root.resolve(), log) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(shots.CHROMIUM), args=shots.CHROMIUM_ARGS)
        try:
            dashboard = shots.Dashboard(browser.new_page(viewport=shots.VIEWPORT))
            dashboard.open(url)
            dashboard.tab("Scenarios")
            dashboard.wait_text(f"{reference} × 1 · ")
            dashboard.settle()
            handle = dashboard.page.locator(".noUi-handle").first
            factor = 1.0
            for _ in range(changes):
                factor = round(factor + 0.05, 2)
                latencies.append(step_ms(dashboard, handle, f"{reference} × {factor:g}"))
        finally:
            browser.close()
    log.unlink(missing_ok=True)
    return latencies


def step_ms(dashboard: Any, handle: Any, label: str) -> float:
    """Press ArrowRight on the slider's handle; milliseconds until the status names ``label`` as computed."""
    dashboard.page.evaluate(ARM_JS, handle.element_handle())
    handle.focus()
    dashboard.page.keyboard.press("ArrowRight")
    done = dashboard.page.wait_for_function(DONE_JS, arg=label, polling="raf", timeout=dashboard.timeout_ms)
    latency = float(done.json_value())
    dashboard.settle()
    return latency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the dashboard's root (e.g. out/demo)")
    parser.add_argument("--run", default=None, help="run id (default: the dashboard's choice, the newest)")
    parser.add_argument("--changes", type=int, default=10, help="rain-factor changes to time")
    parser.add_argument("--browser", action="store_true", help="also time the served tab in headless Chromium")
    options = parser.parse_args(argv)
    import torch

    from dashboard.scenario_view import ScenarioView
    from dashboard.state import DashboardState
    from hazardcore import whatif

    state = DashboardState(root=options.root)
    if options.run:
        state.run = next(path for path in state.param.run.objects.values() if Path(path).name == options.run)
    view = ScenarioView(state)
    view.__panel__().get_root()  # the tab's Bokeh models, as a server session holds them
    started = time.perf_counter()
    view.show()
    load_s = time.perf_counter() - started
    model, result = view.model, view.result
    if model is None or result is None:
        raise SystemExit(f"no what-if for {state.run}: {view.note}")
    tab_ms, library_ms = [], []
    for factor in factors(options.changes):
        started = time.perf_counter()
        view.rain_factor = factor
        tab_ms.append(1000 * (time.perf_counter() - started))
        assert view.result is not None and view.result.whatif.rain_factor == factor
        started = time.perf_counter()
        whatif.predict(model, whatif.WhatIf(result.whatif.reference, factor))
        library_ms.append(1000 * (time.perf_counter() - started))
    browser_ms = browser_latencies(options.root, options.changes, result.whatif.reference) if options.browser else []
    cells = int(result.totals["cells"])
    kind = f"ensemble of {len(model.members)}" if model.ensemble else "single run"
    print(f"run {model.run.name} ({kind}), reference period {result.whatif.reference}, {cells} cells, "
          f"{os.cpu_count()} CPUs, what-ifs on {model.threads} torch thread(s) (the process: "
          f"{torch.get_num_threads()}); loading the run and the first what-if: {load_s:.2f} s")
    header = ("step", "changes", "median ms", "max ms")
    rows = [("Scenarios tab: predict + totals + maps", tab_ms), ("hazardcore.whatif.predict alone", library_ms)]
    if browser_ms:
        rows.insert(0, ("in the browser: key press to the new totals", browser_ms))
    print(" | ".join(header))
    print(" | ".join("-" * len(h) for h in header))
    for name, values in rows:
        print(f"{name} | {len(values)} | {statistics.median(values):.0f} | {max(values):.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Slice-slider latency of the dashboard, measured in a real browser; prints one table.

Serves ``panel serve dashboard --args --root ROOT`` (as ``docs/screenshots.py`` does), opens it in
headless Chromium (Playwright, ``/usr/bin/chromium``), shows a tab and moves the sidebar's slice
slider with the keyboard, one slice at a time, forward to the last slice and back to the first.
Each step's latency runs from the key press (``performance.now()`` in a keydown listener on the
slider) until every map of the tab shows new image data *and* Bokeh has drawn it (the view reports
``has_finished``), polled on every animation frame: the key event, the websocket round trip, the
server's recomputation, the transfer of the new images and the browser's drawing.

Usage (after ``hazard predict`` on a study-area-sized run, see benchmarks/RESULTS.md)::

    .venv/bin/python benchmarks/dashboard_slider.py --root out/study [--run RUN_ID] [--tabs Maps Inventory]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
#: Figures (title prefixes) that follow the slice on each measured tab.
TAB_FIGURES = {"Maps": ("susceptibility", "density given occurrence", "hazard", "observed density"),
               "Inventory": ("new landslide density",)}
#: Page side: remember each figure's image arrays (and view), and time the next key press on the slider.
ARM_JS = """([prefixes, slider]) => {
  const views = [...Bokeh.index.all_views()].filter((v) => v.frame && v.model.title
    && v.el.getBoundingClientRect().width > 0);
  const images = (v) => v.model.renderers.filter((r) => r.data_source && r.data_source.data.image)
    .map((r) => r.data_source.data.image[0]);
  window.__slider = {t0: null, before: {}, images, prefixes};
  for (const p of prefixes) {
    const v = views.find((v) => (v.model.title.text || "").startsWith(p));
    if (!v) throw new Error("no shown figure titled " + p);
    window.__slider.before[p] = {view: v, images: images(v)};
  }
  slider.addEventListener("keydown", () => { window.__slider.t0 = performance.now(); }, {once: true, capture: true});
}"""
#: Page side: milliseconds since the key press once every figure shows new, drawn images (else null).
DONE_JS = """() => {
  const s = window.__slider;
  if (s.t0 === null) return null;
  const views = [...Bokeh.index.all_views()].filter((v) => v.frame && v.model.title
    && v.el.getBoundingClientRect().width > 0);
  for (const p of s.prefixes) {
    const v = views.find((v) => (v.model.title.text || "").startsWith(p));
    if (!v || !v.has_finished()) return null;
    const now = s.images(v), old = s.before[p];
    if (v === old.view && now.length === old.images.length && now.every((a, i) => a === old.images[i])) return null;
  }
  return performance.now() - s.t0;
}"""


def screenshots_module() -> ModuleType:
    """``docs/screenshots.py`` (its server launcher and page helpers) as a module."""
    spec = importlib.util.spec_from_file_location("docs_screenshots", REPOSITORY / "docs" / "screenshots.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def step_latency_ms(dashboard: Any, prefixes: tuple[str, ...], key: str) -> float:
    """Press ``key`` on the slice slider; milliseconds until every figure shows new, drawn images."""
    page = dashboard.page
    slider = page.locator("input[type=range]").first
    page.evaluate(ARM_JS, [list(prefixes), slider.element_handle()])
    slider.focus()
    page.keyboard.press(key)
    handle = page.wait_for_function(DONE_JS, polling="raf", timeout=dashboard.timeout_ms)
    latency = float(handle.json_value())
    dashboard.settle()
    return latency


def measure_tab(dashboard: Any, tab: str, n_slices: int) -> list[float]:
    """Latencies of stepping the slider from slice 1 to the last and back on ``tab``."""
    dashboard.choose_slice(0)
    dashboard.tab(tab)
    for prefix in TAB_FIGURES[tab]:
        dashboard.figure(prefix)
    dashboard.drawn()
    dashboard.settle()
    keys = ["ArrowRight"] * (n_slices - 1) + ["ArrowLeft"] * (n_slices - 1)
    return [step_latency_ms(dashboard, TAB_FIGURES[tab], key) for key in keys]


def grid_shape(root: Path, run_id: str) -> tuple[int, int, int]:
    """(slices, rows, columns) of the run's predictions."""
    import xarray as xr

    paths = sorted(root.glob(f"**/runs/{run_id}/predictions.nc"))
    if not paths:
        raise SystemExit(f"run {run_id} under {root} has no predictions.nc")
    with xr.open_dataset(paths[0]) as predictions:
        slices = predictions.sizes.get("time", predictions.sizes.get("slice", 0))  # by time since issue 21
        return int(slices), int(predictions.sizes["y"]), int(predictions.sizes["x"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="run root holding the predicted run")
    parser.add_argument("--run", default=None, help="run id (default: the dashboard's choice, the newest)")
    parser.add_argument("--tabs", nargs="+", default=list(TAB_FIGURES), choices=list(TAB_FIGURES))
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    options = parser.parse_args(argv)
    shots = screenshots_module()
    from playwright.sync_api import sync_playwright

    rows = []
    log = Path(tempfile.mkdtemp(prefix="dashboard_slider_")) / "server.log"
    with shots.serve(options.root.resolve(), log) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(options.chromium), args=shots.CHROMIUM_ARGS)
        try:
            dashboard = shots.Dashboard(browser.new_page(viewport=shots.VIEWPORT))
            dashboard.open(url)
            if options.run:
                dashboard.choose_run(options.run)
            run_id = dashboard.selected_run().split()[0]
            n_slices, n_rows, n_cols = grid_shape(options.root, run_id)
            for tab in options.tabs:
                latencies = measure_tab(dashboard, tab, n_slices)
                rows.append((tab, len(TAB_FIGURES[tab]), f"{n_rows}x{n_cols}x{n_slices}", len(latencies),
                             statistics.median(latencies), max(latencies)))
        finally:
            browser.close()
    log.unlink(missing_ok=True)
    header = ("tab", "maps", "grid (rows x cols x slices)", "steps", "median ms", "max ms")
    widths = [max(len(str(h)), 12) for h in header]
    print(f"run {run_id}")
    print(" | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print(" | ".join("-" * w for w in widths))
    for row in rows:
        cells = [f"{v:.0f}" if isinstance(v, float) else str(v) for v in row]
        print(" | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

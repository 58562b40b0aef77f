"""The dashboard reads well and keeps its state (issue 23), checked in headless Chromium at 1400 × 900.

One server on a copy of the session's evaluated root and one page for the module, as in
``test_browser.py``. Layout is checked by element bounds: every figure inside the window, the
sidebar's widgets inside the sidebar and not on top of each other. Every test ends with no
JavaScript or console error (a failed resource load counts) and no request to another machine.

Run with ``pytest -m browser tests/test_browser_reads.py``; needs the ``playwright`` package and
Chromium at ``/usr/bin/chromium``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import docs_screenshots

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")

pytest.importorskip("playwright.sync_api", reason="the browser tests need the playwright package")
if not CHROMIUM.exists():
    pytest.skip(f"the browser tests need Chromium at {CHROMIUM}", allow_module_level=True)

shots = docs_screenshots()

#: Page-side: the page rectangles [x, y, width, height] of the Bokeh views shown in the sidebar, with their type.
SIDEBAR_JS = """() => {
  const out = [];
  for (const view of Bokeh.index.all_views()) {
    if (!view.el || !view.el.getBoundingClientRect) continue;
    let node = view.el, inside = false;
    while (node) { if (node.id === 'sidebar') { inside = true; break; } node = node.parentNode || node.host; }
    const box = view.el.getBoundingClientRect();
    if (inside && box.width > 0 && box.height > 0)
      out.push({type: view.model.type, rect: [box.x, box.y, box.width, box.height]});
  }
  const bar = document.querySelector('#sidebar').getBoundingClientRect();
  return {sidebar: [bar.x, bar.y, bar.width, bar.height], views: out};
}"""
#: Page-side: titles and page rectangles of the shown Bokeh figures, with where the title ends on the figure:
#: the left edge of its panel plus the width Bokeh's title view lays its text out to.
FIGURES_JS = """() => {
  const end = (v) => { const t = v.model.title; if (!t || !t.text) return 0;
    const view = [...v.renderer_views.values()].find((r) => r.model === t);
    return view.bbox.x + view._get_size().width; };
  return [...Bokeh.index.all_views()].filter((v) => v.frame && v.el.getBoundingClientRect().width > 0)
  .map((v) => ({title: (v.model.title && v.model.title.text) || v.model.type, title_end: end(v),
                rect: (({x, y, width, height}) => [x, y, width, height])(v.el.getBoundingClientRect())})); }"""
#: Page-side: the x-axis tick formatter of the shown figure titled ``prefix...``.
FORMATTER_JS = """(prefix) => { for (const v of Bokeh.index.all_views())
  if (v.frame && v.model.title && (v.model.title.text || '').startsWith(prefix)
      && v.el.getBoundingClientRect().width > 0)
    return v.model.below[0].formatter.type; return null; }"""


@pytest.fixture(scope="module")
def root(evaluated_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("browser_reads") / "root"
    shutil.copytree(evaluated_root, copy, ignore=shutil.ignore_patterns("checkpoints"))
    return copy


@pytest.fixture(scope="module")
def run(root: Path) -> Path:
    (run,) = (root / "work" / "runs").iterdir()
    return run


@pytest.fixture(scope="module")
def predictions(run: Path) -> Any:
    from hazardcore.export import open_predictions

    return open_predictions(run / "predictions.nc")


@pytest.fixture(scope="module")
def server(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    try:
        with shots.serve(root, log) as url:
            yield url
    finally:
        print("server log:\n" + log.read_text(encoding="utf-8")[-5000:])


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=shots.CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def dashboard(chromium: Any, server: str) -> Any:
    dashboard = shots.Dashboard(chromium.new_page(viewport=shots.VIEWPORT, accept_downloads=True))
    dashboard.open(server)
    dashboard.wait_text(r"^Runs under ")
    return dashboard


def assert_clean(dashboard: Any) -> None:
    """No JavaScript or console error (failed loads included) and no request to another machine so far."""
    assert not dashboard.errors, "\n".join(dashboard.errors) + "\n" + "\n".join(dashboard.console[-40:])
    assert not dashboard.external_urls, sorted(dashboard.external_urls)


def overlaps(a: list[float], b: list[float]) -> bool:
    """Whether two page rectangles [x, y, width, height] share more than a pixel each way."""
    across = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    down = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return across > 1 and down > 1


def test_the_sidebar_holds_its_widgets_without_overlap(dashboard: Any) -> None:
    """The player's radio buttons overlapped the next label, and the job panel stuck out of the sidebar."""
    layout = dashboard.page.evaluate(SIDEBAR_JS)
    x, _, width, _ = layout["sidebar"]
    views = [view for view in layout["views"] if not view["type"].endswith(("Column", "Row"))]
    assert len(views) >= 6, views
    for view in views:
        left, _, span, _ = view["rect"]
        assert left >= x - 1 and left + span <= x + width + 1, view
    for k, a in enumerate(views):
        for b in views[k + 1:]:
            assert not overlaps(a["rect"], b["rect"]), (a, b)
    player = dashboard.page.locator("#sidebar input[type=radio]")
    assert player.count() == 0  # no loop-policy radios
    assert_clean(dashboard)


@pytest.mark.parametrize("name", list(shots.VIEWS))
def test_every_tab_fits_the_window(dashboard: Any, name: str) -> None:
    """At 1400 px the right-hand colour bars, the inventory histogram and the contour plot were clipped, the
    interval map's title ran past its figure, the metrics tables and the Predictors' description past the window."""
    dashboard.tab(shots.VIEWS[name])
    if name == "cell":  # no cell chosen yet: the story's (empty) plots
        dashboard.figure("Probability of new landslides")
        dashboard.figure("Densities (% of the cell)")
        dashboard.drawn()
    else:
        shots.wait_for_view(dashboard, name)
    dashboard.settle()
    figures = dashboard.page.evaluate(FIGURES_JS)
    assert figures or name in ("runs", "about"), name
    for figure in figures:
        left, _, width, _ = figure["rect"]
        assert left >= 0 and left + width <= shots.VIEWPORT["width"], figure
        assert figure["title_end"] <= width + 1, f"the title is clipped: {figure}"  # the interval map's was
    tables = dashboard.page.locator("table").evaluate_all(  # the metrics tables ran 480 px past the window
        "(ts) => ts.filter((t) => t.getBoundingClientRect().width > 0).map((t) => t.getBoundingClientRect().right)")
    assert all(right <= shots.VIEWPORT["width"] for right in tables), tables
    texts = dashboard.page.locator("p, li, h3, h4, label").evaluate_all(  # the Predictors' description ran off
        "(ps) => ps.filter((p) => p.getBoundingClientRect().width > 0).map((p) => [p.getBoundingClientRect().right,"
        " p.innerText.slice(0, 60)])")
    assert all(right <= shots.VIEWPORT["width"] for right, _ in texts), [t for t in texts if t[0] > 1400]
    overflow = dashboard.page.evaluate("() => { const m = document.querySelector('#main');"
                                       " return m.scrollWidth - m.clientWidth; }")
    assert overflow <= 1, f"the main area scrolls sideways by {overflow} px"
    assert_clean(dashboard)


def test_map_ticks_are_readable_metres(dashboard: Any) -> None:
    """Easting labels ran together ("3.000e+53.020e+5")."""
    dashboard.tab("Maps")
    dashboard.figure("susceptibility")
    assert dashboard.page.evaluate(FORMATTER_JS, "susceptibility") == "NumeralTickFormatter"
    assert_clean(dashboard)


def test_a_checkbox_label_toggles_it(dashboard: Any) -> None:
    box = dashboard.page.locator("#sidebar input[type=checkbox]").first
    before = box.is_checked()
    dashboard.page.locator("#sidebar").get_by_text("Evaluation: test cells only").click()
    dashboard.page.wait_for_function("([b, v]) => b.checked !== v", arg=[box.element_handle(), before],
                                     timeout=dashboard.timeout_ms)
    dashboard.page.locator("#sidebar").get_by_text("Evaluation: test cells only").click()
    dashboard.page.wait_for_function("([b, v]) => b.checked === v", arg=[box.element_handle(), before],
                                     timeout=dashboard.timeout_ms)
    dashboard.settle()
    assert_clean(dashboard)


def test_the_contour_plot_follows_every_slice(dashboard: Any, predictions: Any) -> None:
    """It froze on an earlier period (HoloViews' "not both Overlay and Points" in the console)."""
    labels = [str(label) for label in predictions["slice"].values]
    dashboard.tab("Evaluation")
    dashboard.choose_slice(0)
    dashboard.figure(f"Density vs susceptibility · {labels[0]}")
    for k in range(1, len(labels)):
        dashboard.choose_slice(k)
        dashboard.figure(f"Density vs susceptibility · {labels[k]}")
    dashboard.choose_slice(0)
    dashboard.figure(f"Density vs susceptibility · {labels[0]}")
    assert_clean(dashboard)


def test_file_names_are_not_web_links(dashboard: Any) -> None:
    dashboard.tab("Runs")
    dashboard.wait_text(r"^Run \w+ in ")
    links = dashboard.page.locator("a[href*='model.pt'], a[href*='predictions.nc']")
    assert links.count() == 0
    assert_clean(dashboard)


def test_the_address_keeps_tab_slice_and_cell(chromium: Any, server: str, predictions: Any) -> None:
    """A link reopens the view: tab, slice and selected cell come back from the address."""
    labels = [str(label) for label in predictions["slice"].values]
    page = shots.Dashboard(chromium.new_page(viewport=shots.VIEWPORT))
    try:
        page.open(f"{server}?tab=5&slice=1&cell=%5B2%2C%203%5D")
        header = page.tab_header("Evaluation")
        page.page.wait_for_function("(h) => h.classList.contains('bk-active')", arg=header.element_handle(),
                                    timeout=page.timeout_ms)
        assert page.slice_label().startswith(f"Slice 2: {labels[1]}")
        page.figure(f"confusion · {labels[1]}")
        page.tab("A cell's story")
        page.wait_text(r"^Cell row 2, column 3 ")
        page.step_slice("ArrowRight")
        page.page.wait_for_function("() => /[?&]slice=2(&|$)/.test(window.location.search)", timeout=page.timeout_ms)
        assert re.search(r"[?&]tab=6(&|$)", page.page.evaluate("() => window.location.search"))
        assert_clean(page)
    finally:
        page.page.close()


def test_the_shown_map_downloads_as_geotiff_png_and_csv(dashboard: Any, predictions: Any, run: Path) -> None:
    import pandas as pd
    import rasterio

    labels = [str(label) for label in predictions["slice"].values]
    dashboard.choose_slice(1)
    dashboard.tab("Maps")
    dashboard.figure("susceptibility")
    files = {}
    for label in ("GeoTIFF of the layer's map", "PNG figure of the layer's map", "CSV of the hazard over time"):
        with dashboard.page.expect_download(timeout=dashboard.timeout_ms) as info:
            dashboard.page.get_by_role("button", name=label).click()
        files[label] = (info.value.suggested_filename, Path(info.value.path()).read_bytes())
    name, data = files["GeoTIFF of the layer's map"]
    assert name == f"{run.name}_hazard_{labels[1]}.tif"
    with rasterio.open(io.BytesIO(data)) as source:
        values = source.read(1)
        assert source.crs.to_epsg() == 32645 and source.tags()["units"] == "%"
        shown = np.where(values == source.nodata, np.nan, values)
    np.testing.assert_allclose(shown, predictions["hazard"].isel(slice=1).values, rtol=1e-6)
    name, data = files["PNG figure of the layer's map"]
    assert name.endswith(".png") and data.startswith(b"\x89PNG")
    name, data = files["CSV of the hazard over time"]
    table = pd.read_csv(io.BytesIO(data))
    cell_km2 = 1.0  # 1 km cells
    observed = np.nansum(np.where((predictions["valid"] > 0) & np.isfinite(predictions["hazard"]),
                                  predictions["observed_density"], np.nan), axis=(1, 2)) / 100 * cell_km2
    np.testing.assert_allclose(table["observed_km2"], observed, rtol=1e-5)
    assert list(table["period"].str.split().str[0]) == labels
    assert_clean(dashboard)


def test_a_job_ending_refreshes_the_page_without_asking_other_machines(dashboard: Any, run: Path) -> None:
    """After each job the page asked Panel's CDN for 40+ stylesheets (a refresh rebuilt detached panes)."""
    for title in ("Runs", "Inventory", "Evaluation", "About"):
        dashboard.tab(title)
        dashboard.settle()
    dashboard.tab("Runs")
    stamp = time.time() + 5
    os.utime(run / "metrics.json", (stamp, stamp))  # what the end of a job looks like to the poll: files changed
    time.sleep(3)
    for title in ("Inventory", "Predictors", "Train", "Maps", "Evaluation", "About", "Runs"):
        dashboard.tab(title)
        dashboard.settle()
    dashboard.wait_text(r"^Run \w+ in ")
    assert_clean(dashboard)

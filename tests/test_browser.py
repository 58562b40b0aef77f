"""The dashboard in a real browser: headless Chromium, driven by Playwright, against ``panel serve dashboard``.

One server on a copy of the session's evaluated root and one page for the whole module; the tests run
in file order on that page: open, maps follow the slice player, a clicked cell's story, training from
the Train tab, then a full-page screenshot of every view (into ``$HAZARD_SCREENSHOTS`` when set).
Every check is on what the page shows (texts, plot titles, the data the browser holds, screenshot
bytes); the page must log no JavaScript error.

Run with ``pytest -m browser tests/test_browser.py``. Needs the ``playwright`` package and Chromium at
``/usr/bin/chromium`` (Playwright's own browser download is not used). The browser helpers live in
``docs/screenshots.py``, which draws the documentation's pictures the same way.
"""

from __future__ import annotations

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
TRAINING_TIMEOUT_S = 180
TINY_SETTINGS = {  # typed into the Train tab: the demo's network, narrower, one epoch per stage
    "Decoder channels": "[16, 8, 4, 4]", "Density conv channels": "4", "Density hidden": "[16, 8]",
    "Seed": "5", "Max epochs susceptibility": "1", "Max epochs density": "1"}

pytest.importorskip("playwright.sync_api", reason="the browser tests need the playwright package (pip install "
                                                  "playwright; its browser download is not needed)")
if not CHROMIUM.exists():
    pytest.skip(f"the browser tests need Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


shots = docs_screenshots()


@pytest.fixture(scope="module")
def root(evaluated_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the evaluated root (training writes a run into it), without the checkpoints."""
    copy = tmp_path_factory.mktemp("browser") / "root"
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
    """``panel serve dashboard --args --root ROOT`` on a free local port; yields the app's URL."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    try:
        with shots.serve(root, log) as url:
            yield url
    finally:
        print("server log:\n" + log.read_text(encoding="utf-8")[-5000:])


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium (one browser for the module; each page is its own dashboard session)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=shots.CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def dashboard(chromium: Any, server: str, root: Path) -> Any:
    """The app opened at 1400 × 900 (one page for the module), showing ``root``."""
    dashboard = shots.Dashboard(chromium.new_page(viewport=shots.VIEWPORT))
    dashboard.open(server)
    shown = dashboard.wait_text(r"^Runs under ")
    if shown != f"Runs under {root.resolve()}":  # stop here: training would write elsewhere
        pytest.fail(f"the app does not show the root it was started on: {shown!r}, not {root}")
    return dashboard


@pytest.fixture(scope="module")
def screenshot_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("HAZARD_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def assert_clean(dashboard: Any) -> None:
    """No JavaScript error so far, and nothing asked of other machines but the known font and stylesheets."""
    console = "\n".join(dashboard.console[-40:])
    assert not dashboard.errors, "the page logged JavaScript errors:\n" + "\n".join(dashboard.errors) + "\n" + console
    assert not dashboard.unexpected_urls(), dashboard.unexpected_urls()


def test_the_app_opens_on_the_given_root(dashboard: Any, root: Path, run: Path) -> None:
    for title in shots.VIEWS.values():
        assert dashboard.tab_header(title).is_visible(), title
    assert dashboard.wait_text(r"^Runs under ") == f"Runs under {root.resolve()}"  # --root reached the app
    assert dashboard.selected_run().startswith(f"{run.name} (work, random split")
    assert dashboard.slice_label().startswith("Slice 1: ")
    assert_clean(dashboard)


def test_the_slice_player_moves_the_maps(dashboard: Any, predictions: Any) -> None:
    labels = [str(label) for label in predictions["slice"].values]
    dashboard.tab("Maps")
    figure = dashboard.figure("susceptibility")
    assert figure["title"] == f"susceptibility · {labels[0]}"
    for axis, shown in (("x", figure["x_range"]), ("y", figure["y_range"])):  # the map frames the region
        centres = predictions[axis].values
        half = abs(float(centres[1] - centres[0])) / 2
        low, high = float(centres.min()) - half, float(centres.max()) + half
        assert min(shown) <= low + 1 and max(shown) >= high - 1 and max(shown) - min(shown) < 1.5 * (high - low), axis
    dashboard.drawn()
    before = dashboard.shot("susceptibility")
    starts = [str(day)[:10] for day in predictions["slice_start"].values]
    assert dashboard.slice_label().startswith(f"Slice 1: {labels[0]} ({starts[0]} – ")  # the period's dates too

    assert dashboard.step_slice("ArrowRight").startswith(f"Slice 2: {labels[1]} ({starts[1]} – ")
    dashboard.page.wait_for_function(f"(p) => ({shots.FIGURE_JS})(p)?.title.endsWith({labels[1]!r})",
                                     arg="susceptibility", timeout=dashboard.timeout_ms)
    after = dashboard.changed_shot("susceptibility", before)
    assert after != before
    for prefix in ("density given occurrence", "hazard", "observed density"):
        assert dashboard.figure(prefix)["title"].endswith(labels[1]), prefix
    assert_clean(dashboard)


def story_cell(predictions: Any) -> tuple[int, int]:
    """A cell valid in every slice with new landslides in most slices (so its story is not flat)."""
    valid = predictions["valid"].values > 0
    positive = np.nan_to_num(predictions["observed_density"].values) > 0
    score = np.where(valid.all(axis=0), (positive & valid).sum(axis=0), -1)
    row, col = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(row), int(col)


def column(glyphs: list[dict[str, Any]], name: str) -> np.ndarray:
    """The values of column ``name`` in the first glyph that holds it."""
    for glyph in glyphs:
        if name in glyph["columns"]:
            return np.array(glyph["columns"][name], dtype=float)
    raise AssertionError(f"no glyph holds {name!r}: {[sorted(g['columns']) for g in glyphs]}")


def test_a_clicked_cell_tells_its_story(dashboard: Any, predictions: Any, root: Path) -> None:
    from dashboard import loaders

    row, col = story_cell(predictions)
    x, y = float(predictions["x"].values[col]), float(predictions["y"].values[row])
    dashboard.tab("Maps")
    dashboard.click_point("observed density", x, y)
    dashboard.page.wait_for_function(  # the selected cell is outlined: one rectangle around (x, y)
        f"(p) => {{ const g = ({shots.GLYPH_DATA_JS})(p) || []; return g.some((r) => r.glyph === 'Quad' "
        f"&& r.columns.left && r.columns.left.length === 1 && r.columns.left[0] < {x} && r.columns.right[0] > {x} "
        f"&& r.columns.bottom[0] < {y} && r.columns.top[0] > {y}); }}", arg="observed density",
        timeout=dashboard.timeout_ms)

    dashboard.tab("A cell's story")
    header = dashboard.wait_text(rf"^Cell row {row}, column {col} ")
    assert f"x {x:,.0f} m, y {y:,.0f} m" in header
    dashboard.drawn()
    at = predictions.isel(y=row, x=col)
    probability = dashboard.glyph_data("Probability of new landslides")
    np.testing.assert_allclose(column(probability, "susceptibility"), at["susceptibility"].values, rtol=1e-5)
    densities = dashboard.glyph_data("Densities (% of the cell)")
    for name in ("density", "hazard", "observed_density"):
        np.testing.assert_allclose(column(densities, name), at[name].values, rtol=1e-5, atol=1e-9, err_msg=name)

    expected = loaders.cell_predictors(root / "work", row, col)
    table = dashboard.page.locator("table").filter(has_text="slope").first
    table.wait_for(timeout=dashboard.timeout_ms)
    text = table.inner_text()
    for label in (str(label) for label in predictions["slice"].values):
        assert label in text
    assert f"{expected.loc['slope'].iloc[1]:.4g}" in text and f"{expected.loc['rain_max'].iloc[1]:.4g}" in text
    assert_clean(dashboard)


def test_training_from_the_train_tab_adds_a_run(dashboard: Any, chromium: Any, server: str, root: Path,
                                               run: Path) -> None:
    """A second browser session meanwhile sees the job and its progress, and cannot start another."""
    from playwright.sync_api import expect

    from hazardcore.config import config_hash, demo_configs

    dashboard.tab("Train")
    dashboard.wait_text(r"^Start training$")
    for label, value in TINY_SETTINGS.items():
        field = dashboard.page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
    model, train = demo_configs()
    model.param.update(decoder_channels=[16, 8, 4, 4], density_conv_channels=4, density_hidden=[16, 8])
    train.param.update(seed=5, max_epochs_susceptibility=1, max_epochs_density=1)
    expected = config_hash(model, train)  # the run id, if every value typed reached the server
    dashboard.settle()

    dashboard.page.get_by_role("button", name="Start training").click()
    dashboard.wait_text(rf"started training run {expected}\b", timeout_s=60)
    other = shots.Dashboard(chromium.new_page(viewport=shots.VIEWPORT))  # a second user, own session
    other.open(server)
    seen = other.wait_text(r"\(started in another session\)$", timeout_s=60)
    assert re.match(r"train: ", seen), seen
    bars = other.page.locator("progress")  # Playwright's locators see into Panel's shadow roots
    deadline = time.monotonic() + 60
    while not bars.evaluate_all("(bars) => bars.some((bar) => bar.value > 0)"):  # the job's progress, moving
        assert time.monotonic() < deadline, "the second session shows no progress of the running job"
        time.sleep(0.2)
    other.tab("Train")
    other.page.get_by_role("button", name="Start training").click()
    refused = other.wait_text(rf"cannot start training run \w+: training run {expected} is running", timeout_s=30)
    assert refused
    outcome = dashboard.wait_text(rf"training run {expected}: done in|^failed: ", timeout_s=TRAINING_TIMEOUT_S)
    assert "done in" in outcome, outcome
    other.tab("Runs")
    expect(other.page.locator("#sidebar select").first.locator("option")).to_have_count(2, timeout=60_000)
    assert other.selected_run().startswith(run.name)  # its own choice kept: sessions share no state
    assert_clean(other)
    other.page.close()

    new_run = root / "work" / "runs" / expected
    assert (new_run / "metrics.json").is_file() and (new_run / "predictions.nc").is_file()
    options = dashboard.run_options()  # the chooser lists the new run beside the old one, and shows it
    assert len(options) == 2 and any(option.startswith(f"{expected} (work, spatial split)") for option in options)
    assert dashboard.selected_run().startswith(expected)
    loss = dashboard.figure("Loss (susceptibility")
    assert "density" in loss["title"]
    assert loss["rect"][0] + loss["rect"][2] <= shots.VIEWPORT["width"], loss["rect"]  # beside the settings
    glyphs = dashboard.glyph_data("Loss (")
    steps = {step for glyph in glyphs if "val_loss" in glyph["columns"] for step in glyph["columns"]["step"]}
    assert len(steps) >= 2  # one epoch per stage, each stage its own curve
    assert_clean(dashboard)


def test_every_view_renders_and_is_captured(dashboard: Any, screenshot_folder: Path) -> None:
    from PIL import Image

    written = {}
    for name, title in shots.VIEWS.items():
        dashboard.tab(title)
        shots.wait_for_view(dashboard, name)
        written[name] = dashboard.screenshot(screenshot_folder / f"dashboard_{name}.png", full=True)
    contents = {name: path.read_bytes() for name, path in written.items()}
    assert len(set(contents.values())) == len(contents), "two views look the same"
    for name, path in written.items():
        with Image.open(path) as image:
            assert image.width >= shots.VIEWPORT["width"] and image.height >= shots.VIEWPORT["height"], name
            colours = image.convert("RGB").resize((64, 64)).getcolors(64 * 64)
            assert colours is not None and len(colours) > 50, f"{name} looks blank"
    print("screenshots in", screenshot_folder)
    assert_clean(dashboard)



def test_the_scenarios_tab_answers_the_rain_factor_slider(dashboard: Any) -> None:
    """Moving the rain-factor slider recomputes the what-if in the page: its totals change, the reference's do not."""
    dashboard.tab("Scenarios")
    dashboard.wait_text(r" × 1 · ")  # the status line of the what-if without a change, once computed
    dashboard.settle()  # earlier tests' work (a new run, another slice) may still be redrawing the tab
    row = dashboard.page.locator("tr").filter(has_text="expected new landslide area").first

    def numbers() -> list[float]:
        return [float(text.replace("−", "-")) for text in re.findall(r"[−-]?\d+\.\d+", str(row.inner_text()))]

    before = numbers()
    assert len(before) == 3 and before[0] == pytest.approx(before[1], abs=1e-3) and abs(before[2]) < 1e-3
    dashboard.page.locator(".noUi-handle").first.focus()
    for _ in range(10):  # + 10 steps of 0.05
        dashboard.page.keyboard.press("ArrowRight")
    dashboard.wait_text(r" × 1\.5 · ")
    after = numbers()  # the what-if now differs from its reference period, by the change it states
    assert abs(after[0] - after[1]) > 1e-3 and after[2] == pytest.approx(after[0] - after[1], abs=2e-3)
    dashboard.figure("hazard: what-if − ")  # the difference map is drawn
    assert_clean(dashboard)

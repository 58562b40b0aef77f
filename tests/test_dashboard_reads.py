"""The dashboard's views read well (issue 23, "reads badly" and "broken states"): state tests, no browser.

Each test asserts what was wrong before: the contour plot changed type between slices (and froze),
the reliability plot showed an ECE before evaluation, the predictors' colour bar kept the first
channel's name, the loss plot joined stages, zero cells looked like the background, file names
became web links, the job panel had a fixed 300 px bar. The browser checks of the same items
are in ``test_browser_reads.py``.
"""

from __future__ import annotations

import html
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("panel")

import holoviews as hv
import panel as pn
import xarray as xr
from bokeh.models import NumeralTickFormatter

from dashboard import elements
from dashboard.app import SIDEBAR_CONTENT, sidebar
from dashboard.jobs import JobRunner
from dashboard.state import DashboardState
from dashboard.views import (
    NOT_EVALUATED,
    AboutView,
    EvaluationView,
    MapsView,
    PredictorsView,
    TrainView,
    job_panel,
    markdown,
)


@pytest.fixture(scope="module")
def state(evaluated_root: Path) -> DashboardState:
    hv.extension("bokeh", logo=False)
    return DashboardState(root=evaluated_root, runner=JobRunner())


def test_the_contour_plot_keeps_its_type_in_every_slice() -> None:
    """A slice with too few cells gave a bare Points, the others an Overlay: the DynamicMap froze."""
    rng = np.random.default_rng(0)
    few = elements.contour_plot(np.array([0.2, 0.3]), np.array([1.0, 2.0]), "few")
    many = elements.contour_plot(rng.random(200), rng.random(200) + 0.1, "many")
    assert isinstance(few, hv.Overlay) and isinstance(many, hv.Overlay)
    assert [type(layer) for layer in few] == [type(layer) for layer in many] == [hv.Bivariate, hv.Points]
    assert len(few.values()[0].data) == 0 and "too few cells" in few.opts.get().kwargs["title"]
    frames = hv.DynamicMap(lambda k: many if k else few, kdims=["k"]).redim.range(k=(0, 1))
    plot = hv.renderer("bokeh").get_plot(frames)
    plot.update((1,))  # raised "DynamicMap must only contain one type of object" before
    plot.update((0,))


def test_evaluation_before_evaluate_shows_no_score(state: DashboardState, tmp_path: Path) -> None:
    """"Not evaluated" beside an ECE computed on the fly: the plots now carry no score until metrics.json exists."""
    root = tmp_path / "root"
    shutil.copytree(state.root_path, root, ignore=shutil.ignore_patterns("products", "checkpoints"))
    (metrics,) = root.glob("work/runs/*/metrics.json")
    metrics.unlink()
    bare = DashboardState(root=root, runner=JobRunner())
    view = EvaluationView(bare)
    assert view._missing() == NOT_EVALUATED and "without scores" in NOT_EVALUATED
    title = view.reliability().values()[0].opts.get().kwargs["title"]
    assert title.endswith("(ECE not evaluated)"), title
    assert view.metrics_frame().empty and view.aucs() == {}
    evaluated = EvaluationView(state).reliability().values()[0].opts.get().kwargs["title"]
    assert state.metrics is not None
    assert evaluated == f"Reliability on the test cells (ECE {state.metrics['susceptibility']['ece']:.3f})"


def test_the_predictors_colour_bar_follows_the_channel(state: DashboardState) -> None:
    """The colour-bar title kept the first channel's name (a DynamicMap keeps its first dimension)."""
    view = PredictorsView(state)
    images = {}
    for channel in ("slope", "rain_max"):
        state.channel = channel
        images[channel] = view.channel_image()
    state.channel = "slope"
    assert {str(image.vdims[0]) for image in images.values()} == {"value"}
    assert images["slope"].opts.get().kwargs["title"] == "slope (degree) · static"
    assert images["rain_max"].opts.get().kwargs["title"].startswith("rain_max (mm/day) · ")
    plot = hv.renderer("bokeh").get_plot(view.frames["channel"]).state
    (colour_bar,) = [item for item in plot.right if type(item).__name__ == "ColorBar"]
    assert not colour_bar.title  # it read "value" for every channel: the title above names channel and unit


def test_the_loss_plot_draws_each_stage_apart_on_its_own_axes() -> None:
    """Stages were joined by a line, and a new run's curves kept the previous run's range."""
    log = pd.DataFrame({"step": [0, 1, 2, 3], "stage": ["susceptibility"] * 2 + ["density"] * 2,
                        "train_loss": [0.9, 0.7, 3.0, 2.5], "val_loss": [0.8, 0.75, 2.9, 2.7]})
    overlay = elements.stage_curves(log, ["train_loss", "val_loss"], "Loss", "loss")
    curves = [layer for layer in overlay if isinstance(layer, hv.Curve)]
    assert len(curves) == 4  # 2 columns × 2 stages
    for curve in curves:
        steps = curve.dimension_values("step")
        assert len(set(log.loc[log["step"].isin(steps), "stage"])) == 1  # no line across stages
        assert curve.opts.get("norm").kwargs.get("framewise") is True


def test_zero_cells_differ_from_the_background_and_ticks_read_in_metres() -> None:
    plane = xr.DataArray(np.zeros((3, 3), dtype="float32"), dims=("y", "x"),
                         coords={"y": [2500.0, 1500.0, 500.0], "x": [500.0, 1500.0, 2500.0]})
    options = elements.layer_map(plane, "density", "zero").opts.get().kwargs
    below = options["clipping_colors"]["min"]
    rgb = [int(below[k:k + 2], 16) for k in (1, 3, 5)]
    assert 255 - min(rgb) > 40, below  # "#f4f4f4" before: a zero-density run's maps looked blank
    assert isinstance(options["xformatter"], NumeralTickFormatter) and options["xticks"] <= 5
    geo = elements.map_options("t", "viridis", (0, 1), geo=True)
    assert geo["xlabel"] == "longitude (°)" and "xformatter" not in geo  # over a basemap: degrees, said so


def test_file_names_stay_text() -> None:
    html = markdown("files: model.pt, predictions.nc")._transform_object("files: model.pt, predictions.nc")["object"]
    assert "href" not in html and "model.pt" in html


def test_the_job_panel_and_the_sidebar_fit_300_px(state: DashboardState) -> None:
    """The 300 px progress bar beside Cancel pushed Cancel off the sidebar."""
    panel = job_panel(state)
    for widget in panel.select(pn.viewable.Viewable):
        assert widget.width is None or widget.width <= SIDEBAR_CONTENT, widget
    (player,) = [part for part in sidebar(state) if isinstance(part, pn.widgets.Player)]
    assert player.width is not None and player.width <= SIDEBAR_CONTENT and not player.show_loop_controls


def test_the_histogram_and_loss_axes_rescale() -> None:
    values = np.array([0.5, 1.0, 2.0, 4.0])
    histogram = elements.histogram(values, "h", "density")
    assert histogram.opts.get("norm").kwargs.get("framewise") is True


def test_exports_hold_the_shown_map_and_table(state: DashboardState) -> None:
    import rasterio

    view = MapsView(state)
    state.param.update(slice=1, layer="density")
    assert state.run_path is not None and state.predictions is not None
    try:
        name, data = view.geotiff_file()
        assert name == f"{state.run_path.name}_density_{state.slice_labels[1]}.tif"
        with rasterio.open(io.BytesIO(data)) as source:
            values = np.where(source.read(1) == source.nodata, np.nan, source.read(1))
            assert source.crs.to_epsg() == 32645 and source.tags()["units"] == "%"
            assert source.descriptions[0] == state.period_labels[1]
        np.testing.assert_allclose(values, state.predictions["density"].isel(slice=1).values, rtol=1e-6)
        name, png = view.png_file()
        assert png.startswith(b"\x89PNG") and name.endswith(".png")
        name, csv = view.csv_file()
        table = pd.read_csv(io.BytesIO(csv))
        np.testing.assert_allclose(table["hazard_km2"], view.regional_frame()["hazard_km2"])
    finally:
        state.param.update(slice=0, layer="hazard")


def test_about_names_the_model_thresholds_calibration_and_sources(state: DashboardState) -> None:
    view = AboutView(state)
    run = view.run_text()
    assert "Calibration" in run and "platt" in run and "validation cells" in run
    for k, label in enumerate(state.slice_labels):
        assert f"{label} τ {state.slice_threshold(k):.3f}" in run
    sources = view.sources_text()
    assert "CC0-1.0" in sources and "`dem_31m.tif`" in sources and "| m |" in sources
    layers = view.layers_text()
    assert "| hazard | % |" in layers and "| susceptibility | 1 |" in layers


def test_the_train_tab_keeps_its_loss_plot_after_a_new_log(state: DashboardState) -> None:
    view = TrainView(state)
    first = view.loss_curves()
    assert isinstance(first, hv.Overlay)
    stages = {layer.label.split("(")[-1].rstrip(")") for layer in first if isinstance(layer, hv.Curve)}
    assert stages <= {"susceptibility", "density"} and stages


def test_legends_sit_below_the_curves() -> None:
    """Legends inside the frame covered the data (time story, cell story, loss)."""
    frame = pd.DataFrame({"slice": ["a", "b", "c"], "x": [1.0, 2.0, 3.0], "y": [2.0, 3.0, 1.0]})
    overlay = elements.curves(frame, "slice", ["x", "y"], "t", "v")
    options = overlay.opts.get().kwargs
    assert options["legend_position"] == "bottom"
    assert (options["frame_width"], options["frame_height"]) == elements.CURVE_FRAME  # the legend comes around
    plot = hv.renderer("bokeh").get_plot(overlay).state
    assert any(type(item).__name__ == "Legend" for item in plot.below)  # outside the frame


def test_every_check_box_has_a_clickable_label(state: DashboardState) -> None:
    """Bokeh's Checkbox draws its label as a <div>, so clicking the words did nothing: sidebar, Evaluation and
    the Train tab's on/off settings are one-option check-box groups (the label is a <label>)."""
    layouts = [pn.Column(*sidebar(state)), EvaluationView(state).__panel__(), TrainView(state).__panel__()]
    accordions = [a for a in layouts[2].select(pn.Accordion) if isinstance(a, pn.Accordion)]
    parts = [part for accordion in accordions for part in accordion.objects]
    assert len(parts) == 2  # the model's and the training's settings
    widgets = [w for layout in [*layouts, *parts] for w in layout.select(pn.widgets.Widget)]
    assert not [w for w in widgets if isinstance(w, pn.widgets.Checkbox)]
    (offset,) = [w for w in widgets if isinstance(w, pn.widgets.CheckBoxGroup) and w.options == ["Density offset"]]
    before = state.model_config.density_offset
    try:
        offset.value = [] if before else ["Density offset"]
        assert state.model_config.density_offset is (not before)
        state.model_config.density_offset = before
        assert offset.value == (["Density offset"] if before else [])
    finally:
        state.model_config.density_offset = before


def test_the_hillshade_stays_under_the_basemap_in_degrees(state: DashboardState) -> None:
    """With the basemap on, the Inventory map had only the web tiles under the density (the hillshade was gone)
    and its axes in degrees were labelled "easting (m)": now tiles, hillshade, density, one place, in degrees."""
    from bokeh.models import Image as ImageGlyph
    from pyproj import Transformer

    from dashboard.views import InventoryView

    cube = state.cube
    assert cube is not None
    figure = hv.render(InventoryView(state)._maps(geo=True).object)
    assert (figure.xaxis[0].axis_label, figure.yaxis[0].axis_label) == ("longitude (°)", "latitude (°)")
    assert type(figure.renderers[0]).__name__ == "TileRenderer"  # the tiles at the bottom
    shade, density = [r for r in figure.renderers if isinstance(getattr(r, "glyph", None), ImageGlyph)]
    values = np.asarray(shade.data_source.data["image"][0])
    assert np.isfinite(values).mean() > 0.5 and np.nanmin(values) >= 0 and np.nanmax(values) <= 1
    assert shade.glyph.global_alpha < 1  # the tiles show through
    x, y = cube.grid.coords("1km")["x"], cube.grid.coords("1km")["y"]
    half = abs(float(x[1] - x[0])) / 2
    xs, ys = Transformer.from_crs(cube.grid.crs, "EPSG:3857", always_xy=True).transform(
        [x.min() - half, x.max() + half], [y.min() - half, y.max() + half])
    for renderer in (shade, density):  # both over the region in Web Mercator, within a 1 km cell
        data = renderer.data_source.data
        assert abs(data["x"][0] - min(xs)) < 1500 and abs(data["x"][0] + data["dw"][0] - max(xs)) < 1500
        assert abs(data["y"][0] - min(ys)) < 1500 and abs(data["y"][0] + data["dh"][0] - max(ys)) < 1500


def test_the_demo_job_says_demo_once_and_offers_no_cancel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's status read "demo: demo: synthesising ..." (the job's kind, then a status that repeated it)
    and its Cancel button refused; the real demo target runs here with a stand-in for ``pipeline.demo``."""
    import threading
    from types import SimpleNamespace

    import dashboard.tasks

    release = threading.Event()
    monkeypatch.setattr(dashboard.tasks, "demo", lambda out: release.wait(30) and SimpleNamespace(run=None))
    state = DashboardState(root=tmp_path / "empty", runner=JobRunner())
    panel = job_panel(state)
    try:
        state.start_demo()
        state.poll()
        (text,) = [pane for pane in panel.select(pn.pane.Markdown)]
        shown = html.unescape(str(text._transform_object(text.object)["object"]))
        assert state.job_kind == "demo" and "synthesising" in shown
        assert len(re.findall(r"\bdemo\b", re.sub(r"<[^>]+>", "", shown))) == 1, shown
        (cancel,) = [b for b in panel.select(pn.widgets.Button) if b.name == "Cancel"]
        assert not cancel.visible and not state.job_cancellable
    finally:
        release.set()
        state.wait(timeout=30)


def test_the_mapped_area_plot_keeps_its_title_and_legend_below(state: DashboardState) -> None:
    """The Inventory tab's area plot showed untitled, its legend over the curves: the current slice's mark,
    multiplied in after the curves, made a new overlay without their title, frame and legend options."""
    from dashboard.views import InventoryView

    overlay = InventoryView(state).cumulative_area()
    plot = hv.renderer("bokeh").get_plot(overlay).state
    assert plot.title.text == "Mapped landslide area over time"
    assert any(type(item).__name__ == "Legend" for item in plot.below)  # below the frame, not on the curves
    assert (plot.frame_width, plot.frame_height) == elements.CURVE_FRAME


def test_the_roc_legend_sits_below_and_an_uncomputed_importance_shows_no_axes(state: DashboardState) -> None:
    """The ROC legend covered the curves (inside the frame, bottom right), and without importance.json the
    Evaluation tab showed an empty plot and an empty table under the note saying it was not computed."""
    view = EvaluationView(state)
    plot = hv.renderer("bokeh").get_plot(view.roc()).state
    assert any(type(item).__name__ == "Legend" for item in plot.below)
    assert not [item for item in plot.center if type(item).__name__ == "Legend"]
    assert state.importance is None and "hazard explain" in view.importance_note()
    layout = view.__panel__()
    importance = [pane for pane in layout.select(pn.pane.HoloViews) if isinstance(pane.object, hv.Bars)
                  and "permuted" in pane.object.opts.get().kwargs.get("title", "")]
    importance += [pane for pane in layout.select(pn.pane.DataFrame) if "auc drop" in pane.object.columns]
    assert len(importance) == 2 and not any(pane.visible for pane in importance)
    assert list(view.metrics_table().columns) == list(view.metrics_frame().index)  # one column per source


def test_many_slice_labels_are_slanted_so_they_do_not_run_together() -> None:
    """A cell's story with the demo's 9 slices printed its tick labels into one another ("2015-co2015-post...")."""
    labels = ["2015-co", "2015-post", "2016-pre", "2016-post", "2017-pre", "2017-post", "2018-pre", "2018-post",
              "next-year-100y"]
    frame = pd.DataFrame({"slice": labels, "v": np.arange(9.0)})
    assert elements.curves(frame, "slice", ["v"], "t", "v").opts.get().kwargs["xrotation"] == 45
    assert elements.curves(frame.head(3), "slice", ["v"], "t", "v").opts.get().kwargs["xrotation"] == 0


def test_a_single_runs_blank_interval_map_is_not_redrawn_on_each_slice(state: DashboardState) -> None:
    """For a single run the interval map is blank in every slice, yet it followed the slice: one of the six
    maps redrawn on each step of the slice player did nothing (an ensemble's follows it: tests/test_ensemble.py)."""
    from dashboard.views import INTERVAL_LAYER

    view = MapsView(state)

    def followed(name: str) -> set[str]:
        return {key for stream in view.frames[name].streams for key in stream.contents}

    assert "slice" in followed("hazard") and "slice" not in followed(INTERVAL_LAYER)
    try:
        state.slice = 2
        assert view.interval_slice == 0 and not view._ensemble()
    finally:
        state.slice = 0

"""The dashboard's tabs: one ``pn.viewable.Viewer`` per tab, each taking the :class:`DashboardState`.

A view builds its plots once: slice-dependent maps are ``hv.DynamicMap`` bound to the
state's params (a slice change sends new image data to the browser, the plot is kept);
run-level figures (ROC, tables) are functions bound to the run. Clicking a cell on any
map (``hv.streams.Tap``) sets ``state.cell``; the cell's story tab follows it. Methods
named after what they return (``image``, ``channel_image``, ``metrics_frame``, ...) give
the data each plot shows, for tests and notebooks.
"""

from __future__ import annotations

import functools
import io
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
import xarray as xr
from holoviews.operation.datashader import rasterize

from dashboard import elements, loaders
from dashboard.confine import is_inside
from dashboard.state import PREDICTED_LAYERS, UNCERTAINTY_VIEWS, DashboardState, RunExistsError
from hazardcore import export
from hazardcore import figure_data as fd
from hazardcore.errors import HazardcoreError
from hazardcore.intervals import first_exceedance, has_intervals, interval_width, predictive_percentiles
from hazardcore.predictors import CHANNEL_UNITS, GROUP_NAMES, STATIC_CHANNELS
from hazardcore.report import RULES
from hazardcore.result import DENSITY_COLUMNS, SUSCEPTIBILITY_COLUMNS, EvaluationResult, sources_of
from hazardcore.runfolder import REPORT, run_path, workdir_of
from hazardcore.runstatus import step_state, summary

NOTHING = "Nothing to show yet: choose a run in the **Runs** tab (or run the demo there)."
#: The map of the hazard's interval width (ensembles only).
INTERVAL_LAYER = "hazard_interval"
#: Its title for a single run (a blank map): short, as every map title must fit above its 290 px frame.
NO_INTERVALS = "hazard interval: ensembles only"
#: The ensemble map's title per view of the members' hazard (``state.uncertainty``).
UNCERTAINTY_TITLES = {"interval width": "interval width", "standard deviation": "std. dev.",
                      "5th percentile": "5th percentile", "95th percentile": "95th percentile"}
#: The view of ``state.uncertainty`` that maps an exceedance probability (on [0, 1], not a density).
EXCEEDANCE = UNCERTAINTY_VIEWS["exceedance probability"]
#: The exceedance view's title without an asked density (a blank map): where to ask for one.
NO_EXCEEDANCE = "exceedance: none asked (--exceedance X)"
#: Value of the cells without data in an exported GeoTIFF.
EXPORT_NODATA = -9999.0
NOT_PREDICTED = "This run has no predictions yet: use **Predict + evaluate** in the **Runs** tab."
NOT_EVALUATED = ("This run is not evaluated yet (no `metrics.json`): the maps and curves below are drawn from its "
                 "predictions, without scores; **Predict + evaluate** in the **Runs** tab writes them.")
#: The score columns of the tables (``hazardcore.result``; the threshold rule is said beside the maps).
#: The hazard-over-time plots of the Maps tab: title, y label, and the series (``figure_data.regional_series``)
#: each draws with its legend.
TIME_PLOTS = {
    "area": ("New landslide area in the region, per period", "area (km²)",
             {"hazard_km2": "predicted (expected area, Σ hazard)", "observed_km2": "observed",
              "true_hazard_km2": "known truth", "hazard_km2_p05": "ensemble: 5 % of one more member's total",
              "hazard_km2_p95": "ensemble: 95 % of one more member's total"}),
    "probability": ("Probability of new landslides, regional mean", "probability",
                    {"susceptibility_mean": "predicted (mean susceptibility)",
                     "presence_fraction": "observed (fraction of cells)", "true_probability_mean": "known truth"}),
    "density": ("Density given occurrence, regional mean", "density (%)",
                {"density_positive_mean": "predicted, cells with new landslides",
                 "observed_density_positive_mean": "observed, cells with new landslides",
                 "density_mean": "predicted, every cell"}),
}
TABLE_KEYS = {"susceptibility": tuple(key for key in SUSCEPTIBILITY_COLUMNS if key != "threshold_rule"),
              "density": DENSITY_COLUMNS}


#: Markdown without linkify: file names such as model.pt or predictions.nc stay text, not links to web sites.
PLAIN_TEXT = {"linkify": False}


def markdown(text: Any, **params: Any) -> pn.pane.Markdown:
    """A Markdown pane whose file names are not turned into web links."""
    return pn.pane.Markdown(text, renderer_options=dict(PLAIN_TEXT), **params)


def alert(text: Any, **params: Any) -> pn.pane.Alert:
    """An alert box whose file names are not turned into web links."""
    return pn.pane.Alert(text, renderer_options=dict(PLAIN_TEXT), **params)


def checkbox(owner: param.Parameterized, name: str, label: str) -> pn.widgets.CheckBoxGroup:
    """A check box for the boolean param ``owner.name`` whose label toggles it when clicked.

    Bokeh's ``Checkbox`` draws its label as a ``<div>`` beside the box, so a click on the words
    did nothing; a one-option ``CheckBoxGroup`` wraps box and words in one ``<label>``.
    """
    box = pn.widgets.CheckBoxGroup(options=[label], value=[label] if getattr(owner, name) else [], inline=True,
                                   margin=(2, 10))

    def to_owner(event: param.parameterized.Event) -> None:
        setattr(owner, name, bool(event.new))

    def to_box(event: param.parameterized.Event) -> None:
        wanted = [label] if event.new else []
        if box.value != wanted:
            box.value = wanted

    box.param.watch(to_owner, "value")
    owner.param.watch(to_box, name)
    return box


def settings(config: param.Parameterized, widgets: Mapping[str, Any] | None = None) -> pn.Column:
    """A configuration's widgets (``pn.Param``), its on/off settings as :func:`checkbox` (label clickable)."""
    shown = [name for name, parameter in config.param.objects().items()
             if name != "name" and (parameter.precedence is None or parameter.precedence >= 0)]
    switches = [name for name in shown if isinstance(config.param[name], param.Boolean)]
    others = [name for name in shown if name not in switches]
    boxes = [checkbox(config, name, config.param[name].label or name) for name in switches]
    return pn.Column(pn.Param(config, parameters=others, show_name=False, widgets=dict(widgets or {})), *boxes)


def reported(method: Callable[..., Any]) -> Callable[..., Any]:
    """Show a hazardcore error of a button's action as the state's message instead of raising it."""

    @functools.wraps(method)
    def wrapper(self: StateView, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except HazardcoreError as exc:
            self.state.notify(str(exc), error=True)
            return None

    return wrapper


class StateView(pn.viewable.Viewer):
    """Base of the tabs: holds the state, builds its layout once, wires taps to the selected cell."""

    state: DashboardState = param.ClassSelector(class_=DashboardState)  # type: ignore[assignment]

    def __init__(self, state: DashboardState, **params: Any) -> None:
        super().__init__(state=state, **params)
        self.taps: list[hv.streams.Tap] = []
        self.frames: dict[str, hv.DynamicMap] = {}  # the main maps by name (without basemap), for tests
        self._geo_layouts: dict[bool, Any] = {}
        self._layout = self._build()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def _build(self) -> pn.viewable.Viewable:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def bind(self, function: Callable[..., Any], *names: str, **constants: Any) -> Callable[..., Any]:
        """``function`` bound to the state's params ``names`` (and fixed ``constants``)."""
        arguments: dict[str, Any] = {**constants, **{name: self.state.param[name] for name in names}}
        return pn.bind(function, **arguments)

    def dynamic(self, function: Callable[..., Any], *names: str, **constants: Any) -> hv.DynamicMap:
        return hv.DynamicMap(self.bind(function, *names, **constants))

    def tappable(self, dmap: hv.DynamicMap, geo: bool = False) -> hv.DynamicMap:
        """``dmap`` with the selected cell outlined; a click on it selects a cell."""
        tap = hv.streams.Tap(source=dmap, x=None, y=None)
        tap.add_subscriber(functools.partial(self._on_tap, geo=geo))
        self.taps.append(tap)
        return dmap * self.dynamic(self._marker, "cell", "run", "revision", geo=geo)

    def _on_tap(self, x: float | None, y: float | None, geo: bool = False) -> None:
        if self.state.select_xy(x, y) is None and geo and x is not None and y is not None:
            self.state.select_xy(*self._from_web_mercator(x, y))  # in case the tap came in plot coordinates

    def _from_web_mercator(self, x: float, y: float) -> tuple[float, float]:
        from pyproj import Transformer

        crs = self.grid_crs()
        if crs is None:
            return x, y
        return Transformer.from_crs("EPSG:3857", crs, always_xy=True).transform(x, y)

    def _to_web_mercator(self, bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        from pyproj import Transformer

        crs = self.grid_crs()
        if crs is None:
            return bounds
        x0, y0, x1, y1 = bounds
        xs, ys = Transformer.from_crs(crs, "EPSG:3857", always_xy=True).transform([x0, x1, x0, x1], [y0, y0, y1, y1])
        return min(xs), min(ys), max(xs), max(ys)

    def grid_crs(self) -> str | None:
        cube = self.state.cube
        return cube.grid.crs if cube is not None else None

    def cartopy_crs(self) -> Any:
        import cartopy.crs as ccrs
        from pyproj import CRS

        crs = self.grid_crs()
        epsg = CRS.from_user_input(crs).to_epsg() if crs else None
        return ccrs.epsg(epsg) if epsg else None

    def _marker(self, geo: bool = False, **_: Any) -> hv.Element:
        bounds = None
        coords = self.state.cell_coords()
        if self.state.cell is not None and len(coords["x"]) > 1:
            row, col = self.state.cell
            half = abs(float(coords["x"][1] - coords["x"][0])) / 2
            x, y = float(coords["x"][col]), float(coords["y"][row])
            bounds = (x - half, y - half, x + half, y + half)
        if geo and bounds is not None:
            bounds = self._to_web_mercator(bounds)  # geo plots draw plain elements in Web Mercator
        return elements.cell_marker(bounds)

    def basemap_switch(self, build: Callable[[bool], Any]) -> pn.viewable.Viewable:
        """The layout ``build(geo)``, rebuilt (once per setting) when the basemap is switched."""

        def layout(basemap: bool) -> Any:
            if basemap not in self._geo_layouts:
                self._geo_layouts[basemap] = build(basemap)
            return self._geo_layouts[basemap]

        layout(False)
        return pn.param.ParamFunction(pn.bind(layout, basemap=self.state.param.basemap))

    def tiles(self) -> Any:
        import geoviews as gv

        return gv.tile_sources.OSM().opts(alpha=0.8)

    def notice(self, text: Callable[..., str], *names: str) -> pn.pane.Alert:
        """An info box showing ``text(...)``, hidden when it is empty."""
        message = self.bind(text, *names)
        return alert(message, alert_type="info", visible=pn.bind(bool, message))

    def slice_title(self, name: str) -> str:
        label = elements.LABELS.get(name, (name, ""))[0]
        return f"{label} · {self.state.slice_label}"


class RunChooser(StateView):
    """Runs found under the root; open a run folder; run the demo when there is none; predict + evaluate."""

    def _build(self) -> pn.viewable.Viewable:
        path = pn.widgets.TextInput(label="Open a run folder (inside the root)", placeholder="work/runs/<id>")
        open_button = pn.widgets.Button(label="Open", color="default")
        open_button.on_click(lambda _: self.open_path(path.value))
        refresh = pn.widgets.Button(label="Look for runs again", color="default")
        refresh.on_click(lambda _: self.state.refresh())
        demo = pn.widgets.Button(label="Run the demo (minutes)", color="primary",
                                 visible=self.bind(lambda **_: not self.state.param.run.objects, "revision"))
        demo.on_click(lambda _: self.start_demo())
        evaluate = pn.widgets.Button(label="Predict + evaluate this run", color="primary",
                                     visible=self.bind(self._needs_evaluation, "run", "revision"))
        evaluate.on_click(lambda _: self.start_evaluation())
        return pn.Column(
            markdown(f"### Runs under `{self.state.root}`"),
            pn.Row(pn.widgets.Select.from_param(self.state.param.run, label="Run", width=420), refresh),
            pn.Row(path, open_button),
            pn.Row(demo, evaluate),
            job_panel(self.state),
            markdown(self.bind(self.summary, "run", "revision"), sizing_mode="stretch_width"),
            markdown(self.bind(self.unfinished, "revision"), sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    def _needs_evaluation(self, **_: Any) -> bool:
        return self.state.can_evaluate

    def unfinished(self, **_: Any) -> str:
        """Markdown list of the runs under the root that are not trained (running, failed, interrupted)."""
        root = self.state.root_path
        runs = loaders.unfinished_runs(root) if root.is_dir() else {}
        lines = [f"- `{run.relative_to(root)}`: {line}" for run, line in runs.items()]
        return "\n".join(["**Runs not trained** (not in the chooser):", *lines]) if lines else ""

    @reported
    def open_path(self, path: str) -> Path | None:
        run = self.state.open_run(path)
        self.state.notify(f"opened run {run.name}")
        return run

    @reported
    def start_demo(self) -> None:
        self.state.start_demo()

    @reported
    def start_evaluation(self) -> None:
        self.state.start_evaluation()

    def summary(self, **_: Any) -> str:
        """Markdown summary of the selected run: configuration, files, headline metrics."""
        run = self.state.run_path
        if run is None:
            where = self.state.root_path
            return (f"No finished run under `{where}`. **Run the demo** (writes `region/` and `work/` there, "
                    "a few minutes on 2 CPU cores), or restart with `--root DIR` / `HAZARD_ROOT`.")
        config = loaders.run_config(run).get("train", {})
        files = sorted(p.name for p in run.iterdir()) if run.is_dir() else []
        lines = [f"**Run** `{run.name}` in `{workdir_of(run)}`",
                 f"- split: {config.get('split', '?')}, loss: {config.get('loss', '?')}, "
                 f"seed: {config.get('seed', '?')}",
                 f"- status: {summary(run)}",
                 f"- files: {', '.join(f'`{name}`' for name in files) or 'none'}"]
        if step_state(run, "train") == "running":
            lines.append("- being trained now: its earlier model, predictions and metrics were removed")
        elif self.state.can_evaluate:
            lines.append("- predictions or metrics missing: **Predict + evaluate this run** computes them again")
        metrics = self.state.metrics
        if metrics is not None:
            s, d = metrics["susceptibility"], metrics["density"]
            lines.append(f"- test cells: {metrics.get('test_cells', '?')}; AUC {elements.format_number(s['auc'])}, "
                         f"F1 {elements.format_number(s['f1'])}, density MAE {elements.format_number(d['mae'])} %, "
                         f"R {elements.format_number(d['pearson_r'])}")
        if (run / REPORT).exists():
            lines.append(f"- report: `{run / REPORT}`")
        return "\n".join(lines)


def job_panel(state: DashboardState) -> pn.Column:
    """Progress bar, status and Cancel button of the background job."""
    # only the session that started the job may cancel it; the others see it running
    cancel = pn.widgets.Button(label="Cancel", color="warning", visible=state.param.job_cancellable)

    def on_cancel(_: Any) -> None:
        try:
            state.cancel()
        except HazardcoreError as exc:
            state.notify(str(exc), error=True)

    cancel.on_click(on_cancel)
    def percent(progress: float) -> int:
        return round(100 * progress)

    def describe(kind: str, status: str) -> str:
        return f"**{kind}**: {status}" if kind else ""

    # no fixed widths: the panel sits in the 300 px sidebar too, where a 300 px bar pushed Cancel off-screen
    bar = pn.indicators.Progress(value=pn.bind(percent, state.param.job_progress), max=100, width=None,
                                 sizing_mode="stretch_width", visible=state.param.job_running)
    status = markdown(pn.bind(describe, state.param.job_kind, state.param.job_status), sizing_mode="stretch_width")
    return pn.Column(bar, cancel, status, sizing_mode="stretch_width", max_width=420)


class InventoryView(StateView):
    """Observed new-landslide density per slice over the hillshade, its history and distribution."""

    def _build(self) -> pn.viewable.Viewable:
        # a FlexBox wraps the three plots into the width there is (a Row clipped the histogram at 1400 px)
        summaries = pn.FlexBox(
            pn.pane.HoloViews(self.dynamic(self.cumulative_area, "slice", "workdir", "revision")),
            pn.pane.HoloViews(self.dynamic(self.positive_counts, "slice", "workdir", "revision")),
            pn.pane.HoloViews(self.dynamic(self.density_histogram, "slice", "workdir", "revision")),
            sizing_mode="stretch_width")
        return pn.Column(self.notice(self._missing, "workdir", "revision"),
                         self.basemap_switch(self._maps), summaries, sizing_mode="stretch_width")

    def _missing(self, **_: Any) -> str:
        return "" if self.state.cube is not None else NOTHING

    def _maps(self, geo: bool) -> pn.pane.HoloViews:
        frame = self.dynamic(self.density_image, "slice", "workdir", "revision", geo=geo)
        if not geo:
            self.frames["observed_density"] = frame
        density = self.tappable(frame, geo)
        # over a basemap too: the tiles, then the hillshade in their Web Mercator (it disappeared there before)
        shade = rasterize(self.dynamic(self.hillshade_image, "workdir", "revision", geo=geo))
        self.frames["hillshade_web" if geo else "hillshade"] = shade
        return pn.pane.HoloViews((self.tiles() * shade if geo else shade) * density)

    def density_plane(self, slice_index: int | None = None) -> xr.DataArray | None:
        """Observed density (%) of a slice on the 1 km grid, NaN at invalid cells."""
        cube = self.state.cube
        if cube is None:
            return None
        k = self.state.slice if slice_index is None else slice_index
        values = np.where(cube.valid[k].astype(bool), cube.density[k], np.nan).astype("float32")
        return xr.DataArray(values, dims=("y", "x"), coords=cube.grid.coords("1km"), name="observed_density")

    def density_image(self, geo: bool = False, **_: Any) -> hv.Image:
        plane = self.density_plane()
        if plane is None:
            return elements.empty_map("observed density")
        cube = self.state.cube
        assert cube is not None
        clim = elements.density_range(cube.density)
        shown = plane.where(plane > 0)  # zero: no new landslide, the hillshade shows through
        image = elements.layer_map(shown, "observed_density", f"new landslide density · {self.state.slice_label}",
                                   clim, crs=self.cartopy_crs() if geo else None)
        return image.opts(alpha=0.85, frame_width=560)

    def hillshade_image(self, geo: bool = False, **_: Any) -> hv.Image:
        """The hillshade in the grid's CRS, or (``geo``) in Web Mercator, half transparent over the web tiles."""
        workdir, cube = self.state.workdir_path, self.state.cube
        if cube is None or workdir is None:
            return elements.empty_map("hillshade")
        if geo:
            return elements.hillshade_image(loaders.web_hillshade(workdir, cube.grid.crs), alpha=0.5)
        return elements.hillshade_image(loaders.hillshade(workdir))

    def area_frame(self) -> pd.DataFrame:
        """Per slice: new mapped area (km²), its cumulative sum, and the positive and valid cells."""
        cube = self.state.cube
        if cube is None:
            return pd.DataFrame(columns=["slice", "new_km2", "cumulative_km2", "positive_cells", "valid_cells"])
        cell_km2 = cube.grid.cell_area_m2 / 1e6
        new = np.nansum(np.where(cube.valid.astype(bool), cube.density, 0.0), axis=(1, 2)) / 100 * cell_km2
        return pd.DataFrame({"slice": list(cube.slice_labels), "new_km2": new, "cumulative_km2": np.cumsum(new),
                             "positive_cells": cube.presence.astype(bool).sum(axis=(1, 2)),
                             "valid_cells": cube.valid.astype(bool).sum(axis=(1, 2))})

    def cumulative_area(self, **_: Any) -> hv.Overlay:
        """The mapped area per slice and its running total, the current slice marked (x)."""
        frame = self.area_frame()
        current = frame.iloc[[self.state.slice]] if len(frame) else frame
        mark = hv.Scatter(current, "slice", ("cumulative_km2", "area (km²)")).opts(size=12, color="black", marker="x")
        return elements.curves(frame, "slice", ["cumulative_km2", "new_km2"], "Mapped landslide area over time",
                               "area (km²)", labels={"cumulative_km2": "cumulative", "new_km2": "new in the slice"},
                               marks=[mark])

    def positive_counts(self, **_: Any) -> hv.Bars:
        frame = self.area_frame()
        return elements.bars(list(frame["slice"]), list(frame["positive_cells"]), "cells with new landslides",
                             "Cells with new landslides per slice", highlight=self.state.slice)

    def density_histogram(self, **_: Any) -> hv.Histogram:
        plane = self.density_plane()
        values = plane.values if plane is not None else np.array([])
        return elements.histogram(values, f"Densities of positive cells · {self.state.slice_label}",
                                  "new landslide density (% of cell)")


class PredictorsView(StateView):
    """Any of the 16 predictor channels at 31.25 m for the chosen slice, rasterized by datashader."""

    def _build(self) -> pn.viewable.Viewable:
        self.frames["channel"] = self.dynamic(self.channel_image, "channel", "slice", "workdir", "revision")
        self.raster = rasterize(self.frames["channel"])
        # the description takes the row's remaining width and wraps (at its natural width it ran off the window)
        info = markdown(self.bind(self.describe, "channel", "slice", "workdir"), sizing_mode="stretch_width")
        return pn.Column(self.notice(self._missing, "workdir", "revision"),
                         pn.Row(pn.widgets.Select.from_param(self.state.param.channel, width=220), info,
                                sizing_mode="stretch_width"),
                         pn.pane.HoloViews(self.tappable(self.raster)), sizing_mode="stretch_width")

    def _missing(self, **_: Any) -> str:
        return "" if self.state.cube is not None else NOTHING

    def channel_plane(self) -> xr.DataArray | None:
        """The chosen channel of the chosen slice at full resolution (NaN = nodata)."""
        workdir = self.state.workdir_path
        if self.state.cube is None or workdir is None:
            return None
        return loaders.channel_plane(workdir, self.state.channel, self.state.slice)

    def channel_image(self, **_: Any) -> hv.Image:
        plane = self.channel_plane()
        if plane is None:
            return elements.empty_map("predictor")
        channel = self.state.channel
        when = "static" if channel in STATIC_CHANNELS else self.state.slice_label
        unit = CHANNEL_UNITS.get(channel, "")
        return elements.channel_map(plane, f"{channel}{f' ({unit})' if unit else ''} · {when}")

    def describe(self, **_: Any) -> str:
        cube = self.state.cube
        if cube is None:
            return ""
        n_rows, n_cols = cube.grid.shape("30m")
        static = "the same in every slice" if self.state.channel in STATIC_CHANNELS else "one map per slice"
        return (f"**{self.state.channel}** ({CHANNEL_UNITS.get(self.state.channel, '')}), {static}; "
                f"{n_rows:,} × {n_cols:,} pixels of {cube.grid.pixel_size_m:g} m, drawn by datashader at "
                "screen resolution (zoom in for detail).")


class TrainView(StateView):
    """Configure (param classes as widgets), start, follow and cancel a training run."""

    def _build(self) -> pn.viewable.Viewable:
        start = pn.widgets.Button(label="Start training", color="primary")
        start.on_click(lambda _: self.start())
        reset = pn.widgets.Button(label="Demo settings", color="default")
        reset.on_click(lambda _: self.reset())
        replace = pn.widgets.Button(label=self.bind(self._replace_label, "replace_run"), color="danger",
                                    visible=self.bind(lambda replace_run: bool(replace_run), "replace_run"))
        replace.on_click(lambda _: self.replace())
        # learning rates typed as numbers: a 0-1 slider cannot set (or show: "0") a rate of 0.002
        rates = {name: {"type": pn.widgets.FloatInput, "step": 1e-4, "format": "0.[000000]"}
                 for name in ("learning_rate", "learning_rate_density")}
        configs = pn.Accordion(("Model", settings(self.state.model_config)),
                               ("Training", settings(self.state.train_config, widgets=rates)),
                               active=[0, 1], width=380)
        curves = pn.Column(pn.pane.HoloViews(self.bind(self.loss_curves, "log")),
                           pn.pane.HoloViews(self.bind(self.metric_curves, "log")))
        where = markdown(self.bind(self.describe, "workdir", "revision"))
        # the description above, not in the settings' column: its long line would widen the column and push
        # the curves off the window
        return pn.Column(where, pn.Row(pn.Column(pn.Row(start, reset), replace, job_panel(self.state), configs),
                                       curves))

    def describe(self, **_: Any) -> str:
        workdir = self.state.workdir_path
        if workdir is None:
            return "No prepared working folder under the root: run the demo first (Runs tab)."
        return (f"Trains on `{workdir}` (the run goes to `runs/<config hash>`); then predicts and evaluates it, "
                "and selects it. One job at a time; Cancel stops after the current epoch.")

    @reported
    def start(self) -> None:
        try:
            self.state.start_training()
        except RunExistsError:
            pass  # the run with these settings is opened, and the message asks before replacing it

    @reported
    def replace(self) -> None:
        """The explicit confirmation: train again over the run with these settings (deleting its results)."""
        self.state.start_training(replace=True)

    @staticmethod
    def _replace_label(replace_run: str) -> str:
        return f"Replace run {Path(replace_run).name} (deletes its results)" if replace_run else "Replace"

    def reset(self) -> None:
        from hazardcore.config import demo_configs

        model_config, train_config = demo_configs()
        self.state.model_config.param.update(**model_config.to_dict())
        self.state.train_config.param.update(**train_config.to_dict())

    def _log(self) -> pd.DataFrame:
        log = self.state.log
        return log if log is not None else pd.DataFrame(columns=["step", "stage", "train_loss", "val_loss"])

    def loss_curves(self, **_: Any) -> hv.Overlay:
        """Training and validation loss per epoch (x: epochs over all stages)."""
        return elements.stage_curves(self._log(), ["train_loss", "val_loss"], f"Loss ({self._stages()})", "loss")

    def metric_curves(self, **_: Any) -> hv.Overlay:
        """Validation AUC (susceptibility) and, on positive cells, R and mean ratio (density) per epoch."""
        return elements.stage_curves(self._log(), ["val_auc", "val_r_positive", "val_mean_ratio_positive"],
                                     "Validation metrics", "value")

    def _stages(self) -> str:
        log = self._log()
        return " → ".join(dict.fromkeys(log["stage"])) if len(log) else "no epochs yet"


class MapsView(StateView):
    """Susceptibility, density and hazard of a slice beside the observed density; the published maps."""

    interval_slice = param.Integer(default=0, doc="the slice the ensemble map follows: the state's for an ensemble, "
                                   "0 for a single run, whose blank map then is not redrawn on every slice step")

    def _build(self) -> pn.viewable.Viewable:
        self.state.param.watch(self._follow_interval, ["slice", "run", "revision"])
        self._follow_interval()
        # not linked to the maps above: its placeholder maps (no reference) would widen their
        # ranges to include (0, 0), leaving the region a speck in a corner
        self._reference_pane = pn.Row(pn.pane.HoloViews(self._reference_pair(), linked_axes=False))
        return pn.Column(self.notice(self._missing, "run", "revision"), self._downloads(),
                         pn.widgets.RadioButtonGroup.from_param(
                             self.state.param.uncertainty, name="ensemble map", button_type="default",
                             visible=self.bind(self._ensemble, "run", "revision")),
                         self.basemap_switch(self._maps), self._time_story(), self._comparison(),
                         markdown("#### Published maps beside ours",
                                          visible=self.bind(self.has_reference, "run", "revision")),
                         markdown(self.bind(self.reference_note, "run", "revision")),
                         pn.panel(self.bind(self._reference_row, "run", "revision")), sizing_mode="stretch_width")

    def _downloads(self) -> pn.viewable.Viewable:
        """Download buttons: the sidebar's layer in the current slice as a GeoTIFF and as a PNG figure, and the
        hazard over time as a CSV table."""
        buttons = {"geotiff": ("GeoTIFF of the layer's map", self.geotiff_file),
                   "png": ("PNG figure of the layer's map", self.png_file),
                   "csv": ("CSV of the hazard over time", self.csv_file)}
        row = []
        for kind, (label, make) in buttons.items():
            button = pn.widgets.FileDownload(label=label, button_type="default", filename=f"hazard.{kind}",
                                             width=250)
            button.callback = functools.partial(self._download, button, make)
            row.append(button)
        return pn.Row(*row, visible=self.bind(self._predicted, "run", "revision"))

    @staticmethod
    def _download(button: pn.widgets.FileDownload, make: Callable[[], tuple[str, bytes]]) -> io.BytesIO:
        name, data = make()
        button.filename = name  # read by the widget after this callback
        return io.BytesIO(data)

    def export_name(self, suffix: str) -> str:
        """File name of an export: run, layer and slice, e.g. ``05cfa17a32_hazard_2015-co.tif``."""
        run = self.state.run_path.name if self.state.run_path else "run"
        return f"{run}_{self.state.layer}_{self.state.slice_label}.{suffix}"

    def export_plane(self) -> xr.DataArray:
        """The sidebar's layer in the current slice, with its CRS (rioxarray) and units.

        Raises
        ------
        HazardcoreError
            Before the run is predicted.
        """
        predictions = self.state.predictions
        if predictions is None:
            raise HazardcoreError(NOT_PREDICTED)
        name = self.state.layer
        plane = predictions[name].isel(slice=self.state.slice).reset_coords(drop=True).astype("float32")
        crs = self.grid_crs() or predictions.attrs.get("crs")
        plane = plane.rio.set_spatial_dims(x_dim="x", y_dim="y")
        return (plane.rio.write_crs(crs) if crs else plane).assign_attrs(
            units=elements.LABELS[name][1], long_name=elements.LABELS[name][0])

    def geotiff_file(self) -> tuple[str, bytes]:
        """The shown layer's map as a GeoTIFF (``hazardcore.export.write_geotiff``; nodata -9999)."""
        plane = self.export_plane()
        with tempfile.TemporaryDirectory() as folder:
            path = export.write_geotiff(plane, Path(folder) / "map.tif", nodata=EXPORT_NODATA,
                                        band_descriptions=[self.state.slice_period],
                                        tags={"units": str(plane.attrs["units"]), "layer": self.state.layer,
                                              "period": self.state.slice_period})
            return self.export_name("tif"), path.read_bytes()

    def png_file(self) -> tuple[str, bytes]:
        """The shown layer's map as a PNG figure (matplotlib: the dashboard's colours, title and unit)."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import colors
        from matplotlib.figure import Figure

        plane, name = self.export_plane(), self.state.layer
        if name == "susceptibility":
            cmap, norm = matplotlib.colormaps[elements.SUSCEPTIBILITY_CMAP], colors.Normalize(0.0, 1.0)
        else:
            cmap, norm = matplotlib.colormaps[elements.DENSITY_CMAP], colors.LogNorm(*self.density_clim())
        cmap = cmap.with_extremes(under=elements.BELOW_SCALE)  # zeros as on the dashboard's maps
        figure = Figure(figsize=(6, 5), dpi=120)
        axes = figure.add_subplot()
        x, y = plane["x"].values, plane["y"].values
        half = abs(float(x[1] - x[0])) / 2 if len(x) > 1 else 500.0
        shown = axes.imshow(plane.values, cmap=cmap, norm=norm, origin="upper" if y[0] > y[-1] else "lower",
                            extent=(x.min() - half, x.max() + half, y.min() - half, y.max() + half))
        figure.colorbar(shown, ax=axes, label=f"{elements.LABELS[name][0]} ({elements.LABELS[name][1]})")
        axes.set(title=f"{self.slice_title(name)}", xlabel="easting (m)", ylabel="northing (m)")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return self.export_name("png"), buffer.getvalue()

    def csv_file(self) -> tuple[str, bytes]:
        """The hazard over time (the table behind the Maps tab's regional plots) as CSV."""
        run = self.state.run_path.name if self.state.run_path else "run"
        return f"{run}_hazard_over_time.csv", self.regional_frame().to_csv(index=False).encode("utf-8")

    def _time_story(self) -> pn.viewable.Viewable:
        """The hazard over time: the region's predicted and observed totals and means per period."""
        plots = [pn.pane.HoloViews(self.bind(self.time_plot, "run", "revision", name=name)) for name in TIME_PLOTS]
        return pn.Column(markdown("#### Hazard over time: the whole region, per period (valid cells)",
                                  visible=self.bind(self._predicted, "run", "revision")),
                         pn.FlexBox(*plots, visible=self.bind(self._predicted, "run", "revision"),
                                    sizing_mode="stretch_width"), sizing_mode="stretch_width")

    def _comparison(self) -> pn.viewable.Viewable:
        """The layer chosen in the sidebar: the current period minus another one, as a map."""
        frame = self.dynamic(self.difference_image, "slice", "compare", "layer", "run", "revision")
        self.frames["difference"] = frame
        chooser = pn.widgets.Select.from_param(self.state.param.compare, label="Compare the current period with",
                                               width=420)
        shown = self.bind(self._predicted, "run", "revision")
        return pn.Column(markdown("#### Two periods compared (the sidebar's layer)"), chooser,
                         pn.pane.HoloViews(self.tappable(frame)), visible=shown)

    def difference_plane(self) -> xr.DataArray | None:
        """The sidebar's layer in the current slice minus the compared slice (None before predictions)."""
        predictions, compare = self.state.predictions, self.state.compared_slice
        if predictions is None or compare is None:
            return None
        layer = predictions[self.state.layer]
        return (layer.isel(slice=self.state.slice) - layer.isel(slice=compare)).astype("float32")

    def difference_image(self, **_: Any) -> hv.Image:
        plane, compare = self.difference_plane(), self.state.compared_slice
        if plane is None or compare is None:
            return elements.empty_map("difference")
        labels, name = self.state.slice_labels, self.state.layer
        title = f"{elements.LABELS[name][0]}: {labels[self.state.slice]} − {labels[compare]}"
        return elements.difference_map(plane, name, title)

    def _predicted(self, **_: Any) -> bool:
        return self.state.predictions is not None

    def regional_frame(self) -> pd.DataFrame:
        """The region's series per slice (``figure_data.regional_series``), with ``period``: label and dates."""
        predictions = self.state.predictions
        if predictions is None:
            return pd.DataFrame(columns=["period"])
        frame = pd.DataFrame({"period": fd.period_labels(predictions), **fd.regional_series(predictions)})
        totals = self.member_totals()
        if totals is not None and len(totals) > 1:  # an ensemble: one more member's total, t rule (λ = 1: the
            # calibrated λ is of cell values, and no region's totals were scored against their truth)
            frame["hazard_km2_p05"], frame["hazard_km2_p95"] = predictive_percentiles(totals, "hazard", (5, 95),
                                                                                      inflation=1.0)
        return frame

    def member_totals(self) -> np.ndarray | None:
        """An ensemble's members' expected new landslide area per slice (members × slices, km²); None for a run
        (or when no member's predictions are readable)."""
        predictions, run = self.state.predictions, self.state.run_path
        if predictions is None or run is None or not predictions.attrs.get("members"):
            return None
        runs = [run_path(workdir_of(run), name.strip()) for name in str(predictions.attrs["members"]).split(",")]
        members = [loaders.predictions(self.state.resolve(member)) for member in runs
                   if member.is_dir() and is_inside(self.state.root_path, member)]  # never read outside the root
        totals = [fd.regional_series(member)["hazard_km2"] for member in members if member is not None]
        return np.array(totals) if totals else None

    def time_plot(self, name: str, **_: Any) -> hv.Overlay:
        """One of :data:`TIME_PLOTS`: predicted against observed (and the known truth) per period."""
        title, ylabel, labels = TIME_PLOTS[name]
        frame = self.regional_frame()
        frame["period"], rotation = elements.period_ticks(list(frame["period"]))
        return elements.curves(frame, "period", list(labels), title, ylabel, labels=labels).opts(xrotation=rotation)

    def _reference_row(self, **_: Any) -> pn.viewable.Viewable | None:
        """The published pair, in the page only when there are published maps: a hidden pane's
        plots would still be redrawn on every slice change."""
        return self._reference_pane if self.has_reference() else None

    def _ensemble(self, **_: Any) -> bool:
        """Whether the shown run is an ensemble (its predictions carry the members' intervals)."""
        return self.state.predictions is not None and has_intervals(self.state.predictions)

    def _missing(self, **_: Any) -> str:
        if self.state.run is None:
            return NOTHING  # as the other tabs say, rather than blank axes
        return "" if self.state.predictions is not None else NOT_PREDICTED

    def _maps(self, geo: bool) -> pn.pane.HoloViews:
        frames = {name: self.dynamic(self._frame, "slice", "run", "revision", name=name, geo=geo)
                  for name in (*PREDICTED_LAYERS, "observed_density")}
        arguments: dict[str, Any] = {"interval_slice": self.param.interval_slice, "name": INTERVAL_LAYER, "geo": geo,
                                     **{n: self.state.param[n] for n in ("run", "revision", "uncertainty")}}
        frames[INTERVAL_LAYER] = hv.DynamicMap(pn.bind(self._frame, **arguments))
        if not geo:
            self.frames.update(frames)
        maps = [self.tappable(frame, geo) for frame in frames.values()]
        if geo:
            maps = [self.tiles() * item for item in maps]
        return pn.pane.HoloViews(hv.Layout(maps).cols(2))

    def _frame(self, name: str, geo: bool = False, **_: Any) -> hv.Image:
        return self.image(name, geo=geo)

    def _follow_interval(self, *_: Any) -> None:
        self.interval_slice = self.state.slice if self._ensemble() else 0

    def image(self, name: str, slice_index: int | None = None, geo: bool = False) -> hv.Image:
        """The map of variable ``name`` of the predictions in a slice (default: the state's)."""
        predictions = self.state.predictions
        title = None
        if predictions is not None and name == INTERVAL_LAYER:  # an ensemble's; else a blank map of the region
            ensemble = has_intervals(predictions)
            shown = self.uncertainty_map(predictions) if ensemble else xr.full_like(predictions["hazard"], np.nan)
            predictions = predictions.assign({name: shown})
            title = self.uncertainty_title(predictions) if ensemble else NO_INTERVALS
        if predictions is None or name not in predictions:
            return elements.empty_map(name)
        k = self.state.slice if slice_index is None else slice_index
        plane = predictions[name].isel(slice=k)
        probability = name == INTERVAL_LAYER and UNCERTAINTY_VIEWS[self.state.uncertainty] == EXCEEDANCE
        return elements.layer_map(plane, name, title or self.slice_title(name), self.density_clim(),
                                  crs=self.cartopy_crs() if geo else None, probability=probability)

    def uncertainty_map(self, predictions: xr.Dataset) -> xr.DataArray:
        """The members' hazard as the state's ``uncertainty`` view asks: interval width, spread or a percentile (%),
        or the probability that the new area exceeds the first density the user named (blank without one)."""
        variable = UNCERTAINTY_VIEWS[self.state.uncertainty]
        if variable == EXCEEDANCE:
            _, layer = first_exceedance(predictions)
            return layer if layer is not None else xr.full_like(predictions["hazard"], np.nan)
        return predictions[variable] if variable else interval_width(predictions, "hazard")

    def uncertainty_title(self, predictions: xr.Dataset) -> str:
        """The ensemble map's title: the view and the slice, short enough for its frame."""
        if UNCERTAINTY_VIEWS[self.state.uncertainty] != EXCEEDANCE:
            return f"hazard {UNCERTAINTY_TITLES[self.state.uncertainty]} of the ensemble · {self.state.slice_label}"
        density, layer = first_exceedance(predictions)
        return NO_EXCEEDANCE if layer is None else f"P(new area > {density} of cell) · {self.state.slice_label}"

    def density_clim(self) -> tuple[float, float]:
        """One log colour range for density, hazard and observed density over all slices (per run)."""
        key = (self.state.run, self.state.revision)
        cached = getattr(self, "_clim", None)
        if cached is None or cached[0] != key:
            predictions = self.state.predictions
            arrays = [predictions[n].values for n in ("density", "hazard", "observed_density")
                      if predictions is not None and n in predictions]
            self._clim = (key, elements.density_range(*arrays))
        return self._clim[1]

    def reference(self) -> xr.Dataset | None:
        """The published maps, when a reference folder is set and they lie on this run's grid."""
        workdir = self.state.workdir_path
        if self.state.predictions is None or workdir is None:
            return None
        return loaders.reference_maps(self.state.reference_path, workdir, self.state.slice_labels)

    def has_reference(self, **_: Any) -> bool:
        return self.reference() is not None

    def reference_note(self, **_: Any) -> str:
        if self.state.reference_path is None:
            return "*Published maps: no reference folder (start with `--reference DIR` or `HAZARD_REFERENCE`).*"
        if self.state.predictions is not None and self.reference() is None:
            return (f"*Published maps in `{self.state.reference_path}`: none for this run (they are shown for "
                    "runs on the original study grid, with one band per slice).*")
        return ""

    def _reference_pair(self) -> hv.Layout:
        self.frames["ours"] = self.dynamic(self._ours, "slice", "layer", "run", "revision")
        self.frames["published"] = self.dynamic(self._published, "slice", "layer", "run", "revision")
        return hv.Layout([self.tappable(self.frames["ours"]), self.tappable(self.frames["published"])]).cols(2)

    def _ours(self, **_: Any) -> hv.Image:
        if self.reference() is None:
            return elements.empty_map("ours")
        return self.image(self.state.layer).opts(title=f"ours: {self.slice_title(self.state.layer)}")

    def _published(self, **_: Any) -> hv.Image:
        reference = self.reference()
        if reference is None:
            return elements.empty_map("published")
        name = self.state.layer
        plane = reference[name].sel(slice=self.state.slice_label).assign_coords(
            y=self.state.cell_coords()["y"], x=self.state.cell_coords()["x"])  # on the grid (checked within 1 m)
        return elements.layer_map(plane, name, f"published: {self.slice_title(name)}", self.density_clim())


class EvaluationView(StateView):
    """Confusion and residual maps, ROC, scatter, reliability, contours and the metrics tables."""

    def _build(self) -> pn.viewable.Viewable:
        legend = pn.pane.HTML(self.bind(self.legend, "slice", "test_only", "run", "revision"))
        # one figure per pane: Bokeh leaves a grid plot (an hv.Layout) blank when it sits in a row beside a
        # figure in a tab shown after the page loaded (bokeh/bokeh#13384)
        run_level = pn.Row(pn.pane.HoloViews(self.bind(self.roc, "run", "revision")),
                           pn.Column(*self.parts(self.reliability, 2)))
        scatters = pn.FlexBox(*self.parts(self.scatter, 2),
                          pn.pane.HoloViews(self.dynamic(self.contours, "slice", "run", "revision")),
                          sizing_mode="stretch_width")
        # the tables one row per score (with a column per source or slice, they ran past the window's edge);
        # the importance's plot and table only when it was computed (else blank axes under the note)
        explained = self.bind(self._explained, "run", "revision")
        tables = pn.Column("#### Metrics on the test cells", pn.pane.DataFrame(
            self.bind(self.metrics_table, "run", "revision"), float_format="{:.3f}".format),
            "#### Per slice (model)", pn.pane.DataFrame(self.bind(self.per_slice_table, "run", "revision"),
                                                         float_format="{:.3f}".format),
            "#### What drives the maps (permutation importance on the test patches)",
            markdown(self.bind(self.importance_note, "run", "revision")),
            pn.pane.HoloViews(self.bind(self.importance_bars, "run", "revision"), visible=explained),
            pn.pane.DataFrame(self.bind(self.importance_frame, "run", "revision"), float_format="{:.3f}".format,
                              visible=explained))
        return pn.Column(self.notice(self._missing, "run", "revision"),
                         checkbox(self.state, "test_only", "Test cells only"),
                         self.basemap_switch(self._maps), legend, run_level, scatters, tables,
                         sizing_mode="stretch_width")

    def parts(self, method: Callable[..., hv.Layout], count: int) -> list[pn.pane.HoloViews]:
        """One pane per plot of the layout that ``method()`` returns, each following the run."""

        def part(index: int, **_: Any) -> Any:
            plots = method().values()
            return plots[index] if index < len(plots) else None  # None: an empty pane

        return [pn.pane.HoloViews(self.bind(part, "run", "revision", index=index)) for index in range(count)]

    def _ensemble(self, **_: Any) -> bool:
        """Whether the shown run is an ensemble (its predictions carry the members' intervals)."""
        return self.state.predictions is not None and has_intervals(self.state.predictions)

    def _missing(self, **_: Any) -> str:
        if self.state.run is None:
            return NOTHING
        if self.state.predictions is None:
            return NOT_PREDICTED
        return "" if self.state.metrics is not None else NOT_EVALUATED

    def _maps(self, geo: bool) -> pn.pane.HoloViews:
        names = ("slice", "test_only", "run", "revision")
        frames = {"confusion": self.dynamic(self.confusion_frame, *names, geo=geo),
                  "residual": self.dynamic(self.residual_frame, *names, geo=geo)}
        if not geo:
            self.frames.update(frames)
        maps = [self.tappable(frame, geo) for frame in frames.values()]
        if geo:
            maps = [self.tiles() * item for item in maps]
        return pn.pane.HoloViews(hv.Layout(maps).cols(2))

    def _at(self, slice_index: int | None) -> xr.Dataset | None:
        """The predictions of one slice, keeping the ``slice`` dim; default slice: the state's."""
        predictions = self.state.predictions
        if predictions is None:
            return None
        return predictions.isel(slice=[self.state.slice if slice_index is None else slice_index])

    def confusion_codes(self, slice_index: int | None = None) -> xr.DataArray | None:
        """TP/FP/FN/TN codes (3/1/2/0; NaN outside the shown cells) at the slice's own decision threshold."""
        at = self._at(slice_index)
        if at is None:
            return None
        codes = fd.confusion_codes(at, self.state.slice_threshold(slice_index), test_only=self.state.test_only)
        return codes.isel(slice=0).reset_coords(drop=True)

    def confusion_counts(self, slice_index: int | None = None) -> dict[str, int]:
        codes = self.confusion_codes(slice_index)
        if codes is None:
            return {}
        counts = fd.confusion_counts(codes)
        return {name: counts[name.lower()] for name in fd.CONFUSION_CLASSES.values()}

    def legend(self, **_: Any) -> str:
        counts = self.confusion_counts()
        cells = "test cells" if self.state.test_only else "valid cells"
        return (f"{elements.confusion_legend(counts)} &nbsp; ({cells}, {self.state.threshold_text()})"
                if counts else "")

    def confusion_frame(self, geo: bool = False, **_: Any) -> hv.Image:
        codes = self.confusion_codes()
        if codes is None:
            return elements.empty_map("confusion")
        return elements.confusion_image(codes, f"confusion · {self.state.slice_label} · τ "
                                        f"{elements.format_number(self.state.threshold)}",
                                        crs=self.cartopy_crs() if geo else None)

    def residual_plane(self, slice_index: int | None = None) -> xr.DataArray | None:
        """Observed density − hazard (%) of the shown cells of a slice."""
        at = self._at(slice_index)
        if at is None:
            return None
        plane = fd.residual_planes(at, fd.shown_cells(at, test_only=self.state.test_only))
        return plane.isel(slice=0).astype("float32")

    def residual_frame(self, geo: bool = False, **_: Any) -> hv.Image:
        plane = self.residual_plane()
        if plane is None:
            return elements.empty_map("residual")
        return elements.residual_map(plane, f"residual (observed − hazard) · {self.state.slice_label}",
                                     crs=self.cartopy_crs() if geo else None)

    def test_values(self, *names: str) -> dict[str, np.ndarray]:
        """Values of variables on the test cells of every slice where all of them are finite."""
        predictions = self.state.predictions
        if predictions is None:
            return {name: np.array([]) for name in names}
        return fd.test_values(predictions, *names)

    def roc_curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """ROC of the model and (when the truth is known) the oracle on the test cells."""
        sources = {"model": "susceptibility", "oracle": "true_probability"}
        values = self.test_values("presence", *sources.values())
        scores = {name: values[variable] for name, variable in sources.items() if variable in values}
        return {name: (curve.fpr, curve.tpr) for name, curve in fd.roc_curves(values["presence"] > 0, scores).items()}

    def aucs(self) -> dict[str, float]:
        """AUC per source: metrics.json's values (model, baselines, oracle)."""
        return {name: float(row["auc"]) for name, row in self.metrics_frame().iterrows() if np.isfinite(row["auc"])}

    def roc(self, **_: Any) -> hv.Overlay:
        return elements.roc_plot(self.roc_curves(), self.aucs())

    def reliability(self, **_: Any) -> hv.Layout:
        values = self.test_values("presence", "susceptibility")
        reliability = fd.reliability_table(values["presence"] > 0, values["susceptibility"])
        if reliability is None:
            return hv.Layout([elements.empty_map("reliability")])
        # metrics.json's ECE; none before evaluation, where the notice says the plots carry no scores
        ece = (self.state.metrics or {}).get("susceptibility", {}).get("ece")
        return elements.reliability_plot(reliability.table, float("nan") if ece is None else ece)

    def scatter(self, **_: Any) -> hv.Layout:
        predictions = self.state.predictions
        nothing = fd.ScatterPanel(np.array([]), np.array([]), float("nan"), float("nan"))
        panels = (fd.scatter_values(predictions, positive="observed_density", common_cells=True)
                  if predictions is not None else {"all": nothing, "positive": nothing})
        return (elements.scatter_plot(panels["all"].observed, panels["all"].predicted, "hazard (%)", "All test cells")
                + elements.scatter_plot(panels["positive"].observed, panels["positive"].predicted,
                                        "density given occurrence (%)", "Positive test cells"))

    def contours(self, **_: Any) -> hv.Overlay:
        """Density vs susceptibility of the slice's valid cells (the same overlay in every slice)."""
        predictions = self.state.predictions
        title = f"Density vs susceptibility · {self.state.slice_label}"
        if predictions is None:
            return elements.contour_plot(np.array([]), np.array([]), title)
        at = predictions.isel(slice=self.state.slice)
        valid = at["valid"].values > 0
        return elements.contour_plot(at["susceptibility"].values[valid], at["density"].values[valid], title)

    def metrics_frame(self, **_: Any) -> pd.DataFrame:
        """Rows model / logistic / gbm / oracle, columns the susceptibility and density scores."""
        metrics = self.state.metrics
        columns = [key for keys in TABLE_KEYS.values() for key in keys]
        if metrics is None:
            return pd.DataFrame(columns=columns)
        sources: dict[str, Mapping[str, Any]] = dict(sources_of(cast(EvaluationResult, metrics)))
        rows = {name: {key: _number(block.get(group, {}).get(key)) for group, keys in TABLE_KEYS.items()
                       for key in keys} for name, block in sources.items()}
        return pd.DataFrame.from_dict(rows, orient="index", columns=columns)

    def per_slice_frame(self, **_: Any) -> pd.DataFrame:
        """The model's scores per slice (metrics.json ``per_slice``) and each slice's ``decision_threshold``."""
        metrics = self.state.metrics or {}
        decided = metrics.get("decision_thresholds", {}).get("model", {})
        rows = {entry["slice"]: {"decision_threshold": _number(decided.get(entry["slice"]))}
                | {key: _number(entry.get(group, {}).get(key)) for group, keys in TABLE_KEYS.items() for key in keys}
                for entry in metrics.get("per_slice", [])}
        return pd.DataFrame.from_dict(rows, orient="index")


    def metrics_table(self, **_: Any) -> pd.DataFrame:
        """:meth:`metrics_frame` as shown: one row per score, one column per source."""
        return self.metrics_frame().T

    def per_slice_table(self, **_: Any) -> pd.DataFrame:
        """:meth:`per_slice_frame` as shown: one row per score, one column per slice."""
        return self.per_slice_frame().T

    def _explained(self, **_: Any) -> bool:
        return self.state.importance is not None

    def importance_frame(self, **_: Any) -> pd.DataFrame:
        """Rows (season, group): the mean drop of AUC and of R pos. and their 95 % ranges (importance.json)."""
        result = self.state.importance
        columns = ["auc drop", "auc low", "auc high", "r_positive drop", "r_positive low", "r_positive high"]
        if result is None:
            return pd.DataFrame(columns=columns, index=pd.MultiIndex.from_tuples([], names=["slices", "group"]))
        rows = {(season, name): {f"{key} {part}": scores[key][field] for key in ("auc", "r_positive")
                                 for part, field in (("drop", "mean"), ("low", "low"), ("high", "high"))}
                for season, block in result["seasons"].items() for name, scores in block["importance"].items()
                if name in GROUP_NAMES.values()}
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
        frame.index = pd.MultiIndex.from_tuples(list(frame.index), names=["slices", "group"])
        return frame

    def importance_bars(self, **_: Any) -> hv.Bars:
        """AUC drop per channel group, side by side for all slices, the co-seismic and the rain ones."""
        frame = self.importance_frame().reset_index()
        return hv.Bars(frame, ["group", "slices"], "auc drop").opts(
            title="AUC drop when a group is permuted", width=520, height=280, xrotation=30, tools=["hover"])

    def importance_note(self, **_: Any) -> str:
        result = self.state.importance
        if result is None:
            return "Not computed for this run: `hazard explain WORKDIR --run RUN_ID` writes it (about 2 minutes)."
        return (f"{result['repeats']} permutations per group; partial dependence of the drivers in the run's "
                "`importance.json` and in `hazard explain`'s output.")


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


class CellStoryView(StateView):
    """A clicked cell over time: predicted and observed values per slice, and its predictors."""

    def _build(self) -> pn.viewable.Viewable:
        header = markdown(self.bind(self.describe, "cell", "run", "revision"))
        curves = pn.Row(pn.pane.HoloViews(self.bind(self.probability_curves, "cell", "run", "revision")),
                        pn.pane.HoloViews(self.bind(self.density_curves, "cell", "run", "revision")))
        table = pn.pane.DataFrame(self.bind(self.predictors, "cell", "workdir", "revision"),
                                  float_format="{:.4g}".format, sizing_mode="stretch_width")
        return pn.Column(header, curves, "#### Predictors: mean over the cell's pixels, per slice", table)

    def describe(self, **_: Any) -> str:
        cell = self.state.cell
        if cell is None:
            return "Click a cell on any map to follow it through the slices."
        coords = self.state.cell_coords()
        row, col = cell
        text = f"### Cell row {row}, column {col} (x {coords['x'][col]:,.0f} m, y {coords['y'][row]:,.0f} m)"
        predictions = self.state.predictions
        if predictions is not None:
            at = predictions.isel(y=row, x=col)
            sides = [side for side in ("train", "validation", "test") if bool((at[side].values > 0).any())]
            valid = int((at["valid"].values > 0).sum())
            text += f"\n\nvalid in {valid} of {at.sizes['slice']} slices; split side: {', '.join(sides) or 'none'}"
        return text

    def series(self) -> pd.DataFrame:
        """The cell's values per slice (``DashboardState.cell_series``) with a ``slice`` column."""
        return self.state.cell_series().reset_index()

    def probability_curves(self, **_: Any) -> hv.Overlay:
        return elements.curves(self.series(), "slice", ["susceptibility", "true_probability"],
                               "Probability of new landslides", "probability")

    def density_curves(self, **_: Any) -> hv.Overlay:
        return elements.curves(self.series(), "slice", ["density", "hazard", "observed_density", "true_hazard"],
                               "Densities (% of the cell)", "density (%)",
                               band=("hazard_p05", "hazard_p95", "hazard: ensemble's 5–95 % interval"))

    def predictors(self, **_: Any) -> pd.DataFrame:
        return self.state.cell_predictors()


#: What the About tab says of the method (hazardcore's; docs/METHOD.md in depth).
METHOD_TEXT = """\
**What the model is.** Two networks per run. A U-Net (a ResNet encoder) reads each 4 × 4 km patch of the
predictors at 31.25 m and gives every 1 km cell and period a **susceptibility**: the probability that the cell
gets new landslides in that period. A second network reads each cell's own 32 × 32 pixels and gives the
**density given occurrence**: the share of the cell that new landslides cover, if some occur. The **hazard** is
their product, the expected new landslide area of the cell in the period (% of the cell). An ensemble
combines several such runs trained with different seeds and adds the spread of its members."""


class AboutView(StateView):
    """What the dashboard shows: the model, each layer with its unit, how thresholds and calibration were set,
    and the data's sources and licences (from the run's data catalog)."""

    def _build(self) -> pn.viewable.Viewable:
        return pn.Column(markdown(METHOD_TEXT, sizing_mode="stretch_width"),
                         markdown(self.bind(self.layers_text, "run", "revision"), sizing_mode="stretch_width"),
                         markdown(self.bind(self.run_text, "run", "revision"), sizing_mode="stretch_width"),
                         markdown(self.bind(self.sources_text, "workdir", "revision"), sizing_mode="stretch_width"),
                         sizing_mode="stretch_width", max_width=900)

    def layers_text(self, **_: Any) -> str:
        """Markdown table of the maps: what each means and its unit."""
        meaning = {"susceptibility": "probability of new landslides in the cell in the period",
                   "density": "share of the cell covered by new landslides, if some occur (the expectation)",
                   "hazard": "expected new landslide area: susceptibility × density given occurrence",
                   "observed_density": "new landslide area mapped in the period (inventory)",
                   "residual": "observed density − hazard (red: more area than expected)",
                   "true_probability": "the synthetic world's own probability (known for synthetic regions only)",
                   "true_hazard": "the synthetic world's own expected density (synthetic regions only)",
                   INTERVAL_LAYER: "an ensemble's members' hazard: the width of its 5–95 % interval, its standard "
                                   "deviation or its 5th / 95th percentile (the switch above the Maps tab's maps)"}
        rows = [f"| {elements.LABELS[name][0]} | {elements.LABELS[name][1]} | {text} |"
                for name, text in meaning.items()]
        units = "; ".join(f"{name} ({unit})" for name, unit in CHANNEL_UNITS.items() if unit)
        return "\n".join(["#### The maps", "| layer | unit | meaning |", "|---|---|---|", *rows, "",
                          "Units 1 = a probability, % = per cent of the 1 km² cell. Predictor channels: "
                          f"{units}."])

    def run_text(self, **_: Any) -> str:
        """The selected run's model settings, its decision thresholds and its probability calibration."""
        run = self.state.run_path
        if run is None:
            return "#### The run\n" + NOTHING
        config = loaders.run_config(run)
        model, train = config.get("model", {}), config.get("train", {})
        rule = self.state.decision[1]
        calibration = loaders.calibration(run)
        lines = ["#### The run", f"- run `{run.name}`: {model.get('architecture', '?')} with a "
                 f"{model.get('encoder_name', '?')} encoder; density law `{model.get('density_head', '?')}`; "
                 f"susceptibility loss `{train.get('loss', '?')}`; {train.get('split', '?')} split of the cells "
                 f"(seed {train.get('seed', '?')}).",
                 f"- **Period thresholds** (the susceptibility above which a cell counts as predicted positive, "
                 f"in the confusion maps): {RULES.get(rule, rule)}. "
                 + ", ".join(f"{label} τ {self.state.slice_threshold(k):.3f}"
                             for k, label in enumerate(self.state.slice_labels))]
        if calibration:
            lines.append(f"- **Calibration**: the network's probabilities are recalibrated by "
                         f"`{calibration.get('method', '?')}` scaling fitted on the "
                         f"{calibration.get('validation_cells', '?')} "
                         f"{calibration.get('fitted_on', 'validation cells')}"
                         " (never on test cells), so that a susceptibility of 0.3 means 3 cells in 10.")
        else:
            lines.append("- **Calibration**: none recorded for this run.")
        return "\n".join(lines)

    def sources_text(self, **_: Any) -> str:
        """The data catalog's layers: file, unit, description, licence and citation."""
        source = loaders.workdir_catalog(self.state.root_path, self.state.workdir_path)
        if source is None:
            return "#### Data sources\nNo data catalog under the root for this working folder."
        rows = [f"| {role} | `{entry.path.name}` | {entry.units or ''} | {entry.about.get('description', '')} | "
                f"{entry.about.get('licence', entry.about.get('license', ''))} | {entry.about.get('citation', '')} |"
                for role in source.layers for entry in source.layer_list(role)]
        licence = source.raw.get("licence", source.raw.get("license", "not stated"))
        return "\n".join([f"#### Data sources (catalog `{source.path.name}`, case {source.case})",
                          f"Licence of the data set: {licence}.", "",
                          "| layer | file | unit | description | licence | citation |", "|---|---|---|---|---|---|",
                          *rows])

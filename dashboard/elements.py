"""HoloViews elements of the dashboard, built from plain arrays and DataArrays (no state, no IO).

Maps are ``hv.Image`` on the grid's CRS (metres), or ``gv.Image`` with that CRS when a web
basemap is asked for; the views wrap them in ``DynamicMap`` and, for 31.25 m rasters,
datashader's ``rasterize``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import holoviews as hv
import holoviews.plotting.bokeh  # registers the bokeh options that .opts validates
import numpy as np
import pandas as pd
import xarray as xr
from bokeh.models import NumeralTickFormatter

from hazardcore.metrics import CONFUSION_CLASSES
from hazardcore.report import CONFUSION_COLOURS

#: Frame width (px) of a 1 km map: two maps with their axes and colour bars fit the main area at 1400 px.
MAP_WIDTH = 290
PLOT_WIDTH = 420
PLOT_HEIGHT = 300
#: Frame (px) of a plot of curves; its legend and tick labels come around it.
CURVE_FRAME = (330, 200)
SUSCEPTIBILITY_CMAP = "viridis"
DENSITY_CMAP = "YlOrRd"
DIVERGING_CMAP = "RdBu_r"
HILLSHADE_CMAP = "gray"
NO_DATA = "#d9d9d9"
#: Zeros and values under a log scale's low end: a pale blue, unlike the white background, the grey
#: no-data and the colour map's pale yellow (a zero-density run's maps are blue, not blank).
BELOW_SCALE = "#c6dbef"
#: Tick labels of metres: "300,000" rather than "3.000e+5"; a few ticks, so that they do not run together.
METRE_TICKS = NumeralTickFormatter(format="0,0")
MAP_TICKS = 4
MARKER_COLOUR = "#00e5ff"
#: Channels shown on a symmetric diverging scale.
DIVERGING_CHANNELS = ("northness", "eastness", "profile_curvature", "planar_curvature")
LABELS = {"susceptibility": ("susceptibility", "1"), "density": ("density given occurrence", "%"),
          "hazard": ("hazard", "%"), "observed_density": ("observed density", "%"),
          "residual": ("observed − hazard", "%"), "true_probability": ("true probability", "1"),
          "true_hazard": ("true hazard", "%"),
          "hazard_interval": ("hazard across ensemble members", "%")}  # interval width, std or a percentile


def value_dimension(name: str) -> hv.Dimension:
    label, unit = LABELS.get(name, (name.replace("_", " "), ""))
    return hv.Dimension(name, label=label, unit=unit or None)


def density_range(*arrays: np.ndarray) -> tuple[float, float]:
    """Log colour range of heavy-tailed densities: 2nd–99.5th percentiles of the positive values."""
    values = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.array([])
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return 0.01, 1.0
    high = float(np.percentile(positive, 99.5))
    low = max(float(np.percentile(positive, 2.0)), high * 1e-3)
    return (low, high) if low < high else (high / 10, high * 10 if high > 0 else 1.0)


def robust_range(values: np.ndarray, symmetric: bool = False, max_samples: int = 1_000_000) -> tuple[float, float]:
    """1st–99th percentile colour range (symmetric about 0 if asked), from at most ``max_samples`` values."""
    flat = np.ravel(values)
    step = max(1, flat.size // max_samples)
    sample = flat[::step]
    sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0, 1.0
    if symmetric:
        bound = float(np.percentile(np.abs(sample), 99)) or 1.0
        return -bound, bound
    low, high = (float(v) for v in np.percentile(sample, [1, 99]))
    return (low, high) if low < high else (low - 0.5, high + 0.5)


def grid_image(plane: xr.DataArray, name: str, crs: Any = None) -> hv.Image:
    """A (y, x) DataArray as an image named ``name`` (``gv.Image`` in ``crs`` when given)."""
    data = plane.reset_coords(drop=True).rename(name)
    if crs is not None:
        import geoviews as gv

        return gv.Image(data, kdims=["x", "y"], vdims=[value_dimension(name)], crs=crs)
    return hv.Image(data, kdims=["x", "y"], vdims=[value_dimension(name)])


def map_options(title: str, cmap: Any, clim: tuple[float, float], logz: bool = False,
                width: int = MAP_WIDTH, colorbar: bool = True, geo: bool = False) -> dict[str, Any]:
    """Plot options shared by every map: equal aspect, hover, tap, colour scale, NaN transparent.

    Axes in metres of the grid's CRS with "300,000"-style labels; over a web basemap (``geo``)
    GeoViews draws longitude and latitude in degrees, and the axes say so.
    """
    axes = ({"xlabel": "longitude (°)", "ylabel": "latitude (°)"} if geo else
            {"xlabel": "easting (m)", "ylabel": "northing (m)", "xformatter": METRE_TICKS,
             "yformatter": METRE_TICKS})
    return {"title": title, "cmap": cmap, "clim": clim, "logz": logz, "colorbar": colorbar,
            "frame_width": width, "data_aspect": 1, "tools": ["hover", "tap"], "framewise": True,
            "clipping_colors": {"NaN": (0, 0, 0, 0), "min": BELOW_SCALE}, "xticks": MAP_TICKS, "yticks": MAP_TICKS,
            "active_tools": ["wheel_zoom"], **axes}


def layer_map(plane: xr.DataArray, name: str, title: str, clim: tuple[float, float] | None = None,
              crs: Any = None, probability: bool = False) -> hv.Image:
    """A predicted or observed map: probabilities (susceptibility, or any layer with ``probability``) on
    [0, 1], densities on a log scale."""
    image = grid_image(plane, name, crs)
    if probability or name in ("susceptibility", "true_probability"):
        return image.opts(**map_options(title, SUSCEPTIBILITY_CMAP, (0.0, 1.0), geo=crs is not None))
    low, high = clim or density_range(plane.values)
    return image.opts(**map_options(title, DENSITY_CMAP, (low, high), logz=True, geo=crs is not None))


def residual_map(plane: xr.DataArray, title: str, crs: Any = None) -> hv.Image:
    """Observed − predicted density on a symmetric diverging scale (red: more area than expected)."""
    image = grid_image(plane, "residual", crs)
    return image.opts(**map_options(title, DIVERGING_CMAP, robust_range(plane.values, symmetric=True),
                                    geo=crs is not None))


def difference_map(plane: xr.DataArray, name: str, title: str, crs: Any = None) -> hv.Image:
    """The change of a predicted layer between two periods on a symmetric diverging scale (red: higher now)."""
    label, unit = LABELS.get(name, (name, ""))
    data = plane.reset_coords(drop=True).rename("difference")
    dimension = hv.Dimension("difference", label=f"{label} difference", unit=unit or None)
    if crs is not None:
        import geoviews as gv

        image = gv.Image(data, kdims=["x", "y"], vdims=[dimension], crs=crs)
    else:
        image = hv.Image(data, kdims=["x", "y"], vdims=[dimension])
    return image.opts(**map_options(title, DIVERGING_CMAP, robust_range(plane.values, symmetric=True),
                                    geo=crs is not None))


def confusion_image(codes: xr.DataArray, title: str, crs: Any = None) -> hv.Image:
    """Confusion codes (0 TN, 1 FP, 2 FN, 3 TP; NaN elsewhere) in the report's colours."""
    image = grid_image(codes.astype("float32"), "confusion", crs)
    palette = [CONFUSION_COLOURS[code] for code in sorted(CONFUSION_CLASSES)]
    return image.opts(**map_options(title, palette, (-0.5, len(palette) - 0.5), colorbar=False, geo=crs is not None))


def confusion_legend(counts: Mapping[str, int]) -> str:
    """HTML legend of the confusion classes with their counts."""
    items = []
    for code, name in sorted(CONFUSION_CLASSES.items()):
        swatch = (f'<span style="display:inline-block;width:14px;height:14px;background:{CONFUSION_COLOURS[code]};'
                  'border:1px solid #888;vertical-align:middle;margin-right:4px"></span>')
        items.append(f"{swatch}<b>{name}</b> {counts.get(name, 0):,}")
    return " &nbsp; ".join(items)


def channel_map(plane: xr.DataArray, title: str) -> hv.Image:
    """A predictor channel at 31.25 m (to be rasterized by datashader), robust colour range.

    The value dimension is always ``value`` and the colour bar has no title (``clabel=""``): a
    ``DynamicMap`` keeps the first frame's colour-bar title, so a channel's name there stayed
    "slope" for every channel (and "value" said nothing); ``title`` names the channel and its unit.
    """
    diverging = plane.name in DIVERGING_CHANNELS
    clim = robust_range(plane.values, symmetric=diverging)
    image = hv.Image(plane.reset_coords(drop=True).rename("value"), kdims=["x", "y"], vdims=["value"])
    return image.opts(**map_options(title, DIVERGING_CMAP if diverging else "viridis", clim, width=560), clabel="")


def hillshade_image(shade: xr.DataArray, alpha: float = 0.9) -> hv.Image:
    """Grey hillshade under the 1 km maps (``alpha`` < 1 lets web tiles under it show through)."""
    image = hv.Image(shade.reset_coords(drop=True).rename("hillshade"), kdims=["x", "y"])
    return image.opts(cmap=HILLSHADE_CMAP, clim=(0.0, 1.0), colorbar=False, tools=[], alpha=alpha)


def cell_marker(bounds: tuple[float, float, float, float] | None) -> hv.Rectangles:
    """Outline of the selected cell (x0, y0, x1, y1), or nothing."""
    rectangles = hv.Rectangles([bounds] if bounds else [])
    return rectangles.opts(fill_alpha=0.0, line_color=MARKER_COLOUR, line_width=3)


def empty_map(title: str) -> hv.Image:
    """A blank image standing in where there is nothing to show."""
    return hv.Image(np.zeros((2, 2)), kdims=["x", "y"]).opts(title=title, frame_width=MAP_WIDTH, data_aspect=1,
                                                             framewise=True, alpha=0.0, colorbar=False)


def curves(frame: pd.DataFrame, x: str, columns: Sequence[str], title: str, ylabel: str,
           logy: bool = False, labels: Mapping[str, str] | None = None,
           band: tuple[str, str, str] | None = None, marks: Sequence[hv.Element] = ()) -> hv.Overlay:
    """One curve (with points) per column of ``frame`` against column ``x``; hover shows the values.

    ``labels`` names the columns in the legend (default: the column name, with spaces).
    ``band``: (low column, high column, legend label) of a shaded range drawn under the curves,
    when both columns have values (e.g. an ensemble's 5–95 % range). ``marks``: elements drawn over
    the curves (e.g. the current slice), inside the same overlay: an overlay multiplied by another
    element afterwards loses its title, frame and legend options.
    """
    layers: list[hv.Element] = []
    if band is not None and all(name in frame and not frame[name].isna().all() for name in band[:2]):
        low, high, label = band
        layers.append(hv.Area(frame[[x, low, high]].dropna(), x, [(low, ylabel), high], label=label).opts(
            alpha=0.25, line_alpha=0.0, logy=logy))
    for column in columns:
        if column not in frame or frame[column].isna().all():
            continue
        data = frame[[x, column]].dropna()
        label = (labels or {}).get(column, column.replace("_", " "))
        layers.append(hv.Curve(data, x, (column, ylabel), label=label).opts(logy=logy))
        layers.append(hv.Scatter(data, x, (column, ylabel), label=label).opts(size=5, tools=["hover"], logy=logy))
    overlay = hv.Overlay((layers or [hv.Curve([], x, ylabel)]) + list(marks))
    # the legend below the frame, one entry a line (inside the frame it covered the curves); the frame's
    # size is fixed and the plot grows around it by the legend and the tick labels, slanted when each x
    # value gets under 60 px (a cell's 9 slice labels ran together)
    rotation = 0 if CURVE_FRAME[0] / max(frame[x].nunique() if x in frame else 0, 1) >= 60 else 45
    return overlay.opts(title=title, frame_width=CURVE_FRAME[0], frame_height=CURVE_FRAME[1],
                        legend_position="bottom", legend_cols=1, show_grid=True, xrotation=rotation)


def period_ticks(periods: Sequence[str]) -> tuple[list[str], int]:
    """Tick labels of periods named with their dates, ``2015-co (2015-04-01 – 2015-06-15)``, and their rotation,
    so that they stay apart on a curve plot's frame: three lines (label, start, end) unrotated while each period
    gets 85 px; upright beyond, on two lines (label, dates) while each gets 32 px, else on one. On one line at
    30° they ran into each other, and three upright lines overlapped their neighbours from 9 periods on."""
    spacing = CURVE_FRAME[0] / max(len(periods), 1)
    if spacing >= 85:
        return [p.replace(" (", "\n", 1).replace(" – ", "\n– ", 1).removesuffix(")") for p in periods], 0
    if spacing >= 32:
        return [p.replace(" (", "\n", 1).removesuffix(")") for p in periods], 90
    return list(periods), 90


def stage_curves(log: pd.DataFrame, columns: Sequence[str], title: str, ylabel: str) -> hv.Overlay:
    """A training log's columns against the running epoch ``step``, one curve per stage and column.

    Stages are not joined by a line (the density stage's loss is another quantity than the
    susceptibility's), and the axes follow the log shown (``framewise``): a new run's curves do
    not keep the previous run's range.
    """
    layers = []
    stages = list(dict.fromkeys(log["stage"])) if "stage" in log and len(log) else []
    for column in columns:
        if column not in log:
            continue
        for stage in stages:
            data = log.loc[log["stage"] == stage, ["step", column]].dropna()
            if data.empty:
                continue
            label = f"{column.replace('_', ' ')} ({stage})"
            layers.append(hv.Curve(data, "step", (column, ylabel), label=label).opts(framewise=True))
            layers.append(hv.Scatter(data, "step", (column, ylabel), label=label).opts(size=5, tools=["hover"],
                                                                                     framewise=True))
    overlay = hv.Overlay(layers or [hv.Curve([], "step", ylabel).opts(framewise=True)])
    return overlay.opts(title=title, frame_width=CURVE_FRAME[0], frame_height=CURVE_FRAME[1],
                        legend_position="bottom", legend_cols=1, show_grid=True)


def roc_plot(curves_by_name: Mapping[str, tuple[np.ndarray, np.ndarray]], aucs: Mapping[str, float]) -> hv.Overlay:
    """ROC curves of the sources given, AUC in the legend; sources with an AUC but no curve are listed too."""
    chance = hv.Curve([(0, 0), (1, 1)], "false positive rate", "true positive rate").opts(
        color="grey", line_dash="dotted")
    layers: list[Any] = [chance]
    for name, auc_value in aucs.items():
        label = f"{name} (AUC {format_number(auc_value)})"
        if name in curves_by_name:
            fpr, tpr = curves_by_name[name]
            layers.append(hv.Curve((fpr, tpr), "false positive rate", "true positive rate", label=label))
        else:  # baselines: per-cell probabilities are not stored, so only their AUC is shown
            layers.append(hv.Scatter([], "false positive rate", "true positive rate",
                                     label=f"{label}, curve not stored"))
    # the legend below the square frame (inside it, it covered the curves)
    return hv.Overlay(layers).opts(title="ROC on the test cells (all slices)", frame_width=CURVE_FRAME[1] + 100,
                                   frame_height=CURVE_FRAME[1] + 100, legend_position="bottom", legend_cols=1,
                                   xlim=(0, 1), ylim=(0, 1.01))


def scatter_plot(observed: np.ndarray, predicted: np.ndarray, xlabel: str, title: str,
                 max_points: int = 20_000) -> hv.Overlay:
    """Observed vs predicted density (% of the cell) with the 1:1 line; at most ``max_points`` (seeded sample)."""
    if observed.size > max_points:
        keep = np.random.default_rng(0).choice(observed.size, max_points, replace=False)
        observed, predicted = observed[keep], predicted[keep]
        title = f"{title} (sample of {max_points:,})"
    top = float(max(np.nanmax(observed, initial=0.0), np.nanmax(predicted, initial=0.0), 1e-6))
    points = hv.Scatter((predicted, observed), xlabel, "observed density (%)").opts(
        size=3, alpha=0.4, tools=["hover"])
    one_to_one = hv.Curve([(0, 0), (top, top)], xlabel, "observed density (%)").opts(color="black",
                                                                                     line_dash="dashed")
    return (points * one_to_one).opts(title=title, width=PLOT_WIDTH, height=PLOT_HEIGHT, show_grid=True)


def reliability_plot(table: Mapping[str, np.ndarray], ece: float) -> hv.Layout:
    """Observed frequency vs mean probability per bin (diagonal = calibrated), with the bin counts."""
    used = np.asarray(table["count"]) > 0
    frame = pd.DataFrame({"mean probability": np.asarray(table["mean_probability"])[used],
                          "observed frequency": np.asarray(table["observed_frequency"])[used],
                          "cells": np.asarray(table["count"])[used]})
    diagonal = hv.Curve([(0, 0), (1, 1)], "mean probability", "observed frequency").opts(
        color="grey", line_dash="dotted")
    curve = hv.Curve(frame, "mean probability", ["observed frequency", "cells"])
    points = hv.Scatter(frame, "mean probability", ["observed frequency", "cells"]).opts(size=6, tools=["hover"])
    score = "not evaluated" if math.isnan(ece) else format_number(ece)
    top = (diagonal * curve * points).opts(title=f"Reliability on the test cells (ECE {score})",
                                           width=PLOT_WIDTH, height=PLOT_HEIGHT, xlim=(0, 1), ylim=(0, 1))
    bars = hv.Histogram((np.r_[table["bin_lower"], table["bin_upper"][-1]], np.asarray(table["count"])),
                        kdims=["mean probability"], vdims=["cells"]).opts(width=PLOT_WIDTH, height=140, xlim=(0, 1),
                                                          color="#7f7f7f", tools=["hover"])
    return (top + bars).cols(1)


def contour_plot(susceptibility: np.ndarray, density: np.ndarray, title: str, max_points: int = 2000) -> hv.Overlay:
    """Density (log10 %) vs susceptibility of the valid cells: filled KDE contours over the cells.

    Always the same overlay (contours, then points): the contours are left empty where too few
    distinct cells make a density estimate. A plot in a ``DynamicMap`` must keep its type from
    slice to slice; a bare ``Points`` in one slice froze the plot on the earlier slice (HoloViews'
    AssertionError "not both Overlay and Points" in the browser).
    """
    keep = np.isfinite(susceptibility) & np.isfinite(density) & (density > 0)
    x, y = susceptibility[keep], np.log10(density[keep])
    if x.size > max_points:
        index = np.random.default_rng(0).choice(x.size, max_points, replace=False)
        x, y = x[index], y[index]
    dims = ["susceptibility", "log10 density given occurrence (%)"]
    points = hv.Points((x, y), dims).opts(size=2, color="black", alpha=0.3)
    estimable = x.size >= 10 and np.unique(np.c_[x, y], axis=0).shape[0] >= 3 and np.std(x) > 0 and np.std(y) > 0
    shown = (x, y) if estimable else (np.array([]), np.array([]))
    bivariate = hv.Bivariate(shown, dims).opts(filled=True, cmap="Blues", bandwidth=0.25, levels=8,
                                               show_legend=False, colorbar=False)
    return (bivariate * points).opts(title=title if estimable else f"{title} (too few cells for contours)",
                                     width=PLOT_WIDTH, height=PLOT_HEIGHT, xlim=(0, 1), framewise=True)


def histogram(values: np.ndarray, title: str, xlabel: str, bins: int = 30) -> hv.Histogram:
    """Histogram of positive values on log-spaced bins (log x axis)."""
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        empty = hv.Histogram(([1e-3, 1e-2], [0]), kdims=[xlabel], vdims=["cells"])
        return empty.opts(title=f"{title}: no positive cells", width=PLOT_WIDTH, height=PLOT_HEIGHT, logx=True,
                          framewise=True)
    low, high = float(positive.min()), float(positive.max())
    edges = np.geomspace(low, high * 1.0001, bins + 1) if high > low else np.array([low * 0.9, high * 1.1])
    counts, edges = np.histogram(positive, bins=edges)
    # framewise: the axes follow each slice's counts (a DynamicMap keeps the first slice's range otherwise)
    return hv.Histogram((edges, counts), kdims=[xlabel], vdims=["cells"]).opts(
        title=title, width=PLOT_WIDTH, height=PLOT_HEIGHT, logx=True, tools=["hover"], color="#d95f0e",
        framewise=True)


def bars(labels: Sequence[str], values: Sequence[float], ylabel: str, title: str,
         highlight: int | None = None) -> hv.Bars:
    """One bar per slice; the highlighted slice in a darker colour."""
    colours = ["#d95f0e" if index == highlight else "#fdae6b" for index in range(len(labels))]
    frame = pd.DataFrame({"slice": list(labels), ylabel: list(values), "colour": colours})
    return hv.Bars(frame, "slice", [ylabel, "colour"]).opts(
        color="colour", title=title, width=PLOT_WIDTH, height=PLOT_HEIGHT, xrotation=45, tools=["hover"])


def format_number(value: Any, digits: int = 3) -> str:
    """A metric for display: fixed decimals, "–" for None or NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(number) else f"{number:.{digits}f}"

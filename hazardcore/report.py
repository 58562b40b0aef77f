"""Evaluation report (METHOD.md §7): figures as PNG bytes and one self-contained HTML page.

The page is rendered by Jinja from ``hazardcore/templates/report.html.j2`` (package data, its
stylesheet ``report.css`` inlined): the case's title, the run's provenance (versions, date,
command, data sources and licences from the catalog), the hazard over time, the per-period
distributions, the hazard in the products' classes (:mod:`hazardcore.styles`), then the
evaluation (metrics with units, maps, confusion, ROC, reliability, ...).

The module does no IO (but reading its templates). Figures are drawn on ``matplotlib.figure.Figure`` objects created
directly, without ``pyplot``: nothing is registered in pyplot's global figure manager (so
nothing needs closing and nothing leaks in long-running notebooks or the dashboard), the
user's interactive backend is left alone, and ``savefig`` into ``io.BytesIO`` renders
with the Agg canvas (matplotlib's own advice for web servers). The HTML embeds each PNG
as a ``data:`` URI, so the page opens offline; the caller writes it (``export`` or the CLI).

The figures' data (confusion codes and counts, residuals, ROC curves, reliability tables,
scatter values) come from :mod:`hazardcore.figure_data`, the same functions the dashboard
draws from; the scores are the run's typed evaluation result (:mod:`hazardcore.result`,
``metrics.json``), shown as computed by :mod:`hazardcore.evaluate`: nothing here scores.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import jinja2
import numpy as np
import xarray as xr
from markupsafe import Markup
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, Colormap, ListedColormap, LogNorm, Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.ndimage import gaussian_filter

from hazardcore import extrapolation, styles
from hazardcore import figure_data as fd
from hazardcore.errors import InvalidValueError, describe
from hazardcore.hazard import decision_thresholds, pooled_threshold
from hazardcore.intervals import first_exceedance, has_intervals, interval_width
from hazardcore.result import DENSITY_COLUMNS, SUSCEPTIBILITY_COLUMNS, EvaluationResult, sources_of
from hazardcore.triggers import slice_seasons

if TYPE_CHECKING:
    from hazardcore.catalog import Catalog

DPI = 100
PANEL_INCHES = 2.3
MAX_COLUMNS = 4
LEGEND_HEIGHT = 1.5  # inches below map panels for a figure legend (at 0.9 the panels' titles were clipped)
DASH = "–"
NO_DATA = "#d9d9d9"  # light grey: NaN / invalid cells on continuous maps
CONFUSION_COLOURS = {0: "#c4c4c4", 1: "#f28e2b", 2: "#2f6db5", 3: "#8b0000", -1: "#ffffff"}
NON_TEST_OPACITY = 0.3  # non-test cells are blended towards white
REQUIRED = ("susceptibility", "density", "hazard", "observed_density", "presence", "valid", "test")
#: How each threshold rule is named on the page (``hazardcore.hazard.slice_thresholds``).
RULES = {"expected_f1": "each slice's maximum expected F1 of its own probabilities",
         "validation": "the pooled threshold tuned on validation cells", "default": "none recorded: 0.5"}
DEFAULT_THRESHOLD = 0.5
#: Markers of the legacy curve's seasons (see :func:`slice_seasons`).
SEASON_MARKERS = {"co-seismic": "*", "post-monsoon": "o", "pre-monsoon": "v"}

CAPTIONS = {
    "hazard_over_time": ("Hazard over time", "Per period, over the valid cells with a finite hazard and observation: "
                         "expected new landslide area (Σ hazard) against the observed one, mean susceptibility "
                         "against the share of cells with new landslides, and the mean density given occurrence "
                         "against the observed density where landslides occurred; the truth where it is known. "
                         "All valid cells, not only test cells. Values in the table below."),
    "distributions": ("Distributions per period", "Susceptibility, density given occurrence and hazard over each "
                      "period's valid cells: box from the 25th to the 75th percentile, line at the median, diamond "
                      "at the mean, whiskers at the 5th and 95th percentiles; log scale for the densities (zeros "
                      "drawn at the smallest positive value). Percentiles in the table below."),
    "classified_hazard": ("Classified hazard", "Hazard (% of the cell) in the classes of the products' QGIS styles "
                          "({scheme}); grey: no data. Cells per class in the table below."),
    "maps_susceptibility": ("Susceptibility", "Calibrated probability of new landslides in each slice; all valid "
                            "cells (grey: no data)."),
    "maps_density": ("Area density given occurrence", "Predicted landslide area density if landslides occur (% of "
                     "the cell), shared log scale clipped at the 2nd–99.5th percentiles; all valid cells."),
    "maps_hazard": ("Hazard", "Expected new landslide area density = susceptibility × density (% of the cell), "
                    "shared log scale; all valid cells."),
    "confusion": ("Confusion maps", "TP / FP / FN / TN at each slice's decision threshold τ (rule: {rule}; τ in "
                  "the panel titles and the table); test cells in full colour, other valid cells faded; panel titles "
                  "count test cells only."),
    "residuals": ("Residuals", "Observed density − hazard (% of the cell), symmetric scale clipped at the 99th "
                  "percentile of |residual|; red: more landslide area than expected; all valid cells."),
    "scatter": ("Observed vs predicted density", "Left: all test cells, observed density vs hazard; right: "
                "positive test cells, observed density vs density given occurrence; dashed: 1:1."),
    "roc": ("ROC curves", "Model, baselines and (if present) oracle on the test cells, AUC in the legend."),
    "legacy": ("Legacy of the earthquake", "Mean calibrated susceptibility, true probability (when known) and "
               "observed frequency of new landslides against monsoons since the earthquake, over the same cells in "
               "every slice (the {cells} cells valid in all slices, all of them, not only test cells); markers: "
               "co-seismic (star), post-monsoon (circle), pre-monsoon (triangle) slices; solid lines join the "
               "co-seismic and post-monsoon slices, dashed lines the pre-monsoon ones."),
    "totals": ("Expected vs observed landslide area per slice", "Σ hazard of each source and Σ observed new "
               "landslide density over the test cells of each slice (% × cells = hectares per km² cell); hazard is "
               "an expected density, so an unbiased source's bars match the observed ones up to sampling noise; "
               "ratio Σ hazard / Σ observed of the model above each group."),
    "reliability": ("Reliability", "Observed frequency vs mean calibrated probability in 10 equal-width bins on "
                    "the test cells; bin counts below; ECE in the title."),
    "contours": ("Density vs susceptibility", "Smoothed 2-D histogram of predicted density given occurrence "
                 "(log axis) against susceptibility over all valid cells of each slice; dots: the cells."),
    "uncertainty": ("Uncertainty of the hazard", "Width of the ensemble's 90 % interval of the hazard (95th − 5th "
                    "percentile of the Student-t predictive distribution of one more member on the log scale, % "
                    "of the cell), shared log scale; all valid cells. The "
                    "interval is of the expected density, the model's uncertainty, not of the area a period "
                    "realises; its coverage of the known truth is in the table below."),
    "exceedance": ("Probability of a large landslide area", "Probability that the new landslides of the slice "
                   "cover more than {threshold} of the cell: the probability of occurrence times the density "
                   "law's exceedance given occurrence (the first density the catalog's `exceedance_thresholds` or "
                   "`hazard predict --exceedance` names; each named one is a product). Unlike the interval, this "
                   "includes the randomness of the area a period realises; all valid cells."),
    "forecast_hazard": ("Forecast hazard", "Expected new landslide area density = susceptibility × density (% of "
                        "the cell) forecast for the period: left on a log scale clipped at the 2nd–99.5th "
                        "percentiles, right in the classes of the products' QGIS styles (cells per class in the "
                        "table above); grey: no data. No landslides are mapped for the period: nothing is scored."),
    "reference_maps": ("Published maps beside ours", "Susceptibility, density and hazard of this run (ours) and "
                       "of the original study (published) per slice, on shared colour scales."),
}


# ---------------------------------------------------------------- inputs and small helpers


def _invalid(what: str, expected: object, found: object, fix: str) -> InvalidValueError:
    return InvalidValueError(describe(what, source="report inputs", expected=expected, found=found, fix=fix))


def _normalised(predictions: xr.Dataset) -> xr.Dataset:
    """Check the variables and return them in (slice, y, x) order with 3-D masks."""
    missing = [name for name in REQUIRED if name not in predictions]
    if missing:
        raise _invalid("predictions lack variables", list(REQUIRED), f"missing {missing}",
                       "pass the Dataset written by infer/evaluate")
    if set(predictions["susceptibility"].dims) != {"slice", "y", "x"}:
        raise _invalid("predictions have the wrong dims", "(slice, y, x)", predictions["susceptibility"].dims,
                       "predict per slice on the grid")
    template = predictions["susceptibility"]
    masks = {name: predictions[name].broadcast_like(template) for name in ("valid", "test")}
    return predictions.assign(masks).transpose("slice", "y", "x", ...)


def _test_mask(ds: xr.Dataset) -> np.ndarray:
    return np.asarray(ds["test"].values).astype(bool)


def _labels(ds: xr.Dataset) -> list[str]:
    return [str(label) for label in ds["slice"].values]


def _number(value: Any) -> float:
    """A metric value as float, NaN for None or anything non-numeric."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _decision(ds: xr.Dataset, metrics: Mapping[str, Any]) -> tuple[np.ndarray, str]:
    """:func:`decision_thresholds`, or 0.5 in every slice (rule ``default``) when none is recorded."""
    return decision_thresholds(ds, metrics) or (np.full(ds.sizes["slice"], DEFAULT_THRESHOLD), "default")


def format_value(value: Any, digits: int = 3) -> str:
    """Format a metric for the report: fixed decimals, integers as such, "–" for None/NaN.

    Parameters
    ----------
    value
        A number, None, or anything else (shown as escaped text).
    digits
        Decimals of floating-point values.

    Returns
    -------
    str
        HTML-safe text.
    """
    if value is None:
        return DASH
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.{digits}f}" if math.isfinite(value) else DASH
    return html.escape(str(value))


# ---------------------------------------------------------------- numbers shared by figures, page and tests


def confusion_counts_per_slice(predictions: xr.Dataset,
                               thresholds: float | Sequence[float] | np.ndarray) -> list[dict[str, int]]:
    """TP / FP / FN / TN over the test cells of each slice (``susceptibility >= `` its threshold).

    :func:`hazardcore.figure_data.confusion_counts_per_slice` after checking the variables.

    Parameters
    ----------
    predictions
        The predictions Dataset (``susceptibility``, ``presence``, ``valid``, ``test``).
    thresholds
        Probability at and above which a cell is predicted positive: one per slice (each
        slice's decision threshold) or one for all.

    Returns
    -------
    list of dict
        One ``{"tp", "fp", "fn", "tn"}`` per slice, in the order of the ``slice`` coordinate;
        cells with NaN susceptibility or presence are not counted (a NaN threshold predicts
        every cell of its slice negative).

    Raises
    ------
    InvalidValueError
        If ``thresholds`` holds neither one value nor one per slice.
    """
    return fd.confusion_counts_per_slice(_normalised(predictions), thresholds)


LEGACY_SERIES = {"susceptibility": "model (calibrated susceptibility)", "true_probability": "truth (true probability)",
                 "presence": "observed frequency of new landslides"}


def legacy_curve(predictions: xr.Dataset) -> dict[str, np.ndarray] | None:
    """Mean probability per slice against monsoons since the earthquake, over one fixed set of cells.

    The cells are those valid, with finite values of every series, in **every** slice, so
    each point averages the same terrain and the curve shows the earthquake's fading legacy
    rather than a changing set of cells. All such cells count, not only test cells: the
    curve describes the maps (the susceptibility is predicted without labels).

    Parameters
    ----------
    predictions
        The predictions Dataset with a ``monsoons`` (slice) coordinate; ``susceptibility``,
        ``presence`` and, for synthetic regions, ``true_probability``.

    Returns
    -------
    dict of numpy.ndarray, or None
        ``monsoons`` and ``season`` (:func:`slice_seasons`) per slice, the slice labels
        (``slice``), the mean of ``susceptibility``, of ``true_probability`` when present and
        the observed frequency ``presence`` (share of the cells with new landslides), one per
        slice (NaN when no cell qualifies), and ``cells`` (0-d, their number). None when the
        predictions have no ``monsoons`` (written before it was recorded).
    """
    ds = _normalised(predictions)
    if "monsoons" not in ds:
        return None
    planes = {name: np.asarray(ds[name].values, dtype=np.float64) for name in LEGACY_SERIES if name in ds}
    common = (np.asarray(ds["valid"].values) > 0).all(axis=0)
    for values in planes.values():
        common &= np.isfinite(values).all(axis=0)
    planes["presence"] = (planes["presence"] > 0).astype(np.float64)
    monsoons = np.asarray(ds["monsoons"].values, dtype=np.float64)
    means = {name: values[:, common].mean(axis=1) if common.any() else np.full(monsoons.shape, np.nan)
             for name, values in planes.items()}
    return {"monsoons": monsoons, "season": slice_seasons(monsoons), "slice": np.array(_labels(ds)),
            **means, "cells": np.asarray(int(common.sum()))}


def _check_scores(ds: xr.Dataset, scores: Mapping[str, np.ndarray]) -> None:
    n_test = int(_test_mask(ds).sum())
    if "presence" not in scores or "model" not in scores:
        raise _invalid("scores lack keys", "'presence' and 'model'", sorted(scores), "pass evaluate's scores")
    wrong = {key: np.asarray(value).shape for key, value in scores.items() if np.asarray(value).shape != (n_test,)}
    if wrong:
        raise _invalid("scores do not match the test cells", f"1-D arrays of {n_test} values (the test mask)",
                       wrong, "pass scores computed on this predictions Dataset's test cells")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    fig.clear()
    return buffer.getvalue()


def _grid(n: int, extra_height: float = 0.5) -> tuple[Figure, list[Axes]]:
    """A constrained figure with one panel per slice; unused panels hidden."""
    ncols = max(1, min(n, MAX_COLUMNS))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(ncols * PANEL_INCHES + 1.0, nrows * PANEL_INCHES + extra_height), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _cmap(name: str) -> Colormap:
    return colormaps[name].with_extremes(bad=NO_DATA)


def _planes(ds: xr.Dataset, name: str) -> np.ndarray:
    """A variable as (slice, y, x) float array, north up and east right for ``imshow``."""
    return _north_up(ds[name])


def _north_up(variable: xr.DataArray) -> np.ndarray:
    """A (slice, y, x) DataArray as float array, north up and east right for ``imshow``."""
    values = np.asarray(variable.transpose("slice", "y", "x").values, dtype=np.float64)
    y, x = variable["y"].values, variable["x"].values
    if y.size > 1 and y[0] < y[-1]:
        values = values[:, ::-1, :]
    if x.size > 1 and x[0] > x[-1]:
        values = values[:, :, ::-1]
    return values


def _extent_km(ds: xr.Dataset) -> tuple[float, float, float, float]:
    """Cell-edge extent (left, right, bottom, top) in km."""
    edges = []
    for dim in ("x", "y"):
        values = np.asarray(ds[dim].values, dtype=np.float64)
        step = abs(float(values[1] - values[0])) if values.size > 1 else 1000.0
        edges.append((values.min() - step / 2, values.max() + step / 2))
    (left, right), (bottom, top) = edges
    return left / 1000, right / 1000, bottom / 1000, top / 1000


def _label_axes(axes: list[Axes], ncols: int) -> None:
    for index, ax in enumerate(axes):
        if index % ncols == 0:
            ax.set_ylabel("northing (km)")
        if index >= len(axes) - ncols:
            ax.set_xlabel("easting (km)")
        ax.tick_params(labelsize=7)


def _density_norm(*arrays: np.ndarray) -> Normalize:
    """A log scale for heavy-tailed densities, clipped at the 2nd–99.5th positive percentiles."""
    values = np.concatenate([np.ravel(a) for a in arrays])
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return Normalize(0.0, 1.0)
    high = float(np.percentile(positive, 99.5))
    low = max(float(np.percentile(positive, 2.0)), high * 1e-3)
    return LogNorm(low, high) if low < high else Normalize(0.0, max(high, 1e-6))


def _clipped(plane: np.ndarray, norm: Normalize) -> np.ndarray:
    """Zeros and tiny values at the bottom of a log scale instead of masked as no data."""
    if isinstance(norm, LogNorm) and norm.vmin is not None:
        return np.where(np.isnan(plane), np.nan, np.maximum(plane, norm.vmin))
    return plane


def _map_figure(ds: xr.Dataset, planes: np.ndarray, norm: Normalize, cmap: Colormap, unit: str,
                extend: str = "neither") -> Figure:
    """Small multiples of one quantity, one panel per slice, one shared colorbar."""
    labels = _labels(ds)
    fig, axes = _grid(len(labels))
    extent = _extent_km(ds)
    image = None
    for ax, label, plane in zip(axes, labels, planes, strict=True):
        image = ax.imshow(_clipped(plane, norm), extent=extent, norm=norm, cmap=cmap, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_aspect("equal")
    _label_axes(axes, min(len(axes), MAX_COLUMNS))
    if image is not None:
        fig.colorbar(image, ax=axes, label=unit, shrink=0.85, extend="both" if isinstance(norm, LogNorm) else extend)
    return fig


# ---------------------------------------------------------------- figures


def _fig_susceptibility(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    return _map_figure(ds, _planes(ds, "susceptibility"), Normalize(0.0, 1.0), _cmap("viridis"),
                       "probability of new landslides")


def _fig_density(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    planes = _planes(ds, "density")
    return _map_figure(ds, planes, _density_norm(planes), _cmap("magma_r"), "density given occurrence (% of cell)")


def _fig_hazard(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    planes = _planes(ds, "hazard")
    return _map_figure(ds, planes, _density_norm(planes), _cmap("inferno_r"), "expected density (% of cell)")


def _fig_uncertainty(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    planes = _north_up(interval_width(ds, "hazard"))
    return _map_figure(ds, planes, _density_norm(planes), _cmap("cividis_r"), "interval width of hazard (% of cell)")


def _fig_exceedance(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    threshold, layer = first_exceedance(ds)
    assert layer is not None  # figures() skips this figure without an exceedance map
    return _map_figure(ds, _north_up(layer), Normalize(0.0, 1.0), _cmap("viridis"),
                       f"P(new area > {threshold} of cell)")


def _fig_residuals(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    planes = _north_up(fd.residual_planes(ds))
    finite = np.abs(planes[np.isfinite(planes)])
    limit = float(np.percentile(finite, 99)) if finite.size else 1.0
    limit = limit if limit > 0 else 1.0
    return _map_figure(ds, planes, Normalize(-limit, limit), _cmap("RdBu_r"), "observed − hazard (% of cell)",
                       extend="both")


def _confusion_rgb(codes: np.ndarray, test: np.ndarray) -> np.ndarray:
    """RGB image of confusion codes (NaN: no data); non-test cells blended towards white."""
    palette = np.array([to_rgb(CONFUSION_COLOURS[code]) for code in (0, 1, 2, 3, -1)])
    image = palette[np.where(np.isnan(codes), 4, codes).astype(int)]
    fade = ~test & ~np.isnan(codes)
    image[fade] = 1.0 - NON_TEST_OPACITY * (1.0 - image[fade])
    return image


def _fig_confusion(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    counts, thresholds = ctx["counts"], ctx["thresholds"]
    codes = _north_up(fd.confusion_codes(ds, thresholds))  # every valid cell; the non-test ones faded
    test = _planes(ds, "test") > 0
    fig, axes = _grid(len(counts), extra_height=LEGEND_HEIGHT)
    extent = _extent_km(ds)
    for ax, label, k in zip(axes, _labels(ds), range(len(counts)), strict=True):
        ax.imshow(_confusion_rgb(codes[k], test[k]), extent=extent, interpolation="nearest")
        c = counts[k]
        ax.set_title(f"{label}, τ {format_value(thresholds[k])}\nTP {c['tp']}  FP {c['fp']}  FN {c['fn']}  "
                     f"TN {c['tn']}", fontsize=8)
        ax.set_aspect("equal")
    _label_axes(axes, min(len(axes), MAX_COLUMNS))
    handles = [Patch(facecolor=CONFUSION_COLOURS[code], edgecolor="black", linewidth=0.5,
                     label=fd.CONFUSION_CLASSES[code]) for code in (3, 1, 2, 0)]
    handles.append(Patch(facecolor=_confusion_rgb(np.array([0]), np.array([False]))[0], edgecolor="black",
                         linewidth=0.5, label="faded: not a test cell"))
    handles.append(Patch(facecolor=CONFUSION_COLOURS[-1], edgecolor="black", linewidth=0.5, label="no data"))
    fig.legend(handles=handles, loc="outside lower center", ncols=6, fontsize=8, frameon=False)
    return fig


def _log_axes(ax: Axes, values: np.ndarray) -> None:
    """Log axes when all values are positive, symlog when zeros occur, equal limits, 1:1 line."""
    finite = values[np.isfinite(values)]
    positive = finite[finite > 0]
    if positive.size == 0:
        return
    low, high = float(positive.min()), float(finite.max())
    if finite.min() > 0:
        ax.set_xscale("log")
        ax.set_yscale("log")
        limits = (low / 1.5, high * 1.5)
    else:
        threshold = 10.0 ** math.floor(math.log10(float(np.percentile(positive, 5))))
        ax.set_xscale("symlog", linthresh=threshold)
        ax.set_yscale("symlog", linthresh=threshold)
        limits = (0.0, high * 1.5)
    ax.plot(limits, limits, linestyle="--", color="black", linewidth=0.8)
    ax.set_xlim(limits)
    ax.set_ylim(limits)


def _scatter_panel(ax: Axes, panel: fd.ScatterPanel, title: str, xlabel: str) -> None:
    observed, predicted = panel.observed, panel.predicted
    if observed.size == 0:
        ax.text(0.5, 0.5, "no cells", ha="center", va="center", transform=ax.transAxes)
    ax.scatter(predicted, observed, s=6, alpha=0.4, color="#2f6db5", linewidths=0,
               label=f"R {format_value(panel.r)}, MAE {format_value(panel.mae)} % (n = {observed.size})")
    _log_axes(ax, np.concatenate([observed, predicted]))
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("observed density (% of cell)")
    ax.legend(loc="upper left", fontsize=8)


def _fig_scatter(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(9.0, 4.3), layout="constrained")
    left, right = fig.subplots(1, 2)
    panels = fd.scatter_values(ds)
    _scatter_panel(left, panels["all"], "all test cells", "hazard (% of cell)")
    _scatter_panel(right, panels["positive"], "positive test cells", "density given occurrence (% of cell)")
    return fig


def _fig_roc(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    scores = ctx["scores"]
    presence = np.asarray(scores["presence"]).astype(bool)
    fig = Figure(figsize=(4.8, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=0.8)
    sources = {name: values for name, values in scores.items() if name != "presence"}
    for name, curve in fd.roc_curves(presence, sources).items():  # straight across ties: area = AUC
        ax.plot(curve.fpr, curve.tpr, label=f"{name} (AUC {format_value(curve.auc)})")
    if presence.all() or not presence.any():
        ax.text(0.5, 0.5, "ROC needs positive and negative test cells", ha="center", transform=ax.transAxes)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate", aspect="equal")
    ax.set_title("ROC on test cells", fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    return fig


def slice_totals(ds: xr.Dataset, metrics: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Σ hazard per source and Σ observed density over each slice's test cells (``observed`` first).

    Taken from ``metrics["totals_per_slice"]`` (model, baselines, oracle) when present, else
    recomputed for the model from ``ds``.
    """
    stored = metrics.get("totals_per_slice")
    if stored:
        labels = list(next(iter(stored.values())))
        out = {"observed": {label: float(next(iter(stored.values()))[label]["observed"]) for label in labels}}
        return out | {name: {label: float(entry["predicted"]) for label, entry in per_slice.items()}
                      for name, per_slice in stored.items()}
    test = _test_mask(ds)
    observed, hazard = np.nan_to_num(ds["observed_density"].values), np.nan_to_num(ds["hazard"].values)
    labels = [label for k, label in enumerate(_labels(ds)) if test[k].any()]
    index = {label: k for k, label in enumerate(_labels(ds))}
    return {"observed": {label: float(observed[index[label]][test[index[label]]].sum()) for label in labels},
            "model": {label: float(hazard[index[label]][test[index[label]]].sum()) for label in labels}}


def _fig_totals(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    totals = ctx["totals"]
    labels = list(totals["observed"])
    fig = Figure(figsize=(max(6.0, 1.0 * len(labels) + 2), 4.0), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(totals)
    x = np.arange(len(labels))
    for offset, (name, values) in enumerate(totals.items()):
        ax.bar(x + offset * width, [values[label] for label in labels], width=width, label=name,
               color="black" if name == "observed" else None, alpha=0.85)
    for k, label in enumerate(labels):
        seen = totals["observed"][label]
        text = f"{totals['model'][label] / seen:.2f}" if seen > 0 else DASH
        ax.annotate(text, (k + 0.4, max(v[label] for v in totals.values())), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x + 0.4 - width / 2, labels, rotation=30, ha="right", fontsize=8)
    top = max(max(values.values(), default=0.0) for values in totals.values())
    ax.set(ylabel="Σ density over test cells (%)", yscale="symlog", ylim=(0, max(4.0 * top, 1.0)))
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", fontsize=8, ncols=len(totals))
    return fig


def _legacy_lines(ax: Axes, curve: Mapping[str, np.ndarray], name: str, colour: str) -> None:
    """One source's points (marker by season), joined through post-monsoon and through pre-monsoon slices."""
    seasons, x, y = curve["season"], curve["monsoons"], curve[name]
    wet = (seasons == "co-seismic") | (seasons == "post-monsoon")
    for pick, style in ((wet, "-"), (seasons == "pre-monsoon", "--")):
        ax.plot(x[pick], y[pick], linestyle=style, color=colour, linewidth=1.0, alpha=0.7)
    for season, marker in SEASON_MARKERS.items():
        pick = seasons == season
        ax.scatter(x[pick], y[pick], marker=marker, color=colour, s=60 if marker == "*" else 30, zorder=3)


def _fig_legacy(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    curve = ctx["legacy"]
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    colours = dict(zip(LEGACY_SERIES, ("#2f6db5", "black", "#f28e2b"), strict=True))
    handles = []
    for name, text in LEGACY_SERIES.items():
        if name in curve:
            _legacy_lines(ax, curve, name, colours[name])
            handles.append(Line2D([], [], color=colours[name], label=text))
    handles += [Line2D([], [], color="grey", marker=marker, linestyle="none", label=season)
                for season, marker in SEASON_MARKERS.items()]
    values = np.concatenate([curve[name] for name in LEGACY_SERIES if name in curve])
    if np.isfinite(values).any() and np.nanmin(values) > 0:
        ax.set_yscale("log")
    ax.set_xticks(np.unique(curve["monsoons"][np.isfinite(curve["monsoons"])]))
    ax.set(xlabel="monsoons since the earthquake", ylabel="mean probability over the cells")
    ax.set_title(f"{int(curve['cells'])} cells valid in every slice" if int(curve["cells"])
                 else "no cell is valid in every slice", fontsize=10)
    ax.legend(handles=handles, loc="best", fontsize=8)
    return fig


def _fig_reliability(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    scores = ctx["scores"]
    presence = np.asarray(scores["presence"]).astype(bool)
    fig = Figure(figsize=(5.0, 5.4), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=0.8)
    eces = []
    for offset, name in enumerate(key for key in ("model", "oracle") if key in scores):
        reliability = fd.reliability_table(presence, scores[name])
        if reliability is None:
            continue
        table = reliability.table
        eces.append(f"{name} {format_value(reliability.ece)}")
        used = table["count"] > 0
        top.plot(table["mean_probability"][used], table["observed_frequency"][used], marker="o", label=name)
        width = (table["bin_upper"] - table["bin_lower"]) / 2
        bottom.bar(table["bin_lower"] + offset * width, table["count"], width=width, align="edge", label=name)
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed frequency")
    top.set_title("ECE " + ", ".join(eces) if eces else "no finite probabilities", fontsize=10)
    if eces:
        top.legend(loc="upper left", fontsize=8)
    bottom.set(xlabel="mean calibrated probability", ylabel="test cells", yscale="log")
    return fig


def _kde_panel(ax: Axes, x: np.ndarray, y: np.ndarray, y_edges: np.ndarray) -> None:
    """Filled contours of a smoothed 2-D histogram (log-y), with a scatter for few cells."""
    ax.scatter(x, y, s=2, color="black", alpha=0.25, linewidths=0)
    if x.size < 10 or np.unique(np.c_[x, y], axis=0).shape[0] < 3:
        return
    x_edges = np.linspace(0.0, 1.0, 41)
    counts, _, _ = np.histogram2d(x, np.log10(y), bins=(x_edges, np.log10(y_edges)))
    smooth = gaussian_filter(counts.T, sigma=1.5)
    if smooth.max() <= 0:
        return
    levels = np.linspace(0.0, smooth.max(), 8)[1:]
    centres_x = (x_edges[:-1] + x_edges[1:]) / 2
    centres_y = np.sqrt(y_edges[:-1] * y_edges[1:])
    ax.contourf(centres_x, centres_y, smooth, levels=levels, cmap="Blues", alpha=0.85, extend="max")


def _log_range(values: np.ndarray) -> tuple[float, float]:
    """Limits of a log density axis: the clipped percentiles, or two decades around the value."""
    norm = _density_norm(values)
    if isinstance(norm, LogNorm) and norm.vmin and norm.vmax:
        return float(norm.vmin), float(norm.vmax)
    top = float(norm.vmax or 1.0)
    return top / 10.0, top * 10.0


def _fig_contours(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    probability, density = _planes(ds, "susceptibility"), _planes(ds, "density")
    valid = (_planes(ds, "valid") > 0) & np.isfinite(probability) & np.isfinite(density)
    low, high = _log_range(density[valid])
    y_edges = np.geomspace(low, high, 41)
    fig, axes = _grid(ds.sizes["slice"])
    for ax, label, k in zip(axes, _labels(ds), range(ds.sizes["slice"]), strict=True):
        x, y = probability[k][valid[k]], np.clip(density[k][valid[k]], low, high)
        _kde_panel(ax, x, y, y_edges)
        ax.set_yscale("log")
        ax.set(xlim=(0, 1), ylim=(low, high))
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
    for index, ax in enumerate(axes):
        if index % MAX_COLUMNS == 0:
            ax.set_ylabel("density given occ. (%)")
        if index >= len(axes) - MAX_COLUMNS:
            ax.set_xlabel("susceptibility")
    return fig


def _reference_planes(ds: xr.Dataset, reference: xr.Dataset, name: str) -> list[np.ndarray | None]:
    labels = [str(label) for label in reference["slice"].values]
    return [_planes(reference.isel(slice=[labels.index(label)]), name)[0] if label in labels else None
            for label in _labels(ds)]


def _fig_reference(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    reference: xr.Dataset = ctx["reference"]
    quantities = (("susceptibility", "viridis", "probability"), ("density", "magma_r", "density (%)"),
                  ("hazard", "inferno_r", "hazard (%)"))
    n = ds.sizes["slice"]
    fig = Figure(figsize=(6 * 1.7 + 0.6, n * 1.7 + 1.4), layout="constrained")
    axes = fig.subplots(n, 6, squeeze=False)
    ours_extent, ref_extent = _extent_km(ds), _extent_km(reference)
    for column, (name, cmap_name, unit) in enumerate(quantities):
        ours, theirs = _planes(ds, name), _reference_planes(ds, reference, name)
        found = [plane for plane in theirs if plane is not None]
        norm = Normalize(0.0, 1.0) if name == "susceptibility" else _density_norm(ours, *found)
        image = None
        for k in range(n):
            for side, plane, extent in ((0, ours[k], ours_extent), (1, theirs[k], ref_extent)):
                ax = axes[k, 2 * column + side]
                ax.set_xticks([])
                ax.set_yticks([])
                if plane is None:
                    ax.text(0.5, 0.5, "no published map", ha="center", va="center", fontsize=7,
                            transform=ax.transAxes)
                    continue
                image = ax.imshow(_clipped(plane, norm), extent=extent, norm=norm, cmap=_cmap(cmap_name),
                                  interpolation="nearest")
                ax.set(xlim=ours_extent[:2], ylim=ours_extent[2:], aspect="equal")
            axes[0, 2 * column].set_title(f"{name}\nours", fontsize=8)
            axes[0, 2 * column + 1].set_title(f"{name}\npublished", fontsize=8)
        if image is not None:
            fig.colorbar(image, ax=list(axes[:, 2 * column:2 * column + 2].ravel()), location="bottom", label=unit,
                         shrink=0.8)
    for k, label in enumerate(_labels(ds)):
        axes[k, 0].set_ylabel(label, fontsize=8)
    return fig


# ---------------------------------------------------------------- the region over time, distributions, classes

#: The regional series of :func:`hazardcore.figure_data.regional_series` on the page: key, name and units.
SERIES_COLUMNS = (("cells", "valid cells", "1"), ("hazard_km2", "expected new landslide area", "km²"),
                  ("observed_km2", "observed new landslide area", "km²"),
                  ("true_hazard_km2", "true expected new landslide area", "km²"),
                  ("susceptibility_mean", "mean susceptibility", "1"),
                  ("presence_fraction", "share of cells with new landslides", "1"),
                  ("true_probability_mean", "mean true probability", "1"),
                  ("density_mean", "mean density given occurrence", "% of cell"),
                  ("density_positive_mean", "mean density given occurrence, cells with new landslides", "% of cell"),
                  ("observed_density_positive_mean", "mean observed density, cells with new landslides", "% of cell"))
#: The panels of the hazard over time: y label and lines (series key, legend, colour, line style).
SERIES_PANELS = (
    ("new landslide area (km²)", (("hazard_km2", "expected (Σ hazard)", "#d7191c", "-"),
                                  ("observed_km2", "observed", "black", "-"),
                                  ("true_hazard_km2", "truth (expected)", "#7570b3", "--"))),
    ("probability of new landslides", (("susceptibility_mean", "mean susceptibility", "#2f6db5", "-"),
                                       ("presence_fraction", "observed share of cells", "black", "-"),
                                       ("true_probability_mean", "truth (mean probability)", "#7570b3", "--"))),
    ("density given occurrence (% of cell)", (("density_mean", "mean over all cells", "#fe9929", "-"),
                                              ("density_positive_mean", "mean over cells with new landslides",
                                               "#993404", "-"),
                                              ("observed_density_positive_mean",
                                               "observed, cells with new landslides", "black", "-"))),
)
#: The variables whose per-period distributions are shown: name, what it is, units.
DISTRIBUTION_VARIABLES = (("susceptibility", "susceptibility", "1"),
                          ("density", "density given occurrence", "% of cell"),
                          ("hazard", "hazard", "% of cell"))
QUANTILES = (5.0, 50.0, 95.0)


def regional_series(predictions: xr.Dataset) -> dict[str, np.ndarray]:
    """:func:`hazardcore.figure_data.regional_series` with its totals NaN in a period without cells (a forecast
    period, whose observations are NaN): there the sums over no cell would read as an expected area of 0."""
    series = fd.regional_series(predictions)
    empty = np.asarray(series["cells"]) == 0
    return {key: np.where(empty, np.nan, values) if key.endswith("_km2") else values for key, values in series.items()}


def period_dates(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """Each slice's start and end (``datetime64[s]``), None when the predictions carry no (or NaT) dates."""
    if "slice_start" not in ds.coords or "slice_end" not in ds.coords:
        return None
    start, end = (np.asarray(ds[name].values).astype("datetime64[s]") for name in ("slice_start", "slice_end"))
    return None if np.isnat(start).any() or np.isnat(end).any() else (start, end)


def _valid_values(ds: xr.Dataset, name: str) -> list[np.ndarray]:
    """The finite values of ``name`` on each slice's valid cells."""
    values = np.asarray(ds[name].transpose("slice", "y", "x").values, dtype=np.float64)
    valid = (np.asarray(ds["valid"].values) > 0) & np.isfinite(values)
    return [values[k][valid[k]] for k in range(values.shape[0])]


def period_quantiles(predictions: xr.Dataset) -> dict[str, dict[str, np.ndarray]]:
    """The 5th, 50th and 95th percentiles, mean and cell count of susceptibility, density and hazard per slice.

    Parameters
    ----------
    predictions
        The predictions Dataset (as for :func:`figures`).

    Returns
    -------
    dict
        Variable (:data:`DISTRIBUTION_VARIABLES`) → ``p05``, ``p50``, ``p95``, ``mean`` and
        ``cells``, one value per slice over its valid cells with a finite value (NaN where a
        slice has none).
    """
    ds = _normalised(predictions)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, _, _ in DISTRIBUTION_VARIABLES:
        per_slice = _valid_values(ds, name)
        stats = [np.percentile(v, QUANTILES) if v.size else np.full(len(QUANTILES), np.nan) for v in per_slice]
        out[name] = {f"p{int(q):02d}": np.array([row[i] for row in stats]) for i, q in enumerate(QUANTILES)}
        out[name]["mean"] = np.array([v.mean() if v.size else np.nan for v in per_slice])
        out[name]["cells"] = np.array([v.size for v in per_slice])
    return out


def hazard_classes(predictions: xr.Dataset) -> tuple[styles.ClassScheme, np.ndarray]:
    """The products' hazard class scheme (:func:`hazardcore.styles.scheme_for`) and the cells in each class.

    Returns
    -------
    tuple
        The scheme and an int array (slice, class): the valid cells of each slice whose hazard
        falls in each class (``styles.classify``, as QGIS shades the products).
    """
    ds = _normalised(predictions)
    scheme = styles.scheme_for("hazard", str(ds["hazard"].attrs.get("units", "%")))
    classes = styles.classify(np.asarray(ds["hazard"].values), scheme)
    valid = np.asarray(ds["valid"].values) > 0
    counts = np.stack([((classes == k) & valid).sum(axis=(1, 2)) for k in range(len(scheme.names))], axis=1)
    return scheme, counts.astype(np.int64)


def _fig_hazard_over_time(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    series, dates = ctx["series"], period_dates(ds)
    fig = Figure(figsize=(8.0, 7.6), layout="constrained")
    axes = list(fig.subplots(3, 1, sharex=True))
    x: np.ndarray = dates[0] + (dates[1] - dates[0]) / 2 if dates else np.arange(ds.sizes["slice"])
    for ax, (ylabel, lines) in zip(axes, SERIES_PANELS, strict=True):
        for key, label, colour, style in (line for line in lines if line[0] in series):
            ax.plot(x, series[key], linestyle=style, marker="o", color=colour, label=label, linewidth=1.2,
                    markersize=4 if style == "--" else 6)
            if dates:  # each period's value across its dates
                ax.hlines(series[key], dates[0], dates[1], colors=colour, linewidth=4, alpha=0.3)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="best")
    if dates:
        axes[-1].set_xlabel("date (bars: each period from its start to its end, dots: its middle)")
    else:
        axes[-1].set_xticks(x, _labels(ds), rotation=30, ha="right")
    return fig


def _fig_distributions(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(max(7.0, 0.9 * ds.sizes["slice"] + 3.0), 7.6), layout="constrained")
    axes = list(fig.subplots(3, 1, sharex=True))
    labels = _labels(ds)
    for ax, (name, what, units) in zip(axes, DISTRIBUTION_VARIABLES, strict=True):
        per_slice = _valid_values(ds, name)
        positive = np.concatenate([v[v > 0] for v in per_slice] or [np.array([])])
        floor = float(positive.min()) if positive.size else 1e-6
        log = name != "susceptibility" and positive.size > 0 and float(positive.max()) > 20 * floor  # > a decade
        shown = [np.maximum(v, floor) if log else v for v in per_slice]
        ax.boxplot([v if v.size else [np.nan] for v in shown], whis=(5, 95), showfliers=False, showmeans=True,
                   widths=0.6, meanprops={"marker": "D", "markersize": 4, "markerfacecolor": "black"})
        if log:
            ax.set_yscale("log")
        ax.set_ylabel(f"{what} ({units})" if units != "1" else what, fontsize=8)
        ax.tick_params(labelsize=7)
    axes[-1].set_xticks(np.arange(1, len(labels) + 1), labels, rotation=30, ha="right")
    return fig


def _fig_classified_hazard(ds: xr.Dataset, ctx: dict[str, Any]) -> Figure:
    scheme: styles.ClassScheme = ctx["classes"][0]
    classes = np.where(np.isfinite(_planes(ds, "hazard")) & (_planes(ds, "valid") > 0),
                       styles.classify(_planes(ds, "hazard"), scheme), -1).astype(np.float64)
    classes[classes < 0] = np.nan
    cmap = ListedColormap(list(scheme.colours)).with_extremes(bad=NO_DATA)
    norm = BoundaryNorm(np.arange(len(scheme.names) + 1) - 0.5, len(scheme.names))
    labels = _labels(ds)
    fig, axes = _grid(len(labels), extra_height=LEGEND_HEIGHT)
    extent = _extent_km(ds)
    for ax, label, plane in zip(axes, labels, classes, strict=True):
        ax.imshow(plane, extent=extent, cmap=cmap, norm=norm, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_aspect("equal")
    _label_axes(axes, min(len(axes), MAX_COLUMNS))
    handles = [Patch(facecolor=colour, edgecolor="black", linewidth=0.5, label=text)
               for colour, text in zip(scheme.colours, scheme.labels(), strict=True)]
    handles.append(Patch(facecolor=NO_DATA, edgecolor="black", linewidth=0.5, label="no data"))
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return fig


FIGURES: dict[str, Callable[[xr.Dataset, dict[str, Any]], Figure]] = {
    "hazard_over_time": _fig_hazard_over_time, "distributions": _fig_distributions,
    "classified_hazard": _fig_classified_hazard,
    "maps_susceptibility": _fig_susceptibility, "maps_density": _fig_density, "maps_hazard": _fig_hazard,
    "uncertainty": _fig_uncertainty, "exceedance": _fig_exceedance,
    "confusion": _fig_confusion, "residuals": _fig_residuals, "scatter": _fig_scatter, "roc": _fig_roc,
    "totals": _fig_totals, "legacy": _fig_legacy, "reliability": _fig_reliability, "contours": _fig_contours,
    "reference_maps": _fig_reference,
}


def figures(predictions: xr.Dataset, metrics: Mapping[str, Any], scores: Mapping[str, np.ndarray],
            reference: xr.Dataset | None = None) -> dict[str, bytes]:
    """Render the evaluation figures to PNG bytes in memory.

    Parameters
    ----------
    predictions
        Dataset (slice, y, x) with ``susceptibility``, ``density``, ``hazard``,
        ``observed_density``, ``presence`` and the uint8 masks ``valid`` and ``test``.
    metrics
        The content of metrics.json. The confusion maps use each slice's decision threshold
        (:func:`decision_thresholds`: ``predictions["decision_threshold"]``, else the pooled
        validation threshold, else 0.5).
    scores
        1-D arrays over the test cells in the order of ``np.nonzero(test)`` over
        (slice, y, x): ``presence``, ``model`` and any baselines or ``oracle``.
    reference
        Published maps (slice, y, x) with ``susceptibility``, ``density``, ``hazard``;
        adds ``reference_maps`` when given.

    Returns
    -------
    dict
        Figure name → PNG bytes, in the order of :data:`FIGURES` (first the region's hazard
        over time, the per-period distributions and the classified hazard map, then the
        evaluation's); ``legacy``
        (:func:`legacy_curve`) only when the predictions have a ``monsoons`` coordinate.

    Raises
    ------
    InvalidValueError
        If variables are missing or the scores do not match the test cells.
    """
    ds = _normalised(predictions)
    _check_scores(ds, scores)
    thresholds, _ = _decision(ds, metrics)
    ctx = {"scores": scores, "thresholds": thresholds, "reference": reference, "legacy": legacy_curve(ds),
           "counts": confusion_counts_per_slice(ds, thresholds), "totals": slice_totals(ds, metrics),
           "series": regional_series(ds), "classes": hazard_classes(ds)}
    skipped = {"reference_maps": reference is None, "legacy": ctx["legacy"] is None,
               "uncertainty": not has_intervals(ds), "exceedance": first_exceedance(ds)[1] is None}
    return {name: _png(FIGURES[name](ds, ctx)) for name in FIGURES if not skipped.get(name, False)}


# ---------------------------------------------------------------- provenance


def provenance(case: str, run_id: str, command: str, versions: Mapping[str, str],
               catalog: Catalog | None = None, created: dt.datetime | None = None,
               method: str = "") -> dict[str, Any]:
    """Who and what made a report: the facts a reviewer cites (no IO).

    Parameters
    ----------
    case
        The case name (the catalog's ``case``).
    run_id
        The run (or ensemble) id.
    command
        The command line that wrote the report.
    versions
        Package name → version.
    catalog
        The data catalog of the run: its description, licence, citation and creator, and
        each input layer's file, description, licence and citation.
    created
        When the report was written (default: now, UTC).
    method
        The reference of the method.

    Returns
    -------
    dict
        ``case``; ``facts`` (label → text, in page order); ``sources``: one dict per input
        layer (``role``, ``file``, ``description``, ``licence``, ``citation``).
    """
    stamp = (created or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    facts = {"case": case, "run id": run_id, "report written": stamp.isoformat(), "command": command,
             "package versions": ", ".join(f"{name} {version}" for name, version in versions.items())}
    sources: list[dict[str, str]] = []
    if catalog is not None:
        raw = catalog.raw
        facts |= {"data catalog": str(catalog.path), "description": str(raw.get("description", "")),
                  "licence of the data": str(raw.get("licence", raw.get("license", ""))),
                  "cite the data as": str(raw.get("citation", "")), "creator": str(raw.get("creator", ""))}
        sources = [{"role": role, "file": Path(entry.path).name, "description": entry.about.get("description", ""),
                    "licence": entry.about.get("licence", entry.about.get("license", "")),
                    "citation": entry.about.get("citation", "")}
                   for role in catalog.layers for entry in catalog.layer_list(role)]
    if method:
        facts["method"] = method
    return {"case": case, "facts": {key: value for key, value in facts.items() if value}, "sources": sources}


# ---------------------------------------------------------------- HTML (rendered by templates/report.html.j2)


TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
#: Units of the metrics in metrics.json (a key not listed is dimensionless, ``1``).
METRIC_UNITS = {"mae": "% of cell", "mae_positive": "% of cell", "crps": "% of cell",
                "area_predicted": "% × cells", "area_observed": "% × cells",
                "positive_cells_predicted": "cells", "positive_cells_observed": "cells",
                "predicted_positive_cells": "cells", "mean_width": "units of the quantity"}


@dataclass(frozen=True)
class Table:
    """A table of the page: header texts, rows of HTML-safe cells and, optionally, each row's units."""

    header: list[str]
    rows: list[list[Markup]]
    units: list[str] | None = None
    text: bool = False  # cells of words, aligned left (numbers align right)


def _escaped(value: Any) -> Markup:
    """Every value the template prints, escaped as :func:`html.escape` does (``'`` as ``&#x27;``, the form the
    page always had); :class:`Markup` (cells already escaped by :func:`format_value`) passes unchanged."""
    return value if isinstance(value, Markup) else Markup(html.escape(str(value)))


@functools.cache
def _environment() -> jinja2.Environment:
    """The Jinja environment of the templates shipped in ``hazardcore/templates`` (autoescaped)."""
    return jinja2.Environment(loader=jinja2.PackageLoader("hazardcore", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True, finalize=_escaped)


def _safe(*cells: str) -> list[Markup]:
    """Cells that are already HTML-safe (:func:`format_value`, escaped labels)."""
    return [Markup(cell) for cell in cells]  # escaped by format_value / html.escape


def _with_units(name: str, units: str) -> str:
    return name if units == "1" else f"{name} ({units})"


def _keys(blocks: list[Mapping[str, Any]], group: str, preferred: tuple[str, ...]) -> list[str]:
    seen = [key for block in blocks for key, value in block.get(group, {}).items() if not isinstance(value, dict)]
    return [key for key in preferred if key in seen] + sorted({key for key in seen if key not in preferred})


def _overall_table(metrics: Mapping[str, Any]) -> Table:
    sources: dict[str, Mapping[str, Any]] = dict(sources_of(cast(EvaluationResult, metrics)))
    rows, units = [], []
    for group, preferred in (("susceptibility", SUSCEPTIBILITY_COLUMNS), ("density", DENSITY_COLUMNS)):
        for key in _keys(list(sources.values()), group, preferred):
            rows.append(_safe(html.escape(f"{group} {key}"),
                              *(format_value(block.get(group, {}).get(key)) for block in sources.values())))
            units.append(METRIC_UNITS.get(key, "1"))
    return Table(["metric", *sources], rows, units)


def _slice_dates(ds: xr.Dataset) -> dict[str, tuple[str, str]]:
    def day(name: str, k: int) -> str:
        return str(np.datetime_as_string(ds[name].values[k], unit="D")) if name in ds.coords else DASH

    return {label: (day("slice_start", k), day("slice_end", k)) for k, label in enumerate(_labels(ds))}


def _per_slice_table(ds: xr.Dataset, metrics: Mapping[str, Any]) -> Table:
    entries = {str(entry.get("slice")): entry for entry in metrics.get("per_slice", [])}
    sus = _keys(list(entries.values()), "susceptibility", SUSCEPTIBILITY_COLUMNS)
    den = _keys(list(entries.values()), "density", DENSITY_COLUMNS)
    within = metrics.get("within_slices", {}).get("per_slice", {})
    inner = sorted({key for scores in within.values() for key in scores})
    rows = []
    for label, (start, end) in _slice_dates(ds).items():
        entry = entries.get(label, {})
        rows.append(_safe(html.escape(label), start, end,
                          *(format_value(entry.get("susceptibility", {}).get(key)) for key in sus),
                          *(format_value(entry.get("density", {}).get(key)) for key in den),
                          *(format_value(within.get(label, {}).get(key)) for key in inner)))
    weighted = metrics.get("within_slices", {}).get("positive_weighted", {})
    if weighted:
        rows.append(_safe("positive-weighted mean", DASH, DASH, *([DASH] * (len(sus) + len(den))),
                          *(format_value(weighted.get(key)) for key in inner)))
    header = ["slice", "start", "end", *(_with_units(key, METRIC_UNITS.get(key, "1")) for key in (*sus, *den)),
              *(_with_units(f"in slice: {key}", METRIC_UNITS.get(key, "1")) for key in inner)]
    return Table(header, rows)


def _coverage_table(metrics: Mapping[str, Any]) -> tuple[Table | None, Markup]:
    """How often the ensemble's interval holds the known truth (None without an ensemble or a truth), and the
    sentence on the observed densities against the predictive distribution."""
    scores = metrics.get("uncertainty", {})
    blocks = {name: block for name, block in scores.items() if isinstance(block, dict) and "coverage" in block}
    if not blocks:
        return None, Markup("")
    rows = [_safe(html.escape(name), format_value(block["coverage"]), str(block["cells"]),
                  format_value(block["mean_width"])) for name, block in blocks.items()]
    units = ["1" if name == "susceptibility" else "% of cell" for name in blocks]
    observed = scores.get("observed_density", {})
    distribution = (f"<p>Observed densities of the {observed['cells']} positive test cells against the predictive "
                    f"distribution (the members' mixture, {html.escape(observed['grid'])}): central 90 % holds "
                    f"{format_value(observed['central_90_coverage'])}, CRPS {format_value(observed['crps'])} % of the "
                    f"cell, PIT histogram (10 bins) {html.escape(str(observed['pit_histogram']))}.</p>"
                    ) if observed else ""
    intro = (f"<p>{html.escape(str(scores.get('interval', '')))}, {html.escape(str(scores.get('members', DASH)))} "
             "members; nominal coverage 0.90; cells: every test cell (susceptibility) or the positive ones (density, "
             "hazard); the units are those of the mean width.</p>")
    return Table(["quantity", "coverage of the truth", "cells", "mean width"], rows, units), Markup(
        intro + distribution)  # every inserted value escaped above


def _counts_table(ds: xr.Dataset, counts: list[dict[str, int]], thresholds: np.ndarray) -> Table:
    rows = [_safe(html.escape(label), format_value(threshold), *(str(c[key]) for key in ("tp", "fp", "fn", "tn")))
            for label, threshold, c in zip(_labels(ds), thresholds, counts, strict=True)]
    return Table(["slice", "threshold τ", "TP (cells)", "FP (cells)", "FN (cells)", "TN (cells)"], rows)


def _series_table(ds: xr.Dataset, series: Mapping[str, np.ndarray]) -> Table:
    """The hazard over time in numbers: each period's regional series (:data:`SERIES_COLUMNS`) with units."""
    columns = [(key, name, units) for key, name, units in SERIES_COLUMNS if key in series]
    rows = [_safe(html.escape(period), *(format_value(series[key][k], 0 if key == "cells" else 3)
                                         for key, _, _ in columns))
            for k, period in enumerate(fd.period_labels(ds))]
    return Table(["period (start – end)", *(_with_units(name, units) for _, name, units in columns)], rows)


def _quantile_table(ds: xr.Dataset, quantiles: Mapping[str, Mapping[str, np.ndarray]]) -> Table:
    """Each period's median (5th – 95th percentile) and mean of susceptibility, density and hazard."""
    header = ["period", "valid cells"]
    for _, what, units in DISTRIBUTION_VARIABLES:
        header += [_with_units(f"{what}: median (5th – 95th percentile)", units), _with_units(f"{what}: mean", units)]
    rows = []
    for k, label in enumerate(_labels(ds)):
        cells = []
        for name, _, _ in DISTRIBUTION_VARIABLES:
            q = quantiles[name]
            low, median, high = (format_value(q[key][k], 4) for key in ("p05", "p50", "p95"))
            cells += [f"{median} ({low} – {high})", format_value(q["mean"][k], 4)]
        rows.append(_safe(html.escape(label), str(int(quantiles["hazard"]["cells"][k])), *cells))
    return Table(header, rows)


def _class_table(ds: xr.Dataset, scheme: styles.ClassScheme, counts: np.ndarray) -> Table:
    """The valid cells of each period in each hazard class, and their share (%)."""
    rows = []
    for label, row in zip(_labels(ds), counts, strict=True):
        total = int(row.sum())
        shares = [f"{int(n)} ({100.0 * n / total:.1f} %)" if total else str(int(n)) for n in row]
        rows.append(_safe(html.escape(label), *shares))
    return Table(["period", *(f"{text}: cells (share)" for text in scheme.labels())], rows)


def _figure(name: str, png: bytes, caption: str, tables: Sequence[Table | None] = (),
            note: Markup | None = None) -> dict[str, Any]:
    return {"name": name, "heading": CAPTIONS[name][0], "caption": caption,
            "data": base64.b64encode(png).decode("ascii"), "tables": [t for t in tables if t is not None],
            "note": note or Markup("")}


def _facts(ds: xr.Dataset, metrics: Mapping[str, Any]) -> dict[str, str]:
    thresholds, rule = _decision(ds, metrics)
    facts = {"run id": ds.attrs.get("run_id", metrics.get("run_id", DASH)),
             "split": metrics.get("split", ds.attrs.get("split", DASH)), "slices": ", ".join(_labels(ds)),
             "test cells": metrics.get("test_cells", int(_test_mask(ds).sum())),
             "decision threshold per slice": f"{RULES.get(rule, rule)}: " + ", ".join(
                 f"{label} {format_value(value)}" for label, value in zip(_labels(ds), thresholds, strict=True)),
             "pooled validation threshold": pooled_threshold(ds, metrics)}
    outside = extrapolation.lines(extrapolation.of(ds))
    if outside:
        facts["triggers outside the training range (the model extrapolates)"] = "; ".join(outside)
    return {key: html.unescape(format_value(value)) for key, value in facts.items()}  # escaped by the template


# ---------------------------------------------------------------- forecasts (hazard predict --period)


def forecast_origin(provenance: Mapping[str, Any]) -> str:
    """Where a forecast period's triggers come from, in words (its ``provenance`` attribute)."""
    rain = dict(provenance.get("rain", {}))
    if rain.get("source") == "file":
        words = [f"rain from the file {rain.get('path', DASH)}"]
    elif rain.get("source") == "scenario" and rain.get("kind") == "return_period":
        words = [f"rain scenario: {rain.get('period', DASH)}'s daily pattern, its wettest day at the "
                 f"{_number(rain.get('return_period_years')):g}-year design daily rainfall (GEV of the record's "
                 "annual maxima)"]
    elif rain.get("source") == "scenario":
        words = [f"rain scenario: {rain.get('period', DASH)}'s daily rain × {_number(rain.get('factor', 1.0)):g}"]
    else:
        words = [f"rain from the {rain.get('source', 'catalog rainfall layer')}"]
    quake = provenance.get("earthquake")
    if quake:
        ground = dict(quake.get("ground_motion", {}))
        shaking = (f"ground motion from {ground.get('format', 'a')} file {ground.get('path', DASH)}"
                   if ground.get("source") == "file" else
                   f"median ground motion of M {_number(ground.get('magnitude')):g} at x {_number(ground.get('x')):.0f}"
                   f" m, y {_number(ground.get('y')):.0f} m, {_number(ground.get('depth_km', 10.0)):g} km deep "
                   "(the synthetic world's ground-motion law)" if ground.get("source") == "scenario"
                   else "no ground motion")
        words.append(f"earthquake {quake.get('name', DASH)} on {quake.get('date', DASH)} "
                     f"(M {_number(quake.get('magnitude')):g}): {shaking}")
    return "; ".join(words)


def _outside_table(record: Mapping[str, Mapping[str, Any]]) -> Table | None:
    """The forecast's triggers outside the training cells' range: how far and on how many cells (None: none)."""
    if not record:
        return None
    rows = [_safe(html.escape(name), html.escape(str(entry.get("units", ""))), format_value(entry["slice_mean"], 4),
                  format_value(entry["train_min"], 4), format_value(entry["train_max"], 4),
                  format_value(entry["mean_beyond"], 4), format_value(100.0 * float(entry["cells_outside"]), 1))
            for name, entry in record.items()]
    return Table(["channel", "units", "period mean", "training min", "training max",
                  "mean beyond the range (channel units)", "cells outside (%)"], rows)


def _forecast_totals_table(maps: xr.Dataset) -> Table:
    """A forecast's regional totals (:func:`hazardcore.figure_data.forecast_totals`) and cells per hazard class."""
    totals = fd.forecast_totals(maps)
    threshold = float(maps.attrs.get("decision_threshold", math.nan))
    scheme = styles.scheme_for("hazard", str(maps["hazard"].attrs.get("units", "%")))
    classes = styles.classify(np.asarray(maps["hazard"].values, dtype=np.float64), scheme)
    rows = [_safe("cells with a forecast", str(totals["cells"])),
            _safe("expected new landslide area (Σ hazard × cell area)",
                  format_value(totals["expected_landslide_area_km2"])),
            _safe("mean hazard", format_value(totals["mean_hazard_percent"], 4)),
            _safe(html.escape(f"cells at or above the decision threshold τ = {format_value(threshold)}"),
                  str(totals["cells_at_or_above_threshold"]) if math.isfinite(threshold) else DASH)]
    rows += [_safe(html.escape(f"cells in hazard class {text}"), str(int((classes == k).sum())))
             for k, text in enumerate(scheme.labels())]
    units = ["cells", "km²", "% of cell", "cells", *(["cells"] * len(scheme.names))]
    return Table(["total", "value"], rows, units)


def _fig_forecast_hazard(maps: xr.Dataset) -> Figure:
    """The forecast's hazard: continuous on a log scale (left) and in the products' hazard classes (right)."""
    one = maps[["hazard"]].drop_vars([name for name in ("slice",) if name in maps.coords])
    ds = one.expand_dims(slice=[str(maps.attrs.get("period", "forecast"))]).transpose("slice", "y", "x")
    plane = _planes(ds, "hazard")[0]
    scheme = styles.scheme_for("hazard", str(maps["hazard"].attrs.get("units", "%")))
    classes = styles.classify(plane, scheme).astype(np.float64)
    classes[classes < 0] = np.nan
    fig = Figure(figsize=(2 * PANEL_INCHES + 3.0, PANEL_INCHES + LEGEND_HEIGHT), layout="constrained")
    left, right = fig.subplots(1, 2, sharex=True, sharey=True)
    extent, norm = _extent_km(ds), _density_norm(plane)
    image = left.imshow(_clipped(plane, norm), extent=extent, norm=norm, cmap=_cmap("inferno_r"),
                        interpolation="nearest")
    fig.colorbar(image, ax=left, label="expected density (% of cell)", shrink=0.85,
                 extend="both" if isinstance(norm, LogNorm) else "neither")
    right.imshow(classes, extent=extent, cmap=ListedColormap(list(scheme.colours)).with_extremes(bad=NO_DATA),
                 norm=BoundaryNorm(np.arange(len(scheme.names) + 1) - 0.5, len(scheme.names)), interpolation="nearest")
    for ax, title in ((left, f"{_labels(ds)[0]}: hazard"), (right, "hazard classes")):
        ax.set_title(title, fontsize=9)
        ax.set_aspect("equal")
    _label_axes([left, right], 2)
    handles = [Patch(facecolor=colour, edgecolor="black", linewidth=0.5, label=text)
               for colour, text in zip(scheme.colours, scheme.labels(), strict=True)]
    handles.append(Patch(facecolor=NO_DATA, edgecolor="black", linewidth=0.5, label="no data"))
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return fig


def forecast_view(maps: xr.Dataset) -> dict[str, Any]:
    """One forecast as the report's Forecasts section shows it: dates, origin, triggers outside the training
    range, totals and the hazard map (no IO; ``maps`` as :func:`hazardcore.forecast.forecast_maps` writes it).

    Raises
    ------
    InvalidValueError
        If ``maps`` lack the (y, x) susceptibility or hazard of a forecast.
    """
    missing = [name for name in ("susceptibility", "hazard") if name not in maps]
    if missing or set(maps["hazard"].dims) != {"y", "x"}:
        raise _invalid("a forecast lacks its (y, x) maps", "susceptibility and hazard over (y, x)",
                       f"missing {missing}" if missing else maps["hazard"].dims,
                       "pass the file `hazard predict --period` writes (runs/<id>/forecasts/<label>.nc)")
    label = str(maps.attrs.get("period", DASH))
    provenance = json.loads(str(maps.attrs.get("provenance", "{}")))
    record = json.loads(str(maps.attrs.get("extrapolation", "{}")))
    ground = dict(dict(provenance.get("earthquake") or {}).get("ground_motion") or {})
    scenario = "scenario" in (dict(provenance.get("rain") or {}).get("source"), ground.get("source"))
    facts = {"dates": f"{maps.attrs.get('period_start', DASH)} – {maps.attrs.get('period_end', DASH)}",
             "kind": "scenario" if scenario else "forecast period (observed or forecast triggers)",
             "origin": forecast_origin(provenance),
             "triggers outside the training range": f"{', '.join(record)} (how far: the table below)" if record
             else "none: every trigger lies within the training cells' range",
             "run": str(maps.attrs.get("run_id", DASH)),
             "metrics": str(maps.attrs.get("metrics", "none"))}
    if "members" in maps.attrs:
        facts["ensemble members"] = str(maps.attrs["members"])
    png = _png(_fig_forecast_hazard(maps))
    return {"label": label, "facts": facts, "outside": _outside_table(record),
            "totals": _forecast_totals_table(maps),
            "figure": _figure("forecast_hazard", png, CAPTIONS["forecast_hazard"][1]) | {
                "name": f"forecast_{label}", "heading": f"{CAPTIONS['forecast_hazard'][0]}: {label}"}}


def build_report(predictions: xr.Dataset, metrics: Mapping[str, Any], scores: Mapping[str, np.ndarray],
                 reference: xr.Dataset | None = None, title: str = "Landslide hazard report",
                 about: Mapping[str, Any] | None = None, forecasts: Sequence[xr.Dataset] = ()) -> str:
    """Compose the self-contained HTML evaluation report (the caller writes it).

    The page is rendered from the Jinja template ``hazardcore/templates/report.html.j2``
    (package data) with its stylesheet inline.

    Parameters
    ----------
    predictions, metrics, scores, reference
        As for :func:`figures`.
    title
        Page title and first heading (the pipeline names the case).
    about
        The run's :func:`provenance` (case, versions, date, data sources and licences, run id,
        command), shown after the header; left out when None.
    forecasts
        The run's forecasts (``runs/<id>/forecasts/<label>.nc``, (y, x) maps): a "Forecasts"
        section after the overview, one entry per period (:func:`forecast_view`); none
        without them.

    Returns
    -------
    str
        An HTML document with inline CSS and every figure as a base64 PNG data URI.

    Raises
    ------
    InvalidValueError
        If variables are missing or the scores do not match the test cells.
    """
    ds = _normalised(predictions)
    pngs = figures(ds, metrics, scores, reference)
    thresholds, rule = _decision(ds, metrics)
    counts = confusion_counts_per_slice(ds, thresholds)
    curve = legacy_curve(ds)
    scheme, class_counts = hazard_classes(ds)
    coverage, distribution = _coverage_table(metrics)
    tables: dict[str, tuple[Table | None, ...]] = {
        "hazard_over_time": (_series_table(ds, regional_series(ds)),),
        "distributions": (_quantile_table(ds, period_quantiles(ds)),),
        "classified_hazard": (_class_table(ds, scheme, class_counts),),
        "confusion": (_counts_table(ds, counts, thresholds),), "uncertainty": (coverage,)}
    scheme_text = f"{scheme.quantity}: " + ", ".join(scheme.labels())
    shown = {name: _figure(name, png, CAPTIONS[name][1].format(
        rule=RULES.get(rule, rule), cells=int(curve["cells"]) if curve else 0, scheme=scheme_text,
        threshold=first_exceedance(ds)[0]),
        tables.get(name, ()), distribution if name == "uncertainty" else None) for name, png in pngs.items()}
    overview = [shown[name] for name in OVERVIEW if name in shown]
    environment = _environment()
    style, _, _ = environment.loader.get_source(environment, STYLESHEET)  # type: ignore[union-attr]
    context = {"title": title, "style": Markup(style), "facts": _facts(ds, metrics),
               "provenance": _provenance_view(about), "overview": overview,
               "forecasts": [forecast_view(maps) for maps in forecasts],
               "evaluation": [figure for name, figure in shown.items() if name not in OVERVIEW],
               "overall": _overall_table(metrics), "per_slice": _per_slice_table(ds, metrics)}
    return environment.get_template(TEMPLATE).render(context)


#: The figures shown before the metrics: what the run predicts, over time and in classes.
OVERVIEW = ("hazard_over_time", "distributions", "classified_hazard")


def _provenance_view(about: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """:func:`provenance` as the template shows it: its facts, the sources as a table, a footer."""
    if about is None:
        return None
    sources = about.get("sources", [])
    columns = ("role", "file", "description", "licence", "citation")
    table = Table(list(columns), [_safe(*(html.escape(str(row.get(key, "")) or DASH) for key in columns))
                                  for row in sources], text=True) if sources else None
    facts = dict(about.get("facts", {}))
    footer = (f"Case {about.get('case', DASH)}, run {facts.get('run id', DASH)}, written "
              f"{facts.get('report written', DASH)} by {facts.get('command', 'hazardcore')} "
              f"({facts.get('package versions', DASH)}).")
    return {"facts": facts, "sources": table, "footer": footer}

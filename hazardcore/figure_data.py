"""Figure data of the evaluation, computed once from a run's predictions (no plotting, no IO).

The HTML report (:mod:`hazardcore.report`) and the dashboard's Evaluation view both draw
confusion maps, residual maps, ROC curves, reliability diagrams and observed-vs-predicted
scatters. Their numbers come from here, so the two cannot drift apart and neither renderer
scores anything itself; the scoring kernels stay in :mod:`hazardcore.metrics`.

Where the two renderers deliberately show different cells (the report fades the non-test
cells of its confusion maps, the dashboard hides them when asked; the report's scatter
keeps each panel's finite pairs, the dashboard's the cells finite in every series), the
choice is a parameter, documented with each function.

The predictions Dataset is the one ``infer``/``evaluate`` write (``predictions.nc``):
``susceptibility``, ``density``, ``hazard``, ``observed_density``, ``presence`` and the
masks ``valid`` and ``test`` over (slice, y, x), and ``true_probability`` for synthetic
regions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import xarray as xr

from hazardcore import metrics as scoring
from hazardcore.errors import InvalidValueError, describe

#: Confusion class codes and names (0 TN, 1 FP, 2 FN, 3 TP), as :func:`confusion_codes` writes them.
CONFUSION_CLASSES = scoring.CONFUSION_CLASSES
#: The series of the observed-vs-predicted scatters.
SCATTER_VARIABLES = ("observed_density", "hazard", "density")


class RocCurve(NamedTuple):
    """False and true positive rates at every distinct score (from (0, 0) to (1, 1)) and the AUC."""

    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


class Reliability(NamedTuple):
    """Reliability table (:func:`hazardcore.metrics.calibration_table`) and its expected calibration error."""

    table: dict[str, np.ndarray]
    ece: float


class ScatterPanel(NamedTuple):
    """Observed and predicted density (%) of the cells of one scatter, their Pearson R and MAE (NaN if undefined)."""

    observed: np.ndarray
    predicted: np.ndarray
    r: float
    mae: float


def thresholds_per_slice(thresholds: float | Sequence[float] | np.ndarray, n_slices: int) -> np.ndarray:
    """One decision threshold per slice from one value or one per slice.

    Parameters
    ----------
    thresholds
        One value for every slice, or one per slice.
    n_slices
        Number of slices.

    Returns
    -------
    numpy.ndarray
        float64 thresholds (n_slices,).

    Raises
    ------
    InvalidValueError
        If ``thresholds`` holds neither one value nor one per slice.
    """
    values = np.asarray(thresholds, dtype=np.float64)
    if values.ndim > 1 or values.size not in (1, n_slices):
        raise InvalidValueError(describe("thresholds do not match the slices", source="figure data inputs",
                                         expected=f"one value or {n_slices} (one per slice)", found=values.shape,
                                         fix="pass decision_thresholds(predictions)[0]"))
    return np.broadcast_to(values.reshape(-1), (n_slices,)) if values.size == 1 else values


def shown_cells(predictions: xr.Dataset, test_only: bool = False) -> xr.DataArray:
    """Cells of the confusion and residual maps: valid, with a finite presence, and test cells when asked.

    Parameters
    ----------
    predictions
        The predictions Dataset (``presence``, ``valid``, ``test``).
    test_only
        Keep only the test cells (the dashboard's "test cells only" switch); the report shows
        every valid cell and fades the non-test ones.

    Returns
    -------
    xarray.DataArray
        bool, with the dims of ``presence``.
    """
    presence = predictions["presence"]
    cells = presence.copy(data=np.isfinite(presence.values)) & (predictions["valid"] > 0)
    if test_only:
        cells = cells & (predictions["test"] > 0)
    shown = cells.transpose(*presence.dims).rename("shown")
    shown.attrs = {"long_name": "cell shown on the evaluation maps"}  # not presence's
    return shown


def _like(variable: xr.DataArray, template: xr.DataArray) -> np.ndarray:
    """Values of ``variable`` broadcast to and ordered as ``template``'s dims."""
    return np.asarray(variable.broadcast_like(template).transpose(*template.dims).values)


def confusion_codes(predictions: xr.Dataset, thresholds: float | Sequence[float] | np.ndarray,
                    test_only: bool = False) -> xr.DataArray:
    """Confusion class of each shown cell at its slice's decision threshold.

    A cell is predicted positive when ``susceptibility >= threshold`` and is a true positive
    when its ``presence`` is > 0 (:func:`hazardcore.metrics.confusion_map`).

    Parameters
    ----------
    predictions
        The predictions Dataset with a ``slice`` dim (``susceptibility``, ``presence``,
        ``valid``, ``test``).
    thresholds
        One decision threshold per slice (``decision_thresholds(predictions)[0]``) or one for all.
    test_only
        As for :func:`shown_cells`: the report passes False, the dashboard its switch.

    Returns
    -------
    xarray.DataArray
        float32 codes 0 TN, 1 FP, 2 FN, 3 TP (:data:`CONFUSION_CLASSES`), NaN outside the shown
        cells and where the susceptibility is NaN; dims and coords of ``susceptibility`` with
        ``slice`` first.

    Raises
    ------
    InvalidValueError
        If ``thresholds`` holds neither one value nor one per slice.
    """
    probability = predictions["susceptibility"].transpose("slice", ...)
    cells = _like(shown_cells(predictions, test_only), probability)
    truth = np.nan_to_num(_like(predictions["presence"], probability)) > 0
    score = np.where(cells, np.asarray(probability.values, dtype=np.float64), np.nan)
    per_slice = thresholds_per_slice(thresholds, probability.sizes["slice"])
    codes = np.stack([scoring.confusion_map(truth[k], score[k], float(threshold))
                      for k, threshold in enumerate(per_slice)])
    return xr.DataArray(np.where(codes < 0, np.nan, codes).astype("float32"), coords=probability.coords,
                        dims=probability.dims, name="confusion",
                        attrs={"long_name": "confusion class (0 TN, 1 FP, 2 FN, 3 TP)", "units": "1"})


def confusion_counts(codes: xr.DataArray) -> dict[str, int]:
    """Number of cells of each confusion class among the codes given (one slice or several).

    Parameters
    ----------
    codes
        Codes from :func:`confusion_codes` (NaN cells are not counted).

    Returns
    -------
    dict
        ``{"tp", "fp", "fn", "tn"}``, as :func:`hazardcore.metrics.confusion_counts`.
    """
    values = np.asarray(codes.values)
    return {key: int(np.count_nonzero(values == code)) for key, code in (("tp", 3), ("fp", 1), ("fn", 2), ("tn", 0))}


def confusion_counts_per_slice(predictions: xr.Dataset,
                               thresholds: float | Sequence[float] | np.ndarray) -> list[dict[str, int]]:
    """TP / FP / FN / TN over the test cells of each slice at its decision threshold.

    Parameters
    ----------
    predictions, thresholds
        As for :func:`confusion_codes`.

    Returns
    -------
    list of dict
        One :func:`confusion_counts` per slice, in the order of the ``slice`` coordinate;
        cells with NaN susceptibility or presence are not counted (a NaN threshold predicts
        every cell of its slice negative).

    Raises
    ------
    InvalidValueError
        If ``thresholds`` holds neither one value nor one per slice.
    """
    codes = confusion_codes(predictions, thresholds, test_only=True)
    return [confusion_counts(codes.isel(slice=k)) for k in range(codes.sizes["slice"])]


def residual_planes(predictions: xr.Dataset, cells: xr.DataArray | None = None) -> xr.DataArray:
    """Observed density − hazard (% of the cell) of every cell (:func:`hazardcore.metrics.residuals`).

    Parameters
    ----------
    predictions
        The predictions Dataset (``observed_density``, ``hazard``).
    cells
        Cells to keep (others NaN), e.g. :func:`shown_cells` (the dashboard); None keeps every
        cell (the report: cells without data are NaN in the predictions already).

    Returns
    -------
    xarray.DataArray
        float64, with the dims and coords of ``hazard``; positive: more landslide area than expected.
    """
    hazard = predictions["hazard"]
    values = scoring.residuals(_like(predictions["observed_density"], hazard), hazard.values)
    if cells is not None:
        values = np.where(_like(cells, hazard), values, np.nan)
    return xr.DataArray(values, coords=hazard.coords, dims=hazard.dims, name="residual",
                        attrs={"long_name": "observed density − hazard", "units": hazard.attrs.get("units", "%")})


def test_values(predictions: xr.Dataset, *names: str) -> dict[str, np.ndarray]:
    """Values of variables on the valid test cells of every slice where all of them are finite.

    Parameters
    ----------
    predictions
        The predictions Dataset (``valid``, ``test`` and the variables named).
    *names
        Variables; those absent from the predictions are left out (and do not restrict the cells).

    Returns
    -------
    dict of numpy.ndarray
        float64 values per present name, over the same cells in the same order.
    """
    present = [name for name in names if name in predictions]
    cells = (predictions["test"].values > 0) & (predictions["valid"].values > 0)
    for name in present:
        cells &= np.isfinite(predictions[name].values)
    return {name: predictions[name].values[cells].astype(float) for name in present}


def on_test_cells(predictions: xr.Dataset, name: str) -> np.ndarray:
    """Values (float64) of a variable on the test cells, in the order of ``np.nonzero(test)``.

    This is the order of evaluate's per-cell ``scores``; no cell is dropped (NaN values stay).
    """
    variable = predictions[name]
    test = _like(predictions["test"], variable).astype(bool)
    return np.asarray(variable.values, dtype=np.float64)[test]


def roc_curves(presence: np.ndarray, scores: Mapping[str, np.ndarray]) -> dict[str, RocCurve]:
    """ROC curve and AUC of each source, each over the cells where its score is finite.

    Parameters
    ----------
    presence
        bool (or 0/1) labels of the cells, 1-D.
    scores
        Source name → scores of the same cells (e.g. evaluate's ``scores`` without ``presence``).

    Returns
    -------
    dict of RocCurve
        Per source, in the order given; sources whose finite cells hold one class only are left out.
    """
    labels = np.asarray(presence).astype(bool)
    curves = {}
    for name, values in scores.items():
        score = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(score)
        area = scoring.or_nan(scoring.auc, labels[finite], score[finite])
        if math.isnan(area):
            continue
        fpr, tpr, _ = scoring.roc_curve(labels[finite], score[finite])
        curves[name] = RocCurve(fpr, tpr, area)
    return curves


def reliability_table(presence: np.ndarray, probability: np.ndarray, n_bins: int = 10) -> Reliability | None:
    """Reliability table and ECE of probabilities over the cells where they are finite.

    Parameters
    ----------
    presence
        bool (or 0/1) labels of the cells, 1-D.
    probability
        Probabilities of the same cells.
    n_bins
        Equal-width bins on [0, 1].

    Returns
    -------
    Reliability or None
        :func:`hazardcore.metrics.calibration_table` and
        :func:`hazardcore.metrics.expected_calibration_error`; None when no probability is finite.
    """
    labels = np.asarray(presence).astype(bool)
    values = np.asarray(probability, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return None
    return Reliability(scoring.calibration_table(labels[finite], values[finite], n_bins),
                       scoring.expected_calibration_error(labels[finite], values[finite], n_bins))


def _scatter_panel(observed: np.ndarray, predicted: np.ndarray) -> ScatterPanel:
    keep = np.isfinite(observed) & np.isfinite(predicted)
    observed, predicted = observed[keep], predicted[keep]
    error = scoring.or_nan(scoring.mae, observed, predicted) if observed.size else math.nan
    return ScatterPanel(observed, predicted, scoring.or_nan(scoring.pearson_r, observed, predicted), error)


def scatter_values(predictions: xr.Dataset, positive: str = "presence",
                   common_cells: bool = False) -> dict[str, ScatterPanel]:
    """Observed density against hazard on the test cells and against density given occurrence on the positive ones.

    Parameters
    ----------
    predictions
        The predictions Dataset (``observed_density``, ``hazard``, ``density``, ``test``,
        ``valid``, and ``positive``).
    positive
        Variable whose values > 0 mark the positive cells: ``presence`` (the report) or
        ``observed_density`` (the dashboard).
    common_cells
        False (the report): every test cell (:func:`on_test_cells`), each panel keeping the
        cells where its two values are finite. True (the dashboard): the valid test cells where
        every series (and ``positive``) is finite (:func:`test_values`).

    Returns
    -------
    dict of ScatterPanel
        ``all`` (observed vs hazard) and ``positive`` (observed vs density given occurrence).
    """
    names = list(dict.fromkeys((*SCATTER_VARIABLES, positive)))
    values = (test_values(predictions, *names) if common_cells
              else {name: on_test_cells(predictions, name) for name in names})
    is_positive = values[positive] > 0
    observed = values["observed_density"]
    return {"all": _scatter_panel(observed, values["hazard"]),
            "positive": _scatter_panel(observed[is_positive], values["density"][is_positive])}


def period_labels(predictions: xr.Dataset) -> list[str]:
    """Each slice's label with its dates, e.g. ``2015-co (2015-04-01 – 2015-06-15)``; the label alone when the
    predictions carry no ``slice_start`` / ``slice_end`` coordinates."""
    labels = [str(label) for label in predictions["slice"].values]
    if "slice_start" not in predictions.coords or "slice_end" not in predictions.coords:
        return labels
    starts, ends = (np.datetime_as_string(predictions[name].values.astype("datetime64[D]"), unit="D")
                    for name in ("slice_start", "slice_end"))
    return [f"{label} ({start} – {end})" for label, start, end in zip(labels, starts, ends, strict=True)]


def cell_area_km2(predictions: xr.Dataset) -> float:
    """Area of one cell of the predictions' grid (km²), from its coordinate spacing (1 km² for a single cell)."""
    spacing = [float(np.abs(np.diff(predictions[axis].values)).mean()) if predictions.sizes[axis] > 1 else 1000.0
               for axis in ("x", "y")]
    return spacing[0] * spacing[1] / 1e6


def regional_series(predictions: xr.Dataset) -> dict[str, np.ndarray]:
    """The region's predicted and observed totals and means per slice: the hazard over time.

    Every series is over the same cells of each slice: valid, with a finite hazard and a
    finite observed density.

    Parameters
    ----------
    predictions
        The predictions Dataset (``hazard``, ``susceptibility``, ``density``, ``observed_density``,
        ``presence``, ``valid``; ``true_hazard`` and ``true_probability`` when the truth is known).

    Returns
    -------
    dict of numpy.ndarray
        One value per slice: ``cells`` (their number); ``hazard_km2`` and ``observed_km2``, the
        expected and the observed new landslide area (Σ density / 100 × cell area, km²), and
        ``true_hazard_km2``; ``susceptibility_mean`` and ``presence_fraction``, the mean
        predicted probability of new landslides and the fraction of cells that had some, and
        ``true_probability_mean``; ``density_mean``, the mean predicted density given occurrence
        (%), and on the cells with new landslides ``density_positive_mean`` and
        ``observed_density_positive_mean``, the mean predicted and observed density (%).
        Series whose variable is absent are left out; a slice without cells has NaN means.
    """
    cells = ((predictions["valid"] > 0) & np.isfinite(predictions["hazard"])
             & np.isfinite(predictions["observed_density"])).values
    count = cells.sum(axis=(1, 2))

    def total(name: str) -> np.ndarray:
        values = predictions[name].values
        return np.where(cells & np.isfinite(values), values, 0.0).sum(axis=(1, 2))

    def mean(values: np.ndarray, where: np.ndarray) -> np.ndarray:
        where = where & np.isfinite(values)
        n = where.sum(axis=(1, 2))
        sums = np.where(where, values, 0.0).sum(axis=(1, 2))
        return np.divide(sums, n, out=np.full(len(n), np.nan), where=n > 0)

    area = cell_area_km2(predictions)
    series = {"cells": count, "hazard_km2": total("hazard") / 100 * area,
              "observed_km2": total("observed_density") / 100 * area}
    if "true_hazard" in predictions:
        series["true_hazard_km2"] = total("true_hazard") / 100 * area
    series["susceptibility_mean"] = mean(predictions["susceptibility"].values, cells)
    series["presence_fraction"] = mean((predictions["observed_density"].values > 0).astype(float), cells)
    if "true_probability" in predictions:
        series["true_probability_mean"] = mean(predictions["true_probability"].values, cells)
    positive = cells & (predictions["observed_density"].values > 0)
    series["density_mean"] = mean(predictions["density"].values, cells)
    series["density_positive_mean"] = mean(predictions["density"].values, positive)
    series["observed_density_positive_mean"] = mean(predictions["observed_density"].values, positive)
    return series


def forecast_totals(maps: xr.Dataset, area_km2: float | None = None) -> dict[str, float]:
    """Regional totals of a forecast's (y, x) maps (``hazard predict --period``; the report and CLI show them).

    Parameters
    ----------
    maps
        ``susceptibility`` and ``hazard`` (%) over (y, x), the ``decision_threshold`` attribute
        (NaN or absent: none recorded).
    area_km2
        The area of one cell (km²); default from the grid's spacing (:func:`cell_area_km2`).

    Returns
    -------
    dict
        ``cells`` (with a finite hazard), ``expected_landslide_area_km2`` (Σ hazard / 100 ×
        cell area), ``mean_hazard_percent`` and ``cells_at_or_above_threshold`` (susceptibility
        ≥ the period's decision threshold; 0 without one).
    """
    hazard = np.asarray(maps["hazard"].values, dtype="float64")
    valid = np.isfinite(hazard)
    area = cell_area_km2(maps) if area_km2 is None else float(area_km2)
    threshold = float(maps.attrs.get("decision_threshold", float("nan")))
    susceptibility = np.asarray(maps["susceptibility"].values, dtype="float64")[valid]
    above = int(np.sum(susceptibility >= threshold)) if np.isfinite(threshold) else 0
    return {"cells": int(valid.sum()), "expected_landslide_area_km2": float(hazard[valid].sum() / 100 * area),
            "mean_hazard_percent": float(hazard[valid].mean()) if valid.any() else float("nan"),
            "cells_at_or_above_threshold": above}

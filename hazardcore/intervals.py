"""Intervals across ensemble members: their rule, their names, and how often they hold the known truth.

An ensemble (:mod:`hazardcore.ensemble`) stores beside each mean the percentiles
:data:`PERCENTILES` of a *predictive distribution* built from its members' values as
``{quantity}_p{level:02d}``; the outer two form the reported interval (5–95 %: nominally
90 %). The rule (:func:`predictive_percentiles`) treats the K members as draws of one more
member on the logit (susceptibility) or log (density, hazard) scale: with mean m and standard
deviation s of the K transformed values, the q-percentile is m + t(q, K − 1) · λ · s · √(1 + 1/K)
(Student's t, K − 1 degrees of freedom), transformed back. The members' own 5th–95th
percentiles cannot hold 90 % of anything exchangeable with a member when K is 3 to 5 (they
span less than the members' range): on a block-bootstrap ensemble of K = 3 they held the true
density given occurrence in 48.7 % of the positive test cells (benchmarks/RESULTS.md).

λ (:func:`spread_inflation`) widens the members' spread to the model's real error. Members
agree more than the truth lies from their mean (they share the architecture, the predictors
and most of the data), so with λ = 1 five block-bootstrap members of the default region held
the true density in 79.8 % of the positive test cells, not 90 %. λ per quantity is the factor
that makes the interval of an ensemble of the same kind (:data:`KINDS`: members differing in
their seeds, or also in a block bootstrap of their data) hold the truth of *other* synthetic
regions in 90 % of their scored cells, pooled (:func:`needed_inflation`), written with its
provenance to :data:`INFLATION_FILE` by ``benchmarks/interval_coverage.py --write``; a kind
without an entry there gets λ = 1. On real data the truth is unknown: λ there is the
synthetic worlds' and is stated as such.

The *realised* density of a positive cell is scored against the predictive distribution
itself (the members' mixture of their density laws, from ``density_exceedance`` on the grid
:data:`SCORE_GRID`): its probability integral transform (PIT, uniform for a calibrated
distribution), the share of observed densities inside the central 90 % of the distribution,
and the continuous ranked probability score (CRPS, % of the cell; lower is better).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats
from scipy.integrate import trapezoid

#: Percentiles of the predictive distribution stored beside each ensemble mean (the interval's ends and median).
PERCENTILES = (5, 50, 95)
#: Quantity → (truth variable, whether only positive test cells are scored).
TRUTH_OF = {"susceptibility": ("true_probability", False), "density": ("true_density_given_occurrence", True),
            "hazard": ("true_hazard", True)}


#: Densities (% of the cell) at which an ensemble predicts P(density > x | occurrence) for scoring its
#: distribution: 4 per decade from 0.01 % to 100 % of the cell.
SCORE_GRID: tuple[float, ...] = tuple(float(x) for x in np.round(np.geomspace(0.01, 100.0, 17), 6))
#: Fewest thresholds the distribution is scored on (a user's 1-5-10 % maps are not enough).
MIN_GRID = 8
PIT_BINS = 10


#: Smallest value (and, for a probability, distance from 1) kept before the log / logit transform.
FLOOR = 1e-6
#: The scale on which members are combined into a predictive distribution, per quantity.
LOGIT_SCALE = ("susceptibility",)
#: The calibrated spread factors λ per quantity and their provenance (``benchmarks/interval_coverage.py --write``).
INFLATION_FILE = Path(__file__).with_name("interval_inflation.json")


def percentile_name(quantity: str, level: int) -> str:
    """``hazard_p05`` etc.: the variable holding a percentile of the ensemble's predictive distribution."""
    return f"{quantity}_p{level:02d}"


def to_scale(values: np.ndarray, quantity: str) -> np.ndarray:
    """Values on the combining scale: logit of a probability, log of a density or hazard (clipped to :data:`FLOOR`)."""
    if quantity in LOGIT_SCALE:
        clipped = np.clip(values, FLOOR, 1.0 - FLOOR)
        return np.log(clipped / (1.0 - clipped))
    return np.log(np.maximum(values, FLOOR))


def from_scale(values: np.ndarray, quantity: str) -> np.ndarray:
    """Inverse of :func:`to_scale`."""
    return 1.0 / (1.0 + np.exp(-values)) if quantity in LOGIT_SCALE else np.exp(values)


#: Ensemble kinds, by what the members differ in: their seeds only, or also a block bootstrap of their training data.
KINDS = ("seeds", "block bootstrap")


def ensemble_kind(bootstrap_blocks: bool) -> str:
    """The kind (:data:`KINDS`) of an ensemble whose members' ``TrainConfig.bootstrap_blocks`` is given."""
    return KINDS[int(bool(bootstrap_blocks))]


@lru_cache(maxsize=1)
def _calibration() -> dict[str, Any]:
    return json.loads(INFLATION_FILE.read_text(encoding="utf-8")) if INFLATION_FILE.is_file() else {}


def spread_inflation(quantity: str, kind: str) -> float:
    """λ of ``quantity`` for an ensemble of ``kind``, from :data:`INFLATION_FILE` (1 when it has none)."""
    return float(_calibration().get(kind, {}).get("inflation", {}).get(quantity, 1.0))


def inflation_source(kind: str) -> str:
    """One line on where λ of an ensemble of ``kind`` comes from, for attributes and reports."""
    return str(_calibration().get(kind, {}).get("source", f"{kind}: no calibration, lambda = 1"))


def t_multiplier(level: float, members: int) -> float:
    """t(level / 100, K − 1) · √(1 + 1/K): the q-percentile of one more member in units of the members' spread."""
    return float(stats.t.ppf(level / 100.0, members - 1) * np.sqrt(1.0 + 1.0 / members))


def predictive_percentiles(members: np.ndarray, quantity: str, levels: tuple[int, ...] = PERCENTILES,
                           inflation: float = 1.0) -> np.ndarray:
    """Percentiles of the Student-t predictive distribution of one more member, its spread times λ.

    Parameters
    ----------
    members
        (K, ...) one quantity's values of the K members (probability, or density / hazard in %).
    quantity
        ``susceptibility`` (combined on the logit scale) or ``density`` / ``hazard`` (log scale).
    levels
        Percentiles (0–100) to return.
    inflation
        λ (:func:`spread_inflation`); 1, the default, is the rule for members exchangeable with the
        truth.

    Returns
    -------
    numpy.ndarray
        (len(levels), ...) m + t(level / 100, K − 1) · λ · s · √(1 + 1/K) on the transformed scale
        (m, s: the members' mean and standard deviation there), transformed back; with one
        member every percentile is its value.
    """
    z = to_scale(np.asarray(members, dtype="float64"), quantity)
    k = z.shape[0]
    centre = z.mean(axis=0)
    if k < 2:
        return np.stack([from_scale(centre, quantity)] * len(levels))
    spread = z.std(axis=0, ddof=1) * inflation
    return np.stack([from_scale(centre + t_multiplier(level, k) * spread, quantity) for level in levels])


def inflation_ratios(members: np.ndarray, truth: np.ndarray, cells: np.ndarray, quantity: str,
                     coverage: float = 0.9) -> np.ndarray:
    """Per scored cell, the λ its truth needs to lie on the edge of the central ``coverage`` interval.

    Parameters
    ----------
    members
        (K, ...) the members' values of ``quantity``, K ≥ 2.
    truth
        (...) the known true values (synthetic cases).
    cells
        (...) bool, the cells scored (cells with no spread or no truth are left out).
    quantity, coverage
        As :func:`predictive_percentiles`; 0.9 for the 5–95 % interval.

    Returns
    -------
    numpy.ndarray
        (n,) |truth − m| / (s · t((1 + coverage) / 2, K − 1) · √(1 + 1/K)) on the transformed
        scale: the interval with λ holds a cell's truth when its ratio is ≤ λ.
    """
    z = to_scale(np.asarray(members, dtype="float64"), quantity)
    error = np.abs(to_scale(np.asarray(truth, dtype="float64"), quantity) - z.mean(axis=0))
    spread = z.std(axis=0, ddof=1)
    chosen = cells & np.isfinite(error) & (spread > 0)
    return error[chosen] / (spread[chosen] * t_multiplier(100.0 * (1.0 + coverage) / 2.0, z.shape[0]))


def needed_inflation(members: np.ndarray, truth: np.ndarray, cells: np.ndarray, quantity: str,
                     coverage: float = 0.9) -> float:
    """The λ with which the central ``coverage`` interval holds ``truth`` in that share of ``cells``.

    The ``coverage`` quantile of :func:`inflation_ratios` (same parameters): ≈ 1 when the truth is
    exchangeable with the members, above 1 when they agree more than the truth lies from their
    mean. Several regions are pooled by taking the quantile of their ratios together.
    """
    return float(np.quantile(inflation_ratios(members, truth, cells, quantity, coverage), coverage))


def has_intervals(predictions: xr.Dataset) -> bool:
    """Whether the predictions are an ensemble's (they carry the interval's ends)."""
    return all(percentile_name(q, level) in predictions for q in TRUTH_OF for level in (PERCENTILES[0],
                                                                                         PERCENTILES[-1]))


def interval_width(predictions: xr.Dataset, quantity: str) -> xr.DataArray:
    """The width of a quantity's ensemble interval (its outer percentiles' difference), same units."""
    low, high = (predictions[percentile_name(quantity, level)] for level in (PERCENTILES[0], PERCENTILES[-1]))
    return (high - low).assign_attrs(units=high.attrs.get("units", ""), long_name=f"{quantity}: width of the "
                                     f"ensemble's {PERCENTILES[-1] - PERCENTILES[0]} % predictive interval")


def within(truth: np.ndarray, low: np.ndarray, high: np.ndarray, cells: np.ndarray) -> dict[str, float]:
    """Share of ``cells`` whose ``truth`` lies in [low, high], the cell count and the mean interval width."""
    chosen = cells & np.isfinite(truth) & np.isfinite(low) & np.isfinite(high)
    inside = (truth[chosen] >= low[chosen]) & (truth[chosen] <= high[chosen])
    return {"coverage": float(inside.mean()) if chosen.any() else float("nan"), "cells": int(chosen.sum()),
            "mean_width": float((high[chosen] - low[chosen]).mean()) if chosen.any() else float("nan")}


def interval_scores(predictions: xr.Dataset) -> dict[str, Any]:
    """How often the ensemble's predictive interval holds the known truth on the scored test cells.

    For the density given occurrence and the hazard the cells are the positive test cells;
    for the susceptibility every test cell. Quantities without a known truth (real data) are
    left out; ``interval`` names the percentiles and ``members`` counts the members.
    """
    test = predictions["test"].values.astype(bool)
    positive = test & (predictions["presence"].values > 0)
    low, high = PERCENTILES[0], PERCENTILES[-1]
    members = str(predictions.attrs.get("members", ""))
    scores: dict[str, Any] = {"interval": f"p{low:02d}-p{high:02d} of the Student-t predictive distribution, "
                                          "the members' spread times lambda",
                              "members": len(members.split(", ")) if members else 0}
    for quantity, (truth, positive_only) in TRUTH_OF.items():
        if truth in predictions:
            lower = predictions[percentile_name(quantity, low)]
            scores[quantity] = within(predictions[truth].values, lower.values,
                                      predictions[percentile_name(quantity, high)].values,
                                      positive if positive_only else test) | {
                                          "inflation": float(lower.attrs.get("spread_inflation", 1.0))}
    distribution = distribution_scores(predictions)
    return scores | ({"observed_density": distribution} if distribution else {})


def pit_and_crps(observed: np.ndarray, thresholds: np.ndarray, cdf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PIT and CRPS of observed densities under CDFs known on a grid of thresholds.

    Parameters
    ----------
    observed
        (n,) observed densities (% of the cell), > 0.
    thresholds
        (T,) increasing densities (% of the cell).
    cdf
        (T, n) P(density <= threshold) of each cell's predictive distribution.

    Returns
    -------
    tuple of numpy.ndarray
        PIT (n,): the CDF at the observation, linear in log density between thresholds, and
        half the CDF at the first threshold below it (the mass under the grid is not resolved);
        CRPS (n,): ∫ (F(x) − 1{y ≤ x})² dx by the trapezoid rule over the grid's span, the
        tails beyond it left out.
    """
    log_grid = np.log(thresholds)
    pit = np.array([np.interp(np.log(y), log_grid, column, left=column[0] / 2, right=column[-1])
                    for y, column in zip(observed, cdf.T, strict=True)])
    step = (cdf - (observed[None, :] <= thresholds[:, None])) ** 2
    crps = trapezoid(step, thresholds, axis=0)
    return pit, crps


def distribution_scores(predictions: xr.Dataset) -> dict[str, Any]:
    """PIT histogram, central-90 % coverage and CRPS of the observed densities on the positive test cells.

    Empty unless the predictions carry ``density_exceedance`` on at least :data:`MIN_GRID`
    thresholds (an ensemble predicts on :data:`SCORE_GRID`).
    """
    if "density_exceedance" not in predictions or predictions.sizes.get("threshold", 0) < MIN_GRID:
        return {}
    cells = (predictions["test"].values.astype(bool) & (predictions["presence"].values > 0)
             & np.isfinite(predictions["observed_density"].values))
    survival = predictions["density_exceedance"].values[:, cells]
    keep = np.isfinite(survival).all(axis=0)
    observed = predictions["observed_density"].values[cells][keep]
    thresholds = predictions["threshold"].values.astype("float64")
    pit, crps = pit_and_crps(observed, thresholds, 1.0 - survival[:, keep].astype("float64"))
    counts, _ = np.histogram(pit, bins=PIT_BINS, range=(0.0, 1.0))
    return {"cells": int(observed.size), "pit_histogram": counts.tolist(),
            "central_90_coverage": float(np.mean((pit >= 0.05) & (pit <= 0.95))) if observed.size else float("nan"),
            "crps": float(np.mean(crps)) if observed.size else float("nan"),
            "grid": f"{thresholds.size} densities from {thresholds[0]:g} to {thresholds[-1]:g} % of the cell"}


def exceedance_maps(predictions: xr.Dataset) -> dict[str, xr.DataArray]:
    """The hazard exceedance maps asked for as products (attribute ``exceedance_products``), by product name.

    ``hazard_exceedance_5pct`` is P(new landslide area > 5 % of the cell in the slice): the
    probability of occurrence times the density law's exceedance given occurrence. Thresholds
    predicted only to score the distribution (an ensemble's grid) are not products.
    """
    asked = json.loads(str(predictions.attrs.get("exceedance_products", "[]")))
    if "hazard_exceedance" not in predictions or not asked:
        return {}
    thresholds = np.asarray(predictions["threshold"].values, dtype="float64")
    out = {}
    for value in asked:
        matches = np.flatnonzero(np.isclose(thresholds, float(value)))
        if not matches.size:  # asked for, but not predicted (predictions of another request)
            continue
        name = f"hazard_exceedance_{float(value):g}pct"
        layer = predictions["hazard_exceedance"].isel(threshold=int(matches[0]), drop=True).rename(name)
        out[name] = layer.assign_attrs(units="1", long_name="probability that new landslides cover more than "
                                                            f"{float(value):g} % of the cell in the slice")
    return out


def first_exceedance(predictions: xr.Dataset) -> tuple[str, xr.DataArray | None]:
    """The first exceedance map asked for with its density as text (``"5 %"``), or ``("", None)`` without one."""
    for name, layer in exceedance_maps(predictions).items():
        return f"{name.removeprefix('hazard_exceedance_').removesuffix('pct')} %", layer
    return "", None

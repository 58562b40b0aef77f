"""The evaluation result of a run (``metrics.json``), typed, with the columns every view shows.

:func:`hazardcore.evaluate.evaluate_sources` builds an :class:`EvaluationResult`;
``hazard evaluate`` adds the run's facts (:class:`RunMetrics`) and writes it; the report, the
CLI and the dashboard read it back with :func:`read_metrics` and render it, using the column
orders below. Each score block is computed here too, from plain arrays with the functions of
:mod:`hazardcore.metrics` (:func:`susceptibility_scores`, :func:`density_scores`,
:func:`slice_scores`, :func:`truth_scores`); :mod:`hazardcore.evaluate` only chooses the cells
and thresholds. A new score is therefore a function in ``metrics`` and its key and line here.
Units: densities in % of the cell, counts in cells.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np

from hazardcore import metrics
from hazardcore.errors import HazardcoreError, describe
from hazardcore.runfolder import METRICS


class SusceptibilityScores(TypedDict, total=False):
    """Occurrence scores of one source on a set of cells."""

    auc: float
    f1: float  # at each slice's decision threshold
    iou: float
    ece: float
    validation_threshold: float  # the pooled threshold tuned on validation cells
    f1_validation_threshold: float
    threshold_rule: str


#: Density scores of one source: the hazard (expected density) on all cells, the density given
#: occurrence on positive cells, and (synthetic cases) the correlation with the truth.
DensityScores = TypedDict("DensityScores", {
    "hazard_total_ratio": float,  # Σ hazard / Σ observed density
    "mae": float,
    "pearson_r": float,
    "mae_positive": float,
    "pearson_r_positive": float,
    "mean_ratio_positive": float,
    "positive_below_0.05": float,  # share of positive cells predicted below 0.05 %
    "n_positive": int,
    "r_density_vs_truth": float,
    "r_logit_vs_truth": float,
    "hazard_total_ratio_per_slice": dict[str, float],
}, total=False)


class SliceScores(TypedDict):
    """Scores of one source within one slice, at the slice's decision threshold."""

    auc: float
    auprc: float
    brier_skill: float
    threshold: float
    f1: float
    iou: float
    positive_cells_predicted: float  # Σ p
    positive_cells_observed: int
    predicted_positive_cells: int  # #{p ≥ τ}
    area_predicted: float  # Σ hazard (% · cells)
    area_observed: float


class WithinSlices(TypedDict):
    """Per-slice scores and their means weighted by each slice's positive cells."""

    per_slice: dict[str, SliceScores]
    positive_weighted: dict[str, float]


class SourceScores(TypedDict, total=False):
    """Every score block of one source (the model, a baseline, the oracle)."""

    susceptibility: SusceptibilityScores
    density: DensityScores
    within_slices: WithinSlices


class SliceEntry(SourceScores, total=False):
    """The model's score blocks on one slice's test cells."""

    slice: str


class SliceTotals(TypedDict):
    """Σ hazard and Σ observed density over a slice's test cells (% · cells), and their ratio."""

    predicted: float
    observed: float
    ratio: float


class EvaluationResult(SourceScores, total=False):
    """What :func:`hazardcore.evaluate.evaluate_sources` returns: the model's blocks at the top level."""

    slices: list[str]
    test_cells: int
    positive_test_cells: int
    validation_cells: int
    thresholds: dict[str, float]  # pooled validation threshold per source
    decision_thresholds: dict[str, dict[str, float]]  # per source, per slice
    per_slice: list[SliceEntry]
    totals_per_slice: dict[str, dict[str, SliceTotals]]
    oracle: SourceScores
    baselines: dict[str, SourceScores]


class RunMetrics(EvaluationResult, total=False):
    """``metrics.json``: the evaluation result and the facts of the run it scores."""

    split: str
    run_id: str
    calibration: dict[str, Any]
    leaked_fraction: float
    density_units: str
    split_config: dict[str, Any]
    uncertainty: dict[str, Any]


#: The columns of the score tables, in the order they are shown (report, dashboard, CLI).
SUSCEPTIBILITY_COLUMNS: tuple[str, ...] = tuple(SusceptibilityScores.__annotations__)
DENSITY_COLUMNS: tuple[str, ...] = tuple(key for key in DensityScores.__annotations__
                                         if key not in ("n_positive", "hazard_total_ratio_per_slice"))
SLICE_COLUMNS: tuple[str, ...] = tuple(SliceScores.__annotations__)
#: Keys every ``metrics.json`` written by ``hazard evaluate`` has.
REQUIRED_KEYS = ("susceptibility", "density", "slices", "test_cells", "baselines")


# How each score block is computed from plain arrays (the functions in :mod:`hazardcore.metrics`):
# a new score is a function there and a key plus its line here.

Maps = dict[str, np.ndarray]


def susceptibility_scores(presence: np.ndarray, probability: np.ndarray, threshold: np.ndarray | float,
                          validation_threshold: float = math.nan) -> SusceptibilityScores:
    """AUC, ECE, and F1 / IoU at each cell's decision threshold, on one set of cells.

    ``threshold`` is one value per cell (its slice's threshold) or one for all; F1 / IoU at the
    pooled ``validation_threshold`` are given beside, for comparison.
    """
    decided = (probability >= threshold).astype("float64")
    return {"auc": metrics.or_nan(metrics.auc, presence, probability),
            "f1": metrics.f1(presence, decided), "iou": metrics.iou(presence, decided),
            "ece": metrics.expected_calibration_error(presence, probability),
            "validation_threshold": float(validation_threshold),
            "f1_validation_threshold": metrics.f1(presence, probability, validation_threshold)
            if math.isfinite(validation_threshold) else math.nan}


LOW_DENSITY_PERCENT = 0.05  # a positive cell predicted below this has a collapsed density


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is not positive."""
    return float(numerator / denominator) if denominator > 0 else math.nan


def density_scores(presence: np.ndarray, observed: np.ndarray, probability: np.ndarray,
                   given: np.ndarray) -> DensityScores:
    """MAE / R and total ratio of the hazard on all cells; MAE / R / level of the density on positives."""
    expected = probability * given
    positive = presence.astype(bool)
    out: DensityScores = {
        "mae": metrics.mae(observed, expected), "pearson_r": metrics.or_nan(metrics.pearson_r, observed, expected),
        "hazard_total_ratio": ratio(float(expected.sum()), float(observed.sum())),
        "mae_positive": math.nan, "pearson_r_positive": math.nan, "mean_ratio_positive": math.nan,
        "positive_below_0.05": math.nan, "n_positive": int(positive.sum())}
    if positive.any():
        out |= {"mae_positive": metrics.mae(observed[positive], given[positive]),
                "pearson_r_positive": metrics.or_nan(metrics.pearson_r, observed[positive], given[positive]),
                "mean_ratio_positive": ratio(float(given[positive].mean()), float(observed[positive].mean())),
                "positive_below_0.05": float(np.mean(given[positive] < LOW_DENSITY_PERCENT))}
    return out


def logit(probability: np.ndarray) -> np.ndarray:
    """ln(p / (1 − p)) with p clipped to [1e-6, 1 − 1e-6]."""
    p = np.clip(np.asarray(probability, dtype="float64"), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def truth_scores(source: Maps, truth: Maps, presence: np.ndarray, cells: np.ndarray) -> DensityScores:
    """R of the density given occurrence (positive cells) and of the logit (all cells) with the truth."""
    positive = cells & presence.astype(bool)
    return {"r_density_vs_truth": metrics.or_nan(metrics.pearson_r, source["density"][positive],
                                                 truth["density"][positive]),
            "r_logit_vs_truth": metrics.or_nan(metrics.pearson_r, logit(source["probability"][cells]),
                                               logit(truth["probability"][cells]))}


def slice_scores(presence: np.ndarray, probability: np.ndarray, observed: np.ndarray,
                 given: np.ndarray, threshold: float) -> SliceScores:
    """Scores of one slice's cells at the slice's decision threshold."""
    return {"auc": metrics.or_nan(metrics.auc, presence, probability),
            "auprc": metrics.or_nan(metrics.average_precision, presence, probability),
            "brier_skill": metrics.or_nan(metrics.brier_skill_score, presence, probability),
            "threshold": float(threshold), "f1": metrics.f1(presence, probability, threshold),
            "iou": metrics.iou(presence, probability, threshold),
            "positive_cells_predicted": float(probability.sum()), "positive_cells_observed": int(presence.sum()),
            "predicted_positive_cells": int((probability >= threshold).sum()),
            "area_predicted": float((probability * given).sum()), "area_observed": float(observed.sum())}


def sources_of(result: EvaluationResult) -> dict[str, SourceScores]:
    """Every scored source by name: ``model`` (the top-level blocks), the baselines, then ``oracle``."""
    model: SourceScores = {}
    if "susceptibility" in result:
        model["susceptibility"] = result["susceptibility"]
    if "density" in result:
        model["density"] = result["density"]
    if "within_slices" in result:
        model["within_slices"] = result["within_slices"]
    out = {"model": model, **result.get("baselines", {})}
    return out | ({"oracle": result["oracle"]} if "oracle" in result else {})


def to_json(result: EvaluationResult) -> str:
    """The JSON text of a result (NaN as JSON ``NaN``, as Python's json module reads back)."""
    return json.dumps(result, indent=2) + "\n"


def from_json(text: str, source: str | Path = "metrics.json") -> RunMetrics:
    """A result read back from its JSON text, its required keys checked.

    Raises
    ------
    HazardcoreError
        If the text is not a JSON object holding :data:`REQUIRED_KEYS`.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HazardcoreError(describe("metrics file is not JSON", source=source, found=str(exc),
                                       fix="evaluate the run again: `hazard evaluate WORKDIR --run RUN_ID`")) from exc
    missing = [key for key in REQUIRED_KEYS if not isinstance(value, dict) or key not in value]
    if missing:
        raise HazardcoreError(describe("metrics file lacks keys of an evaluation", source=source,
                                       expected=list(REQUIRED_KEYS), found=f"missing {missing}",
                                       fix="evaluate the run again: `hazard evaluate WORKDIR --run RUN_ID`"))
    return cast(RunMetrics, value)


def read_metrics(path: str | Path) -> RunMetrics:
    """:func:`from_json` of a ``metrics.json`` file."""
    return from_json(Path(path).read_text(encoding="utf-8"), path)


def run_metrics(run: str | Path) -> RunMetrics:
    """A run folder's ``metrics.json`` (written by ``hazard evaluate``)."""
    return read_metrics(Path(run) / METRICS)

"""Honest scores of a run on the test cells of its split, beside baselines and the oracle.

Every source (the model, each baseline, the oracle's true probabilities) is a pair of
(slice, row, col) maps: ``probability`` of at least one new landslide and ``density``
given occurrence (%). All are scored the same way on the same test cells:

* susceptibility: AUC, ECE of the probability, F1 and IoU at each slice's decision
  threshold (:class:`Decision`: by default each slice's label-free expected-F1 threshold,
  :func:`hazardcore.hazard.slice_thresholds`; base rates differ tenfold between periods, so
  one pooled threshold predicts nothing in most of them), and F1 at the pooled threshold
  tuned on the **validation** cells (maximum F1) for comparison;
* density: MAE and Pearson R of the expected density (probability × density given
  occurrence, the hazard) against the observed density over all test cells, and MAE and R
  of the density given occurrence over the positive test cells;
* hazard as an expectation: ``hazard_total_ratio`` = Σ hazard / Σ observed density over the
  test cells, overall and per slice (1 for an unbiased expected density), the ratio of the
  mean density given occurrence to the mean observed over positive cells, and the share of
  positive cells predicted below 0.05 %;
* within each slice (``within_slices``; pooled numbers mostly measure *which period*, since
  base rates differ tenfold between periods): AUC, AUPRC, Brier skill score against the
  slice's own base rate, F1 / IoU at the slice's decision threshold, predicted (Σ p and
  #{p ≥ τ}) vs observed number of positive cells and Σ hazard vs Σ observed density, and
  their positive-weighted means;
* the ``slice_base_rate`` reference: every cell of a slice gets the slice's observed base
  rate on the test cells (and its mean positive density): the skill of knowing only *when*;
* against the known truth (synthetic cases): ``r_density_vs_truth``, R of the density given
  occurrence with the true one over the positive test cells (free of the sampling noise
  that caps R against observations), and ``r_logit_vs_truth``, R of the probability's logit
  with the true logit over all test cells.

Metrics are computed by :mod:`hazardcore.metrics` on plain arrays and each score block by
:mod:`hazardcore.result`; this module only selects cells and thresholds and assembles the
``metrics.json`` dictionary (schema in the README).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from hazardcore.hazard import best_threshold, slice_thresholds
from hazardcore.result import (
    EvaluationResult,
    Maps,
    SliceEntry,
    SliceTotals,
    SourceScores,
    WithinSlices,
    density_scores,
    ratio,
    slice_scores,
    susceptibility_scores,
    truth_scores,
)


def score_cells(source: Maps, observed: Maps, cells: np.ndarray, thresholds: np.ndarray,
                validation_threshold: float = math.nan) -> SourceScores:
    """Both score blocks of one source on the cells where ``cells`` is True.

    ``thresholds`` holds one decision threshold per slice.
    """
    presence = observed["presence"][cells].astype(bool)
    probability, given = source["probability"][cells], source["density"][cells]
    per_cell = np.broadcast_to(np.asarray(thresholds, dtype="float64")[:, None, None], cells.shape)[cells]
    return {"susceptibility": susceptibility_scores(presence, probability, per_cell, validation_threshold),
            "density": density_scores(presence, observed["density"][cells], probability, given)}


WEIGHTED_KEYS = ("auc", "auprc", "brier_skill", "f1", "iou")


def within_slices(source: Maps, observed: Maps, cells: np.ndarray, labels: list[str],
                  thresholds: np.ndarray) -> WithinSlices:
    """:func:`slice_scores` of every slice with test cells and their means weighted by positive cells."""
    per_slice = {label: slice_scores(observed["presence"][i][cells[i]] > 0, source["probability"][i][cells[i]],
                                     observed["density"][i][cells[i]], source["density"][i][cells[i]],
                                     float(thresholds[i]))
                 for i, label in enumerate(labels) if cells[i].any()}
    weighted = {}
    for key in WEIGHTED_KEYS:
        rows = [cast(dict[str, float], scores) for scores in per_slice.values()]
        pairs = [(row[key], row["positive_cells_observed"]) for row in rows
                 if math.isfinite(row[key]) and row["positive_cells_observed"] > 0]
        weighted[key] = float(np.average([v for v, _ in pairs], weights=[w for _, w in pairs])) if pairs else math.nan
    return {"per_slice": per_slice, "positive_weighted": weighted}


def base_rate_source(observed: Maps, cells: np.ndarray) -> Maps:
    """The slice-base-rate reference: each slice's test base rate and mean positive density everywhere."""
    presence, density = observed["presence"] > 0, observed["density"]
    overall = float(density[cells & presence].mean()) if (cells & presence).any() else 1.0
    probability = np.zeros(presence.shape, dtype="float64")
    given = np.full(presence.shape, overall)
    for i in range(presence.shape[0]):
        if cells[i].any():
            probability[i] = presence[i][cells[i]].mean()
            positive = cells[i] & presence[i]
            given[i] = density[i][positive].mean() if positive.any() else overall
    return {"probability": probability, "density": given}


def slice_totals(source: Maps, observed: Maps, cells: np.ndarray, labels: list[str]) -> dict[str, SliceTotals]:
    """Per slice with test cells: Σ hazard, Σ observed density (% · cells) and their ratio."""
    out: dict[str, SliceTotals] = {}
    for i, label in enumerate(labels):
        if cells[i].any():
            predicted = float((source["probability"][i] * source["density"][i])[cells[i]].sum())
            seen = float(observed["density"][i][cells[i]].sum())
            out[label] = {"predicted": predicted, "observed": seen, "ratio": ratio(predicted, seen)}
    return out


def usable(sources: dict[str, Maps], mask: np.ndarray) -> np.ndarray:
    """``mask`` restricted to cells where every source has finite values."""
    keep = mask.copy()
    for source in sources.values():
        keep &= np.isfinite(source["probability"]) & np.isfinite(source["density"])
    return keep


@dataclass(frozen=True)
class Decision:
    """How each source's per-slice decision thresholds are set (see :func:`hazardcore.hazard.slice_thresholds`).

    Attributes
    ----------
    rule
        ``expected_f1`` (each slice's own label-free threshold) or ``validation`` (pooled).
    decided
        (slice, row, col) bool: the cells a slice's threshold is computed over (the region's
        valid cells; ``None``: the test cells).
    fixed
        Per source, thresholds already set: a float (pooled validation threshold) or one per
        slice (e.g. the model's from its ``predictions.nc``).
    """

    rule: str = "expected_f1"
    decided: np.ndarray | None = None
    fixed: dict[str, float | np.ndarray] = field(default_factory=dict)


def choose_thresholds(sources: dict[str, Maps], observed: Maps, validation: np.ndarray, test: np.ndarray,
                      decision: Decision) -> dict[str, tuple[float, np.ndarray]]:
    """Per source: its pooled validation threshold and its thresholds per slice."""
    presence_validation = observed["presence"][validation].astype(bool)
    decided = test if decision.decided is None else decision.decided
    out = {}
    for name, source in sources.items():
        fixed = decision.fixed.get(name)
        given = None if fixed is None else np.asarray(fixed, dtype="float64")
        pooled = float(given) if given is not None and given.ndim == 0 else best_threshold(
            presence_validation, source["probability"][validation])
        finite = decided & np.isfinite(source["probability"])
        per_slice = given if given is not None and given.ndim == 1 else slice_thresholds(
            source["probability"], finite, decision.rule, pooled)
        out[name] = (pooled, per_slice)
    return out


def evaluate_sources(sources: dict[str, Maps], observed: Maps, test: np.ndarray, validation: np.ndarray,
                     slice_labels: list[str], decision: Decision | None = None) -> EvaluationResult:
    """Score every source on the same test cells.

    Parameters
    ----------
    sources
        ``model`` first, then e.g. ``logistic``, ``gbm``, ``oracle``; each a dict with
        (slice, row, col) ``probability`` and ``density`` (given occurrence, %).
    observed
        ``presence`` and ``density`` (slice, row, col) of the observations.
    test, validation
        (slice, row, col) bool masks of the split's test and validation cells (valid only).
    slice_labels
        Labels of the slices.
    decision
        The threshold rule (default: each slice's expected-F1 threshold over its test cells).

    Returns
    -------
    dict
        ``slices`` (labels with test cells), ``test_cells``, ``thresholds`` (pooled validation
        ones) and ``decision_thresholds`` (per slice) of every source, the model's
        ``susceptibility`` / ``density`` / ``within_slices`` / ``per_slice`` blocks,
        ``totals_per_slice``, ``oracle`` when given, and ``baselines`` (every other source,
        and ``slice_base_rate``).
    """
    decision = decision or Decision()
    test, validation = usable(sources, test), usable(sources, validation)
    sources = sources | {"slice_base_rate": base_rate_source(observed, test)}
    chosen = choose_thresholds(sources, observed, validation, test, decision)
    scored: dict[str, SourceScores] = {name: score_cells(source, observed, test, chosen[name][1], chosen[name][0])
                                         for name, source in sources.items()}
    for name, source in sources.items():
        scored[name]["susceptibility"]["threshold_rule"] = decision.rule
        scored[name]["density"]["hazard_total_ratio_per_slice"] = {
            label: totals["ratio"] for label, totals in slice_totals(source, observed, test, slice_labels).items()}
        if "oracle" in sources:
            scored[name]["density"] |= truth_scores(source, sources["oracle"], observed["presence"], test)
        scored[name]["within_slices"] = within_slices(source, observed, test, slice_labels, chosen[name][1])
    with_test = [i for i in range(len(slice_labels)) if test[i].any()]
    per_slice = []
    for i in with_test:
        in_slice = np.zeros_like(test)
        in_slice[i] = test[i]
        entry: SliceEntry = {"slice": slice_labels[i]}
        per_slice.append(entry | score_cells(sources["model"], observed, in_slice, chosen["model"][1],
                                             chosen["model"][0]))
    result: EvaluationResult = {"slices": [slice_labels[i] for i in with_test], "test_cells": int(test.sum()),
                              "positive_test_cells": int(observed["presence"][test].sum()),
                              "validation_cells": int(validation.sum()),
                              "thresholds": {name: pooled for name, (pooled, _) in chosen.items()},
                              "decision_thresholds": {name: {slice_labels[i]: float(values[i]) for i in with_test}
                                                      for name, (_, values) in chosen.items()},
                              **scored["model"], "per_slice": per_slice,
                              "totals_per_slice": {name: slice_totals(source, observed, test, slice_labels)
                                                   for name, source in sources.items()}}
    if "oracle" in scored:
        result["oracle"] = scored["oracle"]
    result["baselines"] = {name: value for name, value in scored.items() if name not in ("model", "oracle")}
    return result


def roc_inputs(sources: dict[str, Maps], observed: Maps, test: np.ndarray) -> dict[str, np.ndarray]:
    """Per-cell arrays on the test cells (for ROC curves): ``presence`` and each source's probability.

    Cells are in the order of ``np.nonzero(test)``; ``test`` must already exclude cells where
    a source is missing (see :func:`usable`).
    """
    return {"presence": observed["presence"][test].astype(bool)} | {
        name: source["probability"][test] for name, source in sources.items()}

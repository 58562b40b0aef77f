"""Map algebra on predictions: probability calibration, decision threshold, hazard.

A network trained with a focal Tversky loss ranks cells well but its sigmoid outputs are
not frequencies (the loss rewards recall over precision). Hazard = P(occurrence) ×
E[density | occurrence] needs a probability, so the mean logits are calibrated on the
**validation** cells (never the test cells): Platt scaling (a logistic regression on the
logit, two parameters, monotone so the ranking and AUC are unchanged) by default, or
isotonic regression (monotone, non-parametric; ties may change AUC slightly). scikit-learn
fits both; the fitted mapping is a small JSON dict stored in the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from hazardcore import metrics
from hazardcore.errors import ConfigError, InvalidValueError, describe

CALIBRATION_METHODS = ("platt", "isotonic", "none")


@dataclass
class Calibration:
    """A fitted monotone map from mean logit to calibrated probability."""

    method: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def apply(self, logit: np.ndarray) -> np.ndarray:
        """Calibrated probability of ``logit`` (NaN stays NaN)."""
        values = np.asarray(logit, dtype="float64")
        if self.method == "platt":
            out = 1.0 / (1.0 + np.exp(-(self.parameters["slope"] * values + self.parameters["intercept"])))
        elif self.method == "isotonic":
            out = np.interp(values, self.parameters["x"], self.parameters["y"])
        else:
            out = 1.0 / (1.0 + np.exp(-values))
        return np.where(np.isfinite(values), out, np.nan)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"method": self.method, "parameters": self.parameters}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`."""
        return cls(str(values["method"]), dict(values.get("parameters", {})))


def fit_calibration(logit: np.ndarray, presence: np.ndarray, method: str = "platt") -> Calibration:
    """Fit a calibration on validation cells.

    Parameters
    ----------
    logit
        Mean logits of the validation cells (1-D, finite).
    presence
        Observed presence (bool or 0/1) of the same cells.
    method
        ``platt``, ``isotonic`` or ``none`` (plain sigmoid).

    Returns
    -------
    Calibration

    Raises
    ------
    ConfigError
        For an unknown method.
    InvalidValueError
        When the validation cells hold only one class.
    """
    if method not in CALIBRATION_METHODS:
        raise ConfigError(describe("unknown calibration method", expected=list(CALIBRATION_METHODS), found=method))
    x, y = np.asarray(logit, dtype="float64").ravel(), np.asarray(presence).ravel().astype(bool)
    if method == "none":
        return Calibration("none")
    if y.all() or not y.any():
        raise InvalidValueError(describe("calibration needs validation cells of both classes",
                                         found=f"{int(y.sum())} positive of {y.size}",
                                         fix="use a larger validation_fraction or another split seed"))
    if method == "platt":
        model = LogisticRegression(C=1e6, max_iter=1000).fit(x[:, None], y)
        return Calibration("platt", {"slope": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])})
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(x, y.astype("float64"))
    return Calibration("isotonic", {"x": [float(v) for v in iso.X_thresholds_],
                                    "y": [float(v) for v in iso.y_thresholds_]})


def best_threshold(presence: np.ndarray, probability: np.ndarray) -> float:
    """The probability threshold maximising F1 of the positive class (tuned on validation cells).

    Candidates are the distinct probabilities (at most 512 quantiles of them); ties go to
    the threshold closest to 0.5.
    """
    values = np.asarray(probability, dtype="float64").ravel()
    labels = np.asarray(presence).ravel().astype(bool)
    candidates = np.unique(np.quantile(values, np.linspace(0.0, 1.0, 513)))
    scores = np.array([metrics.f1(labels, values, threshold=float(t)) for t in candidates])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])


def expected_f1_threshold(probability: np.ndarray) -> float:
    """Label-free decision threshold of one slice: the one maximising the plug-in expected F1.

    With calibrated probabilities p, predicting the cells with p ≥ τ positive has expected
    true positives Σ_{p≥τ} p and expected positives Σ p, so F1 ≈ 2 Σ_{p≥τ} p / (Σ p + #{p ≥ τ})
    (Lipton et al. 2014's plug-in). It needs no label, so it works on a forecast period and
    follows each period's base rate, where one threshold tuned on pooled validation cells
    predicts nothing in dry periods.

    Parameters
    ----------
    probability
        Calibrated probabilities of one slice's cells (NaN ignored).

    Returns
    -------
    float
        The threshold (one of the probabilities; NaN when there is none).
    """
    values = np.asarray(probability, dtype="float64").ravel()
    values = np.sort(values[np.isfinite(values)])[::-1]
    if values.size == 0:
        return float("nan")
    last_of_tie = np.r_[np.flatnonzero(np.diff(values)), values.size - 1]  # descending: k = index + 1
    above = np.cumsum(values)[last_of_tie]
    expected_f1 = 2.0 * above / (values.sum() + last_of_tie + 1)
    return float(values[last_of_tie[int(np.argmax(expected_f1))]])


THRESHOLD_RULES = ("expected_f1", "validation")


def slice_thresholds(probability: np.ndarray, decided: np.ndarray, rule: str = "expected_f1",
                     validation_threshold: float = float("nan")) -> np.ndarray:
    """Decision threshold of every slice of a (slice, row, col) probability cube.

    Parameters
    ----------
    probability
        Calibrated probabilities (slice, row, col).
    decided
        (slice, row, col) bool: the cells a slice's decision is made over (valid cells).
    rule
        ``expected_f1``: each slice's :func:`expected_f1_threshold` of its own probabilities
        (label-free, follows the slice's base rate); ``validation``: the one pooled threshold
        tuned on validation cells (``validation_threshold``) for every slice.
    validation_threshold
        The pooled threshold of the ``validation`` rule.

    Returns
    -------
    numpy.ndarray
        float64 (slice,), NaN for a slice without a decided cell.

    Raises
    ------
    ConfigError
        For an unknown rule.
    """
    if rule not in THRESHOLD_RULES:
        raise ConfigError(describe("unknown threshold rule", expected=list(THRESHOLD_RULES), found=rule))
    out = np.full(probability.shape[0], np.nan)
    for k in range(probability.shape[0]):
        if decided[k].any():
            out[k] = expected_f1_threshold(probability[k][decided[k]]) if rule == "expected_f1" \
                else validation_threshold
    return out


def _as_float(value: Any) -> float:
    """A recorded value as float, NaN for None or anything non-numeric."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def pooled_threshold(predictions: xr.Dataset, metrics: Mapping[str, Any]) -> float:
    """The pooled validation threshold: calibration record, else metrics (new, then old schema); else NaN."""
    try:
        calibration = json.loads(str(predictions.attrs.get("calibration", "{}")))
    except json.JSONDecodeError:
        calibration = {}
    candidates = (calibration.get("threshold") if isinstance(calibration, dict) else None,
                  metrics.get("thresholds", {}).get("model"), metrics.get("susceptibility", {}).get("threshold"))
    return next((value for value in map(_as_float, candidates) if math.isfinite(value)), math.nan)


def decision_thresholds(predictions: xr.Dataset,
                        metrics: Mapping[str, Any] | None = None) -> tuple[np.ndarray, str] | None:
    """Each slice's decision threshold of the susceptibility and the rule that set it.

    The report, the products and the dashboard read a run's decision through this one function.

    Parameters
    ----------
    predictions
        The predictions Dataset; its ``decision_threshold`` (slice) and ``rule`` attribute are
        used when present (``predictions.nc`` written by ``pipeline.calibrate``).
    metrics
        metrics.json, read only for older predictions without a calibration record.

    Returns
    -------
    tuple of numpy.ndarray and str, or None
        float64 thresholds (slice,) and the rule (``expected_f1``, ``validation``). Older
        predictions without ``decision_threshold`` get their pooled validation threshold
        (calibration record, else metrics' ``thresholds["model"]``) for every slice, rule
        ``validation``; None when no threshold is recorded at all.
    """
    if "decision_threshold" in predictions:
        variable = predictions["decision_threshold"]
        return np.asarray(variable.values, dtype=np.float64), str(variable.attrs.get("rule", "expected_f1"))
    pooled = pooled_threshold(predictions, metrics or {})
    if math.isnan(pooled):
        return None
    return np.full(predictions.sizes["slice"], pooled), "validation"


def hazard(probability: np.ndarray, density_given_occurrence: np.ndarray) -> np.ndarray:
    """Expected new landslide area density (%): P(occurrence) × E[density | occurrence]."""
    return np.asarray(probability) * np.asarray(density_given_occurrence)

"""Pure scoring functions on plain arrays (no IO, no xarray).

``auc`` is the Mann–Whitney form of the ROC area: the probability that a random positive
scores above a random negative, ties counting one half, computed from average ranks
(``scipy.stats.rankdata``), so it is exact and O(n log n) without building the curve.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata


def auc(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve (Mann–Whitney U / (n_pos · n_neg)), ties averaged.

    Parameters
    ----------
    y_true
        Binary labels (bool or 0/1), any shape; flattened.
    score
        Scores of the same shape; higher means more likely positive.

    Returns
    -------
    float
        AUC in [0, 1].

    Raises
    ------
    ValueError
        If the shapes differ, a score is not finite, or one class is absent.
    """
    labels = np.asarray(y_true).ravel().astype(bool)
    values = np.asarray(score, dtype=np.float64).ravel()
    if labels.shape != values.shape:
        raise ValueError(f"y_true and score differ in size: {labels.size} vs {values.size}")
    if not np.all(np.isfinite(values)):
        raise ValueError("score holds NaN or infinite values")
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUC needs both classes; found {n_pos} positives and {n_neg} negatives")
    ranks = rankdata(values)
    u_stat = float(ranks[labels].sum()) - n_pos * (n_pos + 1) / 2.0
    return u_stat / (n_pos * n_neg)


def pearson_r(observed: ArrayLike, predicted: ArrayLike) -> float:
    """Pearson correlation coefficient of two equally sized arrays (flattened).

    Returns
    -------
    float
        R in [-1, 1].

    Raises
    ------
    ValueError
        If the sizes differ, fewer than two values are given, a value is not finite, or
        either array is constant.
    """
    obs = np.asarray(observed, dtype=np.float64).ravel()
    pred = np.asarray(predicted, dtype=np.float64).ravel()
    if obs.shape != pred.shape:
        raise ValueError(f"observed and predicted differ in size: {obs.size} vs {pred.size}")
    if obs.size < 2:
        raise ValueError("Pearson R needs at least two values")
    if not (np.all(np.isfinite(obs)) and np.all(np.isfinite(pred))):
        raise ValueError("inputs hold NaN or infinite values")
    obs_c, pred_c = obs - obs.mean(), pred - pred.mean()
    denom = float(np.sqrt((obs_c @ obs_c) * (pred_c @ pred_c)))
    if denom == 0.0:
        raise ValueError("Pearson R is undefined for a constant array")
    return float(np.clip((obs_c @ pred_c) / denom, -1.0, 1.0))


def _binary(y_true: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y_true).ravel().astype(bool)
    values = np.asarray(score, dtype=np.float64).ravel()
    if labels.shape != values.shape:
        raise ValueError(f"y_true and score differ in size: {labels.size} vs {values.size}")
    return labels, values


def confusion_counts(y_true: ArrayLike, score: ArrayLike, threshold: float = 0.5) -> dict[str, int]:
    """Counts of true/false positives/negatives when ``score >= threshold`` is positive."""
    labels, values = _binary(y_true, score)
    predicted = values >= threshold
    return {"tp": int(np.count_nonzero(labels & predicted)), "fp": int(np.count_nonzero(~labels & predicted)),
            "fn": int(np.count_nonzero(labels & ~predicted)), "tn": int(np.count_nonzero(~labels & ~predicted))}


def f1(y_true: ArrayLike, score: ArrayLike, threshold: float = 0.5) -> float:
    """F1 score of the positive class when ``score >= threshold`` is predicted positive.

    Returns 0 when there is neither a predicted nor a true positive.
    """
    c = confusion_counts(y_true, score, threshold)
    denominator = 2 * c["tp"] + c["fp"] + c["fn"]
    return float(2 * c["tp"] / denominator) if denominator else 0.0


def iou(y_true: ArrayLike, score: ArrayLike, threshold: float = 0.5) -> float:
    """Intersection over union (Jaccard index) of the positive class; 0 when both are empty."""
    c = confusion_counts(y_true, score, threshold)
    denominator = c["tp"] + c["fp"] + c["fn"]
    return float(c["tp"] / denominator) if denominator else 0.0


def roc_curve(y_true: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve: false and true positive rates at every distinct score, highest first.

    Returns
    -------
    fpr, tpr, thresholds
        Starting at (0, 0) with threshold +inf, ending at (1, 1).
    """
    labels, values = _binary(y_true, score)
    order = np.argsort(-values, kind="mergesort")
    values, labels = values[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(values)), values.size - 1]
    tps = np.cumsum(labels)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    n_pos, n_neg = max(int(labels.sum()), 1), max(int((~labels).sum()), 1)
    return (np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos], np.r_[np.inf, values[last_of_tie]])


def confusion_map(y_true: ArrayLike, score: ArrayLike, threshold: float = 0.5) -> np.ndarray:
    """Per-cell class codes of the same shape: 0 TN, 1 FP, 2 FN, 3 TP (NaN score → -1)."""
    labels = np.asarray(y_true).astype(bool)
    values = np.asarray(score, dtype=np.float64)
    codes = 2 * labels.astype("int8") + (values >= threshold).astype("int8")
    return np.where(np.isnan(values), np.int8(-1), codes).astype("int8")


CONFUSION_CLASSES = {0: "TN", 1: "FP", 2: "FN", 3: "TP"}


def residuals(observed: ArrayLike, predicted: ArrayLike) -> np.ndarray:
    """Observed minus predicted, elementwise (NaN where either is NaN)."""
    return np.asarray(observed, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)


def calibration_table(y_true: ArrayLike, probability: ArrayLike, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Reliability table on equal-width probability bins.

    Returns
    -------
    dict
        ``bin_lower``, ``bin_upper``, ``count``, ``mean_probability``, ``observed_frequency``
        (NaN for empty bins).
    """
    labels, values = _binary(y_true, probability)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(values, edges[1:-1], right=False), 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(index, weights=values, minlength=n_bins) / count
        observed = np.bincount(index, weights=labels.astype(float), minlength=n_bins) / count
    return {"bin_lower": edges[:-1], "bin_upper": edges[1:], "count": count,
            "mean_probability": mean_p, "observed_frequency": observed}


def expected_calibration_error(y_true: ArrayLike, probability: ArrayLike, n_bins: int = 10) -> float:
    """ECE: count-weighted mean |observed frequency − mean probability| over the bins."""
    table = calibration_table(y_true, probability, n_bins)
    used = table["count"] > 0
    gaps = np.abs(table["observed_frequency"][used] - table["mean_probability"][used])
    return float(np.sum(gaps * table["count"][used]) / np.sum(table["count"][used]))


def or_nan(metric: Callable[..., float], *arrays: ArrayLike) -> float:
    """``metric(*arrays)``, or NaN where the metric is undefined.

    The metrics here raise ``ValueError`` when they are undefined (one class only for AUC, a
    constant array or fewer than two values for R, non-finite inputs); scoring code that
    must report such a cell of a table as missing calls them through this.
    """
    try:
        value = float(metric(*arrays))
    except ValueError:
        return float("nan")
    return value if np.isfinite(value) else float("nan")


def mae(observed: ArrayLike, predicted: ArrayLike) -> float:
    """Mean absolute error."""
    difference = np.asarray(observed, dtype="float64") - np.asarray(predicted, dtype="float64")
    return float(np.mean(np.abs(difference)))


def average_precision(y_true: ArrayLike, score: ArrayLike) -> float:
    """Area under the precision–recall curve as average precision (scikit-learn's step form).

    Raises
    ------
    ValueError
        If the sizes differ or there is no positive.
    """
    from sklearn.metrics import average_precision_score

    labels, values = _binary(y_true, score)
    if not labels.any():
        raise ValueError("average precision needs at least one positive")
    return float(average_precision_score(labels, values))


def brier_skill_score(y_true: ArrayLike, probability: ArrayLike) -> float:
    """1 − Brier(p) / Brier(climatology), the climatology being the cells' own base rate.

    Positive: the probabilities beat knowing only how often the cells are positive. In a
    slice this is the slice's climatology, so pooled skill that is only "which period" scores 0.

    Raises
    ------
    ValueError
        If the sizes differ or the cells hold one class only (the reference is then perfect).
    """
    labels, values = _binary(y_true, probability)
    base = labels.mean() if labels.size else float("nan")
    reference = base * (1.0 - base)
    if not reference > 0:
        raise ValueError("the Brier skill score needs both classes")
    return float(1.0 - np.mean((values - labels) ** 2) / reference)


def poisson_binomial_pmf(probabilities: ArrayLike) -> np.ndarray:
    """P(N = k), k = 0..n, for N the number of successes of independent trials with these probabilities.

    Exact, by adding one trial at a time (O(n²)); n of a few thousand cells is fast.
    """
    p = np.clip(np.asarray(probabilities, dtype="float64").ravel(), 0.0, 1.0)
    pmf = np.zeros(p.size + 1)
    pmf[0] = 1.0
    for i, q in enumerate(p):
        pmf[1:i + 2] = pmf[1:i + 2] * (1.0 - q) + pmf[:i + 1] * q
        pmf[0] *= 1.0 - q
    return pmf


def count_hit_probability(predicted_count: float, true_probabilities: ArrayLike, tolerance: float = 0.3) -> float:
    """Probability that ``predicted_count`` lies within ±``tolerance`` × N of the count N that occurs.

    N is the number of positive cells drawn from the true probabilities (a Poisson-binomial),
    so this scores a predicted count against every inventory the truth could have produced,
    not only the one that was mapped: the truth's own expected count scores near 1 in large
    slices and less in slices of a few positives, where the realised count is noisy.
    """
    pmf = poisson_binomial_pmf(true_probabilities)
    counts = np.arange(pmf.size)
    hit = (counts > 0) & (np.abs(predicted_count - counts) <= tolerance * counts)
    return float(pmf[hit].sum())

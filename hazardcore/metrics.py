"""Pure scoring functions on plain arrays (no IO, no xarray).

``auc`` is the Mann–Whitney form of the ROC area: the probability that a random positive
scores above a random negative, ties counting one half, computed from average ranks
(``scipy.stats.rankdata``), so it is exact and O(n log n) without building the curve.
"""

from __future__ import annotations

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


def f1(y_true: ArrayLike, score: ArrayLike, threshold: float = 0.5) -> float:
    """F1 score of the positive class when ``score >= threshold`` is predicted positive.

    Returns 0 when there is neither a predicted nor a true positive.
    """
    truth = np.asarray(y_true).astype(bool).ravel()
    predicted = np.asarray(score).ravel() >= threshold
    tp = np.count_nonzero(truth & predicted)
    denominator = 2 * tp + np.count_nonzero(~truth & predicted) + np.count_nonzero(truth & ~predicted)
    return float(2 * tp / denominator) if denominator else 0.0


def mae(observed: ArrayLike, predicted: ArrayLike) -> float:
    """Mean absolute error."""
    difference = np.asarray(observed, dtype="float64") - np.asarray(predicted, dtype="float64")
    return float(np.mean(np.abs(difference)))

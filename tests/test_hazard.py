"""Calibration, threshold and hazard algebra against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from hazardcore import metrics
from hazardcore.errors import ConfigError, InvalidValueError
from hazardcore.hazard import Calibration, best_threshold, fit_calibration, hazard


def sample(n: int = 20000, slope: float = 0.5, intercept: float = -1.0, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    logit = rng.normal(0.0, 3.0, n)
    true_p = 1.0 / (1.0 + np.exp(-(slope * logit + intercept)))
    return logit, rng.random(n) < true_p, true_p


def test_platt_recovers_a_known_miscalibration() -> None:
    logit, presence, true_p = sample()
    calibration = fit_calibration(logit, presence, "platt")
    assert calibration.parameters["slope"] == pytest.approx(0.5, abs=0.04)
    assert calibration.parameters["intercept"] == pytest.approx(-1.0, abs=0.06)
    calibrated = calibration.apply(logit)
    raw = 1.0 / (1.0 + np.exp(-logit))
    assert metrics.expected_calibration_error(presence, calibrated) < 0.02
    assert metrics.expected_calibration_error(presence, raw) > 0.08
    assert metrics.auc(presence, calibrated) == pytest.approx(metrics.auc(presence, raw))  # monotone
    assert np.abs(calibrated - true_p).max() < 0.05


def test_isotonic_is_monotone_and_round_trips() -> None:
    logit, presence, _ = sample(seed=1)
    calibration = fit_calibration(logit, presence, "isotonic")
    grid = np.linspace(-10, 10, 401)
    values = calibration.apply(grid)
    assert (np.diff(values) >= 0).all() and values.min() >= 0 and values.max() <= 1
    assert metrics.expected_calibration_error(presence, calibration.apply(logit)) < 0.02
    again = Calibration.from_dict(calibration.to_dict())
    np.testing.assert_array_equal(again.apply(grid), values)
    assert np.isnan(calibration.apply(np.array([np.nan]))).all()


def test_calibration_refuses_bad_input() -> None:
    with pytest.raises(InvalidValueError, match="both classes"):
        fit_calibration(np.zeros(5), np.zeros(5), "platt")
    with pytest.raises(ConfigError, match="unknown calibration"):
        fit_calibration(np.zeros(5), np.ones(5), "beta")
    assert fit_calibration(np.zeros(3), np.zeros(3), "none").apply(np.array([0.0]))[0] == 0.5


def test_best_threshold_maximises_f1_like_a_brute_force_search() -> None:
    rng = np.random.default_rng(3)
    presence = rng.random(3000) < 0.2
    probability = np.clip(0.25 * presence + rng.random(3000) * 0.6, 0, 1)
    chosen = best_threshold(presence, probability)
    brute = max(f1_score(presence, probability >= t) for t in np.unique(probability))
    assert f1_score(presence, probability >= chosen) == pytest.approx(brute, abs=2e-3)


def test_hazard_is_probability_times_density() -> None:
    np.testing.assert_allclose(hazard(np.array([0.5, 0.1, np.nan]), np.array([4.0, 10.0, 1.0])),
                               [2.0, 1.0, np.nan])


def plug_in_expected_f1(probability: np.ndarray, threshold: float) -> float:
    """2 Σ_{p≥τ} p / (Σ p + #{p ≥ τ}), one cell at a time."""
    above, count = 0.0, 0
    for value in probability:
        if value >= threshold:
            above += value
            count += 1
    return 2 * above / (float(np.sum(probability)) + count)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expected_f1_threshold_is_the_brute_force_maximum(seed: int) -> None:
    from hazardcore.hazard import expected_f1_threshold

    rng = np.random.default_rng(seed)
    probability = np.round(rng.beta(0.5, 4.0, 300), 3)  # rounded: ties included
    chosen = expected_f1_threshold(probability)
    best = max(plug_in_expected_f1(probability, float(t)) for t in np.unique(probability))
    assert plug_in_expected_f1(probability, chosen) == pytest.approx(best)


def test_expected_f1_threshold_follows_the_base_rate_and_nearly_matches_the_labelled_optimum() -> None:
    """Labels drawn from the probabilities: the label-free threshold's F1 is close to the best F1 with labels."""
    from hazardcore import metrics
    from hazardcore.hazard import expected_f1_threshold

    rng = np.random.default_rng(7)
    thresholds, ratios = [], []
    for scale in (0.02, 0.2, 0.6):  # a dry, a wet and a co-seismic period
        probability = np.clip(scale * rng.beta(1.0, 1.0, 40_000) * 1.5, 0, 1)
        presence = rng.random(40_000) < probability
        chosen = expected_f1_threshold(probability)
        candidates = np.quantile(probability, np.linspace(0, 1, 200))
        best = max(metrics.f1(presence, probability, float(t)) for t in candidates)
        thresholds.append(chosen)
        ratios.append(metrics.f1(presence, probability, chosen) / best)
    assert thresholds[0] < thresholds[1] < thresholds[2]
    assert min(ratios) > 0.85


def test_slice_thresholds_follow_each_slice_or_the_pooled_one() -> None:
    from hazardcore.errors import ConfigError
    from hazardcore.hazard import expected_f1_threshold, slice_thresholds

    rng = np.random.default_rng(3)
    probability = np.stack([rng.beta(4, 4, (10, 10)), rng.beta(0.5, 10, (10, 10)), rng.random((10, 10))])
    decided = np.ones(probability.shape, dtype=bool)
    decided[0, :5] = False  # only the lower half of slice 0 is decided
    decided[2] = False  # nothing decided in slice 2
    per_slice = slice_thresholds(probability, decided)
    assert per_slice[0] == expected_f1_threshold(probability[0, 5:])
    assert per_slice[1] == expected_f1_threshold(probability[1]) and per_slice[1] < per_slice[0]
    assert np.isnan(per_slice[2])
    pooled = slice_thresholds(probability, decided, "validation", 0.42)
    assert pooled[:2].tolist() == [0.42, 0.42] and np.isnan(pooled[2])
    with pytest.raises(ConfigError, match="threshold rule"):
        slice_thresholds(probability, decided, "top_k")

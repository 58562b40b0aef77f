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

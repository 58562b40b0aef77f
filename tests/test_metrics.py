"""Metrics against scikit-learn and scipy on random data (and by hand where cheaper)."""

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from hazardcore import metrics


@pytest.fixture(params=[0, 1, 2])
def data(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(request.param)
    y = rng.random(500) < 0.2
    score = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    score[:50] = np.round(score[:50], 1)  # ties
    return y, score


def test_auc_and_roc_match_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, score = data
    assert metrics.auc(y, score) == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    fpr, tpr, thresholds = metrics.roc_curve(y, score)
    sk_fpr, sk_tpr, sk_thresholds = skm.roc_curve(y, score, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thresholds[1:], sk_thresholds[1:])
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.auc(y, score), abs=1e-12)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_threshold_scores_match_sklearn(data: tuple[np.ndarray, np.ndarray], threshold: float) -> None:
    y, score = data
    predicted = score >= threshold
    assert metrics.f1(y, score, threshold) == pytest.approx(skm.f1_score(y, predicted))
    assert metrics.iou(y, score, threshold) == pytest.approx(skm.jaccard_score(y, predicted))
    tn, fp, fn, tp = skm.confusion_matrix(y, predicted).ravel()
    assert metrics.confusion_counts(y, score, threshold) == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def test_regression_scores_match_scipy(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, score = data
    observed = score * 10 + y
    assert metrics.mae(observed, score) == pytest.approx(skm.mean_absolute_error(observed, score))
    assert metrics.pearson_r(observed, score) == pytest.approx(stats.pearsonr(observed, score)[0])
    np.testing.assert_allclose(metrics.residuals(observed, score), observed - score)


def test_confusion_map_codes() -> None:
    truth = np.array([[0, 1], [1, 0]])
    score = np.array([[0.9, 0.8], [0.1, np.nan]])
    np.testing.assert_array_equal(metrics.confusion_map(truth, score), [[1, 3], [2, -1]])
    assert metrics.CONFUSION_CLASSES[3] == "TP"


def test_calibration_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.15, 0.15, 0.85, 0.95, 0.95])
    table = metrics.calibration_table(y, p, n_bins=2)
    np.testing.assert_array_equal(table["count"], [3, 3])
    np.testing.assert_allclose(table["mean_probability"], [0.35 / 3, 2.75 / 3])
    np.testing.assert_allclose(table["observed_frequency"], [1 / 3, 2 / 3])
    expected = 0.5 * abs(1 / 3 - 0.35 / 3) + 0.5 * abs(2 / 3 - 2.75 / 3)
    assert metrics.expected_calibration_error(y, p, n_bins=2) == pytest.approx(expected)
    sk_true, sk_pred = calibration_curve(y, p, n_bins=2)
    np.testing.assert_allclose(sk_true, table["observed_frequency"])
    np.testing.assert_allclose(sk_pred, table["mean_probability"])


VALIDATION = Path(__file__).resolve().parents[2] / "shared" / "reference" / "validation"


@pytest.mark.integration
@pytest.mark.skipif(not VALIDATION.exists(), reason=f"the study's validation arrays are not at {VALIDATION}")
def test_the_study_validation_arrays_give_its_published_density_scores() -> None:
    """Dahal et al. report density MAE 0.26 %, and over positive cells R 0.92 and MAE 0.24 %."""
    presence = np.load(VALIDATION / "grid2LabelORG.npy")
    observed = np.load(VALIDATION / "Observed_AreaDen.npy")[..., 0]
    predicted = np.load(VALIDATION / "Predicted_AreaDen.npy").reshape(observed.shape)
    positive = presence > 0
    assert np.array_equal(positive, observed > 0)
    assert metrics.mae(observed, predicted) == pytest.approx(0.26, abs=0.005)
    assert metrics.mae(observed[positive], predicted[positive]) == pytest.approx(0.24, abs=0.005)
    assert metrics.pearson_r(observed[positive], predicted[positive]) == pytest.approx(0.92, abs=0.005)


def test_or_nan_turns_undefined_metrics_into_nan_and_passes_defined_ones() -> None:
    assert np.isnan(metrics.or_nan(metrics.auc, [1, 1, 1], [0.2, 0.5, 0.9]))  # one class
    assert np.isnan(metrics.or_nan(metrics.pearson_r, [1.0, 1.0, 1.0], [0.1, 0.2, 0.3]))  # constant
    assert np.isnan(metrics.or_nan(metrics.pearson_r, [1.0], [2.0]))  # too few values
    assert metrics.or_nan(metrics.auc, [0, 1, 1], [0.1, 0.9, 0.4]) == metrics.auc([0, 1, 1], [0.1, 0.9, 0.4]) == 1.0
    with pytest.raises(TypeError):
        metrics.or_nan(metrics.auc, [0, 1])  # only "undefined" is absorbed, not misuse


def test_average_precision_and_brier_skill_against_scikit_learn() -> None:
    from sklearn.metrics import average_precision_score, brier_score_loss

    rng = np.random.default_rng(3)
    probability = rng.random(500)
    presence = rng.random(500) < probability
    assert metrics.average_precision(presence, probability) == pytest.approx(
        average_precision_score(presence, probability))
    base = presence.mean()
    expected = 1 - brier_score_loss(presence, probability) / brier_score_loss(presence, np.full(500, base))
    assert metrics.brier_skill_score(presence, probability) == pytest.approx(expected)
    assert metrics.brier_skill_score(presence, np.full(500, base)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        metrics.brier_skill_score(np.zeros(5, dtype=bool), np.full(5, 0.1))


def test_poisson_binomial_matches_enumerating_every_outcome() -> None:
    import itertools

    from hazardcore.metrics import poisson_binomial_pmf

    p = np.random.default_rng(4).uniform(0, 1, 9)
    brute = np.zeros(10)
    for outcome in itertools.product((0, 1), repeat=9):
        x = np.array(outcome)
        brute[x.sum()] += np.prod(np.where(x == 1, p, 1 - p))
    assert np.allclose(poisson_binomial_pmf(p), brute, atol=1e-14)


def test_count_hit_probability_scores_a_count_against_every_draw_of_the_truth() -> None:
    from hazardcore.metrics import count_hit_probability

    certain = np.r_[np.ones(10), np.zeros(90)]  # exactly 10 positives in every draw
    assert count_hit_probability(13.0, certain) == 1.0 and count_hit_probability(13.5, certain) == 0.0
    large, small = np.full(1000, 0.2), np.full(1000, 0.005)  # 200 and 5 expected positives
    assert count_hit_probability(200.0, large) > 0.999  # the truth's own count almost always hits
    assert 0.3 < count_hit_probability(5.0, small) < 0.7  # ... but not in a slice of a handful
    assert count_hit_probability(400.0, large) < 1e-12

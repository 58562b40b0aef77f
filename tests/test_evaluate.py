"""Evaluation: every source scored on the same test cells, thresholds from validation cells."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hazardcore import metrics
from hazardcore.evaluate import Decision, evaluate_sources, roc_inputs, usable
from hazardcore.hazard import best_threshold, expected_f1_threshold

SHAPE = (3, 10, 12)
LABELS = ["a", "b", "c"]


def world(seed: int = 0) -> tuple[dict, dict, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    truth = rng.beta(1, 4, SHAPE)
    presence = (rng.random(SHAPE) < truth).astype("float32")
    given = rng.gamma(2.0, 1.0, SHAPE)
    density = np.where(presence > 0, given * rng.lognormal(0, 0.3, SHAPE), 0.0)
    noisy = np.clip(truth + rng.normal(0, 0.15, SHAPE), 0, 1)
    sources = {"model": {"probability": noisy, "density": given * 1.2},
               "logistic": {"probability": rng.random(SHAPE), "density": np.full(SHAPE, 2.0)},
               "oracle": {"probability": truth, "density": given}}
    sources["model"]["probability"][0, 0, 0] = np.nan  # a cell the model could not predict
    test = np.zeros(SHAPE, dtype=bool)
    test[:, :5] = True
    test[2] = False  # a slice without test cells
    validation = np.zeros(SHAPE, dtype=bool)
    validation[:, 6:] = True
    return sources, {"presence": presence, "density": density}, test, validation


def test_sources_are_scored_on_the_same_cells_as_the_metrics_functions() -> None:
    sources, observed, test, validation = world()
    result = evaluate_sources(sources, observed, test, validation, LABELS,
                              Decision("validation", fixed={"model": 0.3}))
    cells = usable(sources, test)
    assert result["test_cells"] == cells.sum() == test.sum() - 1
    presence = observed["presence"][cells] > 0
    model_p = sources["model"]["probability"][cells]
    assert result["susceptibility"]["auc"] == pytest.approx(metrics.auc(presence, model_p))
    assert result["susceptibility"]["f1"] == pytest.approx(metrics.f1(presence, model_p, 0.3))
    assert result["susceptibility"]["validation_threshold"] == 0.3
    assert result["decision_thresholds"]["model"] == {"a": 0.3, "b": 0.3}
    expected = model_p * sources["model"]["density"][cells]
    assert result["density"]["mae"] == pytest.approx(metrics.mae(observed["density"][cells], expected))
    given = sources["model"]["density"][cells][presence]
    assert result["density"]["pearson_r_positive"] == pytest.approx(
        metrics.pearson_r(observed["density"][cells][presence], given))
    # other sources: thresholds tuned on validation cells, never on test cells
    oracle_p = sources["oracle"]["probability"][validation]
    oracle_threshold = best_threshold(observed["presence"][validation] > 0, oracle_p)
    assert result["oracle"]["susceptibility"]["validation_threshold"] == pytest.approx(oracle_threshold)
    assert result["oracle"]["susceptibility"]["auc"] > result["susceptibility"]["auc"] > \
        result["baselines"]["logistic"]["susceptibility"]["auc"]
    assert set(result["baselines"]) == {"logistic", "slice_base_rate"}
    assert result["slices"] == ["a", "b"] and [s["slice"] for s in result["per_slice"]] == ["a", "b"]
    per_slice_a = result["per_slice"][0]["susceptibility"]["auc"]
    in_a = cells.copy()
    in_a[1:] = False
    assert per_slice_a == pytest.approx(metrics.auc(observed["presence"][in_a] > 0,
                                                    sources["model"]["probability"][in_a]))


def test_undefined_metrics_are_nan_not_errors() -> None:
    sources, observed, _, validation = world(1)
    observed["presence"][0] = 0.0
    observed["density"][0] = 0.0
    only_a = np.zeros(SHAPE, dtype=bool)
    only_a[0, :5] = True
    result = evaluate_sources(sources, observed, only_a, validation, LABELS)
    assert math.isnan(result["susceptibility"]["auc"]) and math.isnan(result["density"]["pearson_r_positive"])
    assert result["density"]["n_positive"] == 0


def test_roc_inputs_follow_the_order_of_nonzero() -> None:
    sources, observed, test, _ = world(2)
    cells = usable(sources, test)
    scores = roc_inputs(sources, observed, cells)
    np.testing.assert_array_equal(scores["oracle"], sources["oracle"]["probability"][np.nonzero(cells)])
    assert scores["presence"].dtype == bool and len(scores["presence"]) == cells.sum()


def test_hazard_totals_and_truth_scores() -> None:
    """The oracle's hazard is the expectation (ratio near 1); a model 1.2 × too large in density is 1.2 × off."""
    rng = np.random.default_rng(5)
    shape = (2, 60, 60)
    truth_p = rng.beta(1, 3, shape)
    truth_d = rng.gamma(2.0, 1.5, shape)
    presence = (rng.random(shape) < truth_p).astype("float32")
    observed = np.where(presence > 0, rng.gamma(4.0, truth_d / 4.0), 0.0)
    sources = {"model": {"probability": truth_p, "density": truth_d * 1.2},
               "oracle": {"probability": truth_p, "density": truth_d}}
    test = np.ones(shape, dtype=bool)
    result = evaluate_sources(sources, {"presence": presence, "density": observed}, test, test, ["a", "b"])
    oracle, model = result["oracle"]["density"], result["density"]
    assert oracle["hazard_total_ratio"] == pytest.approx(1.0, abs=0.05)
    assert model["hazard_total_ratio"] == pytest.approx(1.2 * oracle["hazard_total_ratio"], rel=1e-6)
    assert model["mean_ratio_positive"] == pytest.approx(1.2 * oracle["mean_ratio_positive"], rel=1e-6)
    assert model["r_density_vs_truth"] == pytest.approx(1.0) and model["r_logit_vs_truth"] == pytest.approx(1.0)
    assert model["positive_below_0.05"] == pytest.approx(np.mean(1.2 * truth_d[presence > 0] < 0.05))
    totals = result["totals_per_slice"]["model"]["b"]
    assert totals["predicted"] == pytest.approx(float((truth_p[1] * truth_d[1] * 1.2).sum()), rel=1e-6)
    assert totals["observed"] == pytest.approx(float(observed[1].sum()), rel=1e-6)
    assert model["hazard_total_ratio_per_slice"]["b"] == pytest.approx(totals["predicted"] / totals["observed"])


def test_within_slice_scores_and_the_base_rate_reference() -> None:
    """Two slices with tenfold base rates: pooled AUC rewards knowing the period, within-slice AUC does not."""
    rng = np.random.default_rng(11)
    shape = (2, 50, 60)
    rate = np.array([0.5, 0.05])[:, None, None] * np.ones(shape)
    terrain = rng.random(shape[1:])
    truth = np.clip(rate * (0.4 + 1.2 * terrain), 0, 1)
    presence = (rng.random(shape) < truth).astype("float32")
    density = np.where(presence > 0, 2.0, 0.0)
    sources = {"model": {"probability": truth, "density": np.full(shape, 2.0)}}
    cells = np.ones(shape, dtype=bool)
    result = evaluate_sources(sources, {"presence": presence, "density": density}, cells, cells, ["co", "dry"])
    base = result["baselines"]["slice_base_rate"]
    assert base["susceptibility"]["auc"] > 0.75  # pooled: the period alone ranks well
    assert base["within_slices"]["positive_weighted"]["auc"] == pytest.approx(0.5)
    assert base["within_slices"]["positive_weighted"]["brier_skill"] == pytest.approx(0.0, abs=1e-9)
    model = result["within_slices"]
    assert model["positive_weighted"]["auc"] > 0.6 and model["positive_weighted"]["brier_skill"] > 0
    dry = model["per_slice"]["dry"]
    assert dry["f1"] > 0 and dry["threshold"] < model["per_slice"]["co"]["threshold"]
    assert dry["positive_cells_observed"] == int(presence[1].sum())
    assert dry["positive_cells_predicted"] == pytest.approx(float(truth[1].sum()))
    assert dry["area_observed"] == pytest.approx(float(density[1].sum()))


def test_per_slice_thresholds_are_each_slices_own_and_used_for_f1() -> None:
    """Expected-F1 rule: each slice's threshold comes from its own probabilities over the decided cells."""
    sources, observed, test, validation = world(3)
    decided = np.isfinite(sources["model"]["probability"])
    result = evaluate_sources(sources, observed, test, validation, LABELS, Decision("expected_f1", decided))
    cells = usable(sources, test)
    for k, label in enumerate(["a", "b"]):
        for name, source in (("model", sources["model"]), ("oracle", sources["oracle"])):
            p = source["probability"][k]
            expected = expected_f1_threshold(p[decided[k] & np.isfinite(p)])
            assert result["decision_thresholds"][name][label] == pytest.approx(expected)
    tau = np.array([result["decision_thresholds"]["model"][label] for label in ["a", "b"]] + [np.nan])
    per_cell = np.broadcast_to(tau[:, None, None], SHAPE)[cells]
    presence = observed["presence"][cells] > 0
    decided_positive = sources["model"]["probability"][cells] >= per_cell
    assert result["susceptibility"]["f1"] == pytest.approx(metrics.f1(presence, decided_positive.astype(float)))
    assert result["susceptibility"]["threshold_rule"] == "expected_f1"
    in_b = result["within_slices"]["per_slice"]["b"]
    assert in_b["threshold"] == result["decision_thresholds"]["model"]["b"]
    assert in_b["predicted_positive_cells"] == int((sources["model"]["probability"][1][cells[1]] >= tau[1]).sum())

"""Decisions per period on a small region (issue: when): every slice with landslides gets some right.

A 24 × 24 km synthetic region (seed 11, 8 slices: base rates from 0.4 % to 58 %), the demo's
network made narrower and trained briefly on the spatial split. One threshold tuned on
pooled validation cells (the co-seismic slice dominates them) predicts no positive cell in
most rain slices; each slice's own label-free threshold must give F1 > 0 in every test
slice with at least 10 positive cells.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hazardcore import metrics as scoring
from hazardcore.config import demo_configs

MIN_POSITIVES = 10


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hazardcore.pipeline import evaluate_run
    from hazardcore.prepare import prepare
    from hazardcore.synthetic import synthesize
    from hazardcore.train import open_run, train

    root = tmp_path_factory.mktemp("when")
    report = synthesize(root / "region", seed=11, size_km=24)
    prepare(report.catalog_path, root / "work")
    model, config = demo_configs()
    model.param.update(encoder_depth=3, decoder_channels=[16, 8, 4], density_conv_channels=8,
                       density_hidden=[64, 32, 16])
    config.param.update(max_epochs_susceptibility=8, max_epochs_density=20, patience_density=5, device="cpu",
                        num_threads=2)
    train(root / "work", model, config)
    run = open_run(root / "work", model, config, resume=True, write=False).folder
    evaluate_run(root / "work", run)
    return run


def test_each_slice_with_landslides_gets_a_decision(evaluated: Path) -> None:
    from hazardcore.export import open_predictions

    metrics = json.loads((evaluated / "metrics.json").read_text(encoding="utf-8"))
    predictions = open_predictions(evaluated / "predictions.nc")
    test = predictions["test"].values.astype(bool)
    per_slice = metrics["within_slices"]["per_slice"]
    scored = [label for label, s in per_slice.items() if s["positive_cells_observed"] >= MIN_POSITIVES]
    assert len(scored) >= 4
    pooled_zero = 0
    labels = list(predictions["slice"].values)
    for label in scored:
        k = labels.index(label)
        presence = predictions["presence"].values[k][test[k]] > 0
        probability = predictions["susceptibility"].values[k][test[k]]
        tau = float(predictions["decision_threshold"].values[k])
        assert per_slice[label]["threshold"] == pytest.approx(tau)
        assert per_slice[label]["f1"] == pytest.approx(scoring.f1(presence, probability, tau))
        assert per_slice[label]["f1"] > 0
        pooled_zero += scoring.f1(presence, probability, metrics["thresholds"]["model"]) == 0
    assert pooled_zero >= 2  # the bar the one pooled threshold misses
    thresholds = predictions["decision_threshold"].values
    base_rates = np.nanmean(predictions["presence"].values, axis=(1, 2))
    assert np.corrcoef(thresholds, base_rates)[0, 1] > 0.8  # thresholds follow the period's base rate

"""The evaluation issue's bar, checked on the embedded default region (slow: the whole demo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hazardcore.pipeline import demo


@pytest.mark.slow
def test_demo_run_is_near_the_oracle_and_beats_the_baselines(tmp_path: Path) -> None:
    result = demo(tmp_path / "demo", seed=42)
    metrics = result.evaluation.metrics
    model_auc = metrics["susceptibility"]["auc"]
    assert metrics["split"] == "spatial" and metrics["leaked_fraction"] == 0.0
    assert model_auc >= metrics["oracle"]["susceptibility"]["auc"] - 0.03
    assert all(model_auc > baseline["susceptibility"]["auc"] for baseline in metrics["baselines"].values())
    r_positive = metrics["density"]["pearson_r_positive"]
    assert r_positive >= 0.6 * metrics["oracle"]["density"]["pearson_r_positive"]
    assert result.evaluation.report.exists() and (result.run / "products" / "hazard.tif").exists()

"""The typed evaluation result: its JSON round trip, its sources and its columns."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hazardcore.errors import HazardcoreError
from hazardcore.evaluate import evaluate_sources
from hazardcore.result import (
    DENSITY_COLUMNS,
    SUSCEPTIBILITY_COLUMNS,
    from_json,
    read_metrics,
    sources_of,
    to_json,
)


def small_result() -> dict:  # type: ignore[type-arg]
    rng = np.random.default_rng(3)
    shape = (2, 6, 6)
    presence = (rng.random(shape) < 0.3).astype("float64")
    observed = {"presence": presence, "density": presence * rng.uniform(0.5, 4.0, shape)}
    model = {"probability": np.clip(presence * 0.6 + rng.random(shape) * 0.4, 0, 1), "density": np.full(shape, 2.0)}
    flat = {"probability": np.full(shape, 0.3), "density": np.full(shape, 2.0)}
    test = np.zeros(shape, dtype=bool)
    test[:, :, 3:] = True
    return dict(evaluate_sources({"model": model, "flat": flat}, observed, test, ~test, ["a", "b"]))


def test_the_result_survives_json_with_its_nans(tmp_path: Path) -> None:
    result = small_result()
    (tmp_path / "metrics.json").write_text(to_json(result))  # type: ignore[arg-type]
    back = read_metrics(tmp_path / "metrics.json")
    assert back["test_cells"] == 36 and back["slices"] == ["a", "b"]
    assert back["susceptibility"]["auc"] == pytest.approx(result["susceptibility"]["auc"])
    assert math.isnan(back["baselines"]["flat"]["susceptibility"]["auc"]) is math.isnan(
        result["baselines"]["flat"]["susceptibility"]["auc"])


def test_sources_are_the_model_then_baselines_then_the_oracle() -> None:
    result = small_result()
    sources = sources_of(result)  # type: ignore[arg-type]
    assert list(sources) == ["model", "flat", "slice_base_rate"]
    assert sources["model"]["density"]["mae"] == result["density"]["mae"]
    assert set(SUSCEPTIBILITY_COLUMNS) <= set(result["susceptibility"])
    assert set(DENSITY_COLUMNS) - {"r_density_vs_truth", "r_logit_vs_truth"} <= set(result["density"])


def test_a_file_that_is_not_an_evaluation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HazardcoreError, match="not JSON"):
        from_json("{", tmp_path / "metrics.json")
    with pytest.raises(HazardcoreError, match=r"lacks keys of an evaluation") as caught:
        from_json('{"susceptibility": {}}', tmp_path / "metrics.json")
    assert "density" in str(caught.value) and "hazard evaluate" in str(caught.value)

"""Leave-one-slice-out: one evaluated run per held-out slice and a table of them (issue: when)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import xarray as xr

from hazardcore.cli import held_out_slice_argument, main
from hazardcore.folds import RESULT_NAME, leave_one_slice_out, summary


@pytest.fixture(scope="module")
def folds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    from conftest import tiny_run_configs

    from hazardcore.prepare import prepare
    from hazardcore.synthetic import synthesize

    root = tmp_path_factory.mktemp("folds")
    report = synthesize(root / "region", seed=5, size_km=16, n_slices=3)
    prepare(report.catalog_path, root / "work")
    model, config = tiny_run_configs()
    config.param.update(validation_slice_count=1, max_epochs_susceptibility=1)
    return root / "work", leave_one_slice_out(root / "work", model, config)


def test_every_slice_is_held_out_once_with_its_own_run(folds: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    workdir, result = folds
    assert [row["slice"] for row in result["rows"]] == ["2015-co", "2015-post", "2016-pre"]
    assert len({row["run_id"] for row in result["rows"]}) == 3
    written = json.loads((workdir / RESULT_NAME).read_text(encoding="utf-8"))
    assert written["rows"] == json.loads(json.dumps(result["rows"]))
    for k, row in enumerate(result["rows"]):
        metrics = json.loads((workdir / "runs" / row["run_id"] / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["split"] == "temporal" and metrics["slices"] == [row["slice"]]
        assert metrics["split_config"]["test_slice"] == k
        scores = metrics["within_slices"]["per_slice"][row["slice"]]
        assert row["auc"] == scores["auc"] and row["positive_cells_observed"] == scores["positive_cells_observed"]
        expected = scores["positive_cells_predicted"] / scores["positive_cells_observed"]
        assert row["count_ratio"] == pytest.approx(expected)
        assert row["oracle_auc"] == metrics["oracle"]["within_slices"]["per_slice"][row["slice"]]["auc"]
    with xr.open_dataset(workdir / "runs" / result["rows"][0]["run_id"] / "predictions.nc") as predictions:
        outside = json.loads(predictions.attrs["extrapolation"])  # 2015-co held out: no earthquake in training
    assert outside["2015-co"]["earthquake_in_slice"]["cells_outside"] == 1.0


def test_hit_probabilities_score_each_count_against_the_truths_draws(folds: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    _, result = folds
    rows, out = result["rows"], result["summary"]
    assert all(0.0 <= row[key] <= 1.0 for row in rows for key in ("count_hit_probability",
                                                                  "oracle_count_hit_probability"))
    assert rows[0]["oracle_positive_cells_predicted"] > 50 and rows[0]["oracle_count_hit_probability"] > 0.95
    assert out["expected_count_hits"] == pytest.approx(sum(row["count_hit_probability"] for row in rows))
    assert out["oracle_expected_count_hits"] > out["expected_count_hits"]  # a 1-epoch model counts worse


def test_rerun_reuses_finished_folds(folds: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    from conftest import tiny_run_configs

    workdir, result = folds
    model, config = tiny_run_configs()
    config.param.update(validation_slice_count=1, max_epochs_susceptibility=1)
    models = {row["run_id"]: (workdir / "runs" / row["run_id"] / "model.pt").stat().st_mtime_ns
              for row in result["rows"]}
    again = leave_one_slice_out(workdir, model, config)
    assert [row["auc"] for row in again["rows"]] == [row["auc"] for row in result["rows"]]
    assert {run: (workdir / "runs" / run / "model.pt").stat().st_mtime_ns for run in models} == models


def test_summary_counts_folds_within_thirty_percent() -> None:
    rows = [{"count_ratio": r, "positive_cells_observed": n, "auc": a, "brier_skill": 0.1, "f1": 0.5, "ece": 0.02}
            for r, n, a in ((1.0, 10, 0.8), (1.29, 30, 0.6), (0.69, 20, 0.7), (math.nan, 0, math.nan))]
    out = summary(rows)
    assert out["count_within_30_percent"] == 2 and out["folds"] == 4
    assert out["positive_weighted"]["auc"] == pytest.approx((10 * 0.8 + 30 * 0.6 + 20 * 0.7) / 60)


def test_test_slice_all_needs_the_temporal_split(tiny_workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert held_out_slice_argument("all") == "all" and held_out_slice_argument("-2") == -2
    assert main(["train", str(tiny_workdir), "--split", "spatial", "--test-slice", "all", "--quiet"]) == 2
    assert "--split temporal" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(tiny_workdir), "--test-slice", "last"])

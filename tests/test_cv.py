"""Cross-validation's pooling and block-bootstrap intervals (issue: trust)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hazardcore import metrics as scoring
from hazardcore.config import TrainConfig
from hazardcore.cv import (
    RESULT_NAME,
    TABLE_NAME,
    Pool,
    cross_validate,
    cv_table,
    fold_configs,
    pooled,
    source_scores,
    summarise,
    verdicts,
)
from hazardcore.errors import ConfigError

N_BLOCKS, CELLS_PER_BLOCK = 24, 40


def correlated_pool(seed: int, block_sd: float = 1.0, per_cell_blocks: bool = False) -> Pool:
    """Cells in blocks sharing a random effect on the log-odds and on the density (as real inventories do).

    ``model`` sees the cell's own driver, ``noisy`` the same plus noise, ``same`` is ``model``
    again; nobody sees the block effect.
    """
    rng = np.random.default_rng(seed)
    block = np.repeat(np.arange(N_BLOCKS), CELLS_PER_BLOCK)
    driver = rng.normal(size=block.size)
    effect = rng.normal(0.0, block_sd, N_BLOCKS)[block]
    probability = 1 / (1 + np.exp(-(driver - 1.0)))
    presence = rng.random(block.size) < 1 / (1 + np.exp(-(driver - 1.0 + effect)))
    observed = np.where(presence, np.exp(1.0 + 0.8 * effect + rng.normal(0, 0.3, block.size)), 0.0)
    noisy = 1 / (1 + np.exp(-(driver + rng.normal(0, 1.0, block.size) - 1.0)))
    density = np.full(block.size, float(np.exp(1.0 + 0.5 * 0.8**2 + 0.045)))

    def source(p: np.ndarray) -> dict[str, np.ndarray]:
        return {"probability": p, "density": density, "threshold": np.full(block.size, 0.3)}

    return Pool(np.zeros(block.size, dtype=int), np.arange(block.size) if per_cell_blocks else block, presence,
                observed, {"model": source(probability), "noisy": source(noisy), "same": source(probability)})


def test_fold_configs_cover_every_fold_and_seed() -> None:
    configs = fold_configs(TrainConfig(seed=9, test_slice=3), "spatial", 4, [0, 1, 2], n_slices=8)
    assert [(c.seed, c.cv_fold, c.cv_folds, c.split) for c in configs[:5]] == [
        (0, 0, 4, "spatial"), (0, 1, 4, "spatial"), (0, 2, 4, "spatial"), (0, 3, 4, "spatial"), (1, 0, 4, "spatial")]
    assert len(configs) == 12
    temporal = fold_configs(TrainConfig(), "temporal", 4, [5], n_slices=8)
    assert [c.test_slice for c in temporal] == list(range(8)) and {c.seed for c in temporal} == {5}
    with pytest.raises(ConfigError, match="protocol"):
        fold_configs(TrainConfig(), "random", 4, [0], 8)
    with pytest.raises(ConfigError, match="at least 2 folds"):
        fold_configs(TrainConfig(), "spatial", 1, [0], 8)


def test_point_estimates_are_the_pooled_scores_averaged_over_seeds() -> None:
    pools = [correlated_pool(1), correlated_pool(2)]
    result = summarise(pools, replicates=50)
    expected = np.mean([scoring.auc(pool.presence, pool.sources["noisy"]["probability"]) for pool in pools])
    assert result["sources"]["noisy"]["auc"]["mean"] == pytest.approx(expected)
    ratio = np.mean([pool.sources["model"]["probability"].dot(pool.sources["model"]["density"])
                     / pool.observed.sum() for pool in pools])
    assert result["sources"]["model"]["hazard_total_ratio"]["mean"] == pytest.approx(ratio)
    halves = pooled([pools[0].take(np.arange(0, 400)), pools[0].take(np.arange(400, 960))])
    whole = source_scores(pools[0], "model")
    np.testing.assert_allclose(list(source_scores(halves, "model").values()), list(whole.values()))


def test_paired_differences_of_identical_sources_are_exactly_zero() -> None:
    result = summarise([correlated_pool(3)], replicates=100)
    same = result["differences"]["model - same"]
    assert all(entry["mean"] == entry["low"] == entry["high"] == 0.0 for entry in same.values()
               if np.isfinite(entry["mean"]))


def test_a_better_source_wins_inside_its_interval_and_pairing_narrows_it() -> None:
    result = summarise([correlated_pool(4), correlated_pool(5)], replicates=200)
    difference = result["differences"]["model - noisy"]["auc"]
    assert difference["low"] > 0.0  # the noiseless ranking is better, and the interval says so
    separate = result["sources"]["model"]["auc"]["half_width"] + result["sources"]["noisy"]["auc"]["half_width"]
    assert difference["half_width"] < 0.6 * separate  # paired draws: the shared block effects cancel


def test_block_bootstrap_sees_the_spatial_correlation_a_cell_bootstrap_misses() -> None:
    """Blocks share an unseen effect: resampling cells would claim a false precision."""
    blocks = summarise([correlated_pool(6)], replicates=200)["sources"]["model"]["hazard_total_ratio"]
    cells = summarise([correlated_pool(6, per_cell_blocks=True)], replicates=200)["sources"]["model"]
    assert blocks["half_width"] > 1.8 * cells["hazard_total_ratio"]["half_width"]
    assert blocks["low"] < blocks["mean"] < blocks["high"]


@pytest.fixture(scope="module")
def small_cv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """Two spatial folds of a 16 km region (3 slices), tiny model: the mechanics, not the skill."""
    from conftest import tiny_run_configs

    from hazardcore.prepare import prepare
    from hazardcore.synthetic import synthesize

    root = tmp_path_factory.mktemp("cv")
    report = synthesize(root / "region", seed=5, size_km=16, n_slices=3)
    prepare(report.catalog_path, root / "work")
    model, config = tiny_run_configs()
    config.param.update(split_block_patches=1, max_epochs_susceptibility=1)
    return root / "work", cross_validate(root / "work", model, config, folds=2, seeds=[0], replicates=40)


def test_every_valid_cell_is_tested_once_and_the_files_say_so(small_cv: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    from hazardcore.cube import PreparedCube

    workdir, result = small_cv
    cube = PreparedCube.open(workdir)
    assert [r["status"] for r in result["runs"]] == ["finished", "finished"] and result["failed_folds"] == 0
    assert result["pooled_cells"] == [int(cube.valid.astype(bool).sum())]  # each valid cell-slice once
    assert set(result["sources"]) >= {"model", "logistic", "gbm", "hurdle", "slice_base_rate", "oracle"}
    assert "model - oracle" in result["differences"] and "model - model" not in result["differences"]
    written = json.loads((workdir / RESULT_NAME).read_text(encoding="utf-8"))
    assert written["sources"]["model"]["auc"] == pytest.approx(result["sources"]["model"]["auc"])
    table = (workdir / TABLE_NAME).read_text(encoding="utf-8")
    assert table == cv_table(result) and "| model - gbm |" in table
    for run in result["runs"]:
        metrics = json.loads((workdir / "runs" / run["run_id"] / "metrics.json").read_text(encoding="utf-8"))
        assert metrics["split_config"]["cv_folds"] == 2 and metrics["split_config"]["cv_fold"] == run["fold"]


def test_rerun_reuses_folds_and_a_broken_fold_is_recorded(small_cv: tuple[Path, dict],  # type: ignore[type-arg]
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import tiny_run_configs

    from hazardcore.cli import main

    workdir, result = small_cv
    model, config = tiny_run_configs()
    config.param.update(split_block_patches=1, max_epochs_susceptibility=1)
    settings = [f"--set={key}={json.dumps(value)}" for configured in (model, config)
                for key, value in configured.to_dict().items() if value != type(configured)().to_dict()[key]]
    models = {r["run_id"]: (workdir / "runs" / r["run_id"] / "model.pt").stat().st_mtime_ns for r in result["runs"]}
    scores = workdir / "runs" / result["runs"][1]["run_id"] / "scores.nc"
    scores.write_bytes(scores.read_bytes()[:-64])  # truncated behind the checksum's back
    code = main(["cv", str(workdir), "--folds", "2", "--seeds", "1", "--bootstrap", "20", "--quiet", "--device", "cpu",
                 *settings])
    assert {r["run_id"]: (workdir / "runs" / r["run_id"] / "model.pt").stat().st_mtime_ns
            for r in result["runs"]} == models
    assert code == 1
    again = json.loads((workdir / RESULT_NAME).read_text(encoding="utf-8"))
    assert again["failed_folds"] == 1 and "IntegrityError" in again["runs"][1]["error"]
    assert "(1 failed)" in capsys.readouterr().out


def test_verdicts_read_the_paired_intervals() -> None:
    def entry(low: float, high: float) -> dict[str, float]:
        return {"mean": (low + high) / 2, "low": low, "high": high, "half_width": (high - low) / 2}

    neutral = {key: entry(-1.0, 1.0) for key in ("auc", "auc_within_slices", "f1", "ece", "pearson_r",
                                                  "pearson_r_positive", "hazard_total_ratio", "mae")}
    result = {"differences": {"model - gbm": neutral | {"auc": entry(0.001, 0.01), "f1": entry(-0.03, -0.001),
                                                         "ece": entry(-0.02, -0.01)},
                              "model - oracle": neutral | {"ece": entry(0.01, 0.02)}}}
    out = verdicts(result)
    assert out["gbm"] == {"beats": ["auc", "ece"], "ties": ["auc_within_slices", "pearson_r", "pearson_r_positive"],
                          "loses": ["f1"]}
    assert out["oracle"]["loses"] == ["ece"]  # a higher calibration error is worse


def test_folds_trained_two_at_a_time_are_the_same_runs_with_the_same_scores(
        small_cv: tuple[Path, dict], tmp_path: Path) -> None:  # type: ignore[type-arg]
    import shutil

    from conftest import tiny_run_configs

    workdir, result = small_cv
    fresh = tmp_path / "work"
    shutil.copytree(workdir, fresh, ignore=lambda folder, names: [n for n in names if n in ("runs", RESULT_NAME,
                                                                                              TABLE_NAME)])
    model, config = tiny_run_configs()
    config.param.update(split_block_patches=1, max_epochs_susceptibility=1, num_threads=2)
    parallel = cross_validate(fresh, model, config, folds=2, seeds=[0], replicates=40, jobs=2)
    assert [r["run_id"] for r in parallel["runs"]] == [r["run_id"] for r in result["runs"]]
    assert parallel["jobs"] == 2 and parallel["failed_folds"] == 0
    for name in ("model", "gbm", "oracle"):
        for key in ("auc", "hazard_total_ratio", "pearson_r_positive"):
            assert parallel["sources"][name][key]["mean"] == pytest.approx(result["sources"][name][key]["mean"],
                                                                           abs=2e-3), (name, key)
    configs = json.loads((fresh / "runs" / parallel["runs"][0]["run_id"] / "config.json").read_text())
    assert configs["train"]["num_threads"] == 1  # the two jobs share the 2 threads

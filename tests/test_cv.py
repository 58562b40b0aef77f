"""Cross-validation's pooling and block-bootstrap intervals (issue: trust)."""

from __future__ import annotations

import numpy as np
import pytest

from hazardcore import metrics as hm
from hazardcore.config import TrainConfig
from hazardcore.cv import Pool, fold_configs, pooled, source_scores, summarise
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
    expected = np.mean([hm.auc(pool.presence, pool.sources["noisy"]["probability"]) for pool in pools])
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

"""Splits: the leakage each protocol promises (none, or measured)."""

import numpy as np
import pytest

from hazardcore.errors import ConfigError
from hazardcore.patches import patch_windows
from hazardcore.splits import forward_split, leaked_fraction, random_split, spatial_split, temporal_split

ROWS, COLS, N_SLICES = 32, 32, 4
WINDOWS = patch_windows(ROWS, COLS)
SAMPLES = np.array([(s, w) for s in range(N_SLICES) for w in range(len(WINDOWS))])


def covered_cells(windows: np.ndarray) -> np.ndarray:
    grid = np.zeros((ROWS, COLS), dtype=bool)
    for _, row, col in windows:
        grid[row:row + 4, col:col + 4] = True
    return grid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spatial_split_never_shows_validation_pixels_to_training(seed: int) -> None:
    split = spatial_split(WINDOWS, ROWS, COLS, block_patches=2, validation_fraction=0.25, seed=seed)
    assert split.validation_cells is not None and split.train_windows is not None
    train_cells = covered_cells(WINDOWS[split.train_windows])
    assert not (train_cells & split.validation_cells).any()
    assert split.validation_cells.sum() == 4 * 64  # 4 of 16 blocks of 8 x 8 cells
    assert leaked_fraction(split, SAMPLES, WINDOWS, (ROWS, COLS)) == 0.0
    # shifted windows straddling a block border are dropped, not given to either side
    assert len(split.train_windows) + len(split.validation_windows) < len(WINDOWS)


def test_random_split_leaks_and_the_leak_is_measured() -> None:
    split = random_split(WINDOWS, validation_fraction=0.25, seed=0)
    assert split.validation_windows is not None and (WINDOWS[split.validation_windows, 0] == 0).all()
    leak = leaked_fraction(split, SAMPLES, WINDOWS, (ROWS, COLS))
    assert 0.5 < leak <= 1.0  # shifted training windows cover most validation cells


def test_temporal_splits_keep_test_slices_out_of_training() -> None:
    loo = temporal_split(N_SLICES, [2])
    assert set(loo.samples(SAMPLES, "validation")[:, 0]) == {2}
    assert 2 not in set(loo.samples(SAMPLES, "train")[:, 0])
    assert leaked_fraction(loo, SAMPLES, WINDOWS, (ROWS, COLS)) == 0.0
    forward = forward_split(N_SLICES, 3)
    assert set(forward.samples(SAMPLES, "train")[:, 0]) == {0, 1, 2}
    assert set(forward.samples(SAMPLES, "validation")[:, 0]) == {3}
    with pytest.raises(ConfigError, match="both sides"):
        temporal_split(N_SLICES, [0, 1, 2, 3])

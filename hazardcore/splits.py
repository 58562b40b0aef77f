"""Train/validation splits of patch windows without leakage.

``spatial_split`` holds out square blocks of the base patch lattice. A window (base or
shifted) belongs to a side only when every one of its cells lies on that side; shifted
windows that straddle a block border are dropped, so no validation cell's pixels appear in
any training patch. Validation uses base windows only, so each validation cell is scored
exactly once per slice. (The evaluation issue adds the random and temporal protocols.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hazardcore.errors import ConfigError, describe
from hazardcore.patches import window_cells


@dataclass(frozen=True)
class Split:
    """Window indices per side and the cells each side owns."""

    train_windows: np.ndarray
    validation_windows: np.ndarray
    validation_cells: np.ndarray  # (rows, cols) bool

    def samples(self, samples: np.ndarray, side: str) -> np.ndarray:
        """Keep the (slice, window) pairs of one side ("train" or "validation")."""
        windows = self.train_windows if side == "train" else self.validation_windows
        return samples[np.isin(samples[:, 1], windows)]


def block_labels(n_rows: int, n_cols: int, block_cells: int) -> np.ndarray:
    """Block index of every cell for square blocks of ``block_cells``."""
    rows = np.arange(n_rows)[:, None] // block_cells
    cols = np.arange(n_cols)[None, :] // block_cells
    n_block_cols = -(-n_cols // block_cells)
    return (rows * n_block_cols + cols).astype("int64")


def spatial_split(windows: np.ndarray, n_rows: int, n_cols: int, patch_cells: int = 4,
                  block_patches: int = 2, validation_fraction: float = 0.25, seed: int = 0) -> Split:
    """Hold out random blocks of ``block_patches`` × ``block_patches`` base patches.

    Parameters
    ----------
    windows
        (n, 3) windows (lattice, row, col) from :func:`hazardcore.patches.patch_windows`.
    n_rows, n_cols
        Grid shape in cells.
    patch_cells
        Window edge in cells.
    block_patches
        Block edge in base patches (blocks align with the base lattice).
    validation_fraction
        Share of blocks held out (at least one block on each side).
    seed
        Seed of the block draw.

    Returns
    -------
    Split

    Raises
    ------
    ConfigError
        If the grid holds fewer than two blocks.
    """
    labels = block_labels(n_rows, n_cols, block_patches * patch_cells)
    n_blocks = int(labels.max()) + 1
    if n_blocks < 2:
        raise ConfigError(describe("the spatial split needs at least two blocks",
                                   expected="block_patches * patch_cells smaller than the grid",
                                   found=f"{n_blocks} block on a {n_rows} x {n_cols} grid",
                                   fix="lower split_block_patches"))
    n_val = min(n_blocks - 1, max(1, round(validation_fraction * n_blocks)))
    held_out = np.random.default_rng(seed).choice(n_blocks, size=n_val, replace=False)
    validation_cells = np.isin(labels, held_out)
    in_validation = window_cells(validation_cells, windows, patch_cells).reshape(len(windows), -1)
    all_validation = in_validation.all(axis=1)
    no_validation = ~in_validation.any(axis=1)
    base = windows[:, 0] == 0
    return Split(train_windows=np.flatnonzero(no_validation),
                 validation_windows=np.flatnonzero(all_validation & base),
                 validation_cells=validation_cells)

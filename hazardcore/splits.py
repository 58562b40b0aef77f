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
    """Which (slice, window) samples each side owns.

    ``None`` for windows or slices means "all of them". Validation uses base windows only
    in the spatial and random protocols, so each validation cell is scored once per slice.
    """

    train_windows: np.ndarray | None
    validation_windows: np.ndarray | None
    validation_cells: np.ndarray | None = None  # (rows, cols) bool, spatial protocols
    train_slices: np.ndarray | None = None
    validation_slices: np.ndarray | None = None

    def samples(self, samples: np.ndarray, side: str) -> np.ndarray:
        """Keep the (slice, window) pairs of one side ("train" or "validation")."""
        windows = self.train_windows if side == "train" else self.validation_windows
        slices = self.train_slices if side == "train" else self.validation_slices
        keep = np.ones(len(samples), dtype=bool)
        if windows is not None:
            keep &= np.isin(samples[:, 1], windows)
        if slices is not None:
            keep &= np.isin(samples[:, 0], slices)
        return samples[keep]


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


def random_split(windows: np.ndarray, validation_fraction: float = 0.25, seed: int = 0) -> Split:
    """The original study's protocol: windows of both lattices drawn at random.

    Validation takes base windows only; training takes every other window, so shifted
    training windows overlap validation cells (the leak :func:`leaked_fraction` measures).
    """
    base = np.flatnonzero(windows[:, 0] == 0)
    n_val = max(1, round(validation_fraction * len(base)))
    validation = np.sort(np.random.default_rng(seed).choice(base, size=n_val, replace=False))
    return Split(train_windows=np.setdiff1d(np.arange(len(windows)), validation), validation_windows=validation)


def temporal_split(n_slices: int, validation_slices: list[int]) -> Split:
    """Hold out whole slices: leave-one-out (``[k]``) or forward (``range(k, n)``).

    Raises
    ------
    ConfigError
        If no slice is left for one of the sides or an index is out of range.
    """
    held_out = np.asarray(sorted(set(validation_slices)), dtype="int64")
    if held_out.size == 0 or held_out.size >= n_slices or held_out.min() < 0 or held_out.max() >= n_slices:
        raise ConfigError(describe("temporal split needs slices on both sides",
                                   expected=f"indices in 0..{n_slices - 1}", found=validation_slices))
    return Split(train_windows=None, validation_windows=None,
                 train_slices=np.setdiff1d(np.arange(n_slices), held_out), validation_slices=held_out)


def forward_split(n_slices: int, first_validation_slice: int) -> Split:
    """Train on slices before ``first_validation_slice``, validate on it and the later ones."""
    return temporal_split(n_slices, list(range(first_validation_slice, n_slices)))


def leaked_fraction(split: Split, samples: np.ndarray, windows: np.ndarray, shape: tuple[int, int],
                    patch_cells: int = 4) -> float:
    """Share of validation cell-slices whose cells also lie inside a training patch of that slice."""
    n_slices = int(samples[:, 0].max()) + 1
    seen = np.zeros((n_slices, *shape), dtype=bool)
    scored = np.zeros_like(seen)
    offsets = np.arange(patch_cells)
    for side, grid in (("train", seen), ("validation", scored)):
        for slice_index, window in split.samples(samples, side):
            _, row, col = windows[window]
            grid[slice_index, row + offsets[:, None], col + offsets[None, :]] = True
    return float((seen & scored).sum() / max(scored.sum(), 1))

"""4 × 4-cell patch windows on the base lattice and on the lattice shifted by 2 cells.

A window is three integers: lattice (0 base, 1 shifted), top row and left column in cells.
Windows only index into the stored predictor cube; no patch is ever materialised here.
"""

from __future__ import annotations

import numpy as np

LATTICES = ("base", "shifted")


def lattice_windows(n_rows: int, n_cols: int, patch_cells: int, offset_cells: int) -> np.ndarray:
    """Top-left cells of all whole windows of a lattice starting at ``offset_cells``.

    Returns
    -------
    numpy.ndarray
        (n, 2) int32 array of (row, col), row-major.
    """
    rows = np.arange(offset_cells, n_rows - patch_cells + 1, patch_cells)
    cols = np.arange(offset_cells, n_cols - patch_cells + 1, patch_cells)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return np.stack([rr.ravel(), cc.ravel()], axis=1).astype("int32")


def patch_windows(n_rows: int, n_cols: int, patch_cells: int = 4, shift_cells: int = 2) -> np.ndarray:
    """All windows of the base and shifted lattices.

    Parameters
    ----------
    n_rows, n_cols
        Grid shape in cells.
    patch_cells
        Window edge in cells (4 ⇒ 128 × 128 px at 32 px per cell).
    shift_cells
        Offset of the second lattice, east and south, in cells.

    Returns
    -------
    numpy.ndarray
        (n, 3) int32 array of (lattice, row, col); base windows first.
    """
    parts = []
    for lattice, offset in enumerate((0, shift_cells)):
        rc = lattice_windows(n_rows, n_cols, patch_cells, offset)
        parts.append(np.column_stack([np.full(len(rc), lattice, dtype="int32"), rc]))
    return np.concatenate(parts).astype("int32")


def window_cells(valid_1km: np.ndarray, windows: np.ndarray, patch_cells: int = 4) -> np.ndarray:
    """Gather a (..., rows, cols) cell array into (..., n_windows, patch, patch) blocks."""
    offsets = np.arange(patch_cells)
    rows = windows[:, 1, None] + offsets[None, :]
    cols = windows[:, 2, None] + offsets[None, :]
    return valid_1km[..., rows[:, :, None], cols[:, None, :]]


def count_windows(windows: np.ndarray) -> dict[str, int]:
    """Number of windows per lattice name."""
    return {name: int(np.count_nonzero(windows[:, 0] == i)) for i, name in enumerate(LATTICES)}

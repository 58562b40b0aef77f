"""A selected 1 km cell: which cell a map click hits, and its values through the slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

#: The per-cell series of a cell's story (those present in the predictions are shown).
CELL_SERIES = ("susceptibility", "density", "hazard", "observed_density", "true_probability", "true_hazard",
               "hazard_p05", "hazard_p95")  # the last two: an ensemble's members
#: Half a cell (m) when the grid has a single column and no spacing to measure.
HALF_CELL_M = 500.0


def cell_at(coords: dict[str, np.ndarray], x: float | None, y: float | None) -> tuple[int, int] | None:
    """(row, col) of the cell holding the point (x, y) of the grid's CRS; None off the grid."""
    if x is None or y is None or not len(coords["x"]) or not len(coords["y"]):
        return None
    col, row = int(np.argmin(np.abs(coords["x"] - x))), int(np.argmin(np.abs(coords["y"] - y)))
    half = abs(float(coords["x"][1] - coords["x"][0])) / 2 if len(coords["x"]) > 1 else HALF_CELL_M
    if abs(coords["x"][col] - x) > half or abs(coords["y"][row] - y) > half:
        return None
    return row, col


def cell_series(predictions: xr.Dataset | None, cell: tuple[int, int] | None) -> pd.DataFrame:
    """A cell's predicted and observed values per slice (index: slice labels; empty columns without one)."""
    if predictions is None or cell is None:
        return pd.DataFrame(columns=list(CELL_SERIES[:4]))
    row, col = cell
    at = predictions.isel(y=row, x=col)
    columns = {name: at[name].values.astype(float) for name in CELL_SERIES if name in at}
    return pd.DataFrame(columns, index=pd.Index([str(v) for v in at["slice"].values], name="slice"))

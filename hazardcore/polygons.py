"""Landslide polygons → cumulative mapped area per 1 km cell and mapping date.

A polygon inventory lists landslides with the date (or end of the period) on which each was
mapped. Per mapping date ``d_k`` the cumulative area of a cell is the area of the *union*
of the polygons mapped on or before ``d_k`` inside the cell, so overlapping polygons are not
counted twice and the area never exceeds the cell. Differencing these (``inventory``) gives
the new area per slice. Areas are exact polygon/cell intersections (geopandas ``overlay``,
GEOS), computed in the grid's projected CRS.

Repairs, each counted in the returned report and announced with a warning: invalid
geometries are fixed with ``shapely.make_valid`` (only their polygonal parts are kept);
empty or missing geometries are dropped. A polygon dated after the last mapping date
belongs to no slice: an error, or dropped and counted when the catalog says
``outside_dates: drop``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hazardcore.errors import InventoryError, describe
from hazardcore.grid import GridSpec

POLYGONAL = ("Polygon", "MultiPolygon")
OUTSIDE_POLICIES = ("error", "drop")


def polygonal_part(geometry: shapely.Geometry) -> shapely.Geometry:
    """The union of the polygonal parts of a geometry (``make_valid`` may add lines or points)."""
    parts = [part for part in shapely.get_parts(geometry) if part.geom_type in POLYGONAL]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def repair(frame: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    """Fix invalid geometries with ``make_valid``; drop empty or missing ones.

    Returns
    -------
    tuple
        The repaired frame and the counts ``repaired_geometries`` and ``dropped_empty``.
    """
    geometry = frame.geometry
    missing = geometry.isna() | geometry.is_empty
    invalid = ~missing & ~geometry.is_valid
    fixed = geometry.copy()
    fixed[invalid] = [polygonal_part(shapely.make_valid(g)) for g in geometry[invalid]]
    out = frame.set_geometry(fixed)
    empty = out.geometry.isna() | out.geometry.is_empty
    return out[~empty].copy(), {"repaired_geometries": int(invalid.sum()), "dropped_empty": int(empty.sum())}


def mapping_band(dates: pd.Series, mapping_dates: list[dt.date], date_column: str,
                 source: str | Path) -> np.ndarray:
    """Index of the first mapping date on or after each polygon's date (``len`` when after the last).

    Raises
    ------
    InventoryError
        If a polygon has no readable date.
    """
    parsed = pd.to_datetime(dates, errors="coerce")
    if parsed.isna().any():
        first = dates[parsed.isna()].iloc[0]
        raise InventoryError(describe(f"{int(parsed.isna().sum())} polygons have no readable date",
                                      source=source, expected=f"a date in column `{date_column}`",
                                      found=repr(first), fix="give every polygon its mapping date"))
    edges = pd.DatetimeIndex([pd.Timestamp(d) for d in mapping_dates])
    return np.asarray(edges.searchsorted(pd.DatetimeIndex(parsed).normalize(), side="left"))


def _outside(band: np.ndarray, frame: gpd.GeoDataFrame, date_column: str, mapping_dates: list[dt.date],
             policy: str, source: str | Path) -> tuple[gpd.GeoDataFrame, np.ndarray, int]:
    """Apply the policy to polygons dated after the last mapping date."""
    after = band >= len(mapping_dates)
    if after.any() and policy != "drop":
        raise InventoryError(describe(
            f"{int(after.sum())} polygons are dated after the last mapping date {mapping_dates[-1]}",
            source=source, expected=f"dates on or before {mapping_dates[-1]} (they belong to no slice)",
            found=f"e.g. {frame[date_column][after].iloc[0]}",
            fix="add a slice that covers them, or set `outside_dates: drop` in the catalog entry"))
    return frame[~after], band[~after], int(after.sum())


def cell_boxes(grid: GridSpec) -> gpd.GeoDataFrame:
    """One box per 1 km cell, with its flat index ``cell`` (row-major)."""
    x0 = grid.x_min + grid.cell_size_m * np.arange(grid.n_cols)
    y1 = grid.y_max - grid.cell_size_m * np.arange(grid.n_rows)
    xx, yy = np.meshgrid(x0, y1)
    boxes = shapely.box(xx.ravel(), yy.ravel() - grid.cell_size_m, xx.ravel() + grid.cell_size_m, yy.ravel())
    return gpd.GeoDataFrame({"cell": np.arange(xx.size)}, geometry=boxes, crs=grid.crs)


def cumulative_area(frame: gpd.GeoDataFrame, date_column: str, mapping_dates: list[dt.date], grid: GridSpec,
                    outside_dates: str = "error",
                    source: str | Path = "polygons") -> tuple[np.ndarray, dict[str, Any]]:
    """Cumulative mapped landslide area (m²) per mapping date on the grid's 1 km lattice.

    Parameters
    ----------
    frame
        Landslide polygons with a CRS and a date column.
    date_column
        Column holding each polygon's mapping date (or the end of its mapping period).
    mapping_dates
        Increasing mapping dates (the inventory's bands).
    grid
        Target grid.
    outside_dates
        ``error`` or ``drop`` for polygons dated after the last mapping date.
    source
        File name for messages.

    Returns
    -------
    tuple
        (dates, rows, cols) float32 areas in m², and a report of the repairs and drops.

    Raises
    ------
    InventoryError
        If a date is missing, or (policy ``error``) after the last mapping date.
    """
    if outside_dates not in OUTSIDE_POLICIES:
        raise InventoryError(describe("unknown `outside_dates` policy", source=source,
                                      expected=" | ".join(OUTSIDE_POLICIES), found=outside_dates))
    frame, report = repair(frame.to_crs(grid.crs))
    band = mapping_band(frame[date_column], mapping_dates, date_column, source)
    frame, band, dropped = _outside(band, frame, date_column, mapping_dates, outside_dates, source)
    report |= {"polygons": len(frame), "dropped_outside_dates": dropped}
    if report["repaired_geometries"] or report["dropped_empty"] or dropped:
        warnings.warn(f"{source}: {report}", UserWarning, stacklevel=2)
    areas = np.zeros((len(mapping_dates), grid.n_rows * grid.n_cols), dtype="float64")
    if len(frame):
        polygons = gpd.GeoDataFrame({"band": band}, geometry=frame.geometry.values, crs=grid.crs)
        pieces = gpd.overlay(polygons, cell_boxes(grid), how="intersection", keep_geom_type=True)
        for k in range(len(mapping_dates)):
            mapped = pieces[pieces["band"] <= k]
            if len(mapped):
                union = mapped.dissolve(by="cell")
                areas[k, union.index.to_numpy()] = union.area.to_numpy()
    return areas.reshape(len(mapping_dates), grid.n_rows, grid.n_cols).astype("float32"), report

"""Landslide polygons → cumulative mapped area per 1 km cell and mapping date.

A polygon inventory lists landslides with the date on which each was mapped (a date column)
or the period in which it happened (a period column of ISO 8601 intervals ``start/end``; a
period that spans more than one slice cannot be assigned and is an error). A polygon counts
from the first mapping date on or after its date (or its period's end); with a baseline date
first, polygons on or before it are old scars. Per mapping date ``d_k`` the cumulative area
of a cell is the area of the *union* of the polygons mapped on or before ``d_k`` inside the
cell, so overlapping polygons are not counted twice and the area never exceeds the cell.
Differencing these (``inventory``) gives the new area per slice. Areas are exact
polygon/cell intersections (geopandas ``overlay``, GEOS), computed in the grid's projected CRS.

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


def _parse_dates(values: pd.Series, column: str, source: str | Path) -> pd.DatetimeIndex:
    parsed = pd.to_datetime(values, errors="coerce")
    if parsed.isna().any():
        raise InventoryError(describe(f"{int(parsed.isna().sum())} polygons have no readable date",
                                      source=source, expected=f"a date in column `{column}`",
                                      found=repr(values[parsed.isna()].iloc[0]),
                                      fix="give every polygon its mapping date or period"))
    return pd.DatetimeIndex(parsed).normalize()


def mapping_band(dates: pd.Series, mapping_dates: list[dt.date], date_column: str,
                 source: str | Path) -> np.ndarray:
    """Index of the first mapping date on or after each polygon's date (``len`` when after the last).

    Raises
    ------
    InventoryError
        If a polygon has no readable date.
    """
    edges = pd.DatetimeIndex([pd.Timestamp(d) for d in mapping_dates])
    return np.asarray(edges.searchsorted(_parse_dates(dates, date_column, source), side="left"))


def period_band(periods: pd.Series, mapping_dates: list[dt.date], period_column: str,
                source: str | Path) -> np.ndarray:
    """Like :func:`mapping_band` for ISO intervals ``start/end``, by their end date.

    Raises
    ------
    InventoryError
        If a period is not ``start/end`` or spans more than one slice (it starts before the
        mapping date preceding its end).
    """
    parts = periods.astype(str).str.split("/", n=1, expand=True)
    if parts.shape[1] != 2 or parts[1].isna().any():
        raise InventoryError(describe("polygon periods must be ISO intervals", source=source,
                                      expected=f"`{period_column}` like 2015-06-15/2015-11-15",
                                      found=repr(periods.iloc[0])))
    start = _parse_dates(parts[0], period_column, source)
    band = mapping_band(parts[1], mapping_dates, period_column, source)
    edges = pd.DatetimeIndex([pd.Timestamp(d) for d in mapping_dates])
    spans = (band > 0) & (band < len(edges)) & (start < edges[np.clip(band - 1, 0, None)])
    if spans.any():
        raise InventoryError(describe(
            f"{int(spans.sum())} polygons have a period spanning more than one slice", source=source,
            expected="each period within two consecutive mapping dates", found=repr(periods[spans].iloc[0]),
            fix="split the period, or map those landslides to one slice"))
    return band


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


def cumulative_area(frame: gpd.GeoDataFrame, date_column: str | None, mapping_dates: list[dt.date],
                    grid: GridSpec, outside_dates: str = "error", source: str | Path = "polygons",
                    period_column: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Cumulative mapped landslide area (m²) per mapping date on the grid's 1 km lattice.

    Parameters
    ----------
    frame
        Landslide polygons with a CRS and a date column.
    date_column
        Column holding each polygon's mapping date (None when ``period_column`` is given).
    mapping_dates
        Increasing mapping dates (the inventory's bands).
    grid
        Target grid.
    outside_dates
        ``error`` or ``drop`` for polygons dated after the last mapping date.
    source
        File name for messages.
    period_column
        Column of ISO intervals ``start/end`` instead of a date column.

    Returns
    -------
    tuple
        (dates, rows, cols) float32 areas in m², and a report of the repairs and drops.

    Raises
    ------
    InventoryError
        If the column is missing, a date unreadable, a period spans several slices, or (policy
        ``error``) a polygon is dated after the last mapping date.
    """
    if outside_dates not in OUTSIDE_POLICIES:
        raise InventoryError(describe("unknown `outside_dates` policy", source=source,
                                      expected=" | ".join(OUTSIDE_POLICIES), found=outside_dates))
    column = period_column or date_column
    if column is None or column not in frame.columns:
        raise InventoryError(describe("polygons lack their date or period column", source=source,
                                      expected=column or "date_column or period_column",
                                      found=[c for c in frame.columns if c != "geometry"]))
    frame, report = repair(frame.to_crs(grid.crs))
    if period_column is not None:
        band = period_band(frame[period_column], mapping_dates, period_column, source)
    else:
        band = mapping_band(frame[column], mapping_dates, column, source)
    frame, band, dropped = _outside(band, frame, column, mapping_dates, outside_dates, source)
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

"""Point data onto the grid: ground-motion fields in log space, station series by distance.

Ground motion varies over orders of magnitude and its scatter is log-normal, so point
fields (ShakeMap grid nodes, OpenQuake sites, stations) are interpolated linearly in
``ln(value)`` (a standard deviation of ln(PGA), already on a log scale, linearly as it is)
over a Delaunay triangulation of the points in the grid's CRS
(``scipy.interpolate.LinearNDInterpolator``), which returns every node's own value at the
node. A grid cell outside the points' convex hull is an error, never an extrapolation;
cells of the margin around the grid (kept so that later bilinear resampling has neighbours
at the edge) are filled from the nearest point and counted.

Series at points (daily rain per station or pixel) are spread by the nearest point
(``scipy.spatial.cKDTree``) or by inverse-distance weighting; the method is returned so that
the caller records it in the layer's attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pyproj import Transformer
from scipy.interpolate import LinearNDInterpolator
from scipy.spatial import cKDTree

from hazardcore.errors import CoverageError, InvalidValueError, describe
from hazardcore.grid import GridSpec

SPREAD_METHODS = ("nearest", "idw")
MARGIN_CELLS = 1


def project(lon: np.ndarray, lat: np.ndarray, src_crs: str, grid: GridSpec) -> tuple[np.ndarray, np.ndarray]:
    """Point coordinates (``lon``/``lat`` or x/y in ``src_crs``) in the grid's CRS (m)."""
    transformer = Transformer.from_crs(src_crs, grid.crs, always_xy=True)
    x, y = transformer.transform(np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64"))
    return np.asarray(x), np.asarray(y)


def lattice_points(grid: GridSpec) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres (x, y) of the grid's 1 km lattice as 2-D arrays (rows, cols)."""
    coords = grid.coords("1km")
    xx, yy = np.meshgrid(coords["x"], coords["y"])
    return xx, yy


def inner_mask(grid: GridSpec, margin_cells: int) -> np.ndarray:
    """True for the cells of ``grid`` that are not in its outer ``margin_cells`` ring."""
    inner = np.zeros(grid.shape("1km"), dtype=bool)
    inner[margin_cells:grid.n_rows - margin_cells, margin_cells:grid.n_cols - margin_cells] = True
    return inner


def _check_positive(values: np.ndarray, source: str | Path) -> None:
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise InvalidValueError(describe(
            f"{int(bad.sum())} point values are not positive", source=source,
            expected="ground motion > 0 at every point (it is interpolated in log space)",
            found=f"first bad value {values[bad][0]!r} (point {int(np.flatnonzero(bad)[0])})",
            fix="drop those rows or correct the values"))


def interpolate_log(x: np.ndarray, y: np.ndarray, values: np.ndarray, grid: GridSpec,
                    source: str | Path = "points", log: bool = True) -> tuple[np.ndarray, int]:
    """Interpolate a positive point field linearly in log space onto the 1 km lattice.

    With ``log=False`` the values are interpolated as they are: for quantities that are
    already on a log scale, such as the standard deviation of ln(PGA).

    Parameters
    ----------
    x, y
        Point coordinates in the grid's CRS (m).
    values
        Positive values at the points (any unit; the unit is kept).
    grid
        Target grid, usually the study grid grown by :data:`MARGIN_CELLS`; its outer
        ring of :data:`MARGIN_CELLS` cells may lie outside the points' hull and is then
        filled from the nearest point.
    source
        File name for messages.
    log
        Interpolate ln(value) (default) or the value itself.

    Returns
    -------
    tuple
        (rows, cols) float32 values on the lattice, and the number of margin cells filled
        from the nearest point.

    Raises
    ------
    InvalidValueError
        If a value is not positive or not finite.
    CoverageError
        If a cell inside the margin lies outside the points' convex hull.
    """
    _check_positive(values, source)
    forward, inverse = (np.log, np.exp) if log else (np.asarray, np.asarray)
    xx, yy = lattice_points(grid)
    interpolator = LinearNDInterpolator(np.column_stack([x, y]), forward(values))
    logs = interpolator(xx, yy)
    outside = np.isnan(logs)
    uncovered = outside & inner_mask(grid, MARGIN_CELLS)
    if uncovered.any():
        raise CoverageError(describe(
            f"point field does not cover the grid: {int(uncovered.sum())} cells lie outside its points",
            source=source, expected=f"points around every cell of {grid.bounds} ({grid.crs})",
            found=f"points within x {x.min():.0f}..{x.max():.0f}, y {y.min():.0f}..{y.max():.0f}",
            fix="use a field with a larger extent, or a smaller region"))
    if outside.any():
        _, nearest = cKDTree(np.column_stack([x, y])).query(np.column_stack([xx[outside], yy[outside]]))
        logs[outside] = forward(values)[nearest]
    return inverse(logs).astype("float32"), int(outside.sum())


def spread(values: np.ndarray, x: np.ndarray, y: np.ndarray, grid: GridSpec, method: str = "nearest",
           power: float = 2.0, max_distance_m: float | None = None,
           source: str | Path = "points") -> tuple[np.ndarray, np.ndarray]:
    """Spread values at points (``(..., n_points)``) onto the 1 km lattice.

    Parameters
    ----------
    values
        Values at the points, points on the last axis (e.g. ``(time, n_points)``).
    x, y
        Point coordinates in the grid's CRS (m).
    grid
        Target grid.
    method
        ``nearest`` (each cell takes its nearest point) or ``idw`` (inverse-distance weights
        ``d^-power`` over all points; a cell on a point takes that point's value).
    power
        IDW exponent.
    max_distance_m
        Refuse cells whose nearest point is farther than this (None: no limit).
    source
        File name for messages.

    Returns
    -------
    tuple
        ``(..., rows, cols)`` float32 values and the (rows, cols) distance (m) to the nearest point.

    Raises
    ------
    CoverageError
        If a cell is farther than ``max_distance_m`` from every point.
    ValueError
        If ``method`` is unknown.
    """
    if method not in SPREAD_METHODS:
        raise ValueError(f"spread method must be one of {SPREAD_METHODS}, got {method!r}")
    xx, yy = lattice_points(grid)
    targets = np.column_stack([xx.ravel(), yy.ravel()])
    distance, nearest = cKDTree(np.column_stack([x, y])).query(targets)
    _check_distance(distance, max_distance_m, source)
    flat = np.asarray(values, dtype="float64")
    if method == "nearest":
        out = flat[..., nearest]
    else:
        out = flat @ idw_weights(targets, x, y, power).T
    shape = (*flat.shape[:-1], *xx.shape)
    return out.reshape(shape).astype("float32"), distance.reshape(xx.shape)


def idw_weights(targets: np.ndarray, x: np.ndarray, y: np.ndarray, power: float) -> np.ndarray:
    """(n_targets, n_points) inverse-distance weights summing to 1 per target (exact on a point)."""
    d = np.hypot(targets[:, :1] - x[None], targets[:, 1:2] - y[None])
    on_point = d == 0
    with np.errstate(divide="ignore"):
        weights = np.where(on_point, 0.0, d ** -power)
    hit = on_point.any(axis=1)
    weights[hit] = on_point[hit].astype("float64")
    return weights / weights.sum(axis=1, keepdims=True)


def _check_distance(distance: np.ndarray, max_distance_m: float | None, source: str | Path) -> None:
    if max_distance_m is None or distance.max() <= max_distance_m:
        return
    far = distance > max_distance_m
    raise CoverageError(describe(
        f"{int(far.sum())} cells are farther than {max_distance_m / 1000:.0f} km from every point",
        source=source, expected=f"a point within {max_distance_m / 1000:.0f} km of every cell",
        found=f"up to {distance.max() / 1000:.1f} km", fix="add points near the grid or raise `max_distance_km`"))


def names_used(names: Sequence[str], x: np.ndarray, y: np.ndarray, grid: GridSpec) -> list[str]:
    """Names of the points that are nearest to at least one cell of the grid."""
    xx, yy = lattice_points(grid)
    _, nearest = cKDTree(np.column_stack([x, y])).query(np.column_stack([xx.ravel(), yy.ravel()]))
    return [names[i] for i in sorted(set(nearest.tolist()))]

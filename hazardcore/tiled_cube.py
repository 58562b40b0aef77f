"""Tile-by-tile (Dask) computation of the predictor cube, for regions larger than memory.

``hazard prepare --chunks N`` cuts the grid's 30 m lattice into N × N-pixel tiles (N a multiple
of the cube's 128-pixel Zarr chunks) and computes every tile in its own Dask task: the local
terrain channels (slope, elevation, northness, eastness, curvatures: 3 × 3 kernels, so a tile
reads its DEM window with a one-pixel halo), PGA and rain resampled onto the tile's own lattice,
and the cell validity. Each task writes its tile straight into the cube's Zarr arrays (whole
chunks, so tasks never share a chunk) and returns only the tile's validity, so a worker holds a
few tiles, never the cube. ``dask.compute`` runs on whatever scheduler is active: the local
threads on a laptop, or a ``dask.distributed`` cluster when a ``Client`` is open or the
``DASK_SCHEDULER_ADDRESS`` environment variable names a scheduler (:func:`scheduler`), unchanged.

The values equal the in-memory prepare's (the same functions on the same pixels). What is not
tiled: the DEM is read and brought onto the grid whole by the catalog reader, and the two
flow-routing channels (topographic wetness index and distance to river) route the flow over
the whole DEM in the calling process (upstream area is not a local quantity); their memory is
a few DEM-sized arrays, against the cube's 10 + 2 × slices layers (each routes the flow once).

Static channels are bitwise equal to the in-memory prepare's. Rain channels resampled from a
lon/lat grid are not: GDAL's warp of the same source onto a tile and onto the whole grid differ
(not through its approximate transformer: ``tolerance=0`` changes nothing), by up to 0.84 mm/day
(0.9 % of the value) on a 96 km synthetic region with rain up to 259 mm/day.

Measured (96 × 96 km synthetic region, 8 slices, cube 936 MiB; 2 CPU cores): ``--chunks 512``
on a LocalCluster of 2 worker processes with ``memory_limit="512MiB"`` each ran without a pause
or restart in 61 s (in memory: 58 s); a worker's memory is ~300 MiB of imported libraries plus a
few tiles.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, replace

import dask
import numpy as np
import xarray as xr
import zarr

from hazardcore import terrain
from hazardcore.errors import ConfigError, describe
from hazardcore.grid import GridSpec, to_grid
from hazardcore.predictors import STATIC_CHANNELS, cells_all_finite
from hazardcore.triggers import pga_statistics

HALO_PX = 1  # the 3 × 3 kernels of slope, aspect and curvature


@contextlib.contextmanager
def scheduler() -> Iterator[None]:
    """Run Dask work on the cluster of ``DASK_SCHEDULER_ADDRESS`` (dask config ``scheduler-address``).

    An open ``dask.distributed`` Client is used as it is; without one and without an address,
    Dask's local threads compute.
    """
    address = dask.config.get("scheduler-address", None)
    if not address:
        yield
        return
    from distributed import Client, default_client

    try:
        default_client()
    except ValueError:  # no client yet: connect for the duration
        with Client(address):
            yield
        return
    yield


@dataclass(frozen=True)
class Tile:
    """A block of the grid's 30 m lattice, in pixels (row, column of its upper-left pixel; size)."""

    row: int
    col: int
    n_rows: int
    n_cols: int

    @property
    def rows(self) -> slice:
        return slice(self.row, self.row + self.n_rows)

    @property
    def cols(self) -> slice:
        return slice(self.col, self.col + self.n_cols)

    def grid(self, grid: GridSpec) -> GridSpec:
        """The part of ``grid`` the tile covers (tiles hold whole cells)."""
        ppc = grid.pixels_per_cell
        return replace(grid, x_min=grid.x_min + self.col * grid.pixel_size_m,
                       y_max=grid.y_max - self.row * grid.pixel_size_m,
                       n_rows=self.n_rows // ppc, n_cols=self.n_cols // ppc)

    def cells(self, grid: GridSpec) -> tuple[slice, slice]:
        """The tile's cells on the 1 km lattice (rows, cols)."""
        ppc = grid.pixels_per_cell
        return (slice(self.row // ppc, (self.row + self.n_rows) // ppc),
                slice(self.col // ppc, (self.col + self.n_cols) // ppc))


def tiles(grid: GridSpec, tile_px: int, chunk_px: int) -> list[Tile]:
    """Cut the 30 m lattice into tiles of ``tile_px`` pixels (smaller at the far edges).

    Raises
    ------
    ConfigError
        If ``tile_px`` is not a positive multiple of the cube's chunk (and so of the cell).
    """
    if tile_px <= 0 or tile_px % chunk_px or chunk_px % grid.pixels_per_cell:
        raise ConfigError(describe("--chunks must be a positive multiple of the cube's chunk",
                                   expected=f"a multiple of {chunk_px} pixels", found=tile_px))
    n_y, n_x = grid.shape("30m")
    return [Tile(row, col, min(tile_px, n_y - row), min(tile_px, n_x - col))
            for row in range(0, n_y, tile_px) for col in range(0, n_x, tile_px)]


def dem_window(dem_30m: xr.DataArray, margin_px: int, tile: Tile) -> tuple[xr.DataArray, int, int]:
    """The DEM of a tile with a halo where the DEM has one; returns it and the tile's offset in it.

    ``dem_30m`` is the grid's lattice grown by ``margin_px`` on every side. At a border without
    margin the halo is cut, and the terrain functions pad the edge as they do on the whole DEM.
    """
    n_y, n_x = dem_30m.shape
    top = max(margin_px + tile.row - HALO_PX, 0)
    left = max(margin_px + tile.col - HALO_PX, 0)
    bottom = min(margin_px + tile.row + tile.n_rows + HALO_PX, n_y)
    right = min(margin_px + tile.col + tile.n_cols + HALO_PX, n_x)
    window = dem_30m.isel(y=slice(top, bottom), x=slice(left, right))
    return window, margin_px + tile.row - top, margin_px + tile.col - left


def static_tile(window: xr.DataArray, offset: tuple[int, int], flow: dict[str, np.ndarray],
                pga_events: list[xr.DataArray], tile: Tile, grid: GridSpec) -> np.ndarray:
    """The (10, h, w) static channels of a tile in ``STATIC_CHANNELS`` order."""
    inner = (slice(offset[0], offset[0] + tile.n_rows), slice(offset[1], offset[1] + tile.n_cols))
    layers = {name: function(window).values[inner] for name, function in terrain.LOCAL_CHANNELS.items()}
    layers["elevation"] = window.values[inner].astype("float32")
    layers |= flow
    sub_grid = tile.grid(grid)
    events = [to_grid(event, sub_grid, "30m", "bilinear", str(event.attrs["source"])) for event in pga_events]
    pga_max, pga_std = pga_statistics(events)
    layers |= {"pga_max": pga_max.values, "pga_std": pga_std.values}
    return np.stack([layers[name].astype("float32", copy=False) for name in STATIC_CHANNELS])


def write_static_tile(array: zarr.Array, window: xr.DataArray, offset: tuple[int, int], flow: dict[str, np.ndarray],
                      pga_events: list[xr.DataArray], tile: Tile, grid: GridSpec) -> np.ndarray:
    """Compute a tile's static channels, write them into ``array``; return the tile's cell validity."""
    block = static_tile(window, offset, flow, pga_events, tile, grid)
    array[:, tile.rows, tile.cols] = block
    gc.collect()  # rioxarray's reprojection leaves reference cycles holding its arrays (see grid.to_grid)
    return cells_all_finite(block, grid.pixels_per_cell)


def write_dynamic_tile(array: zarr.Array, bands: xr.DataArray, n_channels: int, tile: Tile, grid: GridSpec,
                       source: str) -> np.ndarray:
    """Resample the (slice × channel) rain bands onto a tile, write them; return per-slice validity."""
    block = to_grid(bands, tile.grid(grid), "30m", "bilinear", source).values.astype("float32", copy=False)
    block = block.reshape(-1, n_channels, tile.n_rows, tile.n_cols)
    array[:, :, tile.rows, tile.cols] = block
    gc.collect()  # rioxarray's reprojection leaves reference cycles holding its arrays (see grid.to_grid)
    return np.stack([cells_all_finite(values, grid.pixels_per_cell) for values in block])


def flow_channels(dem_30m: xr.DataArray, margin_px: int) -> dict[str, np.ndarray]:
    """TWI and distance to river over the whole DEM (flow routing is global), cut to the grid."""
    inner = slice(margin_px, -margin_px) if margin_px else slice(None)
    return {name: function(dem_30m).values[inner, inner] for name, function in terrain.FLOW_CHANNELS.items()}


def compute_static(array: zarr.Array, dem_30m: xr.DataArray, margin_px: int, pga_events: list[xr.DataArray],
                   grid: GridSpec, tile_px: int, chunk_px: int) -> np.ndarray:
    """Write the cube's ``static`` array tile by tile on the active Dask scheduler.

    Parameters
    ----------
    array
        The empty ``static`` array (10, y, x) of the cube, chunked by ``chunk_px``.
    dem_30m
        The DEM on the grid's 30 m lattice grown by ``margin_px`` on every side.
    margin_px
        DEM margin (pixels), 0 when the DEM covers only the grid.
    pga_events
        PGA layers (m/s²) on their own lattices, as ``triggers.pga_statistics`` takes them.
    grid
        The region's grid.
    tile_px, chunk_px
        Tile edge and the cube's chunk edge (pixels).

    Returns
    -------
    numpy.ndarray
        (rows, cols) static validity of the cells.
    """
    flow = flow_channels(dem_30m, margin_px)
    shared_pga = dask.delayed(pga_events, pure=True)  # one copy per worker, not one per task
    tasks, cells = [], []
    for tile in tiles(grid, tile_px, chunk_px):
        window, top, left = dem_window(dem_30m, margin_px, tile)
        tile_flow = {name: values[tile.rows, tile.cols] for name, values in flow.items()}
        tasks.append(dask.delayed(write_static_tile)(array, window, (top, left), tile_flow, shared_pga, tile, grid))
        cells.append(tile.cells(grid))
    valid = np.zeros(grid.shape("1km"), dtype=bool)
    for (rows, cols), tile_valid in zip(cells, dask.compute(*tasks), strict=True):
        valid[rows, cols] = tile_valid
    return valid


def compute_dynamic(array: zarr.Array, bands: xr.DataArray, n_slices: int, grid: GridSpec, tile_px: int,
                    chunk_px: int, source: str) -> np.ndarray:
    """Write the cube's ``dynamic`` array (slice, channel, y, x) tile by tile; return (slices, rows, cols) validity.

    ``bands`` holds the per-slice rain statistics on the rainfall's own lattice, bands ordered
    (slice, channel).
    """
    shared_bands = dask.delayed(bands, pure=True)  # one copy per worker, not one per task
    tasks, cells = [], []
    for tile in tiles(grid, tile_px, chunk_px):
        tasks.append(dask.delayed(write_dynamic_tile)(array, shared_bands, len(bands) // n_slices, tile, grid,
                                                      source))
        cells.append(tile.cells(grid))
    valid = np.zeros((n_slices, *grid.shape("1km")), dtype=bool)
    for (rows, cols), tile_valid in zip(cells, dask.compute(*tasks), strict=True):
        valid[:, rows, cols] = tile_valid
    return valid

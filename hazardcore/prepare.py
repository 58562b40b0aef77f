"""The prepare stage: catalog → grid → predictors and targets → stored cube + summary.

Layers are brought onto the grid one at a time and streamed into the Zarr cube, so peak
memory is a few full-resolution layers, not the whole cube (a study-area region has 44 M
pixels per layer). Validity is accumulated per cell while streaming: a cell is valid in a
slice when every one of its pixels is finite in every channel and its target is known.
With ``chunks`` (``hazard prepare --chunks N``) the predictors are computed in N × N-pixel
tiles as Dask tasks instead (:mod:`hazardcore.tiled_cube`), for regions whose cube exceeds memory,
locally or on a ``dask.distributed`` cluster; the cube is the same.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from rasterio.enums import Resampling
from tqdm.auto import tqdm

from hazardcore import export, scenarios, terrain, tiled_cube
from hazardcore.atomic import atomic_dir
from hazardcore.catalog import (
    TRUTH_VARIABLES,
    Catalog,
    load_catalog,
    mapping_dates,
    open_rainfall,
    open_raster,
    open_truth,
)
from hazardcore.config import ModelConfig
from hazardcore.cube import CUBE_NAME, CubeWriter
from hazardcore.errors import CoverageError
from hazardcore.grid import assert_on_grid, to_grid
from hazardcore.inventory import new_landslide_density
from hazardcore.patches import count_windows, patch_windows, window_cells
from hazardcore.predictors import (
    CHANNEL_UNITS,
    CHANNELS,
    DYNAMIC_CHANNELS,
    PERIOD_CHANNELS,
    PGA_CHANNELS,
    STATIC_CHANNELS,
    cells_all_finite,
    static_layers,
)
from hazardcore.slices import iso_pairs
from hazardcore.triggers import (
    monsoon_counts,
    period_covariates,
    pga_statistics,
    pga_to_ms2,
    rain_slice_statistics,
    rain_to_mm_day,
)

PATCH_CELLS = int(ModelConfig.param["patch_cells"].default)  # the window of a training patch, in cells
SHIFT_CELLS = 2
CHUNK_PX = 128
DEM_MARGIN_CELLS = 1
RESAMPLE_BUDGET_BYTES = 512 * 1024**2  # output of one resampling call (per-slice rain batches)


def dem_on_grid(catalog: Catalog) -> tuple[xr.DataArray, int]:
    """The DEM on the grid's 30 m lattice grown by a margin where the DEM has one; and the margin (px).

    Raises
    ------
    CoverageError
        If the DEM does not cover the grid.
    """
    entry = catalog.layer("dem")
    dem = open_raster(entry).squeeze("band", drop=True)
    grid = catalog.grid
    try:
        return (to_grid(dem, grid.expanded(DEM_MARGIN_CELLS), "30m", "bilinear", str(entry.path)),
                DEM_MARGIN_CELLS * grid.pixels_per_cell)
    except CoverageError:
        return to_grid(dem, grid, "30m", "bilinear", str(entry.path)), 0


def dem_terrain(catalog: Catalog) -> xr.Dataset:
    """Terrain channels on the grid's 30 m lattice, computed with a margin where the DEM has one.

    Raises
    ------
    CoverageError
        If the DEM does not cover the grid.
    """
    dem_30m, margin_px = dem_on_grid(catalog)
    channels = terrain.terrain_channels(dem_30m)
    if margin_px:
        inner = slice(margin_px, -margin_px)
        channels = channels.isel(y=inner, x=inner)
    return channels.assign_coords(catalog.grid.coords("30m"))


def pga_events(catalog: Catalog) -> list[xr.DataArray]:
    """The catalog's PGA layers in m/s² on their own lattices."""
    events = []
    for entry in catalog.layer_list("pga"):
        pga = open_raster(entry).squeeze("band", drop=True)
        events.append(pga_to_ms2(pga, entry.units, str(entry.path)).assign_attrs(source=str(entry.path)))
    return events


def pga_layers(catalog: Catalog) -> tuple[xr.DataArray, xr.DataArray]:
    """Max and std of PGA (m/s²) over the catalog's events on the 30 m lattice."""
    return pga_statistics([to_grid(pga, catalog.grid, "30m", "bilinear", pga.attrs["source"])
                           for pga in pga_events(catalog)])


def forecast_quakes(catalog: Catalog) -> dict[str, xr.DataArray]:
    """The PGA (m/s²) of each forecast period's earthquake on the 30 m lattice, by period label.

    From the period's PGA file (raster, ShakeMap grid.xml, point field) or, for an event by
    magnitude and location, the synthetic world's median ground-motion law
    (:func:`hazardcore.scenarios.quake_pga`).
    """
    out = {}
    for label, forecast in catalog.forecasts.items():
        if forecast.pga is not None:
            entry = forecast.pga
            pga = pga_to_ms2(open_raster(entry).squeeze("band", drop=True), entry.units, str(entry.path))
            out[label] = to_grid(pga, catalog.grid, "30m", "bilinear", str(entry.path))
        elif forecast.quake is not None:
            name = forecast.event.name if forecast.event else label
            out[label] = scenarios.quake_pga(catalog.grid, forecast.quake, name)
    return out


def describe_forecasts(catalog_path: str | Path | Catalog) -> dict[str, dict[str, Any]]:
    """What ``hazard scenario CATALOG`` reports: each forecast period's triggers before anything is prepared.

    Returns
    -------
    dict
        Period label → dates, provenance (a scenario's parameters and its GEV fit: shape, location,
        scale, Kolmogorov–Smirnov statistic and p-value, years), the region's mean and largest
        ``rain_max`` (mm/day) and mean ``rain_total`` (mm) on the rainfall's grid, and the largest
        PGA (m/s²) of the period's own earthquake over the grid.
    """
    catalog = catalog_path if isinstance(catalog_path, Catalog) else load_catalog(catalog_path)
    stats, origins = forecast_rain_statistics(catalog)
    quakes = forecast_quakes(catalog)
    out: dict[str, dict[str, Any]] = {}
    for spec in catalog.slices:
        if spec.labelled:
            continue
        period = stats.sel(slice=spec.label)
        entry = {"start": spec.start.isoformat(), "end": spec.end.isoformat(),
                 "provenance": catalog.forecasts[spec.label].provenance(),
                 "rain": origins.get(spec.label, {"kind": "catalog rainfall layer"}),
                 "rain_max_mean_mm_day": float(period["rain_max"].mean()),
                 "rain_max_largest_mm_day": float(period["rain_max"].max()),
                 "rain_total_mean_mm": float(period["rain_total"].mean())}
        if spec.label in quakes:
            entry["pga_largest_ms2"] = float(quakes[spec.label].max())
        out[spec.label] = entry
    return out


def write_forecast_pga(writer: CubeWriter, catalog: Catalog) -> np.ndarray | None:
    """Write the PGA channels of forecast periods with an earthquake of their own; their cell validity.

    Such a period's ``pga_max`` and ``pga_std`` are those over the catalog's past events and
    its own (``pga_event``, one (2, y, x) layer per such period; ``pga_of_slice`` gives each
    slice's layer, −1 for the static ones). The mapped periods keep the static channels.
    """
    quakes = forecast_quakes(catalog)
    if not quakes:
        return None
    grid = catalog.grid
    past = [to_grid(pga, grid, "30m", "bilinear", pga.attrs["source"]) for pga in pga_events(catalog)]
    n_y, n_x = grid.shape("30m")
    array = writer.create("pga_event", (len(quakes), len(PGA_CHANNELS), n_y, n_x),
                          ["pga_event", "pga_channel", "y", "x"], "float32",
                          (1, len(PGA_CHANNELS), CHUNK_PX, CHUNK_PX), np.nan)
    index = np.full(len(catalog.slices), -1, dtype="int32")
    valid = np.ones((len(catalog.slices), *grid.shape("1km")), dtype=bool)
    for k, (label, pga) in enumerate(quakes.items()):
        pga_max, pga_std = pga_statistics([*past, pga.assign_attrs(source=label)])
        block = np.stack([pga_max.values, pga_std.values]).astype("float32")
        array[k] = block
        slice_index = catalog.slice_labels.index(label)
        index[slice_index] = k
        valid[slice_index] = cells_all_finite(block, grid.pixels_per_cell)
    writer.write("pga_of_slice", index, ["slice"], {"long_name": "the slice's pga_event layer (-1: static PGA)"})
    return valid


def rain_statistics(catalog: Catalog) -> xr.Dataset:
    """Per-slice rain statistics (mm/day) on the rainfall's native grid."""
    return forecast_rain_statistics(catalog)[0]


def forecast_rain_statistics(catalog: Catalog) -> tuple[xr.Dataset, dict[str, Any]]:
    """Per-slice rain statistics (mm/day) on the catalog rainfall's native grid, and each forecast's rain origin.

    A forecast period with a rainfall file of its own has its statistics computed on that
    file's grid and resampled (bilinear) onto the catalog rainfall's grid when the grids differ;
    a rain scenario is built from the catalog's record (:mod:`hazardcore.scenarios`); any other
    period reads the catalog's rainfall layer.
    """
    entry = catalog.layer("rainfall")
    source = str(entry.path)
    rain = rain_to_mm_day(open_rainfall(entry), entry.units, source)
    own = [spec for spec in catalog.slices if not _has_own_rain(catalog, spec.label)]
    parts = [rain_slice_statistics(rain, own, source)] if own else []
    origins: dict[str, Any] = {}
    for spec in catalog.slices:
        forecast = catalog.forecasts.get(spec.label)
        if forecast is None or not _has_own_rain(catalog, spec.label):
            continue
        if forecast.rainfall is not None:
            file_entry = forecast.rainfall
            series = rain_to_mm_day(open_rainfall(file_entry), file_entry.units, str(file_entry.path))
            stats = rain_slice_statistics(series, [spec], str(file_entry.path))
            origins[spec.label] = {"kind": "file", "path": str(file_entry.path)}
        else:
            assert forecast.rain is not None
            series, origins[spec.label] = scenarios.scenario_rain(rain, forecast.rain, catalog.labelled_slices, spec,
                                                                  source)
            stats = rain_slice_statistics(series, [spec], f"{source} (scenario {spec.label})")
        parts.append(_on_grid_of(stats, parts[0] if parts else rain))
    return xr.concat(parts, dim="slice").sel(slice=catalog.slice_labels).rio.write_crs(rain.rio.crs), origins


def _has_own_rain(catalog: Catalog, label: str) -> bool:
    forecast = catalog.forecasts.get(label)
    return forecast is not None and (forecast.rainfall is not None or forecast.rain is not None)


def _on_grid_of(stats: xr.Dataset, like: xr.Dataset | xr.DataArray) -> xr.Dataset:
    """Rain statistics on the lattice of ``like`` (unchanged when they already are)."""
    same = (stats.sizes["x"] == like.sizes["x"] and stats.sizes["y"] == like.sizes["y"]
            and np.allclose(stats["x"].values, like["x"].values) and np.allclose(stats["y"].values, like["y"].values))
    if same:
        return stats.assign_coords(x=like["x"].values, y=like["y"].values)
    template = like if isinstance(like, xr.DataArray) else like[next(iter(like.data_vars))]
    if "time" in template.dims:
        template = template.isel(time=0, drop=True)
    if "slice" in template.dims:
        template = template.isel(slice=0, drop=True)
    regridded = {name: stats[name].rio.write_crs(stats.rio.crs).rio.reproject_match(
        template.rio.write_crs(like.rio.crs), resampling=Resampling.bilinear) for name in stats.data_vars}
    return xr.Dataset(regridded).assign_coords(x=template["x"].values, y=template["y"].values)


def density_targets(catalog: Catalog) -> xr.DataArray:
    """Per-slice new-landslide density (%) on the 1 km lattice; NaN in the unmapped (forecast) periods."""
    entry = catalog.layer("inventory")
    cumulative = open_raster(entry)
    assert_on_grid(cumulative, catalog.grid, "1km", name=str(entry.path))
    dates = mapping_dates(entry)
    labelled = catalog.labelled_slices
    if catalog.forecasts and labelled and dates and dates[-1] > labelled[-1].end:
        # mapping dates after the last mapped period are withheld (a hindcast): its bands are not read
        kept = [date for date in dates if date <= labelled[-1].end]
        cumulative, dates = cumulative.isel(band=slice(0, len(kept))), kept
    mapped = new_landslide_density(cumulative, dates, labelled, catalog.grid.cell_area_m2, str(entry.path))
    if len(catalog.labelled_slices) == len(catalog.slices):
        return mapped
    return mapped.reindex(slice=catalog.slice_labels)


def cube_attrs(catalog: Catalog) -> dict[str, Any]:
    """Group attributes of the prepared cube."""
    return {"case": catalog.case, "catalog": str(catalog.path), "grid": catalog.grid.to_dict(),
            "slices": catalog.slice_labels, "channels": list(CHANNELS),
            "slice_dates": iso_pairs(catalog.slices),
            "static_channels": list(STATIC_CHANNELS), "dynamic_channels": list(DYNAMIC_CHANNELS),
            "period_channels": list(PERIOD_CHANNELS),
            "channel_units": CHANNEL_UNITS, "patch_cells": PATCH_CELLS, "shift_cells": SHIFT_CELLS,
            "density_units": "%", "labelled": [spec.labelled for spec in catalog.slices],
            "forecasts": json.dumps({label: forecast.provenance() for label, forecast in catalog.forecasts.items()}),
            "exceedance_thresholds": list(catalog.exceedance_thresholds)}


def write_coordinates(writer: CubeWriter, catalog: Catalog) -> None:
    """Write the coordinate arrays of both lattices, channels and slices."""
    grid = catalog.grid
    for suffix, resolution in (("", "30m"), ("_1km", "1km")):
        coords = grid.coords(resolution)  # type: ignore[arg-type]
        for axis in ("y", "x"):
            writer.write(axis + suffix, coords[axis], [axis + suffix], {"units": "m"})
    writer.write("static_channel", np.array(STATIC_CHANNELS), ["static_channel"])
    writer.write("dynamic_channel", np.array(DYNAMIC_CHANNELS), ["dynamic_channel"])
    writer.write("period_channel", np.array(PERIOD_CHANNELS), ["period_channel"])
    writer.write("slice", np.array(catalog.slice_labels), ["slice"])
    writer.write("labelled", np.array([spec.labelled for spec in catalog.slices]), ["slice"],
                 {"long_name": "the slice has an inventory (0: a forecast period, never a label)"})


def write_static(writer: CubeWriter, catalog: Catalog, step: Callable[[str], None],
                 tile_px: int = 0) -> np.ndarray:
    """Compute and stream the static channels; return the static cell validity.

    With ``tile_px`` the channels are computed tile by tile on Dask (:mod:`hazardcore.tiled_cube`).
    """
    grid = catalog.grid
    n_y, n_x = grid.shape("30m")
    array = writer.create("static", (len(STATIC_CHANNELS), n_y, n_x), ["static_channel", "y", "x"],
                          "float32", (len(STATIC_CHANNELS), CHUNK_PX, CHUNK_PX), np.nan)
    if tile_px:
        step("terrain")
        dem_30m, margin_px = dem_on_grid(catalog)
        step("ground motion")
        return tiled_cube.compute_static(array, dem_30m, margin_px, pga_events(catalog), grid, tile_px,
                                      CHUNK_PX)
    step("terrain")
    terrain_30m = dem_terrain(catalog)
    step("ground motion")
    pga_max, pga_std = pga_layers(catalog)
    layers = static_layers(terrain_30m, pga_max, pga_std)
    del terrain_30m, pga_max, pga_std
    valid = np.ones(grid.shape("1km"), dtype=bool)
    for index in range(len(STATIC_CHANNELS)):
        values = layers[index].values
        layers[index] = layers[index][:0, :0]  # release the full layer once it is stored
        valid &= cells_all_finite(values, grid.pixels_per_cell)
        array[index] = values
    return valid


def rain_bands(stats: xr.Dataset) -> xr.DataArray:
    """Per-slice rain statistics as one (band, y, x) array, bands ordered (slice, channel).

    rioxarray reprojects 3-D arrays, so slices and channels share the band axis, and one GDAL
    call per batch computes the coordinate transform once.
    """
    bands = stats[list(DYNAMIC_CHANNELS)].to_dataarray("channel").transpose("slice", "channel", "y", "x")
    bands = bands.stack(band=("slice", "channel")).transpose("band", "y", "x").drop_vars(
        ["band", "slice", "channel"])
    return bands.rio.write_crs(stats.rio.crs)


def write_dynamic(writer: CubeWriter, catalog: Catalog, step: Callable[[str], None],
                  tile_px: int = 0) -> np.ndarray:
    """Compute and stream the per-slice rain channels; return per-slice cell validity.

    With ``tile_px`` they are resampled tile by tile on Dask (:mod:`hazardcore.tiled_cube`).
    """
    grid = catalog.grid
    step("rainfall")
    stats, origins = forecast_rain_statistics(catalog)
    if origins:
        writer.group.attrs["forecast_rain"] = json.dumps(origins)
    bands = rain_bands(stats)
    n_y, n_x = grid.shape("30m")
    array = writer.create("dynamic", (len(catalog.slices), len(DYNAMIC_CHANNELS), n_y, n_x),
                          ["slice", "dynamic_channel", "y", "x"], "float32",
                          (1, len(DYNAMIC_CHANNELS), CHUNK_PX, CHUNK_PX), np.nan)
    writer.write("monsoons", monsoon_counts(catalog.slices, catalog.events), ["slice"], {"units": "count"})
    writer.write("period", period_covariates(catalog.slices, catalog.events), ["slice", "period_channel"],
                 {"units": ", ".join(CHANNEL_UNITS[name] for name in PERIOD_CHANNELS)})
    source = str(catalog.layer("rainfall").path)
    if tile_px:
        return tiled_cube.compute_dynamic(array, bands, len(catalog.slices), grid, tile_px, CHUNK_PX,
                                       source)
    valid = np.ones((len(catalog.slices), *grid.shape("1km")), dtype=bool)
    n_channels = len(DYNAMIC_CHANNELS)
    per_batch = max(1, RESAMPLE_BUDGET_BYTES // (4 * n_y * n_x * n_channels))
    for first in range(0, len(catalog.slices), per_batch):
        batch = bands.isel(band=slice(first * n_channels, (first + per_batch) * n_channels))
        block = to_grid(batch, grid, "30m", "bilinear", source).values.reshape(-1, n_channels, n_y, n_x)
        for offset, values in enumerate(block):
            valid[first + offset] = cells_all_finite(values, grid.pixels_per_cell)
        array[first:first + len(block)] = block
    return valid


def write_targets(writer: CubeWriter, catalog: Catalog, valid: np.ndarray) -> dict[str, np.ndarray]:
    """Write density, presence, valid and the windows; return them for the summary."""
    density = density_targets(catalog).values
    labelled = np.array([spec.labelled for spec in catalog.slices])
    valid = valid & (np.isfinite(density) | ~labelled[:, None, None])  # a forecast period: predictors only
    density = np.where(valid, density, np.nan).astype("float32")
    presence = (np.nan_to_num(density) > 0) & valid
    cell_dims = ["slice", "y_1km", "x_1km"]
    writer.write("density", density, cell_dims, {"units": "%", "long_name": "new landslide area density"})
    writer.write("presence", presence, cell_dims, {"long_name": "new landslides present"})
    writer.write("valid", valid, cell_dims, {"long_name": "cell usable for targets and losses"})
    windows = patch_windows(catalog.grid.n_rows, catalog.grid.n_cols, PATCH_CELLS, SHIFT_CELLS)
    writer.write("window_field", np.array(["lattice", "row", "col"]), ["window_field"])
    writer.write("windows", windows, ["window", "window_field"])
    write_truth(writer, catalog, cell_dims)
    return {"density": density, "presence": presence, "valid": valid, "windows": windows}


def write_truth(writer: CubeWriter, catalog: Catalog, cell_dims: list[str]) -> None:
    """Copy the known truth (synthetic cases) into the cube, so skill can be set against it."""
    if "truth" not in catalog.layers:
        return
    entry = catalog.layer("truth")
    truth = open_truth(entry, [spec.label for spec in catalog.labelled_slices]).reindex(slice=catalog.slice_labels)
    for name in TRUTH_VARIABLES:
        layer = truth[name].transpose("slice", "y", "x")
        assert_on_grid(layer, catalog.grid, "1km", name=f"{entry.path}:{name}")
        writer.write(f"truth_{name}", layer.values.astype("float32"), cell_dims, dict(layer.attrs))


def summarise(catalog: Catalog, arrays: dict[str, np.ndarray], seconds: float) -> dict[str, Any]:
    """The prepare summary written to prepare.json and printed by the CLI."""
    valid, presence, windows = arrays["valid"], arrays["presence"], arrays["windows"]
    per_window = window_cells(valid, windows, PATCH_CELLS).sum(axis=(-1, -2))
    n_valid = valid.sum(axis=(1, 2))
    return {
        "case": catalog.case, "catalog": str(catalog.path),
        "region_cells": list(catalog.grid.shape("1km")), "region_pixels": list(catalog.grid.shape("30m")),
        "pixel_size_m": catalog.grid.pixel_size_m, "crs": catalog.grid.crs,
        "slices": catalog.slice_labels, "channels": list(CHANNELS),
        "forecast_periods": [spec.label for spec in catalog.slices if not spec.labelled],
        "patches_per_slice": count_windows(windows),
        "samples_with_valid_cells": int(np.count_nonzero(per_window)),
        "positive_fraction": [round(float(p), 4) for p in presence.sum(axis=(1, 2)) / np.maximum(n_valid, 1)],
        "masked_cells": [int(v) for v in valid.size // len(valid) - n_valid],
        "seconds": round(seconds, 2),
    }


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Callable[[str], None]]:
    bar = tqdm(total=total, desc="prepare", unit="step", disable=not enabled)

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update(1)

    try:
        yield step
    finally:
        bar.close()


def prepare(catalog_path: str | Path, workdir: str | Path, progress: bool = False, chunks: int = 0) -> dict[str, Any]:
    """Prepare predictors, targets and patch windows of a catalog into ``workdir``.

    Parameters
    ----------
    catalog_path
        The catalog YAML.
    workdir
        Output folder: ``prepared.zarr`` and ``prepare.json`` are (re)written atomically.
    progress
        Show a progress bar.
    chunks
        0: compute each layer whole (fast while a few full layers fit in memory). N: compute
        the predictors in N × N-pixel tiles as Dask tasks (N a multiple of 128), on the active
        Dask scheduler, a ``dask.distributed`` cluster included; same values
        (:mod:`hazardcore.tiled_cube`).

    Returns
    -------
    dict
        The summary (also in ``prepare.json``).
    """
    start = time.perf_counter()
    catalog = load_catalog(catalog_path)
    workdir = Path(workdir)
    cluster = tiled_cube.scheduler() if chunks else contextlib.nullcontext()
    with _progress(progress, 5) as step, atomic_dir(workdir / CUBE_NAME) as folder, cluster:
        writer = CubeWriter(folder, cube_attrs(catalog))
        write_coordinates(writer, catalog)
        valid = write_static(writer, catalog, step, chunks) & write_dynamic(writer, catalog, step, chunks)
        quake_valid = write_forecast_pga(writer, catalog)
        if quake_valid is not None:
            valid &= quake_valid
        step("inventory")
        arrays = write_targets(writer, catalog, valid)
        step("write")
        writer.seal()
    summary = summarise(catalog, arrays, time.perf_counter() - start)
    export.write_json(summary, workdir / "prepare.json")
    return summary


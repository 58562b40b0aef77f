"""Tiny hand-made regions on disk, with values chosen so that results are known exactly.

Used by the catalog, prepare, dataset and bad-input tests (independent of the synthetic
generator, whose own tests live in test_synthetic.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import yaml
from rasterio.warp import transform_bounds

from hazardcore import export
from hazardcore.grid import GridSpec

CRS = "EPSG:32645"
X_MIN, Y_MAX = 400000.0, 3100000.0
DATES = ["2015-04-01", "2015-06-15", "2015-11-15", "2016-05-15"]
PGA_G = (0.5, 0.3)  # mainshock, aftershock: uniform fields, in g


def grid(n_cells: int = 8) -> GridSpec:
    """The square test grid."""
    return GridSpec(crs=CRS, x_min=X_MIN, y_max=Y_MAX, n_rows=n_cells, n_cols=n_cells)


def dem_values(g: GridSpec, margin_cells: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth hills (m) on the 31.25 m lattice of the grid grown by a margin; returns (z, x, y)."""
    step = g.pixel_size_m
    n = (g.n_rows + 2 * margin_cells) * g.pixels_per_cell
    x = g.x_min - margin_cells * g.cell_size_m + step * (np.arange(n) + 0.5)
    y = g.y_max + margin_cells * g.cell_size_m - step * (np.arange(n) + 0.5)
    xx, yy = np.meshgrid(x - g.x_min, y - g.y_max)
    z = 2000.0 + 300.0 * np.sin(xx / 900.0) * np.cos(yy / 700.0) - 0.05 * yy
    return z.astype("float32"), x, y


def raster(values: np.ndarray, x: np.ndarray, y: np.ndarray, crs: str | None = CRS) -> xr.DataArray:
    """A (band, y, x) DataArray with a CRS."""
    data = values if values.ndim == 3 else values[None]
    da = xr.DataArray(data, dims=("band", "y", "x"),
                      coords={"band": np.arange(1, len(data) + 1), "y": y, "x": x})
    return da.rio.write_crs(crs) if crs else da


def inventory_values(g: GridSpec) -> np.ndarray:
    """Cumulative area (m²) per date: known increases and one revegetating cell."""
    areas = np.zeros((len(DATES), g.n_rows, g.n_cols), dtype="float32")
    areas[0, 0, 0] = 5000.0                  # old scar before the event
    areas[1:, 0, 0] = [25000.0, 20000.0, 20000.0]  # +2 %, then recovery (target 0), then 0
    areas[1:, 1, 1] = [0.0, 10000.0, 30000.0]     # 0, +1 %, +2 %
    areas[1:, 2, 3] = [50000.0, 50000.0, 50000.0]  # +5 % co-seismic only
    return areas


def lonlat_axes(g: GridSpec, step_deg: float = 0.05, pad_deg: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A CHIRPS-like 0.05° lon/lat lattice covering the grid with a margin (lat descending)."""
    left, bottom, right, top = transform_bounds(g.crs, "EPSG:4326", *g.bounds)
    lon = np.arange(np.floor((left - pad_deg) / step_deg), np.ceil((right + pad_deg) / step_deg)) * step_deg
    lat = np.arange(np.ceil((top + pad_deg) / step_deg), np.floor((bottom - pad_deg) / step_deg), -1)
    lat = lat * step_deg
    return lon + step_deg / 2, lat - step_deg / 2


def rain_frame(days: pd.DatetimeIndex) -> np.ndarray:
    """Daily rain (mm/day): day-of-series index mod 10, plus 100 mm on 2015-08-01."""
    values = (np.arange(len(days)) % 10).astype("float32")
    values[days == pd.Timestamp("2015-08-01")] = 100.0
    return values


def write_region(folder: Path, n_cells: int = 8, n_slices: int = 3, **overrides: Any) -> Path:
    """Write a complete tiny region and its catalog; return the catalog path."""
    folder.mkdir(parents=True, exist_ok=True)
    g = grid(n_cells)
    z, x, y = dem_values(g)
    export.write_geotiff(raster(z, x, y), folder / "dem.tif", nodata=-9999.0)
    for name, value in zip(("mainshock", "aftershock"), PGA_G, strict=True):
        px = X_MIN - 5000 + 370 + 1000 * (np.arange(n_cells + 10) + 0.5)
        py = Y_MAX + 5000 - 410 - 1000 * (np.arange(n_cells + 10) + 0.5)
        field = np.full((len(py), len(px)), value, dtype="float32")
        export.write_geotiff(raster(field, px, py), folder / f"pga_{name}.tif", nodata=-1.0)
    days = pd.date_range("2015-04-02", DATES[n_slices], freq="D")
    lon, lat = lonlat_axes(g)
    precip = np.broadcast_to(rain_frame(days)[:, None, None], (len(days), len(lat), len(lon)))
    rain = xr.Dataset({"precip": (("time", "latitude", "longitude"), precip.copy(), {"units": "mm/day"})},
                      coords={"time": days, "latitude": lat, "longitude": lon})
    export.write_netcdf(rain.rio.write_crs("EPSG:4326"), folder / "rain.nc")
    gx, gy = g.coords("1km")["x"], g.coords("1km")["y"]
    inventory = inventory_values(g)[: n_slices + 1]
    export.write_geotiff(raster(inventory, gx, gy), folder / "inventory.tif", nodata=-1.0,
                         band_descriptions=DATES[: n_slices + 1])
    catalog = catalog_dict(g, n_slices)
    for key, value in overrides.items():
        catalog[key] = value
    return export.write_yaml(catalog, folder / "catalog.yaml")


def catalog_dict(g: GridSpec, n_slices: int) -> dict[str, Any]:
    """The catalog of :func:`write_region`."""
    labels = ["2015-co", "2015-post", "2016-pre"]
    slices = [{"label": labels[i], "start": DATES[i], "end": DATES[i + 1]} for i in range(n_slices)]
    return {
        "case": "tiny-test",
        "grid": g.to_dict(),
        "events": [{"name": "mainshock", "date": "2015-04-25", "magnitude": 7.8},
                   {"name": "aftershock", "date": "2015-05-12", "magnitude": 7.3}],
        "slices": slices,
        "layers": {
            "dem": {"path": "dem.tif", "format": "GeoTIFF", "crs": CRS, "units": "m", "nodata": -9999.0},
            "pga": [{"event": "mainshock", "path": "pga_mainshock.tif", "format": "GeoTIFF", "crs": CRS,
                     "units": "g", "nodata": -1.0},
                    {"event": "aftershock", "path": "pga_aftershock.tif", "format": "GeoTIFF", "crs": CRS,
                     "units": "g", "nodata": -1.0}],
            "rainfall": {"path": "rain.nc", "format": "NetCDF", "variable": "precip", "crs": "EPSG:4326",
                         "units": "mm/day"},
            "inventory": {"path": "inventory.tif", "format": "GeoTIFF", "crs": CRS, "units": "m2",
                          "nodata": -1.0, "dates": DATES[: n_slices + 1]},
        },
    }


def edit_catalog(path: Path, edit: Any) -> Path:
    """Apply ``edit(dict)`` to a catalog file in place (tests only)."""
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def day(text: str) -> dt.date:
    """ISO date."""
    return dt.date.fromisoformat(text)

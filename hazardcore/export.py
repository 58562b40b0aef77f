"""The only writer of products and generated inputs: every file is written atomically.

A file is written to a temporary name in its destination folder, flushed to disk and then
renamed over the destination, so that an interrupted write never leaves a truncated file
and the previous version survives until the new one is complete.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
import yaml
import zarr

from hazardcore.atomic import atomic_path, write_text


def write_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as indented JSON atomically and return the path."""
    return write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", path)


def write_yaml(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as block-style YAML atomically and return the path."""
    return write_text(yaml.safe_dump(obj, sort_keys=False, default_flow_style=None), path)


def write_geotiff(da: xr.DataArray, path: str | Path, *, nodata: float | None = None,
                  band_descriptions: Sequence[str] | None = None,
                  tags: dict[str, str] | None = None, dtype: str | None = None) -> Path:
    """Write a (band, y, x) or (y, x) DataArray with a CRS as a tiled, compressed GeoTIFF.

    Parameters
    ----------
    da
        Data with a CRS and transform (rioxarray).
    path
        Destination ``.tif``.
    nodata
        Value written where ``da`` is NaN; also stored as the file's nodata.
    band_descriptions
        One description per band (e.g. dates or slice labels).
    tags
        Dataset-level metadata tags (e.g. units, source).
    dtype
        On-disk dtype, default that of ``da``.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    out = da
    if nodata is not None:
        out = out.fillna(nodata).rio.write_nodata(nodata)
    if dtype is not None:
        out = out.astype(dtype)
    if band_descriptions is not None:
        out = out.assign_attrs(long_name=tuple(str(d) for d in band_descriptions))
    with atomic_path(path) as tmp:
        out.rio.to_raster(tmp, driver="GTiff", tiled=True, blockxsize=256, blockysize=256,
                          compress="DEFLATE", tags=tags or {})
    return Path(path)


def _netcdf_encoding(var: xr.DataArray) -> dict[str, Any]:
    """The variable's own encoding (e.g. rioxarray's ``grid_mapping``) that netCDF4 accepts."""
    keep = {"grid_mapping", "dtype", "_FillValue", "scale_factor", "add_offset", "units", "calendar"}
    return {key: value for key, value in var.encoding.items() if key in keep}


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a Dataset as NetCDF-4 (zlib-compressed variables) atomically."""
    encoding = {name: {**_netcdf_encoding(var), "zlib": True, "complevel": 4}
                for name, var in ds.data_vars.items() if np.issubdtype(var.dtype, np.number)}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return Path(path)


class CubeWriter:
    """Stream arrays of the prepared cube into a Zarr v3 group, one block at a time.

    Parameters
    ----------
    folder
        The (temporary) folder of the group, from :func:`atomic_dir`.
    attrs
        Group attributes (grid, channel names, slice labels, units).
    """

    def __init__(self, folder: Path, attrs: dict[str, Any]) -> None:
        self.group = zarr.open_group(str(folder), mode="w", zarr_format=3)
        self.group.attrs.update(attrs)

    def create(self, name: str, shape: tuple[int, ...], dims: Sequence[str], dtype: str,
               chunks: tuple[int, ...] | None = None, fill_value: Any = None) -> zarr.Array:
        """Create an empty array with named dimensions (readable by ``xarray.open_zarr``)."""
        return self.group.create_array(name, shape=shape, dtype=dtype, chunks=chunks or shape,
                                       dimension_names=list(dims), fill_value=fill_value)

    def write(self, name: str, values: np.ndarray, dims: Sequence[str],
              attrs: dict[str, Any] | None = None) -> None:
        """Write a whole small array (coordinates, targets, windows)."""
        dtype = np.dtypes.StringDType() if values.dtype.kind in "UO" else values.dtype
        chunks: tuple[int, ...] = tuple(int(n) for n in values.shape) or (1,)
        array = self.group.create_array(name, shape=values.shape, dtype=dtype,
                                        chunks=chunks if values.shape else "auto", dimension_names=list(dims))
        array[...] = values.astype(dtype) if values.dtype.kind in "UO" else values
        if attrs:
            array.attrs.update(attrs)

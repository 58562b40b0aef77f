"""The only writer of products and generated inputs: every file is written atomically.

A file is written to a temporary name in its destination folder, flushed to disk and then
renamed over the destination, so that an interrupted write never leaves a truncated file
and the previous version survives until the new one is complete. Its SHA-256 goes into
the folder's ``manifest.json`` (:mod:`hazardcore.integrity`), against which readers check it.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
import yaml
from rasterio.warp import transform_bounds

from hazardcore import qgis_project, styles
from hazardcore.atomic import folder_lock, write_text
from hazardcore.catalog import Catalog, load_catalog
from hazardcore.errors import GridMismatchError, HazardcoreError, InvalidValueError, MissingFileError, describe
from hazardcore.hazard import decision_thresholds
from hazardcore.integrity import MANIFEST, checked_path, file_record, read_manifest, verify_file
from hazardcore.intervals import exceedance_maps

COG_NODATA = -9999.0
OCCURRENCE_NODATA = 255
OCCURRENCE = "predicted_occurrence"
CORE_VARIABLES = ("susceptibility", "density", "hazard")
COG_VARIABLES = (*CORE_VARIABLES, "observed_density",
                 "true_probability", "true_density_given_occurrence", "true_hazard")
TIME_ENCODING = {"units": "days since 1970-01-01 00:00:00", "calendar": "standard", "dtype": "float64",
                 "_FillValue": None}
#: The product users read (CF, ACDD) and the model's internals beside it (same layout).
USER_PRODUCT = "hazard.nc"
DIAGNOSTICS_PRODUCT = "hazard_diagnostics.nc"
#: The QGIS project that opens the GeoTIFF products with their styles.
QGIS_PROJECT = "hazard.qgs"
#: Variables of the predictions that describe the model or its evaluation, not the hazard: they go to
#: :data:`DIAGNOSTICS_PRODUCT`. Every other variable (core maps, valid mask, decision threshold, an
#: ensemble's spread, ...) goes to :data:`USER_PRODUCT`.
DIAGNOSTIC_VARIABLES = ("logit", "susceptibility_uncalibrated", "observed_density", "presence",
                        "train", "validation", "test", "windows")
DIAGNOSTIC_PREFIXES = ("true_",)
#: CF cell methods of the area densities: the share of the cell's area (a mean over the cell) that new
#: landslides covered during the slice (a sum over its time).
DENSITY_CELL_METHODS = "area: mean time: sum"
DENSITY_VARIABLES = ("density", "hazard", "observed_density", "true_density_given_occurrence", "true_hazard")
#: Suffix of an ensemble's summary of a variable across members (``hazard_std``, ``density_p95``).
ENSEMBLE_SUFFIX = re.compile(r"_(mean|median|std|p\d{1,2})$")
#: CF-1.8, the newest version every CF checker knows (cfchecker 4.1 stops there): no unsigned types, so the
#: masks are signed bytes and the grid mapping an int, and no variable-length strings (the labels are chars).
CONVENTIONS = "CF-1.8, ACDD-1.3"
MASK_FLAGS = {"valid": "invalid valid", "test": "not_test test"}
METHOD_REFERENCE = ("Dahal, A., Tanyas, H., van Westen, C., van der Meijde, M., Mai, P. M., Huser, R. and "
                    "Lombardo, L.: Space-time landslide hazard modeling via Ensemble Neural Networks, "
                    "Nat. Hazards Earth Syst. Sci., 24, 823-845, https://doi.org/10.5194/nhess-24-823-2024, 2024")


def checked_text(text: str, path: str | Path) -> Path:
    """Write ``text`` (UTF-8) atomically, its checksum recorded in the folder's manifest."""
    with checked_path(path) as tmp:
        tmp.write_bytes(text.encode("utf-8"))
    return Path(path)


def write_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as indented JSON atomically (checksum recorded) and return the path."""
    return checked_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", path)


def write_yaml(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` as block-style YAML atomically (checksum recorded) and return the path."""
    return checked_text(yaml.safe_dump(obj, sort_keys=False, default_flow_style=None), path)


def write_report(html: str, path: str | Path) -> Path:
    """Write a self-contained HTML report atomically (checksum recorded) and return the path."""
    return checked_text(html, path)


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
    with checked_path(path) as tmp:
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
    with checked_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return Path(path)


def _require_cog_driver() -> None:
    """Raise unless the GDAL inside rasterio has the COG driver (GDAL >= 3.1)."""
    with rasterio.Env() as env:
        drivers = env.drivers()
    if "COG" not in drivers:
        raise HazardcoreError(describe(
            "the GDAL inside rasterio cannot write Cloud-Optimised GeoTIFFs", source="rasterio",
            expected="GDAL >= 3.1 with the COG driver", found=f"GDAL {rasterio.__gdal_version__}",
            fix="install a rasterio wheel built with GDAL >= 3.1 (`pip install -U rasterio`)"))


def _check_slice_stack(da: xr.DataArray, band_descriptions: Sequence[str]) -> None:
    """Raise unless ``da`` is a (slice, y, x) stack with one description per slice."""
    if da.dims != ("slice", "y", "x"):
        raise GridMismatchError(describe("a COG product must be a (slice, y, x) stack", source=str(da.name),
                                         expected=("slice", "y", "x"), found=da.dims))
    if len(band_descriptions) != da.sizes["slice"]:
        raise InvalidValueError(describe("one band description per slice is needed", source=str(da.name),
                                         expected=da.sizes["slice"], found=len(band_descriptions)))


def write_cog(da: xr.DataArray, path: str | Path, *, band_descriptions: Sequence[str],
              nodata: float = COG_NODATA, tags: dict[str, str] | None = None,
              band_tags: Sequence[dict[str, str]] | None = None, dtype: str = "float32") -> Path:
    """Write a (slice, y, x) stack as a Cloud-Optimised GeoTIFF, one band per slice.

    Parameters
    ----------
    da
        Float data with a CRS and transform (rioxarray); NaN marks missing cells.
    path
        Destination ``.tif``.
    band_descriptions
        One description per band (the slice labels).
    nodata
        Value written where ``da`` is NaN, also the file's declared nodata.
    tags
        Extra dataset-level tags; ``units`` and ``long_name`` come from ``da.attrs``.
    band_tags
        Metadata tags of each band (one dict per slice), e.g. its dates and decision threshold.
        Every band's unit is ``da.attrs["units"]`` (GDAL's band unit type).
    dtype
        On-disk type (``float32``; ``uint8`` for classes, with a ``nodata`` it can hold).

    Returns
    -------
    pathlib.Path
        The written path (GDAL ``COG`` driver, DEFLATE, overviews as GDAL decides).

    Raises
    ------
    GridMismatchError
        If ``da`` is not a (slice, y, x) stack.
    InvalidValueError
        If the number of descriptions differs from the number of slices.
    HazardcoreError
        If rasterio's GDAL has no COG driver.
    """
    _check_slice_stack(da, band_descriptions)
    _require_cog_driver()
    units = str(da.attrs.get("units", ""))
    all_tags = {"units": units, "long_name": str(da.attrs.get("long_name", da.name)), **(tags or {})}
    values = da.astype("float32").fillna(nodata).astype(dtype).values
    profile = {"driver": "COG", "compress": "DEFLATE", "count": values.shape[0], "height": values.shape[1],
               "width": values.shape[2], "dtype": dtype, "crs": da.rio.crs, "transform": da.rio.transform(),
               "nodata": nodata}
    with checked_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(values)
        dst.update_tags(**all_tags)
        for band, description in enumerate(band_descriptions, start=1):
            dst.set_band_description(band, str(description))
            dst.set_band_unit(band, units)
            if band_tags is not None:
                dst.update_tags(band, **band_tags[band - 1])
    return Path(path)


def _cf_time(predictions: xr.Dataset) -> xr.Dataset:
    """Turn the ``slice`` dim into CF ``time`` (slice start) with ``time_bnds`` and a ``slice_label`` coordinate."""
    start = predictions["slice_start"].values.astype("datetime64[ns]")
    end = predictions["slice_end"].values.astype("datetime64[ns]")
    labels = np.array([str(v) for v in predictions["slice"].values], dtype=object)
    ds = predictions.drop_vars(["slice", "slice_start", "slice_end"]).rename(slice="time")
    ds = ds.assign_coords(time=("time", start), slice_label=("time", labels, {"long_name": "time slice label"}))
    ds["slice_label"].encoding["dtype"] = "S1"  # a char array: CF-1.8 checkers refuse variable-length strings
    ds["time_bnds"] = xr.DataArray(np.stack([start, end], axis=1), dims=("time", "nv"))
    if "monsoons" in ds.coords:
        ds["monsoons"].attrs.update(long_name="monsoons since the earthquake", units="1")
    ds["time"].attrs.update(standard_name="time", long_name="start of the time slice", axis="T",
                            bounds="time_bnds")
    for name in ("time", "time_bnds"):
        ds[name].encoding.update(TIME_ENCODING)
    for var in ds.variables.values():  # the predictions' own `coordinates` name the dropped slice dates
        var.encoding = {key: value for key, value in var.encoding.items() if key != "coordinates"}
    return ds


def time_dataset(predictions: xr.Dataset) -> xr.Dataset:
    """A run's (slice, y, x) Dataset as it is stored: by ``time``, the slice's start (no IO).

    The working form of hazardcore's code has a ``slice`` dimension labelled by slice, with
    ``slice_start``/``slice_end`` coordinates; the files (``predictions.nc``, ``scores.nc``,
    the products) have ``time`` = slice start with CF bounds ``time_bnds`` = [start, end] and
    the label as the ``slice_label`` coordinate, so ``sel(time=...)`` and ``resample`` work on
    them. :func:`slice_dataset` turns it back.

    Raises
    ------
    GridMismatchError
        If ``predictions`` lacks the slice coordinates or a CRS.
    InvalidValueError
        If a slice has no start or end date (NaT).
    """
    _check_cf_ready(predictions)
    return _cf_time(predictions)


def slice_dataset(ds: xr.Dataset, source: str | Path = "dataset") -> xr.Dataset:
    """A stored run Dataset (:func:`time_dataset`) in hazardcore's working form: ``slice`` dim (no IO).

    ``slice`` holds the ``slice_label`` values, ``slice_start`` the times and ``slice_end`` the
    upper ``time_bnds``. A Dataset already by ``slice`` (a file written before the files were
    stored by time) is returned unchanged.

    Raises
    ------
    GridMismatchError
        If ``ds`` has neither a ``slice`` dimension nor ``time`` with ``time_bnds`` and ``slice_label``.
    """
    if "slice" in ds.dims:
        return ds
    if "time" not in ds.dims or "slice_label" not in ds.coords or "time_bnds" not in ds.variables:
        raise GridMismatchError(describe(
            "the file has neither time slices nor a slice dimension", source=source,
            expected="dims (time, y, x) with time_bnds and a slice_label coordinate, or (slice, y, x)",
            found=f"dims {dict(ds.sizes)}, coordinates {sorted(map(str, ds.coords))}",
            fix="write it again with hazardcore (`hazard predict WORKDIR` and `hazard evaluate WORKDIR`)"))
    labels = np.array([str(label) for label in ds["slice_label"].values])
    start = ds["time"].values.astype("datetime64[ns]")
    end = ds["time_bnds"].values[:, 1].astype("datetime64[ns]")
    out = ds.drop_vars(["time_bnds", "slice_label"]).rename(time="slice")
    out = out.assign_coords(slice=("slice", labels), slice_start=("slice", start), slice_end=("slice", end))
    for name in ("slice", "slice_start", "slice_end"):
        out[name].attrs, out[name].encoding = {}, {}
    return out


def write_run_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a run's (slice, y, x) Dataset (predictions, scores) by ``time`` (:func:`time_dataset`), atomically.

    Read it back with :func:`open_predictions` / :func:`open_scores` (working form) or with
    ``xarray.open_dataset`` (``time``; ``decode_coords="all"`` for the CRS).
    """
    return write_netcdf(time_dataset(ds), path)


def _cf_space(ds: xr.Dataset, crs: Any) -> xr.Dataset:
    """Attach the grid mapping (``spatial_ref``) and CF attributes of the projection coordinates."""
    ds = ds.rio.write_crs(crs).rio.write_coordinate_system()
    ds["spatial_ref"].encoding["dtype"] = "int32"  # CF-1.8 has no int64
    for dim in ("x", "y"):
        ds[dim].attrs["units"] = "m"
    for name in ds.dims:  # CF 2.5.1: no fill value on coordinate variables (x, y, an exceedance threshold)
        if name in ds.coords:
            ds[name].encoding = {**ds[name].encoding, "_FillValue": None}
            if "standard_name" not in ds[name].attrs:  # CF 3.3: a name that says what it is
                ds[name].attrs.setdefault("long_name", str(name))
    for var in ds.data_vars.values():
        if {"x", "y"} <= set(var.dims):
            var.encoding["grid_mapping"] = "spatial_ref"
            var.attrs.pop("grid_mapping", None)
    return ds


def _cf_masks(ds: xr.Dataset) -> xr.Dataset:
    """Give the 0/1 byte masks ``flag_values``/``flag_meanings`` (``valid``, ``test`` and any other)."""
    masks = [name for name, var in ds.data_vars.items() if var.dtype == np.uint8 or name in MASK_FLAGS]
    for name in masks:  # signed bytes: CF-1.8 has no unsigned types
        meanings = MASK_FLAGS.get(str(name), f"not_{name} {name}")
        ds[name] = ds[name].astype("int8").assign_attrs(
            flag_values=np.array([0, 1], dtype="int8"), flag_meanings=meanings,
            long_name=ds[name].attrs.get("long_name", f"{name} mask"))
        ds[name].attrs.pop("units", None)  # CF 3.5: flags have no units
    if "windows" in ds:
        ds["windows"].attrs.setdefault("long_name", "number of prediction windows averaged per cell")
        ds["windows"].attrs.setdefault("units", "1")
    return ds


def _coverage_content_type(name: str, var: xr.DataArray) -> str:
    """ACDD ``coverage_content_type`` of a product variable."""
    if "flag_values" in var.attrs:
        return "qualityInformation"
    if name.startswith(DIAGNOSTIC_PREFIXES):
        return "referenceInformation"  # the synthetic world's known truth
    if name in ("observed_density", "presence"):
        return "physicalMeasurement"
    return "auxiliaryInformation" if "time" not in var.dims or {"x", "y"} - set(var.dims) else "modelResult"


def _cf_variable_attrs(ds: xr.Dataset) -> xr.Dataset:
    """ACDD ``coverage_content_type`` of every variable and ``cell_methods`` of the area densities
    (:data:`DENSITY_CELL_METHODS`; the other maps have none that fits). A variable's own
    ``cell_methods`` (e.g. an ensemble's ``realization: median``) follows them."""
    for name, var in ds.data_vars.items():
        var.attrs = {**var.attrs, "coverage_content_type": _coverage_content_type(str(name), var)}
        own = str(var.attrs.get("cell_methods", ""))
        density = ENSEMBLE_SUFFIX.sub("", str(name)) in DENSITY_VARIABLES
        if var.dims == ("time", "y", "x") and density and "area:" not in own:
            var.attrs["cell_methods"] = f"{DENSITY_CELL_METHODS} {own}".strip()
    return ds


def _hazardcore_version() -> str:
    try:
        return importlib.metadata.version("hazardcore")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _iso_date(value: np.datetime64) -> str:
    return str(np.datetime_as_string(value.astype("datetime64[s]"), unit="s")) + "Z"


def _acdd_coverage(ds: xr.Dataset, crs: Any) -> dict[str, Any]:
    """ACDD time and geospatial coverage: the slices' first start and last end, the grid's lat/lon box."""
    x_min, y_min, x_max, y_max = ds.rio.bounds()
    lon_min, lat_min, lon_max, lat_max = transform_bounds(crs, "EPSG:4326", x_min, y_min, x_max, y_max,
                                                          densify_pts=21)
    bounds = ds["time_bnds"].values
    return {"time_coverage_start": _iso_date(bounds.min()), "time_coverage_end": _iso_date(bounds.max()),
            "geospatial_lat_min": round(lat_min, 6), "geospatial_lat_max": round(lat_max, 6),
            "geospatial_lon_min": round(lon_min, 6), "geospatial_lon_max": round(lon_max, 6),
            "geospatial_lat_units": "degrees_north", "geospatial_lon_units": "degrees_east",
            "geospatial_bounds_crs": "EPSG:4326", "geospatial_bounds": _lat_lon_box(lat_min, lon_min, lat_max, lon_max)}


def _lat_lon_box(lat_min: float, lon_min: float, lat_max: float, lon_max: float) -> str:
    """ACDD ``geospatial_bounds``: the lat/lon box as a WKT polygon in EPSG:4326's axis order (lat lon)."""
    corners = [(lat_min, lon_min), (lat_max, lon_min), (lat_max, lon_max), (lat_min, lon_max), (lat_min, lon_min)]
    return "POLYGON ((" + ", ".join(f"{lat:.6f} {lon:.6f}" for lat, lon in corners) + "))"


def _cf_global_attrs(predictions: xr.Dataset, ds: xr.Dataset, about: dict[str, str], what: str) -> dict[str, Any]:
    """Global attributes of a CF/ACDD product (run attributes of ``predictions`` kept; ``about`` from the catalog)."""
    run_id = str(predictions.attrs.get("run_id", "unknown"))
    return {**predictions.attrs, "Conventions": CONVENTIONS,
            "title": f"Space-time landslide {what} per 1 km cell and time slice (run {run_id})",
            "summary": "Susceptibility (probability of new landslides), density given occurrence and hazard "
                       "(their product, the expected new landslide area density) of each 1 km cell in each time "
                       "slice, predicted by hazardcore's ensemble neural network.",
            "keywords": "landslide, hazard, susceptibility, landslide area density, space-time",
            "id": run_id, "cdm_data_type": "Grid", "product_version": _hazardcore_version(),
            "processing_level": "model output",
            "institution": str(predictions.attrs.get("institution", "hazardcore users")),
            "source": f"hazardcore {_hazardcore_version()} ensemble neural network (susceptibility x density)",
            "history": "created by hazardcore.export.cf_dataset",
            "references": METHOD_REFERENCE,
            "comment": "time = start of each slice; time_bnds = [start, end]; hazard = susceptibility x density, "
                       "the expected new landslide area density (%) of the cell in the slice",
            "time_coordinate": "slice start",
            **_acdd_coverage(ds, predictions.rio.crs), **about}


def _check_cf_ready(predictions: xr.Dataset) -> None:
    """Raise unless ``predictions`` has the coordinates, slice dates and CRS a CF product needs."""
    missing = [name for name in ("slice", "slice_start", "slice_end", "y", "x") if name not in predictions.coords]
    if missing or predictions.rio.crs is None:
        raise GridMismatchError(describe("predictions lack coordinates a CF product needs", source="predictions",
                                         expected="slice, slice_start, slice_end, y, x and a CRS",
                                         found=f"missing {missing}, CRS {predictions.rio.crs}"))
    undated = [str(label) for label, start, end in zip(predictions["slice"].values, predictions["slice_start"].values,
                                                      predictions["slice_end"].values, strict=True)
               if np.isnat(start) or np.isnat(end)]
    if undated:
        raise InvalidValueError(describe("slices without start/end dates cannot be given CF time bounds",
                                         source="predictions", expected="a start and end date per slice",
                                         found=f"no dates for {undated}",
                                         fix="prepare the data again (`hazard prepare`): the cube records slice dates"))


def cf_dataset(predictions: xr.Dataset, about: dict[str, str] | None = None, what: str = "hazard") -> xr.Dataset:
    """Return the predictions as a CF-1.8 / ACDD-1.3 Dataset (no IO).

    Parameters
    ----------
    predictions
        The (slice, y, x) predictions Dataset (or a part of it, see :func:`product_parts`)
        with ``slice_start``/``slice_end`` coordinates and a CRS (rioxarray).
    about
        Global attributes from the data catalog (``license``, ``creator_name``, ...; see
        :func:`catalog_attributes`).
    what
        What the file holds, for its title (``hazard``, ``hazard diagnostics``).

    Returns
    -------
    xarray.Dataset
        Dims (time, y, x): ``time`` = slice start, ``time_bnds`` = [start, end], a
        ``slice_label`` coordinate, a ``spatial_ref`` grid mapping referenced by every
        gridded variable, byte masks with flag attributes, ``cell_methods`` of the area
        densities, CF and ACDD global attributes (time and lat/lon coverage).

    Raises
    ------
    GridMismatchError
        If ``predictions`` lacks the slice coordinates or a CRS.
    InvalidValueError
        If a slice has no start or end date (NaT).
    """
    _check_cf_ready(predictions)
    ds = _cf_space(_cf_variable_attrs(_cf_masks(_cf_time(predictions))), predictions.rio.crs)
    return ds.assign_attrs(_cf_global_attrs(predictions, ds, about or {}, what))


def write_cf_netcdf(predictions: xr.Dataset, path: str | Path, about: dict[str, str] | None = None,
                    what: str = "hazard") -> Path:
    """Write the predictions as a zlib-compressed CF-1.8 / ACDD-1.3 NetCDF-4 file, atomically.

    Returns
    -------
    pathlib.Path
        The written path (see :func:`cf_dataset` for its content and the arguments).
    """
    ds = cf_dataset(predictions, about, what)
    stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    ds.attrs["history"] = f"{stamp.isoformat()}: written by hazardcore.export.write_cf_netcdf"
    ds.attrs["date_created"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return write_netcdf(ds, path)


def is_diagnostic(name: str) -> bool:
    """Whether the predictions' variable ``name`` goes to the diagnostics product (see :data:`DIAGNOSTIC_VARIABLES`)."""
    return name in DIAGNOSTIC_VARIABLES or name.startswith(DIAGNOSTIC_PREFIXES)


def product_parts(predictions: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    """The predictions split into what users read and the model's diagnostics (no IO).

    Returns
    -------
    tuple of xarray.Dataset
        (user, diagnostics), both with every coordinate and the CRS. Every data variable is
        in exactly one: diagnostics are :func:`is_diagnostic`; the rest (core maps, valid
        mask, decision threshold and any other, e.g. an ensemble's spread) is the user's.
    """
    names = [str(name) for name in predictions.data_vars if name != "spatial_ref"]
    diagnostics = [name for name in names if is_diagnostic(name)]
    user = predictions.drop_vars([*diagnostics, *(["spatial_ref"] if "spatial_ref" in predictions.data_vars else [])])
    return user, predictions[diagnostics]


def catalog_attributes(source: Catalog | None) -> dict[str, str]:
    """ACDD attributes from the data catalog: ``license`` (its ``licence`` or ``license``), ``creator_name`` (its
    ``creator``, where it has one), ``project`` (the case) and the data sources' citations."""
    if source is None:
        return {}
    raw = source.raw
    about = {"license": raw.get("licence", raw.get("license")), "creator_name": raw.get("creator"),
             "project": source.case, "source_data_citation": raw.get("citation")}
    citations = sorted({str(entry.about["citation"]) for role in source.layers for entry in source.layer_list(role)
                        if entry.about.get("citation")})
    if citations:
        about["acknowledgement"] = "Input data: " + "; ".join(citations)
    return {key: str(value) for key, value in about.items() if value}


def source_catalog(input_files: Sequence[Path]) -> Catalog | None:
    """The data catalog among a run's input files (the first YAML file that loads as one), or None."""
    for path in input_files:
        if Path(path).suffix in (".yaml", ".yml"):
            try:
                return load_catalog(path)
            except HazardcoreError:
                continue
    return None


def with_decision_threshold(predictions: xr.Dataset) -> xr.Dataset:
    """The predictions with their per-slice ``decision_threshold`` (no IO).

    Older predictions without it get their pooled validation threshold in every slice
    (:func:`hazardcore.hazard.decision_thresholds`); predictions without any recorded
    threshold are returned unchanged.
    """
    decision = decision_thresholds(predictions)
    if "decision_threshold" in predictions or decision is None:
        return predictions
    thresholds, rule = decision
    return predictions.assign(decision_threshold=("slice", thresholds.astype("float32"), {
        "units": "1", "rule": rule, "long_name": "susceptibility at or above which a cell is predicted to have new "
                                                 "landslides in the slice"}))


def decision_band_tags(predictions: xr.Dataset) -> list[dict[str, str]] | None:
    """One tag dict per slice: ``slice``, ``decision_threshold`` and ``threshold_rule`` (None without a threshold)."""
    if "decision_threshold" not in predictions:
        return None
    variable = predictions["decision_threshold"]
    rule = str(variable.attrs.get("rule", ""))
    return [{"slice": str(label), "decision_threshold": str(float(value)), "threshold_rule": rule}
            for label, value in zip(predictions["slice"].values, variable.values.astype("float64"), strict=True)]


def predicted_occurrence(predictions: xr.Dataset) -> xr.DataArray | None:
    """1 where the susceptibility reaches its slice's decision threshold, 0 below, NaN on invalid cells (no IO).

    Returns
    -------
    xarray.DataArray or None
        float32 (slice, y, x) named ``predicted_occurrence``; NaN where the cell is not
        ``valid``, its susceptibility is NaN or its slice has no threshold. None when the
        predictions carry no ``decision_threshold`` (see :func:`with_decision_threshold`).
    """
    if "decision_threshold" not in predictions:
        return None
    susceptibility = predictions["susceptibility"].astype("float64")
    threshold = predictions["decision_threshold"].astype("float64")
    decided = np.isfinite(susceptibility) & np.isfinite(threshold)
    if "valid" in predictions:
        decided &= predictions["valid"] > 0
    values = xr.where(decided, (susceptibility >= threshold).astype("float32"), np.float32(np.nan))
    rule = str(predictions["decision_threshold"].attrs.get("rule", ""))
    return values.transpose(*susceptibility.dims).astype("float32").rename(OCCURRENCE).assign_attrs(
        units="1", long_name=f"new landslides predicted (1) or not (0): susceptibility >= the slice's decision "
                             f"threshold ({rule} rule)")


def slice_band_tags(predictions: xr.Dataset) -> list[dict[str, str]]:
    """One tag dict per slice (no IO): ``slice`` (its label), ``start_date`` and ``end_date`` (ISO 8601,
    the slice's ``[start, end)``), and ``decision_threshold``/``threshold_rule`` where recorded."""
    dates = [{"slice": str(label), "start_date": _iso_date(np.datetime64(start, "ns")),
              "end_date": _iso_date(np.datetime64(end, "ns"))}
             for label, start, end in zip(predictions["slice"].values, predictions["slice_start"].values,
                                          predictions["slice_end"].values, strict=True)]
    decided = decision_band_tags(predictions)
    return dates if decided is None else [{**day, **band} for day, band in zip(dates, decided, strict=True)]


def cog_variables(predictions: xr.Dataset) -> list[str]:
    """The variables written as GeoTIFFs: :data:`COG_VARIABLES` present, then every other float
    (slice, y, x) map of the user product (e.g. an ensemble's spread)."""
    names = [name for name in COG_VARIABLES if name in predictions]
    user, _ = product_parts(predictions)
    extras = [str(name) for name, var in user.data_vars.items() if name not in names
              and var.dims == ("slice", "y", "x") and np.issubdtype(var.dtype, np.floating)]
    return names + extras


def write_style(da: xr.DataArray, path: str | Path) -> Path:
    """Write the QGIS style (``.qml``) of the product ``da`` (its :func:`hazardcore.styles.scheme_for`)."""
    scheme = styles.scheme_for(str(da.name), str(da.attrs.get("units", "1")), da.values)
    return checked_text(styles.qml(scheme), path)


def _relative_source(path: Path, folder: Path) -> str:
    """``path`` as QGIS stores a layer source relative to the project's folder (absolute across drives)."""
    try:
        relative = Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()
    except ValueError:
        return Path(path).resolve().as_posix()
    return relative if relative.startswith(".") else f"./{relative}"


def project_groups(predictions: xr.Dataset, tifs: Sequence[str]) -> list[qgis_project.ProductGroup]:
    """One project group per GeoTIFF (named with its units), one layer per slice; ``hazard`` shown first."""
    labels = [str(label) for label in predictions["slice"].values]
    starts = [naive_datetime(v) for v in predictions["slice_start"].values]
    ends = [naive_datetime(v) for v in predictions["slice_end"].values]
    groups = []
    for name in sorted(tifs, key=lambda n: (n != "hazard", is_diagnostic(n))):
        da = predictions[name] if name in predictions else None
        units = str(da.attrs.get("units", "1")) if da is not None else "1"
        scheme = styles.scheme_for(name, units, None if da is None else da.values)
        layers = tuple(qgis_project.SliceLayer(f"{name} {label}", band, start, end)
                       for band, (label, start, end) in enumerate(zip(labels, starts, ends, strict=True), start=1))
        groups.append(qgis_project.ProductGroup(f"{name} ({units})", f"./{name}.tif", scheme, layers,
                                                visible=name == "hazard"))
    return groups


def naive_datetime(value: np.datetime64) -> dt.datetime:
    """A numpy datetime as a naive (UTC) :class:`datetime.datetime`."""
    return dt.datetime.fromisoformat(_iso_date(value).removesuffix("Z"))


def write_qgis_project(predictions: xr.Dataset, tifs: Sequence[str], folder: str | Path,
                       dem: Path | None = None) -> Path:
    """Write the run's QGIS project (:data:`QGIS_PROJECT`): every GeoTIFF product styled, on a time slider,
    over a hillshade of ``dem`` (see :mod:`hazardcore.qgis_project`)."""
    out = Path(folder)
    crs = predictions.rio.crs
    epsg = crs.to_epsg()
    grid = qgis_project.ProjectGrid(crs.to_wkt(), f"EPSG:{epsg}" if epsg else "", tuple(predictions.rio.bounds()))
    title = f"Landslide hazard, run {predictions.attrs.get('run_id', '')}".strip()
    dem_source = _relative_source(dem, out) if dem is not None and Path(dem).exists() else None
    text = qgis_project.project_xml(title, project_groups(predictions, tifs), grid, dem_source)
    return checked_text(text, out / QGIS_PROJECT)


def _catalog_dem(source: Catalog | None) -> Path | None:
    """The catalog's DEM file, if it has one (the project's hillshade)."""
    if source is None or "dem" not in source.layers:
        return None
    entries = source.layer_list("dem")
    return Path(entries[0].path) if entries else None


def write_products(predictions: xr.Dataset, folder: str | Path, manifest: dict[str, Any],
                   input_files: Sequence[Path] = (), source: Catalog | None = None,
                   tags: dict[str, str] | None = None, what: str = "hazard") -> dict[str, Path]:
    """Write a run's products: COGs with their QGIS styles, the QGIS project, the CF NetCDF files and,
    last, ``manifest.json``.

    Parameters
    ----------
    predictions
        The (slice, y, x) predictions Dataset (see :func:`cf_dataset`).
    folder
        Product folder, created if needed; existing products are replaced atomically.
    manifest
        The caller's manifest (run id, config, versions, metrics); not modified.
    input_files
        Files the run read; their checksums go into the manifest's ``inputs``.
    source
        The run's data catalog (licence, creator, DEM); default: the first of ``input_files``
        that loads as a catalog (:func:`source_catalog`).
    tags
        Extra dataset-level tags of every GeoTIFF (a forecast's ``product_kind``, provenance, ...).
    what
        What the CF NetCDF holds, for its title (``hazard``; ``hazard forecast``).

    Returns
    -------
    dict of str to pathlib.Path
        File name → path: ``<variable>.tif`` for susceptibility, density, hazard,
        observed_density, the truth maps present and any other float map of the user product
        (:func:`cog_variables`), ``predicted_occurrence.tif`` (uint8: 1 where the
        susceptibility reaches its slice's decision threshold, 0 below, 255 on invalid cells;
        see :func:`predicted_occurrence`), a ``<variable>.qml`` QGIS style beside each
        GeoTIFF (:mod:`hazardcore.styles`), ``hazard.qgs`` (a QGIS project of them all,
        :func:`write_qgis_project`), ``hazard.nc`` (what users read: the maps, valid mask and
        ``decision_threshold`` of each time slice, CF/ACDD), ``hazard_diagnostics.nc`` (the
        model's internals, :func:`product_parts`) and ``manifest.json``. Every band of a
        GeoTIFF carries its unit and its slice's ``start_date``/``end_date``; those of
        ``susceptibility.tif`` and ``predicted_occurrence.tif`` also their slice's
        ``decision_threshold`` and ``threshold_rule``. Predictions without a recorded
        threshold get neither the decision product nor the tags.

    Raises
    ------
    HazardcoreError
        If a core map (susceptibility, density, hazard) is missing.
    """
    missing = [name for name in CORE_VARIABLES if name not in predictions]
    if missing:
        raise HazardcoreError(describe("predictions lack core maps", source="predictions",
                                       expected=list(CORE_VARIABLES), found=list(predictions.data_vars)))
    out = Path(folder)
    predictions = with_decision_threshold(predictions)
    source = source if source is not None else source_catalog(input_files)
    written = write_geotiff_products(predictions, out, tags)
    about = catalog_attributes(source)
    user, diagnostics = product_parts(predictions)
    written[USER_PRODUCT] = write_cf_netcdf(user, out / USER_PRODUCT, about, what=what)
    if diagnostics.data_vars:
        written[DIAGNOSTICS_PRODUCT] = write_cf_netcdf(diagnostics, out / DIAGNOSTICS_PRODUCT, about,
                                                       what="hazard diagnostics")
    tifs = [name[: -len(".tif")] for name in written if name.endswith(".tif")]
    written[QGIS_PROJECT] = write_qgis_project(predictions.assign({OCCURRENCE: predicted_occurrence(predictions)})
                                               if f"{OCCURRENCE}.tif" in written else predictions,
                                               tifs, out, _catalog_dem(source))
    inputs = {str(path): file_record(path) for path in input_files}
    with folder_lock(out):  # the products' checksums were recorded as each was written
        recorded = read_manifest(out).get("files", {})
        record = {**manifest, "files": {name: recorded[name] for name in written}, "inputs": inputs}
        written[MANIFEST] = write_text(json.dumps(record, indent=2, default=str) + "\n", out / MANIFEST)
    return written


def write_geotiff_products(predictions: xr.Dataset, out: Path,
                           extra_tags: dict[str, str] | None = None) -> dict[str, Path]:
    """Every GeoTIFF product with its ``.qml`` style beside it (see :func:`write_products`).

    ``extra_tags`` go into every GeoTIFF's dataset-level tags (a forecast's ``product_kind``
    and provenance, :func:`hazardcore.forecast.write_forecast_products`).
    """
    labels = [str(v) for v in predictions["slice"].values]
    tags = {"run_id": str(predictions.attrs.get("run_id", "")), "slices": ",".join(labels),
            "time_coverage_start": _iso_date(predictions["slice_start"].values.min()),
            "time_coverage_end": _iso_date(predictions["slice_end"].values.max()), **(extra_tags or {})}
    dated = [{key: value for key, value in band.items() if key not in ("decision_threshold", "threshold_rule")}
             for band in slice_band_tags(predictions)]
    decided = slice_band_tags(predictions) if "decision_threshold" in predictions else dated
    maps = {name: predictions[name] for name in cog_variables(predictions)} | exceedance_maps(predictions)
    occurrence = predicted_occurrence(predictions)
    written: dict[str, Path] = {}
    for name, da in maps.items():
        written[f"{name}.tif"] = write_cog(da, out / f"{name}.tif", band_descriptions=labels, tags=tags,
                                           band_tags=decided if name == "susceptibility" else dated)
        written[f"{name}.qml"] = write_style(da, out / f"{name}.qml")
    if occurrence is not None:
        written[f"{OCCURRENCE}.tif"] = write_cog(occurrence, out / f"{OCCURRENCE}.tif", band_descriptions=labels,
                                                 tags=tags, band_tags=decided, nodata=OCCURRENCE_NODATA, dtype="uint8")
        written[f"{OCCURRENCE}.qml"] = write_style(occurrence, out / f"{OCCURRENCE}.qml")
    return written


# ---------------------------------------------------------------- run products read back
def open_predictions(path: str | Path, dims: str = "slice") -> xr.Dataset:
    """Read a run's ``predictions.nc`` (written by ``hazard predict``) into memory, CRS restored.

    Parameters
    ----------
    path
        The file.
    dims
        ``slice`` (default): hazardcore's working form, a ``slice`` dimension labelled by slice
        with ``slice_start``/``slice_end`` coordinates (:func:`slice_dataset`), what the
        evaluation, report, dashboard and ensembles read. ``time``: as stored, ``time`` = slice
        start with ``time_bnds`` and a ``slice_label`` coordinate (:func:`time_dataset`), for
        ``sel(time=...)`` and ``resample``. Files of older versions (stored by ``slice``) read in both.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    IntegrityError
        If it does not match the checksum recorded when it was written.
    GridMismatchError
        If the file is neither by time slices nor by slice.
    """
    return open_run_netcdf(path, "predictions", "predict again: `hazard predict WORKDIR --run RUN_ID`", dims)


def open_scores(path: str | Path, dims: str = "slice") -> xr.Dataset:
    """Read a run's ``scores.nc`` (every source's maps as scored by ``hazard evaluate``) into memory.

    ``dims`` as for :func:`open_predictions`.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    IntegrityError
        If it does not match the checksum recorded when it was written.
    GridMismatchError
        If the file is neither by time slices nor by slice.
    """
    return open_run_netcdf(path, "scores", "evaluate again: `hazard evaluate WORKDIR --run RUN_ID`", dims)


def open_run_netcdf(path: str | Path, what: str, fix: str, dims: str = "slice") -> xr.Dataset:
    """A checksummed NetCDF file of a run, loaded into memory with its CRS restored, by ``slice`` or ``time``
    (see :func:`open_predictions`)."""
    if dims not in ("slice", "time"):
        raise InvalidValueError(describe("unknown dimension of a run's file", source=str(path),
                                         expected="'slice' or 'time'", found=repr(dims)))
    source = Path(path)
    if not source.exists():
        raise MissingFileError(describe(f"{what} not found", source=source, fix=fix))
    verify_file(source, fix=fix)
    with xr.open_dataset(source, engine="netcdf4") as ds:
        loaded = slice_dataset(ds.load(), source)
    crs = loaded["spatial_ref"].attrs.get("crs_wkt") if "spatial_ref" in loaded else None
    loaded = loaded.rio.write_crs(crs) if crs else loaded
    return time_dataset(loaded) if dims == "time" else loaded


def open_forecast(path: str | Path) -> xr.Dataset:
    """Read a run's forecast of one period (``forecasts/<label>.nc``, (y, x) maps) into memory, CRS restored.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    IntegrityError
        If it does not match the checksum recorded when it was written.
    """
    source = Path(path)
    fix = f"forecast the period again: `hazard predict WORKDIR --run RUN_ID --period {source.stem}`"
    if not source.exists():
        raise MissingFileError(describe("forecast not found", source=source, fix=fix))
    verify_file(source, fix=fix)
    with xr.open_dataset(source, engine="netcdf4") as ds:
        loaded = ds.load()
    crs = loaded["spatial_ref"].attrs.get("crs_wkt") if "spatial_ref" in loaded else None
    return loaded.rio.write_crs(crs) if crs else loaded

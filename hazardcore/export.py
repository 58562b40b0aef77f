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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
import yaml

from hazardcore.atomic import folder_lock, write_text
from hazardcore.errors import GridMismatchError, HazardcoreError, InvalidValueError, MissingFileError, describe
from hazardcore.hazard import decision_thresholds
from hazardcore.integrity import MANIFEST, checked_path, file_record, read_manifest, verify_file

COG_NODATA = -9999.0
OCCURRENCE_NODATA = 255
OCCURRENCE = "predicted_occurrence"
CORE_VARIABLES = ("susceptibility", "density", "hazard")
COG_VARIABLES = (*CORE_VARIABLES, "observed_density",
                 "true_probability", "true_density_given_occurrence", "true_hazard")
TIME_ENCODING = {"units": "days since 1970-01-01 00:00:00", "calendar": "standard", "dtype": "float64",
                 "_FillValue": None}
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
        Metadata tags of each band (one dict per slice), e.g. its decision threshold.
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
    all_tags: dict[str, Any] = {"units": str(da.attrs.get("units", "")),
                                "long_name": str(da.attrs.get("long_name", da.name)), **(tags or {})}
    if band_tags is not None:
        all_tags["band_tags"] = [dict(band) for band in band_tags]  # rioxarray writes them band by band
    out = da.astype("float32").fillna(nodata).astype(dtype).rio.write_nodata(nodata)
    out = out.assign_attrs(long_name=tuple(str(d) for d in band_descriptions))
    with checked_path(path) as tmp:
        out.rio.to_raster(tmp, driver="COG", compress="DEFLATE", tags=all_tags)
    return Path(path)


def _cf_time(predictions: xr.Dataset) -> xr.Dataset:
    """Turn the ``slice`` dim into CF ``time`` (slice start) with ``time_bnds`` and ``slice_label``."""
    start = predictions["slice_start"].values.astype("datetime64[ns]")
    end = predictions["slice_end"].values.astype("datetime64[ns]")
    labels = np.array([str(v) for v in predictions["slice"].values], dtype=object)
    ds = predictions.drop_vars(["slice", "slice_start", "slice_end"]).rename(slice="time")
    ds = ds.assign_coords(time=("time", start))
    ds["slice_label"] = xr.DataArray(labels, dims="time", attrs={"long_name": "time slice label"})
    ds["time_bnds"] = xr.DataArray(np.stack([start, end], axis=1), dims=("time", "nv"))
    if "monsoons" in ds.coords:
        ds["monsoons"].attrs.update(long_name="monsoons since the earthquake", units="1")
    ds["time"].attrs.update(standard_name="time", long_name="start of the time slice", axis="T",
                            bounds="time_bnds")
    for name in ("time", "time_bnds"):
        ds[name].encoding.update(TIME_ENCODING)
    return ds


def _cf_space(ds: xr.Dataset, crs: Any) -> xr.Dataset:
    """Attach the grid mapping (``spatial_ref``) and CF attributes of the projection coordinates."""
    ds = ds.rio.write_crs(crs).rio.write_coordinate_system()
    for dim in ("x", "y"):
        ds[dim].attrs["units"] = "m"
    for var in ds.data_vars.values():
        if {"x", "y"} <= set(var.dims):
            var.encoding["grid_mapping"] = "spatial_ref"
            var.attrs.pop("grid_mapping", None)
    return ds


def _cf_masks(ds: xr.Dataset) -> xr.Dataset:
    """Give the 0/1 byte masks ``flag_values``/``flag_meanings`` (``valid``, ``test`` and any other)."""
    masks = [name for name, var in ds.data_vars.items() if var.dtype == np.uint8 or name in MASK_FLAGS]
    for name in masks:
        meanings = MASK_FLAGS.get(str(name), f"not_{name} {name}")
        ds[name] = ds[name].astype("uint8").assign_attrs(
            flag_values=np.array([0, 1], dtype="uint8"), flag_meanings=meanings,
            long_name=ds[name].attrs.get("long_name", f"{name} mask"), units="1")
    if "windows" in ds:
        ds["windows"].attrs.setdefault("long_name", "number of prediction windows averaged per cell")
        ds["windows"].attrs.setdefault("units", "1")
    return ds


def _hazardcore_version() -> str:
    try:
        return importlib.metadata.version("hazardcore")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _cf_global_attrs(predictions: xr.Dataset) -> dict[str, Any]:
    """Global attributes of the CF product (run attributes of ``predictions`` kept)."""
    run_id = str(predictions.attrs.get("run_id", "unknown"))
    return {**predictions.attrs, "Conventions": "CF-1.8",
            "title": f"Space-time landslide hazard per 1 km cell and time slice (run {run_id})",
            "institution": str(predictions.attrs.get("institution", "hazardcore users")),
            "source": f"hazardcore {_hazardcore_version()} ensemble neural network (susceptibility x density)",
            "history": "created by hazardcore.export.cf_dataset",
            "references": METHOD_REFERENCE,
            "comment": "time = start of each slice; time_bnds = [start, end]; hazard = susceptibility x density, "
                       "the expected new landslide area density (%) of the cell in the slice",
            "time_coordinate": "slice start"}


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


def cf_dataset(predictions: xr.Dataset) -> xr.Dataset:
    """Return the predictions as a CF-1.8 Dataset (no IO).

    Parameters
    ----------
    predictions
        The (slice, y, x) predictions Dataset with ``slice_start``/``slice_end`` coordinates
        and a CRS (rioxarray).

    Returns
    -------
    xarray.Dataset
        Dims (time, y, x): ``time`` = slice start, ``time_bnds`` = [start, end], a
        ``slice_label`` coordinate, a ``spatial_ref`` grid mapping referenced by every
        gridded variable, byte masks with flag attributes and CF global attributes.

    Raises
    ------
    GridMismatchError
        If ``predictions`` lacks the slice coordinates or a CRS.
    InvalidValueError
        If a slice has no start or end date (NaT).
    """
    _check_cf_ready(predictions)
    ds = _cf_space(_cf_masks(_cf_time(predictions)), predictions.rio.crs)
    return ds.assign_attrs(_cf_global_attrs(predictions))


def write_cf_netcdf(predictions: xr.Dataset, path: str | Path) -> Path:
    """Write the predictions as a zlib-compressed CF-1.8 NetCDF-4 file, atomically.

    Returns
    -------
    pathlib.Path
        The written path (see :func:`cf_dataset` for its content).
    """
    ds = cf_dataset(predictions)
    stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    ds.attrs["history"] = f"{stamp}: written by hazardcore.export.write_cf_netcdf"
    return write_netcdf(ds, path)


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


def write_products(predictions: xr.Dataset, folder: str | Path, manifest: dict[str, Any],
                   input_files: Sequence[Path] = ()) -> dict[str, Path]:
    """Write a run's products: one COG per map, the CF NetCDF and, last, ``manifest.json``.

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

    Returns
    -------
    dict of str to pathlib.Path
        File name → path: ``<variable>.tif`` for susceptibility, density, hazard,
        observed_density and the truth maps present, ``predicted_occurrence.tif`` (uint8:
        1 where the susceptibility reaches its slice's decision threshold, 0 below, 255 on
        invalid cells; see :func:`predicted_occurrence`), ``hazard.nc`` (with the
        ``decision_threshold`` of each time slice) and ``manifest.json``. Each band of
        ``susceptibility.tif`` and ``predicted_occurrence.tif`` is tagged with its slice's
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
    labels = [str(v) for v in predictions["slice"].values]
    tags = {"run_id": str(predictions.attrs.get("run_id", "")), "slices": ",".join(labels)}
    decided = decision_band_tags(predictions)
    written = {f"{name}.tif": write_cog(predictions[name], out / f"{name}.tif", band_descriptions=labels, tags=tags,
                                        band_tags=decided if name == "susceptibility" else None)
               for name in COG_VARIABLES if name in predictions}
    occurrence = predicted_occurrence(predictions)
    if occurrence is not None:
        written[f"{OCCURRENCE}.tif"] = write_cog(occurrence, out / f"{OCCURRENCE}.tif", band_descriptions=labels,
                                                 tags=tags, band_tags=decided, nodata=OCCURRENCE_NODATA, dtype="uint8")
    written["hazard.nc"] = write_cf_netcdf(predictions, out / "hazard.nc")
    inputs = {str(path): file_record(path) for path in input_files}
    with folder_lock(out):  # the products' checksums were recorded as each was written
        recorded = read_manifest(out).get("files", {})
        record = {**manifest, "files": {name: recorded[name] for name in written}, "inputs": inputs}
        written[MANIFEST] = write_text(json.dumps(record, indent=2, default=str) + "\n", out / MANIFEST)
    return written


# ---------------------------------------------------------------- run products read back
def open_predictions(path: str | Path) -> xr.Dataset:
    """Read a run's ``predictions.nc`` (written by ``hazard predict``) into memory, CRS restored.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    IntegrityError
        If it does not match the checksum recorded when it was written.
    """
    return open_run_netcdf(path, "predictions", "predict again: `hazard predict WORKDIR --run RUN_ID`")


def open_scores(path: str | Path) -> xr.Dataset:
    """Read a run's ``scores.nc`` (every source's maps as scored by ``hazard evaluate``) into memory.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    IntegrityError
        If it does not match the checksum recorded when it was written.
    """
    return open_run_netcdf(path, "scores", "evaluate again: `hazard evaluate WORKDIR --run RUN_ID`")


def open_run_netcdf(path: str | Path, what: str, fix: str) -> xr.Dataset:
    """A checksummed NetCDF file of a run, loaded into memory with its CRS restored."""
    source = Path(path)
    if not source.exists():
        raise MissingFileError(describe(f"{what} not found", source=source, fix=fix))
    verify_file(source, fix=fix)
    with xr.open_dataset(source, engine="netcdf4") as ds:
        loaded = ds.load()
    crs = loaded["spatial_ref"].attrs.get("crs_wkt") if "spatial_ref" in loaded else None
    return loaded.rio.write_crs(crs) if crs else loaded

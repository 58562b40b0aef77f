"""Data catalogs: one YAML file per case, and the only reader of raw data.

A catalog names the grid, the earthquakes, the time slices and one entry per input layer
(path, format, CRS, units, nodata, dates, licence, citation). ``load_catalog`` validates it
and checks that every file exists; ``open_raster`` and ``open_rainfall`` read the files with
rioxarray/xarray, turn declared nodata into NaN and refuse undeclared NaN.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray
import xarray as xr
import yaml
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError

from hazardcore.errors import CatalogError, CRSError, InvalidValueError, MissingFileError, describe
from hazardcore.grid import GridSpec

RASTER_FORMATS = ("GeoTIFF", "COG")
GRID_KEYS = ("crs", "x_min", "y_max", "n_rows", "n_cols")


@dataclass(frozen=True)
class SliceSpec:
    """One time slice: new landslides mapped after ``start`` up to ``end`` (inclusive)."""

    label: str
    start: dt.date
    end: dt.date
    monsoons: int | None = None


@dataclass(frozen=True)
class EventSpec:
    """One triggering earthquake."""

    name: str
    date: dt.date
    magnitude: float | None = None


@dataclass(frozen=True)
class LayerEntry:
    """One catalog entry: a file and how to read it."""

    role: str
    path: Path
    format: str
    crs: str | None
    units: str | None
    nodata: float | None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Catalog:
    """A validated catalog: grid, events, slices and layers."""

    path: Path
    case: str
    grid: GridSpec
    events: list[EventSpec]
    slices: list[SliceSpec]
    layers: dict[str, LayerEntry | list[LayerEntry]]
    raw: dict[str, Any]

    def layer(self, role: str) -> LayerEntry:
        """Return the single entry of ``role`` (e.g. ``"dem"``)."""
        entry = self.layers.get(role)
        if not isinstance(entry, LayerEntry):
            raise CatalogError(describe(f"catalog has no single `{role}` layer", source=self.path,
                                        expected=f"layers.{role}: {{path: ..., format: ...}}",
                                        found=type(entry).__name__ if entry else "nothing"))
        return entry

    def layer_list(self, role: str) -> list[LayerEntry]:
        """Return the entries of ``role`` as a list (e.g. ``"pga"``: one per event)."""
        entry = self.layers.get(role)
        if entry is None:
            raise CatalogError(describe(f"catalog has no `{role}` layer", source=self.path))
        return entry if isinstance(entry, list) else [entry]

    @property
    def slice_labels(self) -> list[str]:
        """Slice labels in time order."""
        return [s.label for s in self.slices]


def _require(mapping: dict[str, Any], key: str, where: str, source: Path) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise CatalogError(describe(f"missing key `{key}` in {where}", source=source,
                                    expected=f"`{key}:` under {where}",
                                    found=sorted(mapping) if isinstance(mapping, dict) else mapping))
    return mapping[key]


def parse_date(value: Any, where: str, source: Path) -> dt.date:
    """Parse an ISO date (string or YAML date) with an error naming the entry."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise CatalogError(describe(f"{where} is not an ISO date", source=source,
                                    expected="YYYY-MM-DD", found=value)) from exc


def _parse_grid(raw: dict[str, Any], source: Path) -> GridSpec:
    spec = _require(raw, "grid", "the catalog", source)
    values = {key: _require(spec, key, "grid", source) for key in GRID_KEYS}
    optional = {k: spec[k] for k in ("cell_size_m", "pixels_per_cell") if k in spec}
    return GridSpec(crs=str(values["crs"]), x_min=float(values["x_min"]),
                    y_max=float(values["y_max"]), n_rows=int(values["n_rows"]),
                    n_cols=int(values["n_cols"]), **optional)


def _parse_slices(raw: dict[str, Any], source: Path) -> list[SliceSpec]:
    slices = []
    for i, item in enumerate(_require(raw, "slices", "the catalog", source)):
        where = f"slices[{i}]"
        start = parse_date(_require(item, "start", where, source), f"{where}.start", source)
        end = parse_date(_require(item, "end", where, source), f"{where}.end", source)
        if end <= start:
            raise CatalogError(describe(f"{where} ends before it starts", source=source,
                                        expected="start < end", found=f"{start} .. {end}"))
        monsoons = item.get("monsoons")
        slices.append(SliceSpec(str(_require(item, "label", where, source)), start, end,
                                None if monsoons is None else int(monsoons)))
    for before, after in itertools.pairwise(slices):
        if after.start < before.end:
            raise CatalogError(describe("slices overlap or are not in time order", source=source,
                                        expected=f"{after.label} to start on/after {before.end}",
                                        found=str(after.start)))
    return slices


def _parse_events(raw: dict[str, Any], source: Path) -> list[EventSpec]:
    events = []
    for i, item in enumerate(raw.get("events", [])):
        date = parse_date(_require(item, "date", f"events[{i}]", source), f"events[{i}].date", source)
        magnitude = item.get("magnitude")
        events.append(EventSpec(str(_require(item, "name", f"events[{i}]", source)), date,
                                None if magnitude is None else float(magnitude)))
    return events


def _parse_entry(role: str, item: dict[str, Any], source: Path) -> LayerEntry:
    rel = _require(item, "path", f"layers.{role}", source)
    path = (source.parent / str(rel)).resolve()
    if not path.exists():
        raise MissingFileError(describe(f"layer `{role}` points to a missing file", source=source,
                                        expected=str(path), found="no such file",
                                        fix="run `hazard synth` again or correct the path"))
    known = {"path", "format", "crs", "units", "nodata"}
    nodata = item.get("nodata")
    return LayerEntry(role=role, path=path, format=str(_require(item, "format", f"layers.{role}", source)),
                      crs=None if item.get("crs") is None else str(item["crs"]),
                      units=None if item.get("units") is None else str(item["units"]),
                      nodata=None if nodata is None else float(nodata),
                      meta={k: v for k, v in item.items() if k not in known})


def _parse_layers(raw: dict[str, Any], source: Path) -> dict[str, LayerEntry | list[LayerEntry]]:
    layers: dict[str, LayerEntry | list[LayerEntry]] = {}
    for role, item in _require(raw, "layers", "the catalog", source).items():
        if isinstance(item, list):
            layers[role] = [_parse_entry(role, sub, source) for sub in item]
        else:
            layers[role] = _parse_entry(role, item, source)
    for role in ("dem", "pga", "rainfall", "inventory"):
        _require(layers, role, "layers", source)
    return layers


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog YAML file.

    Parameters
    ----------
    path
        The catalog file; layer paths in it are relative to its folder.

    Returns
    -------
    Catalog
        The validated catalog.

    Raises
    ------
    MissingFileError
        If the catalog or a file it names does not exist.
    CatalogError
        If a required key is missing or a value is malformed.
    """
    source = Path(path).resolve()
    if not source.exists():
        raise MissingFileError(describe("catalog file not found", source=source,
                                        fix="run `hazard synth OUT` first, or pass OUT/catalog.yaml"))
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError(describe("catalog is not valid YAML", source=source, found=str(exc))) from exc
    if not isinstance(raw, dict):
        raise CatalogError(describe("catalog must be a mapping", source=source, found=type(raw).__name__))
    return Catalog(path=source, case=str(raw.get("case", source.stem)), grid=_parse_grid(raw, source),
                   events=_parse_events(raw, source), slices=_parse_slices(raw, source),
                   layers=_parse_layers(raw, source), raw=raw)


def _resolve_crs(da: xr.DataArray, entry: LayerEntry) -> xr.DataArray:
    """Attach the catalog's CRS when the file has none; refuse a contradiction."""
    file_crs = da.rio.crs
    if entry.crs is None:
        return da
    try:
        declared = CRS.from_user_input(entry.crs)
    except ProjCRSError as exc:
        raise CRSError(describe("catalog CRS is not understood", source=entry.path,
                                expected="e.g. EPSG:32645", found=entry.crs)) from exc
    if file_crs is None:
        return da.rio.write_crs(declared)
    if CRS.from_user_input(file_crs) != declared:
        raise CRSError(describe("file CRS differs from the catalog's", source=entry.path,
                                expected=entry.crs, found=str(file_crs),
                                fix="correct `crs:` in the catalog or reproject the file"))
    return da


def mask_nodata(da: xr.DataArray, nodata: float | None, source: Path | str) -> xr.DataArray:
    """Turn declared nodata into NaN; refuse NaN that was not declared as nodata.

    Raises
    ------
    InvalidValueError
        If the data holds NaN while its nodata is a number (NaN would be silently masked).
    """
    values = da.values
    if np.issubdtype(values.dtype, np.floating) and nodata is not None and not np.isnan(nodata):
        n_nan = int(np.isnan(values).sum())
        if n_nan:
            raise InvalidValueError(describe(
                f"{n_nan} NaN values in a layer whose nodata is {nodata}", source=source,
                expected=f"no NaN (nodata pixels hold {nodata})", found=f"{n_nan} NaN pixels",
                fix="replace NaN by the nodata value, or declare `nodata: .nan` in the catalog"))
    data = values.astype("float32", copy=True)
    if nodata is not None and not np.isnan(nodata):
        data[values == nodata] = np.nan
    return da.copy(data=data)


def open_raster(entry: LayerEntry) -> xr.DataArray:
    """Read a GeoTIFF layer as float32 (band, y, x) with NaN for nodata and a CRS.

    Parameters
    ----------
    entry
        Catalog entry with ``format: GeoTIFF``.

    Returns
    -------
    xarray.DataArray
        The layer, ``units`` attr from the catalog, ``band`` coordinate 1..n.
    """
    if entry.format not in RASTER_FORMATS:
        raise CatalogError(describe("unsupported raster format", source=entry.path,
                                    expected=" or ".join(RASTER_FORMATS), found=entry.format))
    da = rioxarray.open_rasterio(entry.path, masked=False, cache=False)
    assert isinstance(da, xr.DataArray)
    nodata = entry.nodata if entry.nodata is not None else da.rio.nodata
    da = _resolve_crs(da.load(), entry)
    crs = da.rio.crs
    out = mask_nodata(da, None if nodata is None else float(nodata), entry.path)
    out = out.rio.write_crs(crs) if crs is not None else out
    return out.rio.write_nodata(np.nan, encoded=False).assign_attrs(units=entry.units or "",
                                                                    source=str(entry.path))


def open_rainfall(entry: LayerEntry) -> xr.DataArray:
    """Read a daily rainfall stack (NetCDF ``time, lat, lon`` / ``time, y, x``) as (time, y, x).

    Returns
    -------
    xarray.DataArray
        Daily rainfall with ``units`` from the catalog, NaN for nodata, and a CRS.
    """
    if entry.format == "NetCDF":
        with xr.open_dataset(entry.path, decode_coords="all") as ds:
            name = entry.meta.get("variable", "precip")
            if name not in ds:
                raise CatalogError(describe("rainfall variable not found", source=entry.path,
                                            expected=name, found=list(ds.data_vars)))
            da = ds[name].load()
        renames = {k: v for k, v in {"latitude": "y", "lat": "y", "longitude": "x", "lon": "x"}.items()
                   if k in da.dims}
        da = da.rename(renames).transpose("time", "y", "x")
        da = da.rio.set_spatial_dims(x_dim="x", y_dim="y")
    elif entry.format in RASTER_FORMATS:
        da = open_raster(entry).rename(band="time")
        dates = [parse_date(d, "rainfall dates", entry.path) for d in entry.meta.get("dates", [])]
        da = da.assign_coords(time=np.array(dates, dtype="datetime64[ns]"))
    else:
        raise CatalogError(describe("unsupported rainfall format", source=entry.path,
                                    expected="NetCDF or GeoTIFF", found=entry.format))
    if da.rio.crs is None and entry.crs is None:
        raise CRSError(describe("rainfall has no CRS", source=entry.path,
                                fix="add `crs: EPSG:4326` (for CHIRPS) to the catalog entry"))
    da = _resolve_crs(da, entry)
    crs = da.rio.crs
    out = mask_nodata(da, entry.nodata, entry.path).rio.write_crs(crs)
    return out.assign_attrs(units=entry.units or str(da.attrs.get("units", "")), source=str(entry.path))


TRUTH_VARIABLES = ("p_occurrence", "expected_density_given_occurrence")


def open_truth(entry: LayerEntry, slice_labels: list[str]) -> xr.Dataset:
    """Read the known-truth layers of a synthetic case (slice, y, x) for the given slices.

    Raises
    ------
    CatalogError
        If a truth variable or a slice is missing.
    """
    with xr.open_dataset(entry.path, decode_coords="all") as ds:
        missing = [name for name in TRUTH_VARIABLES if name not in ds]
        if missing:
            raise CatalogError(describe("truth file lacks variables", source=entry.path,
                                        expected=list(TRUTH_VARIABLES), found=list(ds.data_vars)))
        labels = [str(v) for v in ds["slice"].values]
        absent = [label for label in slice_labels if label not in labels]
        if absent:
            raise CatalogError(describe("truth file lacks slices", source=entry.path,
                                        expected=slice_labels, found=labels))
        return ds[list(TRUTH_VARIABLES)].sel(slice=slice_labels).load()


REFERENCE_FILES = {"susceptibility": "SusceptibilityOverTime.tif", "density": "AreaDenOverTime.tif",
                   "hazard": "HazardOverTime.tif"}
REFERENCE_UNITS = {"susceptibility": "1", "density": "%", "hazard": "%"}
SENTINEL_ABS = 1e30
ORIGIN_TOLERANCE_M = 1.0


def mask_sentinels(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Return float32 ``values`` with the declared nodata and any |value| > 1e30 set to NaN.

    The comparison is made in the file's own dtype, before the cast (a float64 sentinel such
    as 1.79e308 overflows float32).
    """
    missing = ~np.isfinite(values) | (np.abs(values) > SENTINEL_ABS)
    if nodata is not None and not np.isnan(nodata):
        missing |= values == np.asarray(nodata, dtype=values.dtype)
    return np.where(missing, np.nan, values).astype("float32")


def _reference_band(folder: Path, name: str) -> xr.DataArray:
    """Read one published map (band, y, x) with sentinels as NaN, CRS kept."""
    path = folder / REFERENCE_FILES[name]
    if not path.is_file():
        raise MissingFileError(describe(f"published {name} map not found", source=path,
                                        expected=f"{REFERENCE_FILES[name]} in {folder}", found="no such file",
                                        fix="copy the study's SpectralProfile/*.tif into this folder"))
    da = rioxarray.open_rasterio(path, masked=False, cache=False)
    assert isinstance(da, xr.DataArray)
    da = da.load()
    crs, nodata = da.rio.crs, da.rio.nodata
    out = da.copy(data=mask_sentinels(da.values, None if nodata is None else float(nodata)))
    out = out.rio.write_crs(crs).rio.write_nodata(np.nan, encoded=False)
    return out.assign_attrs(units=REFERENCE_UNITS[name], source=str(path))


def _check_band_counts(bands: dict[str, xr.DataArray], labels: list[str], folder: Path) -> None:
    counts = {name: da.sizes["band"] for name, da in bands.items()}
    if len(set(counts.values())) != 1:
        raise CatalogError(describe("published maps have different numbers of bands", source=folder,
                                    expected="the same band count in every file", found=counts))
    if len(labels) != next(iter(counts.values())):
        raise CatalogError(describe("slice labels do not match the bands of the published maps", source=folder,
                                    expected=f"{len(labels)} bands ({labels})", found=counts,
                                    fix="pass one label per band, in band order"))


def open_reference_maps(folder: str | Path, slice_labels: Sequence[str] | None = None) -> xr.Dataset:
    """Read the original study's published maps as one (slice, y, x) float32 Dataset.

    Parameters
    ----------
    folder
        Folder holding the files of :data:`REFERENCE_FILES`.
    slice_labels
        One label per band, in band order; default ``band1`` .. ``bandN``.

    Returns
    -------
    xarray.Dataset
        ``susceptibility`` (1), ``density`` (%) and ``hazard`` (%), NaN where a file holds
        its declared nodata or any sentinel with |value| > 1e30, and NaN outside the study
        area: the published files store those cells as 0 in every band of every map (not as
        their declared nodata), so cells that are 0 throughout are masked. The files' CRS.

    Raises
    ------
    MissingFileError
        If the folder or one of the files does not exist.
    CatalogError
        If the band counts differ between the files or from ``slice_labels``.
    """
    source = Path(folder)
    bands = {name: _reference_band(source, name) for name in REFERENCE_FILES}
    first = next(iter(bands.values()))
    labels = list(slice_labels) if slice_labels is not None else [f"band{i + 1}" for i in range(first.sizes["band"])]
    _check_band_counts(bands, labels, source)
    crs = first.rio.crs
    data = {name: da.rename(band="slice").assign_coords(slice=[str(v) for v in labels]) for name, da in bands.items()}
    outside = np.logical_and.reduce([(da == 0).all("slice") for da in data.values()])
    ds = xr.Dataset({name: da.where(~outside) for name, da in data.items()}).rio.write_crs(crs)
    return ds.assign_attrs(source=str(source.resolve()), cells_outside_study_area=int(outside.sum()))


def open_predictions(path: str | Path) -> xr.Dataset:
    """Read a run's ``predictions.nc`` (written by ``hazard predict``) into memory, CRS restored.

    Raises
    ------
    MissingFileError
        If the file does not exist.
    """
    source = Path(path)
    if not source.exists():
        raise MissingFileError(describe("predictions not found", source=source,
                                        fix="run `hazard predict WORKDIR` first"))
    with xr.open_dataset(source, engine="netcdf4") as ds:
        loaded = ds.load()
    crs = loaded["spatial_ref"].attrs.get("crs_wkt") if "spatial_ref" in loaded else None
    return loaded.rio.write_crs(crs) if crs else loaded


def reference_on_grid(reference: xr.Dataset | xr.DataArray, grid: GridSpec) -> bool:
    """Return True when ``reference`` has the CRS and shape of ``grid``'s 1 km lattice and its
    cell centres lie within 1 m of the grid's."""
    if reference.rio.crs is None or CRS.from_user_input(reference.rio.crs) != CRS.from_user_input(grid.crs):
        return False
    shape = (reference.sizes["y"], reference.sizes["x"])
    if shape != grid.shape("1km"):
        return False
    coords = grid.coords("1km")
    return bool(np.allclose(reference["x"].values, coords["x"], rtol=0.0, atol=ORIGIN_TOLERANCE_M)
                and np.allclose(reference["y"].values, coords["y"], rtol=0.0, atol=ORIGIN_TOLERANCE_M))

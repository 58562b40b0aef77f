"""Data catalogs: one YAML file per case, and the only reader of raw data.

A catalog names the grid, the earthquakes, the time slices and one entry per input layer
(path, format, CRS, units, nodata, dates, licence, citation). ``load_catalog`` validates it,
checks that every file exists and that every layer declares a unit of its quantity
(:mod:`hazardcore.units`); ``open_raster`` and ``open_rainfall`` read the files with
rioxarray/xarray, turn declared nodata into NaN and refuse undeclared NaN.

Formats users have, besides GeoTIFF/COG and NetCDF stacks: USGS ShakeMap ``grid.xml`` and
point CSVs of ground motion (ShakeMap's CSV form, OpenQuake fields, station lists), put on
the grid in log space by :mod:`hazardcore.points`; daily series at points (CHIRPS pixels,
rain gauges), spread onto the grid by nearest point or inverse-distance weighting;
landslide polygons (GeoPackage, shapefile; geopandas/pyogrio), turned into cumulative area
per cell by :mod:`hazardcore.polygons`; point catalogues of landslide events (NASA's Global
Landslide Catalog), read for display and refused as an inventory. Since only this module
reads raw files, each of those is read here and handed to the pure module that grids it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from xml.etree import ElementTree

import geopandas as gpd
import numpy as np
import pandas as pd
import rioxarray
import xarray as xr
import yaml
from pyproj import CRS
from pyproj.exceptions import CRSError as ProjCRSError
from rasterio.warp import transform_bounds

from hazardcore.catalog_options import (
    ABOUT_KEYS,
    COMBINE,
    ERDDAPOptions,
    EventPointsOptions,
    NetCDFOptions,
    Options,
    PointCSVOptions,
    PointSeriesOptions,
    PolygonOptions,
    RasterOptions,
    SeriesOptions,
    ShakeMapOptions,
    parse_date,
    parse_options,
    refuse_unknown_keys,
)
from hazardcore.consistency import (
    cf_days,
    check_band_dates,
    check_nodata,
    check_plausible,
    check_unique_days,
    check_unit,
    file_unit,
    layer_name,
    local_days,
    nodata_mask,
    packing,
    same_nodata,
)
from hazardcore.errors import (
    CatalogError,
    CoverageError,
    CRSError,
    InvalidValueError,
    InventoryError,
    MissingFileError,
    UnitError,
    describe,
)
from hazardcore.grid import GridSpec
from hazardcore.points import MARGIN_CELLS, interpolate_log, names_used, project, spread
from hazardcore.polygons import cumulative_area
from hazardcore.slices import EventSpec, QuakeScenario, RainScenario, SliceSpec
from hazardcore.units import LOG_UNITS, ROLE_KIND, ROLE_LABEL, check_declared, same_unit
from hazardcore.units import factor as unit_factor

RASTER_FORMATS = ("GeoTIFF", "COG")
POINT_FIELD_FORMATS = ("ShakeMapXML", "PointCSV")
POINT_SERIES_FORMATS = ("PointSeriesCSV", "ERDDAPCSV")
POLYGON_FORMATS = ("GeoPackage", "Shapefile")
EVENT_POINT_FORMATS = ("EventPointsCSV",)
GRID_KEYS = ("crs", "x_min", "y_max", "n_rows", "n_cols")


@dataclass(frozen=True)
class LayerEntry:
    """One catalog entry: a file and how to read it."""

    role: str
    path: Path
    format: str
    crs: str | None
    units: str | None
    nodata: float | None
    options: Options | None = None  # typed options of the format (hazardcore.catalog_options)
    about: dict[str, str] = field(default_factory=dict)  # description, licence, citation, ...
    grid: GridSpec | None = None  # the catalog's grid: point and polygon layers are put on it when read


@dataclass(frozen=True)
class ForecastSpec:
    """The triggers of one unmapped period (``forecasts:`` in a catalog): no inventory, never a label.

    ``rainfall`` is a file of its own (a forecast or an observed record), else ``rain`` builds the
    period's rain from the record (:mod:`hazardcore.scenarios`), else the catalog's rainfall
    layer covers the period. The earthquake, when there is one, is ``event`` with its ground
    motion from ``pga`` (a PGA raster, ShakeMap grid.xml or OpenQuake field) or ``quake`` (an
    event by magnitude and location).
    """

    label: str
    rainfall: LayerEntry | None = None
    rain: RainScenario | None = None
    event: EventSpec | None = None
    pga: LayerEntry | None = None
    quake: QuakeScenario | None = None

    def provenance(self) -> dict[str, Any]:
        """Where the period's triggers come from, for the products' metadata."""
        rain: dict[str, Any] = ({"source": "file", "path": str(self.rainfall.path)} if self.rainfall
                                else {"source": "scenario", **vars(self.rain)} if self.rain
                                else {"source": "catalog rainfall layer"})
        out: dict[str, Any] = {"label": self.label, "labelled": False, "rain": rain}
        if self.event is not None:
            ground = ({"source": "file", "path": str(self.pga.path), "format": self.pga.format} if self.pga
                      else {"source": "scenario", **vars(self.quake)} if self.quake else {"source": "none"})
            out["earthquake"] = {"name": self.event.name, "date": self.event.date.isoformat(),
                                 "magnitude": self.event.magnitude, "ground_motion": ground}
        return out


@dataclass(frozen=True)
class Catalog:
    """A validated catalog: grid, events, slices and layers.

    ``slices`` holds the mapped periods and the unmapped ones of ``forecasts`` (their
    ``labelled`` is False) in time order; ``events`` includes the forecasts' earthquakes.
    """

    path: Path
    case: str
    grid: GridSpec
    events: list[EventSpec]
    slices: list[SliceSpec]
    layers: dict[str, LayerEntry | list[LayerEntry]]
    raw: dict[str, Any]
    forecasts: dict[str, ForecastSpec] = field(default_factory=dict)
    exceedance_thresholds: tuple[float, ...] = ()  # densities (% of the cell) whose exceedance maps to write

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

    @property
    def labelled_slices(self) -> list[SliceSpec]:
        """The mapped slices: those with an inventory."""
        return [s for s in self.slices if s.labelled]


OptionsT = TypeVar("OptionsT", bound=Options)


def options_of(entry: LayerEntry, kind: type[OptionsT]) -> OptionsT:
    """An entry's typed options, which must be of ``kind`` (defaults when it was built without options).

    Raises
    ------
    CatalogError
        If the entry's format has options of another kind (its reader was given the wrong entry).
    """
    if entry.options is None:
        return kind()
    if not isinstance(entry.options, kind):
        raise CatalogError(describe(f"layer `{entry.role}` of format {entry.format} read as another format",
                                    source=entry.path, expected=kind.__name__, found=type(entry.options).__name__))
    return entry.options


def mapping_dates(entry: LayerEntry) -> list[dt.date]:
    """The ``dates:`` of an inventory entry (a raster's bands or a polygon file's mapping dates)."""
    options = entry.options
    return list(options.dates) if isinstance(options, RasterOptions | PolygonOptions) else []


def within(days: pd.DatetimeIndex, start: dt.date | None, end: dt.date | None) -> np.ndarray:
    """Which of ``days`` lie in [start, end] (either bound may be open)."""
    keep = np.ones(len(days), dtype=bool)
    if start is not None:
        keep &= np.asarray(days >= pd.Timestamp(start))
    if end is not None:
        keep &= np.asarray(days <= pd.Timestamp(end))
    return keep


def _require(mapping: dict[str, Any], key: str, where: str, source: Path) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise CatalogError(describe(f"missing key `{key}` in {where}", source=source,
                                    expected=f"`{key}:` under {where}",
                                    found=sorted(mapping) if isinstance(mapping, dict) else mapping))
    return mapping[key]


def _parse_grid(raw: dict[str, Any], source: Path) -> GridSpec:
    spec = _require(raw, "grid", "the catalog", source)
    values = {key: _require(spec, key, "grid", source) for key in GRID_KEYS}
    refuse_unknown_keys(spec, (*GRID_KEYS, "cell_size_m", "pixels_per_cell"), "grid has keys a grid does not have",
                        source)
    numbers = {key: grid_number(spec[key], f"grid.{key}", source, whole=key in WHOLE_GRID_KEYS)
               for key in (*GRID_KEYS[1:], "cell_size_m", "pixels_per_cell") if key in spec}
    return GridSpec(crs=str(values["crs"]), **numbers)


WHOLE_GRID_KEYS = ("n_rows", "n_cols", "pixels_per_cell")


def grid_number(value: Any, where: str, source: Path, whole: bool) -> Any:
    """A number of the grid (a whole one for counts), refused with the key named when it is not one."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or (whole and not number.is_integer()):
        raise CatalogError(describe(f"{where} is not a {'whole ' if whole else ''}number", source=source,
                                    expected="a whole number" if whole else "a number (metres)", found=repr(value)))
    return int(number) if whole else number


SLICE_KEYS = ("label", "start", "end", "monsoons")
FORECAST_KEYS = (*SLICE_KEYS, "rainfall", "rain", "earthquake")
RAIN_SCENARIO_KEYS = ("period", "factor", "return_period_years")
EARTHQUAKE_KEYS = ("name", "date", "magnitude", "pga", "x", "y", "depth_km")


def _parse_period(item: Any, where: str, source: Path, keys: tuple[str, ...], labelled: bool) -> SliceSpec:
    start = parse_date(_require(item, "start", where, source), f"{where}.start", source)
    end = parse_date(_require(item, "end", where, source), f"{where}.end", source)
    refuse_unknown_keys(item, keys, f"{where} has keys a {'slice' if labelled else 'forecast'} does not have",
                        source)
    if end <= start:
        raise CatalogError(describe(f"{where} ends before it starts", source=source,
                                    expected="start < end", found=f"{start} .. {end}"))
    monsoons = item.get("monsoons")
    return SliceSpec(str(_require(item, "label", where, source)), start, end,
                     None if monsoons is None else int(monsoons), labelled)


def _rain_scenario(item: Any, where: str, source: Path) -> RainScenario:
    refuse_unknown_keys(item, RAIN_SCENARIO_KEYS, f"{where} has keys a rain scenario does not have", source)
    period = str(_require(item, "period", where, source))
    years = item.get("return_period_years")
    factor = grid_number(item.get("factor", 1.0), f"{where}.factor", source, whole=False)
    if years is None:
        if factor <= 0:
            raise CatalogError(describe(f"{where}.factor must be positive", source=source, expected="> 0",
                                        found=factor))
        return RainScenario("scaled", period, factor)
    years = grid_number(years, f"{where}.return_period_years", source, whole=False)
    if years <= 1:
        raise CatalogError(describe(f"{where}.return_period_years must exceed 1", source=source,
                                    expected="e.g. 10, 100", found=years))
    return RainScenario("return_period", period, 1.0, years)


def _parse_forecast(item: Any, index: int, source: Path, grid: GridSpec) -> tuple[SliceSpec, ForecastSpec]:
    where = f"forecasts[{index}]"
    spec = _parse_period(item, where, source, FORECAST_KEYS, labelled=False)
    if "rainfall" in item and "rain" in item:
        raise CatalogError(describe(f"{where} gives both `rainfall:` (a file) and `rain:` (a scenario)",
                                    source=source, expected="one of them", fix="remove one"))
    rainfall = parse_entry("rainfall", item["rainfall"], source, grid) if "rainfall" in item else None
    rain = _rain_scenario(item["rain"], f"{where}.rain", source) if "rain" in item else None
    event = pga = quake = None
    if "earthquake" in item:
        quake_item, at = item["earthquake"], f"{where}.earthquake"
        refuse_unknown_keys(quake_item, EARTHQUAKE_KEYS, f"{at} has keys an earthquake does not have", source)
        date = parse_date(_require(quake_item, "date", at, source), f"{at}.date", source)
        if not spec.start < date <= spec.end:
            raise CatalogError(describe(f"{at}.date lies outside its period", source=source,
                                        expected=f"after {spec.start}, up to {spec.end}", found=str(date)))
        magnitude = quake_item.get("magnitude")
        event = EventSpec(str(quake_item.get("name", spec.label)), date,
                          None if magnitude is None else float(magnitude))
        if "pga" in quake_item:
            pga = parse_entry("pga", quake_item["pga"], source, grid)
        elif "x" in quake_item or "y" in quake_item:
            numbers = {key: grid_number(_require(quake_item, key, at, source), f"{at}.{key}", source, whole=False)
                       for key in ("magnitude", "x", "y")}
            quake = QuakeScenario(numbers["magnitude"], numbers["x"], numbers["y"],
                                  grid_number(quake_item.get("depth_km", 10.0), f"{at}.depth_km", source, False))
        else:
            raise CatalogError(describe(f"{at} has no ground motion", source=source,
                                        expected="`pga:` (a PGA raster, ShakeMap grid.xml or point field) or "
                                                 "`magnitude:`, `x:` and `y:` (grid CRS, metres)",
                                        found=sorted(quake_item)))
    return spec, ForecastSpec(spec.label, rainfall, rain, event, pga, quake)


def _parse_forecasts(raw: dict[str, Any], source: Path, grid: GridSpec) -> list[tuple[SliceSpec, ForecastSpec]]:
    items = raw.get("forecasts") or []
    if not isinstance(items, list):
        raise CatalogError(describe("`forecasts:` must be a list of periods", source=source,
                                    expected="- {label: ..., start: ..., end: ...}", found=type(items).__name__))
    return [_parse_forecast(item, i, source, grid) for i, item in enumerate(items)]


def _parse_slices(raw: dict[str, Any], source: Path,
                  forecasts: Sequence[SliceSpec] = ()) -> list[SliceSpec]:
    slices = [_parse_period(item, f"slices[{i}]", source, SLICE_KEYS, labelled=True)
              for i, item in enumerate(_require(raw, "slices", "the catalog", source))]
    slices = sorted([*slices, *forecasts], key=lambda spec: spec.start) if forecasts else slices
    labels = [spec.label for spec in slices]
    if len(set(labels)) != len(labels):
        raise CatalogError(describe("two periods share a label", source=source, expected="unique labels",
                                    found=sorted({label for label in labels if labels.count(label) > 1})))
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
        refuse_unknown_keys(item, ("name", "date", "magnitude"), f"events[{i}] has keys an event does not have",
                            source)
        magnitude = item.get("magnitude")
        events.append(EventSpec(str(_require(item, "name", f"events[{i}]", source)), date,
                                None if magnitude is None else float(magnitude)))
    return events


def _existing(role: str, rel: Any, source: Path) -> Path:
    path = (source.parent / str(rel)).resolve()
    if not path.exists():
        raise MissingFileError(describe(f"layer `{role}` points to a missing file", source=source,
                                        expected=str(path), found="no such file",
                                        fix="run `hazard synth` again or correct the path"))
    return path


def parse_entry(role: str, item: dict[str, Any], source: Path, grid: GridSpec | None = None) -> LayerEntry:
    """A layer entry from its mapping in a catalog (or built in memory), every key checked."""
    path = _existing(role, _require(item, "path", f"layers.{role}", source), source)
    nodata = item.get("nodata")
    units = None if item.get("units") is None else str(item["units"])
    if role in ROLE_KIND:
        check_declared(ROLE_KIND[role], units, f"{source}: layers.{role} ({path.name})", ROLE_LABEL[role])
    format_name = str(_require(item, "format", f"layers.{role}", source))
    options = parse_options(format_name, item, f"layers.{role}", source)
    about = {key: str(item[key]) for key in ABOUT_KEYS if key in item}
    return LayerEntry(role=role, path=path, format=format_name,
                      crs=None if item.get("crs") is None else str(item["crs"]), units=units,
                      nodata=None if nodata is None else float(nodata), options=options, about=about, grid=grid)


def _parse_layers(raw: dict[str, Any], source: Path, grid: GridSpec) -> dict[str, LayerEntry | list[LayerEntry]]:
    layers: dict[str, LayerEntry | list[LayerEntry]] = {}
    for role, item in _require(raw, "layers", "the catalog", source).items():
        if isinstance(item, list):
            layers[role] = [parse_entry(role, sub, source, grid) for sub in item]
        else:
            layers[role] = parse_entry(role, item, source, grid)
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
    text = source.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        tabs = [i for i, line in enumerate(text.splitlines(), 1) if "\t" in line[:len(line) - len(line.lstrip())]]
        if tabs:
            raise CatalogError(describe("YAML forbids tabs for indentation", source=source,
                                        expected="spaces only at the start of lines",
                                        found=f"a tab in the indentation of line(s) {tabs[:5]}",
                                        fix="replace the tabs by spaces (e.g. two per level)")) from exc
        raise CatalogError(describe("catalog is not valid YAML", source=source, found=str(exc))) from exc
    if not isinstance(raw, dict):
        raise CatalogError(describe("catalog must be a mapping", source=source, found=type(raw).__name__))
    return catalog_from_raw(raw, source)


def catalog_from_raw(raw: dict[str, Any], source: Path) -> Catalog:
    """Validate a catalog's mapping (its layer paths relative to ``source``'s folder).

    Raises
    ------
    MissingFileError, CatalogError
        As :func:`load_catalog`.
    """
    grid = _parse_grid(raw, source)
    forecasts = _parse_forecasts(raw, source, grid)
    slices = _parse_slices(raw, source, [spec for spec, _ in forecasts])
    _check_rain_scenarios([f for _, f in forecasts], slices, source)
    events = _parse_events(raw, source) + [f.event for _, f in forecasts if f.event is not None]
    return Catalog(path=source, case=str(raw.get("case", source.stem)), grid=grid,
                   events=sorted(events, key=lambda event: event.date), slices=slices,
                   layers=_parse_layers(raw, source, grid), raw=raw,
                   forecasts={f.label: f for _, f in forecasts},
                   exceedance_thresholds=_parse_exceedance(raw, source))


def _parse_exceedance(raw: dict[str, Any], source: Path) -> tuple[float, ...]:
    """``exceedance_thresholds``: densities (% of the cell, in (0, 100]) whose exceedance probability maps
    ``hazard predict`` writes when ``--exceedance`` is not given; sorted, without repeats."""
    given = raw.get("exceedance_thresholds", [])
    values = given if isinstance(given, list) else [given]
    try:
        thresholds = sorted({float(value) for value in values})
    except (TypeError, ValueError):
        thresholds = [math.nan]
    if not all(0.0 < value <= 100.0 for value in thresholds):
        raise CatalogError(describe("exceedance_thresholds: densities in % of the cell", source=source,
                                    expected="numbers in (0, 100], e.g. exceedance_thresholds: [1, 5, 10]",
                                    found=given))
    return tuple(thresholds)


def _check_rain_scenarios(forecasts: list[ForecastSpec], slices: list[SliceSpec], source: Path) -> None:
    """Refuse a rain scenario built from a period that is not a mapped slice of the catalog."""
    mapped = [spec.label for spec in slices if spec.labelled]
    for forecast in forecasts:
        if forecast.rain is not None and forecast.rain.period not in mapped:
            raise CatalogError(describe(f"forecast {forecast.label}'s rain scenario names an unknown period",
                                        source=source, expected=f"one of the mapped slices {mapped}",
                                        found=forecast.rain.period))


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
    data[nodata_mask(values, nodata)] = np.nan
    return da.copy(data=data)


def open_raster(entry: LayerEntry) -> xr.DataArray:
    """Read a raster layer as float32 (band, y, x) with NaN for nodata, a CRS and its unit.

    GeoTIFF/COG files are read as they are (``band: N`` in the entry keeps one band); a DEM
    is converted to metres. Point ground-motion fields (``ShakeMapXML``, ``PointCSV``) are
    interpolated in log space onto the 1 km lattice of the entry's grid grown by one cell
    (:func:`open_point_field_on_grid`); landslide polygons (``GeoPackage``, ``Shapefile``)
    become cumulative area per cell and mapping date (:func:`open_polygon_inventory`).

    Parameters
    ----------
    entry
        Catalog entry.

    Returns
    -------
    xarray.DataArray
        The layer, ``units`` attr from the catalog (``m`` for a DEM), ``band`` coordinate 1..n.

    Raises
    ------
    CatalogError
        If the format is not supported for the entry's role.
    InventoryError
        If a point catalogue of events is given as an inventory (points have no area).
    """
    if entry.format in POLYGON_FORMATS:
        return open_polygon_inventory(entry)
    out = open_point_field_on_grid(entry) if entry.format in POINT_FIELD_FORMATS else _open_geotiff(entry)
    if entry.role in ("dem", "pga"):
        check_layer_values(out.values, entry)
    return _dem_in_metres(out, entry) if entry.role == "dem" else out


def check_layer_values(values: np.ndarray, entry: LayerEntry) -> None:
    """Refuse values impossible for the entry's quantity (:func:`hazardcore.consistency.check_plausible`).

    Raises
    ------
    InvalidValueError
        Naming the file, the layer, the count and the range found.
    """
    kind = ROLE_KIND[entry.role]
    log_units = (entry.units or "").strip() in LOG_UNITS
    factor = 1.0 if log_units else unit_factor(kind, entry.units, entry.path, label=ROLE_LABEL[entry.role])
    check_plausible(values, entry.role, factor, entry.units, entry.nodata, entry.path, log_units=log_units)


def _open_geotiff(entry: LayerEntry) -> xr.DataArray:
    """A GeoTIFF/COG layer read as the file says: its metadata checked against the entry (:mod:`consistency`)."""
    if entry.format in EVENT_POINT_FORMATS:
        raise InventoryError(describe("a point catalogue of landslide events cannot give landslide area",
                                      source=entry.path, expected="polygons or gridded area per mapping date",
                                      found=f"format {entry.format} as layer `{entry.role}`",
                                      fix="declare it as `landslide_events:` (shown, never used as area)"))
    if entry.format not in RASTER_FORMATS:
        raise CatalogError(describe("unsupported raster format", source=entry.path,
                                    expected=" or ".join(RASTER_FORMATS + POINT_FIELD_FORMATS + POLYGON_FORMATS),
                                    found=entry.format))
    da = rioxarray.open_rasterio(entry.path, masked=False, cache=False)
    assert isinstance(da, xr.DataArray)
    options = options_of(entry, RasterOptions)
    band_index = None
    if options.band is not None:
        da = _select_band(da, options.band, entry.path)
        band_index = int(options.band) - 1
    file_nodata = da.rio.nodata
    check_nodata(entry.nodata, None if file_nodata is None else float(file_nodata), entry.path, entry.role)
    if entry.role in ROLE_KIND:
        check_unit(ROLE_KIND[entry.role], entry.units, file_unit(da.attrs, band_index), entry.path, entry.role)
    if options.dates:
        names = da.attrs.get("long_name")
        check_band_dates(list(names) if isinstance(names, tuple | list) else [names] if names else [],
                         options.dates, entry.path, entry.role)
    scale, offset = packing(da.attrs, entry.path, band_index)
    nodata = entry.nodata if entry.nodata is not None else file_nodata
    da = _resolve_crs(da.load(), entry)
    crs = da.rio.crs
    out = mask_nodata(da, None if nodata is None else float(nodata), entry.path)
    if (scale, offset) != (1.0, 0.0):  # packed integers: GDAL's value = stored × scale + offset
        out = (out * np.float32(scale) + np.float32(offset)).assign_attrs(
            out.attrs, scale_factor=1.0, add_offset=0.0,
            unpacked=f"stored × {scale!r} + {offset!r} (the file's scale/offset)")
    out = out.rio.write_crs(crs) if crs is not None else out
    if entry.role == "pga":
        _check_field_covers(out, entry)
    file_units = file_unit(da.attrs, band_index)
    return out.rio.write_nodata(np.nan, encoded=False).assign_attrs(
        units=entry.units or "", source=str(entry.path), source_crs=str(crs), **_role_attrs(entry),
        **({"units_tag_in_file": file_units} if file_units else {}))


def _check_field_covers(field_: xr.DataArray, entry: LayerEntry) -> None:
    """Refuse nodata pixels of a PGA raster on or next to the grid (resampling would fill them from neighbours).

    Raises
    ------
    CoverageError
        Naming the count and the first such pixel.
    """
    grid, crs = entry.grid, field_.rio.crs
    values = field_.values
    if grid is None or crs is None or not np.isnan(values).any():
        return
    left, bottom, right, top = transform_bounds(grid.crs, crs, *grid.bounds)
    step_x, step_y = (abs(float(step)) for step in field_.rio.resolution())
    near_x = np.flatnonzero((field_["x"].values >= left - step_x) & (field_["x"].values <= right + step_x))
    near_y = np.flatnonzero((field_["y"].values >= bottom - step_y) & (field_["y"].values <= top + step_y))
    holes = np.isnan(values[..., near_y[:, None], near_x[None, :]]).any(axis=0)
    if holes.any():
        row, col = (int(i[0]) for i in np.nonzero(holes))
        raise CoverageError(describe(
            f"{int(holes.sum())} nodata pixels of the PGA field lie on or next to the grid",
            source=layer_name(entry.path, entry.role),
            expected="a PGA value at every pixel the grid's cells are interpolated from",
            found=f"{int(holes.sum())} nodata pixels, first at x={float(field_['x'][near_x[col]]):.6g}, "
                  f"y={float(field_['y'][near_y[row]]):.6g}",
            fix="use a PGA field that covers the grid with values (e.g. a ShakeMap of a wider area), "
                "or shrink the grid"))


def _select_band(da: xr.DataArray, band: int, source: Path) -> xr.DataArray:
    bands = da["band"].values.tolist()
    if band not in bands:
        raise CatalogError(describe("the catalog names a band the file does not have", source=source,
                                    expected=f"band {band}", found=f"bands {bands}"))
    names = da.attrs.get("long_name")
    out = da.sel(band=[band])
    if isinstance(names, tuple | list):  # rioxarray gives every band's description: keep this band's
        out.attrs["long_name"] = str(names[bands.index(band)])
    return out


def _role_attrs(entry: LayerEntry) -> dict[str, str]:
    """Entry keys that later stages read from the layer (e.g. ``statistic: std`` of a PGA spread)."""
    options = entry.options
    return {key: str(getattr(options, key)) for key in ("statistic", "event")
            if getattr(options, key, None) is not None}


def _dem_in_metres(dem: xr.DataArray, entry: LayerEntry) -> xr.DataArray:
    """Elevation in metres; a DEM in a geographic CRS is announced (it is reprojected onto the grid)."""
    scale = unit_factor("length", entry.units, entry.path, label="elevation")
    out = dem if scale == 1.0 else dem * np.float32(scale)
    crs = dem.rio.crs
    if crs is not None and CRS.from_user_input(crs).is_geographic:
        warnings.warn(f"{entry.path}: DEM in a geographic CRS ({crs}); it is reprojected onto the grid's "
                      "projected lattice before slopes are computed", UserWarning, stacklevel=3)
        out = out.assign_attrs(repair="reprojected from a geographic CRS onto the grid")
    return out.assign_attrs(units="m", units_in_file=entry.units or "")


def open_rainfall(entry: LayerEntry) -> xr.DataArray:
    """Read daily rainfall as (time, y, x): a NetCDF stack, a GeoTIFF stack or point series.

    ``NetCDF`` holds (time, lat, lon) or (time, y, x); a ``GeoTIFF`` stack has one band per
    day listed in ``dates:``; ``PointSeriesCSV`` is one column per station or pixel, spread
    onto the grid by :func:`open_point_series_on_grid`.

    Returns
    -------
    xarray.DataArray
        Daily rainfall with ``units`` from the catalog, NaN for nodata, and a CRS.
    """
    nodata = entry.nodata
    if entry.format in POINT_SERIES_FORMATS:
        out = open_point_series_on_grid(entry)  # nodata masked in the series, before spreading
        check_layer_values(out.values, entry)
        return out
    if entry.format == "NetCDF":
        da, nodata = _netcdf_rain(entry)
    elif entry.format in RASTER_FORMATS:
        da = open_raster(entry).rename(band="time")
        nodata = None  # masked by open_raster
        dates = list(options_of(entry, RasterOptions).dates)
        if len(dates) != da.sizes["time"]:
            raise CatalogError(describe("a GeoTIFF rainfall stack needs one date per band", source=entry.path,
                                        expected=f"{da.sizes['time']} dates in `dates:`", found=len(dates)))
        check_unique_days(pd.DatetimeIndex(dates), layer_name(entry.path, entry.role))
        da = da.assign_coords(time=np.array(dates, dtype="datetime64[ns]"))
    else:
        raise CatalogError(describe("unsupported rainfall format", source=entry.path,
                                    expected="NetCDF, GeoTIFF or PointSeriesCSV", found=entry.format))
    if da.rio.crs is None and entry.crs is None:
        raise CRSError(describe("rainfall has no CRS", source=entry.path,
                                fix="add `crs: EPSG:4326` (for CHIRPS) to the catalog entry"))
    da = _resolve_crs(da, entry)
    crs = da.rio.crs
    out = mask_nodata(da, nodata, entry.path).rio.write_crs(crs)
    check_layer_values(out.values, entry)
    return out.assign_attrs(units=entry.units or str(da.attrs.get("units", "")), source=str(entry.path))


def _netcdf_rain(entry: LayerEntry) -> tuple[xr.DataArray, float | None]:
    """A NetCDF rainfall variable as (time, y, x) on days, and the nodata left to mask.

    Times are decoded by :func:`hazardcore.consistency.cf_days` (calendars, offsets); the
    variable's ``units``, ``_FillValue`` / ``missing_value`` are checked against the entry
    (xarray has masked the file's own fill values already).
    """
    netcdf = options_of(entry, NetCDFOptions)
    with xr.open_dataset(entry.path, decode_coords="all", decode_times=False) as ds:
        name = netcdf.variable
        if name not in ds:
            raise CatalogError(describe("rainfall variable not found", source=entry.path,
                                        expected=name, found=list(ds.data_vars)))
        dims = set(ds[name].dims)
        spatial = {"y", "x"} <= dims or ({"lat", "latitude"} & dims and {"lon", "longitude"} & dims)
        if "time" not in dims or "time" not in ds.coords or len(dims) != 3 or not spatial:
            raise CatalogError(describe("the rainfall variable is not a (time, lat, lon) stack", source=entry.path,
                                        expected="dims (time, lat, lon) or (time, y, x) with a time coordinate",
                                        found=f"dims {tuple(ds[name].dims)}, coordinates {list(ds.coords)}",
                                        fix="rename the dimensions (e.g. with `ncrename`) or select one level"))
        da = ds[name].load()
    check_unit("rain rate", entry.units, file_unit(da.attrs), entry.path, entry.role)
    fill = da.encoding.get("_FillValue", da.encoding.get("missing_value"))
    fill = None if fill is None else float(np.ravel(fill)[0])
    check_nodata(entry.nodata, fill, entry.path, entry.role)
    time = da["time"]
    where = layer_name(entry.path, entry.role)
    days = cf_days(time.values, str(time.attrs.get("units", "")), time.attrs.get("calendar"), where)
    check_unique_days(days, where)
    renames = {k: v for k, v in {"latitude": "y", "lat": "y", "longitude": "x", "lon": "x"}.items()
               if k in da.dims}
    da = da.assign_coords(time=days).rename(renames).transpose("time", "y", "x")
    da = da.rio.set_spatial_dims(x_dim="x", y_dim="y").sortby("time")
    da = da.isel(time=np.flatnonzero(within(pd.DatetimeIndex(da["time"].values), netcdf.start, netcdf.end)))
    calendar = str(time.attrs.get("calendar", "standard")).lower()
    masked_by_xarray = fill is not None and entry.nodata is not None and same_nodata(fill, entry.nodata)
    return da.assign_attrs(calendar_in_file=calendar), None if masked_by_xarray else entry.nodata


@dataclass(frozen=True)
class PointField:
    """Values at points (a ground-motion field): coordinates in ``crs``, the value column's unit."""

    x: np.ndarray
    y: np.ndarray
    values: np.ndarray
    names: list[str]
    crs: str
    units_in_file: str | None


def _column(frame: pd.DataFrame, name: str, source: Path) -> pd.Series:
    """A column by its name or by the first line of a multi-line header (OpenQuake writes those)."""
    by_first_line = {str(col).splitlines()[0].strip(): col for col in frame.columns}
    key = name if name in frame.columns else by_first_line.get(name)
    if key is None:
        raise CatalogError(describe(f"column `{name}` not found", source=source,
                                    expected=name, found=[str(c).splitlines()[0] for c in frame.columns]))
    return frame[key]


def read_point_csv(entry: LayerEntry) -> PointField:
    """Read a point ground-motion CSV: ShakeMap's CSV form, OpenQuake fields, station lists.

    ``columns: {lon: ..., lat: ..., value: ..., name: ...}`` names the columns (defaults
    ``lon``, ``lat``, the ``value`` column is required); lines starting with ``comment``
    (default ``#``) are skipped and quoted headers may hold newlines. The points' CRS is the
    entry's ``crs`` (default EPSG:4326).
    """
    options = options_of(entry, PointCSVOptions)
    columns = dict(options.columns or {})
    frame = pd.read_csv(entry.path, comment=options.comment)
    names = (_column(frame, columns["name"], entry.path).astype(str).tolist() if "name" in columns
             else [str(i) for i in range(len(frame))])
    wanted = [columns["value"]] if "value" in columns else list(columns["values"])
    table = np.stack([pd.to_numeric(_column(frame, str(name), entry.path), errors="coerce").to_numpy("float64")
                      for name in wanted], axis=1)
    return PointField(_column(frame, columns.get("lon", "lon"), entry.path).to_numpy("float64"),
                      _column(frame, columns.get("lat", "lat"), entry.path).to_numpy("float64"),
                      combine_columns(table, options.combine, entry), names,
                      entry.crs or "EPSG:4326", None)


def combine_columns(table: np.ndarray, how: str, entry: LayerEntry) -> np.ndarray:
    """One value per point from several columns (e.g. one per ground-motion model of an OpenQuake field).

    ``geometric_mean`` is exp(mean ln) (a median field in the file's unit); ``std_ln`` the
    population std of ln across the columns (units ``ln``: a PGA spread across models).

    Raises
    ------
    CatalogError
        If ``how`` is unknown, or several columns are given without a way to combine them.
    UnitError
        If ``std_ln`` is declared with a unit other than ``ln``.
    """
    if how not in COMBINE or (how == "none") != (table.shape[1] == 1):
        raise CatalogError(describe("several value columns need `combine:`, one column none", source=entry.path,
                                    expected=" | ".join(COMBINE), found=f"{table.shape[1]} columns, combine: {how}"))
    if how == "none":
        return table[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(table)
    if how == "geometric_mean":
        return np.exp(logs.mean(axis=1))
    if (entry.units or "").strip() not in LOG_UNITS:
        raise UnitError(describe("a std of ln across columns is in natural-log units", source=entry.path,
                                 expected="units: ln", found=f"units: {entry.units}"))
    return logs.std(axis=1, ddof=0)


def read_shakemap_xml(entry: LayerEntry) -> PointField:
    """Read a USGS ShakeMap ``grid.xml``: the grid nodes and the field ``field:`` (default PGA) with its unit."""
    try:
        root = ElementTree.parse(entry.path).getroot()
    except ElementTree.ParseError as exc:
        raise CatalogError(describe("not a readable ShakeMap grid.xml", source=entry.path, found=str(exc))) from exc
    fields = {el.get("name", ""): (int(el.get("index", "0")), el.get("units")) for el in root.iter()
              if el.tag.rsplit("}", 1)[-1] == "grid_field"}
    data = next((el.text for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "grid_data"), None)
    name = options_of(entry, ShakeMapOptions).field
    missing = [key for key in ("LON", "LAT", name) if key not in fields]
    if missing or not data:
        raise CatalogError(describe("ShakeMap grid.xml lacks fields or data", source=entry.path,
                                    expected=["LON", "LAT", name, "grid_data"], found=sorted(fields)))
    table = np.array(data.split(), dtype="float64").reshape(-1, len(fields))
    column = {key: table[:, index - 1] for key, (index, _) in fields.items()}
    return PointField(column["LON"], column["LAT"], column[name], [str(i) for i in range(len(table))],
                      "EPSG:4326", fields[name][1])


def open_point_field(entry: LayerEntry) -> PointField:
    """Read a point ground-motion field and check the unit the file states against the catalog's.

    Raises
    ------
    UnitError
        If the file states a unit (ShakeMap's ``grid_field units``) that differs from ``units:``.
    """
    field_ = read_shakemap_xml(entry) if entry.format == "ShakeMapXML" else read_point_csv(entry)
    declared = (entry.units or "").strip()
    if field_.units_in_file and not same_unit("acceleration", declared, field_.units_in_file):
        raise UnitError(describe("the catalog's unit differs from the file's", source=entry.path,
                                 expected=f"units: {field_.units_in_file} (as the file says)",
                                 found=f"units: {declared}", fix="correct `units:` in the catalog entry"))
    return field_


def _needs_grid(entry: LayerEntry) -> GridSpec:
    if entry.grid is None:
        raise CatalogError(describe(f"{entry.format} layers are put on the catalog's grid when read",
                                    source=entry.path, fix="read the entry through load_catalog"))
    return entry.grid


def _on_lattice(values: np.ndarray, grid: GridSpec, dims: tuple[str, ...],
                coords: dict[str, Any], attrs: dict[str, Any]) -> xr.DataArray:
    da = xr.DataArray(values, dims=dims, coords={**coords, **grid.coords("1km")}, attrs=attrs)
    return da.rio.write_crs(grid.crs).rio.write_transform(grid.transform("1km")).rio.write_nodata(
        np.nan, encoded=False)


def open_point_field_on_grid(entry: LayerEntry) -> xr.DataArray:
    """A point ground-motion field interpolated linearly in ln(value) onto the entry's grid.

    Returns
    -------
    xarray.DataArray
        (band=1, y, x) float32 on the 1 km lattice of the grid grown by
        :data:`hazardcore.points.MARGIN_CELLS` (so that resampling to pixels has neighbours at
        the edges), in the declared unit; attrs say how it was interpolated.

    Raises
    ------
    CoverageError
        If a cell of the grid lies outside the points' convex hull.
    """
    field_ = open_point_field(entry)
    grid = _needs_grid(entry).expanded(MARGIN_CELLS)
    x, y = project(field_.x, field_.y, field_.crs, grid)
    log = (entry.units or "").strip() not in LOG_UNITS
    values, filled = interpolate_log(x, y, field_.values, grid, entry.path, log=log)
    attrs = {"units": entry.units or "", "source": str(entry.path), "points": len(field_.values),
             "interpolation": f"linear in {'ln(value)' if log else 'value (a log-scale quantity)'} over a "
                              "Delaunay triangulation of the points (grid CRS); margin cells outside the "
                              "points filled from the nearest point",
             "margin_cells_filled": filled, **_role_attrs(entry)}
    return _on_lattice(values[None], grid, ("band", "y", "x"), {"band": [1]}, attrs)


@dataclass(frozen=True)
class PointSeries:
    """Daily series at points: ``values`` (time, point), point coordinates in ``crs``."""

    time: np.ndarray
    values: np.ndarray
    names: list[str]
    x: np.ndarray
    y: np.ndarray
    crs: str


def _locations(entry: LayerEntry, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the series' columns from the ``locations:`` table."""
    options = options_of(entry, PointSeriesOptions)
    spec = {"name": "column", "lon": "lon", "lat": "lat"} | dict(options.location_columns or {})
    table = pd.read_csv(options.locations).set_index(spec["name"])
    absent = [name for name in names if name not in table.index]
    if absent:
        raise CatalogError(describe("series without a location", source=options.locations,
                                    expected=f"a row per series column ({spec['name']})", found=f"no row for {absent}"))
    rows = table.loc[names]
    return rows[spec["lon"]].to_numpy("float64"), rows[spec["lat"]].to_numpy("float64")


def read_point_series(entry: LayerEntry) -> PointSeries:
    """Read a wide daily CSV (a date column, one column per point) and its ``locations:`` table.

    ``stations:`` keeps a subset of the columns; ``start:`` / ``end:`` keep a span of days.

    Raises
    ------
    CatalogError
        If the locations table is missing or lacks a column, or dates repeat.
    """
    options = options_of(entry, PointSeriesOptions)
    frame = pd.read_csv(entry.path)
    date_column = options.date_column
    time = pd.Series(local_days(_column(frame, date_column, entry.path), entry.path))
    check_unique_days(pd.DatetimeIndex(time), entry.path)
    names = list(options.stations) if options.stations is not None else [
        str(c) for c in frame.columns if c != date_column]
    keep = within(pd.DatetimeIndex(time), options.start, options.end)
    values = np.stack([pd.to_numeric(_column(frame, name, entry.path), errors="coerce").to_numpy("float64")
                       for name in names], axis=1)[keep]
    lon, lat = _locations(entry, names)
    order = np.argsort(time.to_numpy()[keep])
    return PointSeries(time.to_numpy()[keep][order], values[order], names, lon, lat, entry.crs or "EPSG:4326")


def _erddap_file(path: Path, variable: str) -> tuple[pd.Series, float, float, str]:
    """One ERDDAP ``.csv`` extract: the daily series, its point's lon/lat and the variable's unit."""
    frame = pd.read_csv(path, skiprows=[1])
    units = pd.read_csv(path, nrows=1)
    missing = [name for name in ("time", "latitude", "longitude", variable) if name not in frame.columns]
    if missing or frame.empty:
        raise CatalogError(describe("not an ERDDAP CSV extract of the variable", source=path,
                                    expected=["time", "latitude", "longitude", variable], found=list(frame.columns)))
    time = local_days(frame["time"], path)
    check_unique_days(time, path)
    values = pd.Series(pd.to_numeric(frame[variable], errors="coerce").to_numpy("float64"), index=time)
    return (values, float(frame["longitude"].iloc[0]), float(frame["latitude"].iloc[0]),
            str(units[variable].iloc[0]).strip())


def read_erddap_series(entry: LayerEntry) -> PointSeries:
    """Read ERDDAP CSV extracts (e.g. ``chirps20GlobalDailyP05``), one file per point.

    ``path:`` is one extract; ``pattern:`` (e.g. ``'*.csv'``) takes every matching file of its
    folder. Each file has a header row, a units row, then ``time, latitude, longitude,
    <variable>`` (``variable:``, default ``precip``); a point is named by its file's stem. Dates
    missing from a file become gaps (NaN). The unit row must agree with ``units:``.

    Raises
    ------
    CatalogError
        If ``path:`` is a folder (name one extract and a ``pattern:``).
    UnitError
        If a file's unit differs from the catalog's.
    """
    if entry.path.is_dir():
        raise CatalogError(describe("`path:` of ERDDAP extracts must be one file", source=entry.path,
                                    expected="path: folder/one_pixel.csv and pattern: '*.csv'", found="a folder"))
    options = options_of(entry, ERDDAPOptions)
    files = sorted(entry.path.parent.glob(options.pattern)) if options.pattern else [entry.path]
    variable = options.variable
    columns, lon, lat = {}, [], []
    for path in files:
        values, x, y, units = _erddap_file(path, variable)
        if not same_unit("rain rate", (entry.units or "").strip(), units):
            raise UnitError(describe("the catalog's unit differs from the file's", source=path,
                                     expected=f"units: {units} (as the file says)", found=f"units: {entry.units}",
                                     fix="correct `units:` in the catalog entry"))
        columns[path.stem] = values
        lon.append(x)
        lat.append(y)
    table = pd.DataFrame(columns).sort_index()
    table = table[within(pd.DatetimeIndex(table.index), options.start, options.end)]
    return PointSeries(table.index.to_numpy(), table.to_numpy("float64"), list(table.columns),
                       np.asarray(lon), np.asarray(lat), entry.crs or "EPSG:4326")


def open_point_series_on_grid(entry: LayerEntry) -> xr.DataArray:
    """Daily point series (``PointSeriesCSV``, ``ERDDAPCSV``) spread onto the entry's grid.

    ``spread: nearest`` (default) or ``idw`` (``idw_power:``, default 2).

    Returns
    -------
    xarray.DataArray
        (time, y, x) float32 on the 1 km lattice of the grid grown by one cell, in the
        declared unit, NaN where the spreading point has no value that day; attrs name the
        spreading method, the points used and the largest distance to a point.

    Raises
    ------
    CoverageError
        If a cell is farther than ``max_distance_km`` (default 100) from every point.
    """
    series = read_erddap_series(entry) if entry.format == "ERDDAPCSV" else read_point_series(entry)
    series = replace(series, values=np.where(nodata_mask(series.values, entry.nodata), np.nan, series.values))
    if entry.role == "rainfall":
        check_layer_values(series.values, entry)  # at the points: a sentinel is named before spreading mixes it
    grid = _needs_grid(entry).expanded(MARGIN_CELLS)
    x, y = project(series.x, series.y, series.crs, grid)
    options = options_of(entry, SeriesOptions)
    method, power = options.spread, options.idw_power
    values, distance = spread(series.values, x, y, grid, method, power, 1000.0 * options.max_distance_km, entry.path)
    used = names_used(series.names, x, y, grid) if method == "nearest" else series.names
    attrs = {"units": entry.units or "", "source": str(entry.path),
             "spread": method if method == "nearest" else f"idw (power {power:g})",
             "points_used": ", ".join(used), "max_distance_to_point_m": round(float(distance.max()), 1)}
    return _on_lattice(values, grid, ("time", "y", "x"), {"time": series.time}, attrs)


def read_polygons(entry: LayerEntry) -> gpd.GeoDataFrame:
    """Read landslide polygons (GeoPackage / shapefile) with their CRS checked against the catalog's.

    Raises
    ------
    CRSError
        If the file has no CRS and the catalog none, or they differ.
    """
    frame = gpd.read_file(entry.path, layer=options_of(entry, PolygonOptions).layer)
    declared = entry.crs
    if frame.crs is None and declared is None:
        raise CRSError(describe("polygons have no CRS", source=entry.path,
                                fix="add `crs: EPSG:xxxx` to the catalog entry"))
    if frame.crs is None:
        return frame.set_crs(declared)
    if declared is not None and CRS.from_user_input(frame.crs) != CRS.from_user_input(declared):
        raise CRSError(describe("file CRS differs from the catalog's", source=entry.path,
                                expected=declared, found=str(frame.crs)))
    return frame


def open_polygon_inventory(entry: LayerEntry) -> xr.DataArray:
    """Landslide polygons as cumulative mapped area (m²) per cell and mapping date (``dates:``).

    A polygon counts from the first mapping date on or after its date (``date_column:``) or
    the end of its period (``period_column:``, ISO intervals ``start/end``); see
    :func:`hazardcore.polygons.cumulative_area` for repairs and dates outside the slices.

    Returns
    -------
    xarray.DataArray
        (band, y, x) float32 area in m² on the grid's 1 km lattice (the unit of the entry
        is checked to be an area); attrs count repaired and dropped polygons.
    """
    grid = _needs_grid(entry)
    options = options_of(entry, PolygonOptions)
    dates = list(options.dates)
    frame = read_polygons(entry)
    areas, report = cumulative_area(frame, options.date_column, dates, grid, options.outside_dates, entry.path,
                                    period_column=options.period_column)
    attrs = {"units": "m2", "source": str(entry.path), **report}
    return _on_lattice(areas, grid, ("band", "y", "x"), {"band": np.arange(1, len(dates) + 1)}, attrs)


def open_event_points(entry: LayerEntry) -> pd.DataFrame:
    """A point catalogue of landslide events (e.g. NASA's Global Landslide Catalog) for display.

    ``columns: {lon:, lat:, date:}`` (defaults ``longitude``, ``latitude``, ``event_date``) and
    ``date_format:`` read the file. Events are shown, never turned into area.

    Returns
    -------
    pandas.DataFrame
        The file's columns plus ``date`` (datetime), ``x``, ``y`` (grid CRS, m) and ``inside_grid``.
    """
    options = options_of(entry, EventPointsOptions)
    columns = {"lon": "longitude", "lat": "latitude", "date": "event_date"} | dict(options.columns or {})
    frame = pd.read_csv(entry.path)
    out = frame.assign(date=pd.to_datetime(_column(frame, columns["date"], entry.path), format=options.date_format))
    if entry.grid is None:
        return out
    x, y = project(_column(frame, columns["lon"], entry.path).to_numpy("float64"),
                   _column(frame, columns["lat"], entry.path).to_numpy("float64"), entry.crs or "EPSG:4326",
                   entry.grid)
    left, bottom, right, top = entry.grid.bounds
    return out.assign(x=x, y=y, inside_grid=(x >= left) & (x < right) & (y > bottom) & (y <= top))


TRUTH_VARIABLES = ("p_occurrence", "expected_density_given_occurrence")


def open_truth(entry: LayerEntry, slice_labels: list[str]) -> xr.Dataset:
    """Read the known-truth layers of a synthetic case (slice, y, x) for the given slices.

    Raises
    ------
    CatalogError
        If a truth variable or a slice is missing.
    """
    declared = options_of(entry, NetCDFOptions).variables or {}
    with xr.open_dataset(entry.path, decode_coords="all") as ds:
        missing = [name for name in (*TRUTH_VARIABLES, *declared) if name not in ds]
        if missing:
            raise CatalogError(describe("truth file lacks variables", source=entry.path,
                                        expected=sorted({*TRUTH_VARIABLES, *declared}), found=list(ds.data_vars)))
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

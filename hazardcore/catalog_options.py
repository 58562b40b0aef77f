"""The options of a catalog entry, one typed class per file format, checked when the catalog is loaded.

Besides ``path``, ``format``, ``crs``, ``units`` and ``nodata``, an entry of ``catalog.yaml``
may hold options of its format (``band:`` of a GeoTIFF, ``locations:`` of point series, ...)
and documentation (``description:``, ``licence:``, ...). :func:`parse_options` turns the
options into the format's class below, with their types, defaults and allowed values checked,
so a misspelt or misplaced key is an error that lists the keys the format accepts, instead of
being ignored.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hazardcore.errors import CatalogError, MissingFileError, describe
from hazardcore.points import SPREAD_METHODS
from hazardcore.polygons import OUTSIDE_POLICIES

#: The keys every entry has (read by :func:`hazardcore.catalog.load_catalog` itself).
ENTRY_KEYS = ("path", "format", "crs", "units", "nodata")
#: Documentation any entry may carry; kept as text in ``LayerEntry.about``, never read as data.
ABOUT_KEYS = ("description", "licence", "license", "citation", "url", "source", "notes", "date")
#: How several value columns of a point CSV become one value per point.
COMBINE = ("none", "geometric_mean", "std_ln")
POINT_CSV_COLUMNS = ("lon", "lat", "value", "values", "name")
EVENT_POINT_COLUMNS = ("lon", "lat", "date")
LOCATION_COLUMNS = ("name", "lon", "lat")

Parser = Callable[[Any, str, Path], Any]


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


def _wrong(where: str, source: Path, expected: str, value: Any) -> CatalogError:
    return CatalogError(describe(f"{where} has the wrong type", source=source, expected=expected, found=repr(value)))


def text(value: Any, where: str, source: Path) -> str:
    """A string (numbers given in YAML are taken as their text)."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise _wrong(where, source, "a text", value)


def integer(value: Any, where: str, source: Path) -> int:
    """A whole number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _wrong(where, source, "a whole number", value)


def number(value: Any, where: str, source: Path) -> float:
    """A real number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _wrong(where, source, "a number", value)


def flag(value: Any, where: str, source: Path) -> bool:
    """``true`` or ``false``."""
    if isinstance(value, bool):
        return value
    raise _wrong(where, source, "true or false", value)


def date(value: Any, where: str, source: Path) -> dt.date:
    """An ISO date."""
    return parse_date(value, where, source)


def dates(value: Any, where: str, source: Path) -> tuple[dt.date, ...]:
    """A list of ISO dates."""
    if not isinstance(value, list | tuple):
        raise _wrong(where, source, "a list of ISO dates", value)
    return tuple(parse_date(item, f"{where}[{i}]", source) for i, item in enumerate(value))


def texts(value: Any, where: str, source: Path) -> tuple[str, ...]:
    """A list of texts."""
    if not isinstance(value, list | tuple):
        raise _wrong(where, source, "a list of texts", value)
    return tuple(text(item, f"{where}[{i}]", source) for i, item in enumerate(value))


def units_by_name(value: Any, where: str, source: Path) -> dict[str, str]:
    """A mapping of variable names to their units."""
    if not isinstance(value, Mapping):
        raise _wrong(where, source, "a mapping {variable: unit}", value)
    return {str(key): text(unit, f"{where}.{key}", source) for key, unit in value.items()}


def choice(*allowed: str) -> Parser:
    """A parser of one of ``allowed``."""

    def parse(value: Any, where: str, source: Path) -> str:
        if value not in allowed:
            raise CatalogError(describe(f"{where} is not one of its values", source=source,
                                        expected=" | ".join(allowed), found=value))
        return str(value)

    return parse


def columns(*allowed: str) -> Parser:
    """A parser of a mapping from the roles in ``allowed`` to column names (``values``: a list)."""

    def parse(value: Any, where: str, source: Path) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _wrong(where, source, "a mapping {" + ", ".join(f"{key}: column" for key in allowed) + "}", value)
        unknown = sorted(str(key) for key in value if key not in allowed)
        if unknown:
            raise CatalogError(describe(f"{where} names columns for unknown roles", source=source,
                                        expected=list(allowed), found=unknown))
        return {str(key): texts(item, f"{where}.{key}", source) if key == "values" else
                text(item, f"{where}.{key}", source) for key, item in value.items()}

    return parse


def existing_file(value: Any, where: str, source: Path) -> Path:
    """A file path relative to the catalog's folder, which must exist."""
    path = (source.parent / text(value, where, source)).resolve()
    if not path.exists():
        raise MissingFileError(describe(f"{where} points to a missing file", source=source, expected=str(path),
                                        found="no such file", fix="correct the path (relative to the catalog)"))
    return path


def option(parser: Parser, default: Any = None) -> Any:
    """A dataclass field read from the entry's key of the same name by ``parser``."""
    return field(default=default, metadata={"parse": parser})


@dataclass(frozen=True)
class RasterOptions:
    """``GeoTIFF`` / ``COG``: one band (``band:``), band dates (``dates:``), what a PGA band holds."""

    band: int | None = option(integer)
    dates: tuple[dt.date, ...] = option(dates, ())
    statistic: str | None = option(text)
    event: str | None = option(text)
    cumulative: bool = option(flag, True)


@dataclass(frozen=True)
class NetCDFOptions:
    """``NetCDF``: rainfall ``variable:`` (default ``precip``), the days kept, a truth file's ``variables:`` (units)."""

    variable: str = option(text, "precip")
    variables: dict[str, str] = option(units_by_name, None)
    start: dt.date | None = option(date)
    end: dt.date | None = option(date)


@dataclass(frozen=True)
class PointCSVOptions:
    """``PointCSV``: a ground-motion field at points; ``columns:`` must name the value column(s)."""

    columns: dict[str, Any] = option(columns(*POINT_CSV_COLUMNS), None)
    comment: str = option(text, "#")
    combine: str = option(choice(*COMBINE), "none")
    statistic: str | None = option(text)
    event: str | None = option(text)


@dataclass(frozen=True)
class ShakeMapOptions:
    """``ShakeMapXML``: the grid field read (``field:``, default PGA)."""

    field: str = option(text, "PGA")
    statistic: str | None = option(text)
    event: str | None = option(text)


@dataclass(frozen=True)
class SeriesOptions:
    """What daily point series share: the days kept and how the points are spread onto the grid."""

    start: dt.date | None = option(date)
    end: dt.date | None = option(date)
    spread: str = option(choice(*SPREAD_METHODS), "nearest")
    idw_power: float = option(number, 2.0)
    max_distance_km: float = option(number, 100.0)


@dataclass(frozen=True)
class PointSeriesOptions(SeriesOptions):
    """``PointSeriesCSV``: daily series per point, their ``locations:`` table and how they are spread."""

    locations: Path | None = option(existing_file)
    location_columns: dict[str, Any] = option(columns(*LOCATION_COLUMNS), None)
    date_column: str = option(text, "date")
    stations: tuple[str, ...] | None = option(texts)


@dataclass(frozen=True)
class ERDDAPOptions(SeriesOptions):
    """``ERDDAPCSV``: one extract per point (``pattern:`` takes every matching file), spread like point series."""

    pattern: str | None = option(text)
    variable: str = option(text, "precip")


@dataclass(frozen=True)
class PolygonOptions:
    """``GeoPackage`` / ``Shapefile``: landslide polygons, their mapping ``dates:`` and date or period column."""

    layer: str | None = option(text)
    dates: tuple[dt.date, ...] = option(dates, ())
    date_column: str | None = option(text)
    period_column: str | None = option(text)
    outside_dates: str = option(choice(*OUTSIDE_POLICIES), "error")


@dataclass(frozen=True)
class EventPointsOptions:
    """``EventPointsCSV``: a point catalogue of landslide events (shown, never used as area)."""

    columns: dict[str, Any] = option(columns(*EVENT_POINT_COLUMNS), None)
    date_format: str | None = option(text)


Options = (RasterOptions | NetCDFOptions | PointCSVOptions | ShakeMapOptions | SeriesOptions | PolygonOptions
           | EventPointsOptions)  # SeriesOptions: PointSeriesOptions and ERDDAPOptions

#: The options class of every format the catalog reads.
FORMAT_OPTIONS: dict[str, type[Options]] = {
    "GeoTIFF": RasterOptions, "COG": RasterOptions, "NetCDF": NetCDFOptions, "PointCSV": PointCSVOptions,
    "ShakeMapXML": ShakeMapOptions, "PointSeriesCSV": PointSeriesOptions, "ERDDAPCSV": ERDDAPOptions,
    "GeoPackage": PolygonOptions, "Shapefile": PolygonOptions, "EventPointsCSV": EventPointsOptions}


def accepted_keys(options: type[Options]) -> list[str]:
    """Every key an entry of a format with these options may hold."""
    return [*ENTRY_KEYS, *(f.name for f in fields(options)), *ABOUT_KEYS]


def refuse_unknown_keys(mapping: Mapping[Any, Any], accepted: Sequence[str], what: str, source: Path) -> None:
    """Refuse keys of ``mapping`` outside ``accepted``, naming each with the closest accepted key.

    Raises
    ------
    CatalogError
        ``what``, then each unknown key with its likely intended spelling (``nodat`` → ``nodata``).
    """
    unknown = sorted(str(key) for key in mapping if key not in accepted)
    if not unknown:
        return
    named = [f"`{key}` (did you mean `{close[0]}`?)" if (close := difflib.get_close_matches(key, accepted, n=1))
             else f"`{key}`" for key in unknown]
    raise CatalogError(describe(f"{what}: {', '.join(named)}", source=source, expected=list(accepted), found=unknown,
                                fix="correct the spelling, or remove the key"))


def parse_options(format_name: str, item: Mapping[str, Any], where: str, source: Path) -> Options | None:
    """The typed options of an entry (``None`` for a format the catalog does not read: its reader says so).

    Raises
    ------
    CatalogError
        For a key the format does not accept, a value of the wrong type or outside its
        choices, or a required option that is missing.
    """
    if format_name not in FORMAT_OPTIONS:
        return None
    options = FORMAT_OPTIONS[format_name]
    refuse_unknown_keys(item, accepted_keys(options), f"{where} has keys a {format_name} entry does not read", source)
    values = {f.name: f.metadata["parse"](item[f.name], f"{where}.{f.name}", source)
              for f in fields(options) if item.get(f.name) is not None}
    parsed = options(**values)
    check_required(parsed, where, source)
    return parsed


def check_required(options: Options, where: str, source: Path) -> None:
    """Refuse options that lack what their reader needs (the checks of the readers, made at load time)."""
    if isinstance(options, PointCSVOptions) and not {"value", "values"} & set(options.columns or {}):
        raise CatalogError(describe("a PointCSV entry needs its value column(s)", source=source,
                                    expected="columns: {lon: lon, lat: lat, value: PGA} (or values: [...])",
                                    found=options.columns or {}))
    if isinstance(options, PointSeriesOptions) and options.locations is None:
        raise CatalogError(describe("a point series needs its locations", source=source,
                                    expected="locations: table.csv with name, lon, lat per series column"))
    if isinstance(options, PolygonOptions) and (
            (options.date_column is None) == (options.period_column is None) or not options.dates):
        raise CatalogError(describe("a polygon inventory needs mapping dates and one date or period column",
                                    source=source, expected="dates: [...] and date_column: or period_column:",
                                    found={"dates": len(options.dates), "date_column": options.date_column,
                                           "period_column": options.period_column}))
    if isinstance(options, RasterOptions) and not options.cumulative:
        raise CatalogError(describe(f"{where}: only cumulative area rasters are read", source=source,
                                    expected="cumulative: true (one band of cumulative mapped area per date)",
                                    found="cumulative: false",
                                    fix="accumulate the per-period bands (band k = sum of periods 1..k)"))

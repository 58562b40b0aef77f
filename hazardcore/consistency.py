"""What a file says about itself, checked against its catalog entry; values possible for the quantity.

Real files carry their own metadata, and it can contradict the catalog. The rules (pure
functions here; :mod:`hazardcore.catalog` reads the files and calls them):

* **Units.** A unit in the file (a GDAL band unit, a ``units``/``UNITS`` tag, a NetCDF
  ``units`` attribute) that spells a unit (see :func:`hazardcore.units.canonical`) must name
  the same unit as the entry's ``units:``; otherwise :class:`MetadataConflictError`. Free text
  that is no unit (``metres above EGM96 geoid``) is kept in the layer's attrs, not compared.
* **Nodata.** The file's nodata (GDAL nodata, NetCDF ``_FillValue`` / ``missing_value``) and the
  entry's ``nodata:`` must agree where both are given (NaN agrees with NaN); either alone is used.
  A NaN fill in the file (xarray's default) does not contradict a numeric ``nodata:``: both mean
  missing, and a NaN in such a layer is the error of :func:`hazardcore.catalog.mask_nodata`.
* **Packed values.** GDAL scale/offset tags are applied (value = stored × scale + offset, as
  GDAL defines them); ``nodata`` names a stored value, ``units:`` the unpacked ones. NetCDF's
  ``scale_factor``/``add_offset`` are applied by xarray.
* **Band dates.** Band descriptions that each hold one ISO date must be the entry's ``dates:``.
* **Sentinels.** A declared nodata beyond ±1e30 also matches values within a relative 1e-6 of it
  (a float32 minimum −3.4028235e38 rounded when a file was written in float64); undeclared
  sentinels are caught by the plausible ranges below, with the sentinel named in the message.
* **Plausible values.** Elevation −500 … 9000 m, rainfall 0 … 2000 mm/day (−0.001 tolerated:
  packing noise), PGA 0 … 5 g, a std of ln(PGA) 0 … 5: anything else is an
  :class:`InvalidValueError` naming the file, the layer, the count, the range found and the fix.
* **Days.** CF time units with a UTC offset (``days since 2015-04-02 00:00 +05:45``) and
  timestamps with an offset in CSV series are read as the local days they name: the offset is
  dropped, not applied (converting to UTC would move each local midnight onto the previous
  UTC day). ``noleap`` / ``365_day`` calendars keep each day's date (their years lack 29
  February, which is then a missing day); ``360_day``, ``all_leap`` / ``366_day`` and ``julian``
  days are not days of the Gregorian year and are refused, with the conversion to make. A day
  that appears twice is an error.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hazardcore.errors import CatalogError, InvalidValueError, MetadataConflictError, describe
from hazardcore.units import LOG_UNITS, STANDARD_GRAVITY_MS2, canonical, is_unit, same_unit

SENTINEL_ABS = 1e30
SENTINEL_RTOL = 1e-6
COMMON_SENTINELS = (-9999.0, -99999.0, -32768.0, -32767.0, -9999.9, -999.0, -99.0, 9999.0, 32767.0, 65535.0)
RAIN_TOLERANCE_MM_DAY = 1e-3
#: Possible values per layer role, in the pipeline's unit: (low, high, unit).
PLAUSIBLE = {"dem": (-500.0, 9000.0, "m"), "rainfall": (-RAIN_TOLERANCE_MM_DAY, 2000.0, "mm/day"),
             "pga": (0.0, 5.0 * STANDARD_GRAVITY_MS2, "m/s2")}
PLAUSIBLE_LN = (0.0, 5.0)
UNIT_KEYS = ("units", "UNITS", "unit", "UNIT")
ISO_DATE = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")
TIME_WITH_OFFSET = re.compile(r"^(?P<stamp>-?\d{1,4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d*)?)?)"
                              r"\s*(?P<offset>Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)$", re.IGNORECASE)
GREGORIAN = ("standard", "gregorian", "proleptic_gregorian")
DATE_LABELLED = ("noleap", "365_day")
STEP_DAYS = {"days": 1.0, "day": 1.0, "d": 1.0, "hours": 1 / 24, "hour": 1 / 24, "h": 1 / 24,
             "minutes": 1 / 1440, "minute": 1 / 1440, "seconds": 1 / 86400, "second": 1 / 86400, "s": 1 / 86400}
NOLEAP_MONTH_STARTS = np.cumsum([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30])


def layer_name(source: str | Path, role: str) -> str:
    """How messages name a layer: its file and its role in the catalog."""
    return f"{source} (layer `{role}`)"


def file_unit(attrs: dict[str, Any], band_index: int | None = None) -> str | None:
    """The unit a file states: a band unit (``band_index`` picks one of several), else a unit tag."""
    for key in UNIT_KEYS:
        value = attrs.get(key)
        if isinstance(value, tuple | list):
            values = [str(v) for v in value if v not in (None, "")]
            if band_index is not None and band_index < len(value) and value[band_index] not in (None, ""):
                return str(value[band_index])
            if values and len(set(values)) == 1:
                return values[0]
            continue
        if value not in (None, ""):
            return str(value)
    return None


def check_unit(kind: str, declared: str | None, in_file: str | None, source: str | Path, role: str) -> None:
    """Refuse a unit stated in the file that names another unit than the catalog's ``units:``.

    Raises
    ------
    MetadataConflictError
        If ``in_file`` spells a unit and it is not ``declared``.
    """
    if not in_file or not is_unit(in_file):
        return
    if same_unit(kind, canonical(declared), in_file):
        return
    if canonical(declared) in LOG_UNITS and canonical(in_file) in LOG_UNITS:
        return
    raise MetadataConflictError(describe(
        "the file's own unit contradicts the catalog's `units:`", source=layer_name(source, role),
        expected=f"units: {declared} (the catalog entry)", found=f"{in_file!r} in the file's metadata",
        fix=f"if the file is right, set `units: {in_file}` in the catalog entry; if the catalog is right, "
            "correct the file's unit tag (values are never converted on a guess)"))


def same_nodata(a: float, b: float) -> bool:
    """Whether two nodata values name the same stored value (NaN = NaN; float32 rounding tolerated)."""
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    with np.errstate(over="ignore"):
        return bool(a == b or np.float32(a) == np.float32(b) or np.isclose(a, b, rtol=SENTINEL_RTOL, atol=0.0))


def check_nodata(declared: float | None, in_file: float | None, source: str | Path, role: str) -> None:
    """Refuse a file nodata that differs from the catalog's ``nodata:`` (either alone is fine).

    Raises
    ------
    MetadataConflictError
        If both are given and differ.
    """
    if declared is None or in_file is None or same_nodata(float(declared), float(in_file)):
        return
    if np.isnan(in_file):  # a NaN fill (xarray's and many writers' default) names no stored number
        return
    raise MetadataConflictError(describe(
        "the file's nodata contradicts the catalog's `nodata:`", source=layer_name(source, role),
        expected=f"nodata: {declared!r} (the catalog entry)", found=f"nodata {float(in_file)!r} in the file's metadata",
        fix=f"if the file is right, set `nodata: {float(in_file)!r}` (or remove `nodata:`: the file's is used); "
            "if the catalog is right, correct the file's nodata tag"))


def nodata_mask(values: np.ndarray, nodata: float | None) -> np.ndarray:
    """Where ``values`` hold ``nodata`` (compared in the values' dtype; a huge sentinel within 1e-6)."""
    if nodata is None or np.isnan(nodata):
        return np.zeros(values.shape, dtype=bool)
    if np.issubdtype(values.dtype, np.integer):
        info = np.iinfo(values.dtype)
        return values == nodata if info.min <= nodata <= info.max else np.zeros(values.shape, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        mask = values == np.asarray(nodata, dtype=values.dtype)
        if abs(nodata) > SENTINEL_ABS:
            mask |= np.isclose(values, nodata, rtol=SENTINEL_RTOL, atol=0.0)
    return np.asarray(mask)


def packing(attrs: dict[str, Any], source: str | Path, band_index: int | None = None) -> tuple[float, float]:
    """The (scale, offset) of packed values from GDAL's tags (rioxarray's ``scale_factor``/``add_offset``)."""

    def one(value: Any, default: float) -> float:
        if isinstance(value, tuple | list):
            if band_index is not None and band_index < len(value):
                return float(value[band_index])
            if len(set(value)) > 1:
                raise CatalogError(describe("bands are packed with different scales or offsets", source=source,
                                            expected="`band: N` in the catalog entry to read one band",
                                            found=list(value)))
            return float(value[0]) if value else default
        return default if value is None else float(value)

    return one(attrs.get("scale_factor"), 1.0), one(attrs.get("add_offset"), 0.0)


def dates_in(descriptions: Sequence[Any]) -> list[str] | None:
    """The ISO date each band description holds, or None unless every one holds exactly one."""
    found = [ISO_DATE.findall(str(text)) for text in descriptions]
    if not found or any(len(dates) != 1 for dates in found):
        return None
    return [dates[0] for dates in found]


def check_band_dates(descriptions: Sequence[Any], dates: Sequence[Any], source: str | Path, role: str) -> None:
    """Refuse band descriptions holding dates other than the catalog's ``dates:`` (in band order).

    Raises
    ------
    MetadataConflictError
        If every band description holds a date and they are not ``dates``.
    """
    in_file = dates_in(descriptions)
    declared = [str(d) for d in dates]
    if in_file is None or not declared or in_file == declared:
        return
    raise MetadataConflictError(describe(
        "the dates in the file's band descriptions contradict the catalog's `dates:`",
        source=layer_name(source, role), expected=f"dates: {declared} (the catalog entry, one per band)",
        found=f"band descriptions {list(map(str, descriptions))}",
        fix="list the bands' dates in band order in `dates:`, or correct the band descriptions"))


def _sentinel(values: np.ndarray) -> tuple[float, int] | None:
    """The most common out-of-range value when it looks like a nodata sentinel, and its count."""
    huge = ~np.isfinite(values) | (np.abs(values) > SENTINEL_ABS)
    if huge.any():
        return float(values[huge][0]), int(huge.sum())
    distinct, counts = np.unique(values, return_counts=True)
    top = int(np.argmax(counts))
    if float(distinct[top]) in COMMON_SENTINELS:
        return float(distinct[top]), int(counts[top])
    return None


def check_plausible(values: np.ndarray, role: str, to_pipeline: float, units: str | None, nodata: float | None,
                    source: str | Path, log_units: bool = False) -> None:
    """Refuse values impossible for the layer's quantity (:data:`PLAUSIBLE`), NaN being nodata.

    Only the extremes are computed unless a value is out of range, so a valid layer costs two
    passes over it and no copy.

    Parameters
    ----------
    values
        The layer's values in its declared unit, nodata already NaN.
    role
        ``dem``, ``rainfall`` or ``pga``.
    to_pipeline
        Factor from the declared unit to the unit of :data:`PLAUSIBLE`.
    units, nodata
        The entry's declared unit and nodata (for the message).
    source
        The file.
    log_units
        A std of ln(PGA) (dimensionless): checked against :data:`PLAUSIBLE_LN`.

    Raises
    ------
    InvalidValueError
        If any value lies outside the range; the message names the count, the range found,
        any nodata sentinel among them, and the fix.
    """
    low, high, unit = (*PLAUSIBLE_LN, "ln") if log_units else PLAUSIBLE[role]
    scale = 1.0 if log_units else to_pipeline
    with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN layer has no extremes
        extremes = (np.array([np.nanmin(values), np.nanmax(values)], dtype="float64") * scale if values.size
                    else np.full(2, np.nan))
    if np.isnan(extremes).all() or (extremes[0] >= low and extremes[1] <= high):
        return
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = values.astype("float64") * scale
        bad = ~np.isnan(values) & ~((scaled >= low) & (scaled <= high))
    if not bad.any():
        return
    wrong = values[bad].astype("float64")
    declared = units or unit
    found = (f"{int(bad.sum())} of {int((~np.isnan(values)).sum())} values outside, from {wrong.min():.6g} to "
             f"{wrong.max():.6g} {declared}")
    sentinel = _sentinel(wrong)
    fix = (f"check `units:` (is the file in {declared}?) and the values; a {role} layer holds "
           f"{low / scale:g} … {high / scale:g} {declared}")
    if sentinel is not None:
        found += f"; {sentinel[1]} of them are {sentinel[0]!r}, a nodata sentinel the catalog does not declare"
        declared_nodata = "declares no nodata" if nodata is None else f"declares nodata: {nodata!r}"
        fix = (f"declare `nodata: {sentinel[0]!r}` in the catalog entry if these are gaps "
               f"(the entry {declared_nodata}), or correct the values")
    raise InvalidValueError(describe(
        f"values impossible for {role}", source=layer_name(source, role),
        expected=f"{low:g} … {high:g} {unit}" + ("" if declared == unit else f" ({low / scale:g} … {high / scale:g} "
                                                                             f"{declared}, as declared)"),
        found=found, fix=fix))


def _strip_offset(stamp: str) -> str:
    match = TIME_WITH_OFFSET.match(stamp.strip())
    return match.group("stamp") if match else stamp.strip()


def local_days(texts: pd.Series | Sequence[Any], source: str | Path) -> pd.DatetimeIndex:
    """Days of timestamps as written: a UTC offset is dropped (the local day), times of day too.

    Raises
    ------
    CatalogError
        If a timestamp cannot be read as a date.
    """
    plain = [_strip_offset(str(text)) for text in texts]
    try:
        return pd.DatetimeIndex(pd.to_datetime(plain, format="ISO8601")).normalize()
    except (ValueError, TypeError) as exc:
        raise CatalogError(describe("a timestamp of the series cannot be read as a date", source=source,
                                    expected="ISO dates (2015-04-02, 2015-04-02T00:00:00+05:45)",
                                    found=str(exc).splitlines()[0])) from exc


def check_unique_days(days: pd.DatetimeIndex, source: str | Path) -> None:
    """Refuse a series in which a day appears twice.

    Raises
    ------
    CatalogError
        Naming the first repeated day and how many repeat.
    """
    repeated = days[days.duplicated()]
    if len(repeated):
        raise CatalogError(describe(
            "a day appears twice in the series", source=source, expected="one value per day",
            found=f"{len(repeated)} repeated days, first {repeated[0].date()}",
            fix="keep one value per day (a file concatenated twice, or not a daily series?)"))


def _origin(text: str, source: str | Path) -> tuple[int, int, int, float]:
    """(year, month, day, fraction of the day) of a CF time origin, its UTC offset dropped."""
    match = re.match(r"^(-?\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d*)?))?)?$",
                     _strip_offset(text))
    if match is None:
        raise CatalogError(describe("the time axis' origin is not a date", source=source,
                                    expected="days since YYYY-MM-DD[ hh:mm:ss[ ±hh:mm]]", found=repr(text)))
    year, month, day, hour, minute, second = match.groups()
    fraction = (int(hour or 0) * 3600 + int(minute or 0) * 60 + float(second or 0)) / 86400.0
    return int(year), int(month), int(day), fraction


def cf_days(values: np.ndarray, units: str, calendar: str | None, source: str | Path) -> pd.DatetimeIndex:
    """The days of a CF time axis (``<step> since <origin>``), by the rules of the module docstring.

    Raises
    ------
    CatalogError
        If the units are not ``<step> since <date>``, or the calendar's days are not Gregorian days.
    """
    match = re.match(r"^\s*(\w+)\s+since\s+(.+?)\s*$", units or "")
    if match is None or match.group(1).lower() not in STEP_DAYS:
        raise CatalogError(describe("the time axis has no CF units", source=source,
                                    expected="units: days (hours, minutes, seconds) since YYYY-MM-DD",
                                    found=repr(units)))
    name = (calendar or "standard").strip().lower()
    if name not in GREGORIAN + DATE_LABELLED:
        raise CatalogError(describe(
            f"rainfall in the `{name}` calendar: its days are not days of the Gregorian year", source=source,
            expected="calendar standard, gregorian, proleptic_gregorian, noleap or 365_day",
            found=f"calendar: {name}",
            fix="convert the file to the standard calendar first (e.g. xarray's "
                "`ds.convert_calendar('standard', align_on='year')`, then fill the days it leaves empty)"))
    year, month, day, fraction = _origin(match.group(2), source)
    elapsed = np.asarray(values, dtype="float64") * STEP_DAYS[match.group(1).lower()] + fraction
    whole = np.floor(elapsed + 1e-9).astype("int64")
    if name in GREGORIAN:
        days = np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D") + whole.astype("timedelta64[D]")
        return pd.DatetimeIndex(days)
    ordinal = 365 * year + NOLEAP_MONTH_STARTS[month - 1] + day - 1 + whole
    years: np.ndarray = np.asarray(ordinal // 365)
    in_year: np.ndarray = np.asarray(ordinal % 365)
    months = np.searchsorted(NOLEAP_MONTH_STARTS, in_year, side="right")
    day_of_month = in_year - NOLEAP_MONTH_STARTS[months - 1] + 1
    stamps = [f"{years[i]:04d}-{months[i]:02d}-{day_of_month[i]:02d}" for i in range(len(whole))]
    return pd.DatetimeIndex(pd.to_datetime(stamps, format="%Y-%m-%d"))

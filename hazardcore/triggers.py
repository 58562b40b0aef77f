"""Triggering factors per time slice: rainfall statistics, PGA layers, monsoon counts.

Rain statistics are computed on the rainfall's native grid (cheap) and only then resampled
onto the predictor lattice; PGA is converted to m/s² before anything is combined.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import xarray as xr

from hazardcore.catalog import EventSpec, SliceSpec
from hazardcore.errors import CoverageError, UnitError, describe

STANDARD_GRAVITY_MS2 = 9.80665
PGA_TO_MS2 = {"m/s2": 1.0, "m/s^2": 1.0, "m s-2": 1.0, "g": STANDARD_GRAVITY_MS2,
              "%g": STANDARD_GRAVITY_MS2 / 100.0, "pct_g": STANDARD_GRAVITY_MS2 / 100.0}
RAIN_TO_MM_DAY = {"mm/day": 1.0, "mm/d": 1.0, "mm day-1": 1.0, "mm": 1.0, "m/day": 1000.0,
                  "kg m-2 s-1": 86400.0}
MONSOON_END = (9, 30)  # the South-Asian summer monsoon is taken to end on 30 September


def pga_to_ms2(pga: xr.DataArray, units: str | None, source: str) -> xr.DataArray:
    """Convert PGA to m/s² from the unit the catalog declares.

    Raises
    ------
    UnitError
        If ``units`` is missing or not one of ``PGA_TO_MS2``.
    """
    factor = PGA_TO_MS2.get((units or "").strip())
    if factor is None:
        raise UnitError(describe("PGA unit missing or unknown", source=source,
                                 expected=" | ".join(PGA_TO_MS2), found=units or "no `units:`",
                                 fix="set `units:` of the PGA entry in the catalog"))
    return (pga * np.float32(factor)).assign_attrs(units="m/s2", long_name="peak ground acceleration")


def rain_to_mm_day(rain: xr.DataArray, units: str | None, source: str) -> xr.DataArray:
    """Convert daily rainfall to mm/day from the unit the catalog declares."""
    factor = RAIN_TO_MM_DAY.get((units or "").strip())
    if factor is None:
        raise UnitError(describe("rainfall unit missing or unknown", source=source,
                                 expected=" | ".join(RAIN_TO_MM_DAY), found=units or "no `units:`",
                                 fix="set `units:` of the rainfall entry in the catalog"))
    return (rain * np.float32(factor)).assign_attrs(units="mm/day")


def pga_statistics(pga_events_ms2: list[xr.DataArray]) -> tuple[xr.DataArray, xr.DataArray]:
    """Return the per-pixel maximum and standard deviation of PGA over the events (m/s²).

    The standard deviation is the population one (ddof=0); with one event it is 0.
    """
    stack = xr.concat(pga_events_ms2, dim="event")
    pga_max = stack.max("event").astype("float32")
    pga_std = stack.std("event", ddof=0).astype("float32")
    return (pga_max.assign_attrs(units="m/s2", long_name="maximum PGA over events"),
            pga_std.assign_attrs(units="m/s2", long_name="standard deviation of PGA over events"))


def slice_days(slice_spec: SliceSpec) -> pd.DatetimeIndex:
    """Days whose rain belongs to a slice: after ``start`` up to and including ``end``."""
    return pd.date_range(slice_spec.start + dt.timedelta(days=1), slice_spec.end, freq="D")


def _check_rain_covers(rain: xr.DataArray, slice_spec: SliceSpec, source: str) -> pd.DatetimeIndex:
    days = slice_days(slice_spec)
    have = pd.DatetimeIndex(rain["time"].values).normalize()
    missing = days.difference(have)
    if len(missing):
        raise CoverageError(describe(
            f"rainfall does not cover slice {slice_spec.label}", source=source,
            expected=f"every day {days[0].date()} .. {days[-1].date()}",
            found=f"{len(missing)} days missing, first {missing[0].date()}, last {missing[-1].date()}",
            fix="extend the rainfall series or shorten the slice"))
    return days


def rain_slice_statistics(rain_mm_day: xr.DataArray, slices: list[SliceSpec],
                          source: str = "rainfall") -> xr.Dataset:
    """Maximum daily rain and 95 % span (97.5th − 2.5th percentile) per slice.

    Parameters
    ----------
    rain_mm_day
        Daily rainfall (time, y, x) in mm/day on its native grid, with a CRS.
    slices
        The time slices.
    source
        File name for error messages.

    Returns
    -------
    xarray.Dataset
        ``rain_max`` and ``rain_span95`` (slice, y, x) in mm/day on the rainfall's grid.

    Raises
    ------
    CoverageError
        If a day of a slice is missing from the series.
    """
    time_index = pd.DatetimeIndex(rain_mm_day["time"].values).normalize()
    maxima, spans = [], []
    for slice_spec in slices:
        days = _check_rain_covers(rain_mm_day, slice_spec, source)
        block = rain_mm_day.isel(time=np.flatnonzero(time_index.isin(days))).values
        maxima.append(block.max(axis=0))
        low, high = np.percentile(block, [2.5, 97.5], axis=0)
        spans.append(high - low)
    coords = {"slice": [s.label for s in slices], "y": rain_mm_day["y"], "x": rain_mm_day["x"]}
    ds = xr.Dataset({
        "rain_max": (("slice", "y", "x"), np.stack(maxima).astype("float32"),
                     {"units": "mm/day", "long_name": "maximum daily rainfall in the slice"}),
        "rain_span95": (("slice", "y", "x"), np.stack(spans).astype("float32"),
                        {"units": "mm/day", "long_name": "97.5th - 2.5th percentile of daily rainfall"}),
    }, coords=coords)
    return ds.rio.write_crs(rain_mm_day.rio.crs)


def monsoon_count(slice_end: dt.date, event_date: dt.date) -> int:
    """Number of monsoon seasons that ended after the earthquake and by ``slice_end``."""
    month, day = MONSOON_END
    return sum(1 for year in range(event_date.year, slice_end.year + 1)
               if event_date < dt.date(year, month, day) <= slice_end)


def monsoon_counts(slices: list[SliceSpec], events: list[EventSpec]) -> np.ndarray:
    """Monsoons since the first earthquake per slice; a catalog's explicit value wins.

    Returns
    -------
    numpy.ndarray
        float32 counts, one per slice.
    """
    first = min((e.date for e in events), default=slices[0].start)
    counts = [s.monsoons if s.monsoons is not None else monsoon_count(s.end, first) for s in slices]
    return np.asarray(counts, dtype="float32")

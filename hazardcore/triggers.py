"""Triggering factors per time slice: rainfall statistics, PGA layers, monsoon counts.

Rain statistics are computed on the rainfall's native grid (cheap) and only then resampled
onto the predictor lattice; a pixel with a gap inside a slice is an error. PGA is converted
to m/s² before anything is combined; several events give the maximum, and the spread is the
standard deviation over the events or a given spread layer (``statistic: std``). Units
and their conversions live in :mod:`hazardcore.units`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from hazardcore.errors import CoverageError, describe
from hazardcore.predictors import CHANNEL_LONG_NAMES, CHANNEL_UNITS, RAIN_CHANNELS
from hazardcore.slices import EventSpec, SliceSpec
from hazardcore.units import LOG_UNITS
from hazardcore.units import STANDARD_GRAVITY_MS2 as STANDARD_GRAVITY_MS2  # re-exported
from hazardcore.units import factor as unit_factor

MONSOON_END = (9, 30)  # the South-Asian summer monsoon is taken to end on 30 September
STD_STATISTIC = "std"  # `statistic: std` in a PGA entry: a layer of PGA spread, not an event


def is_spread_layer(pga: xr.DataArray) -> bool:
    """Whether a PGA layer is a spread (``statistic: std`` in its catalog entry), not an event."""
    return str(pga.attrs.get("statistic", "")) == STD_STATISTIC


def pga_to_ms2(pga: xr.DataArray, units: str | None, source: str) -> xr.DataArray:
    """Convert PGA to m/s² from the unit the catalog declares.

    A spread layer given as the standard deviation of ln(PGA) (``units: ln``) is dimensionless
    and passes unchanged; :func:`pga_statistics` turns it into m/s².

    Raises
    ------
    UnitError
        If ``units`` is missing or not an acceleration (see :mod:`hazardcore.units`).
    """
    if is_spread_layer(pga) and (units or "").strip() in LOG_UNITS:
        return pga.assign_attrs(units="ln", long_name="standard deviation of ln(PGA)")
    scale = unit_factor("acceleration", units, source, label="PGA")
    return (pga * np.float32(scale)).assign_attrs(units="m/s2", long_name="peak ground acceleration")


def rain_to_mm_day(rain: xr.DataArray, units: str | None, source: str) -> xr.DataArray:
    """Convert daily rainfall to mm/day from the unit the catalog declares.

    Raises
    ------
    UnitError
        If ``units`` is missing or not a rain rate (see :mod:`hazardcore.units`).
    """
    scale = unit_factor("rain rate", units, source, label="rainfall")
    return (rain * np.float32(scale)).assign_attrs(units="mm/day")


def lognormal_std(median: xr.DataArray, sigma_ln: xr.DataArray) -> xr.DataArray:
    """Standard deviation of a log-normal variable from its median and the std of its log.

    ``mean = median · exp(σ²/2)`` and ``std = mean · sqrt(exp(σ²) − 1)``.
    """
    variance = sigma_ln**2
    return median * np.exp(variance / 2) * np.sqrt(np.expm1(variance))


def pga_statistics(pga_layers_ms2: list[xr.DataArray]) -> tuple[xr.DataArray, xr.DataArray]:
    """Return the per-pixel maximum and standard deviation of PGA (m/s²).

    Event layers give the maximum; the standard deviation is the population one (ddof=0)
    over the events (0 with one event) unless a spread layer (``statistic: std``) is given:
    then it is that layer, in m/s², or converted from a std of ln(PGA) with the maximum as
    the median (:func:`lognormal_std`). The method is recorded in ``pga_std.attrs``.

    Raises
    ------
    ValueError
        If no event layer is given, or more than one spread layer.
    """
    events = [layer for layer in pga_layers_ms2 if not is_spread_layer(layer)]
    spreads = [layer for layer in pga_layers_ms2 if is_spread_layer(layer)]
    if not events or len(spreads) > 1:
        raise ValueError(f"need >= 1 PGA event and <= 1 spread layer, got {len(events)} and {len(spreads)}")
    stack = xr.concat(events, dim="event")
    pga_max = stack.max("event").astype("float32")
    if not spreads:
        pga_std, method = stack.std("event", ddof=0), f"population std over {len(events)} event(s)"
    elif spreads[0].attrs.get("units") == "ln":
        pga_std, method = lognormal_std(pga_max, spreads[0]), "log-normal std from the spread layer's std of ln(PGA)"
    else:
        pga_std, method = spreads[0], "the spread layer (m/s2)"
    return (pga_max.assign_attrs(units="m/s2", long_name="maximum PGA over events"),
            pga_std.astype("float32").assign_attrs(units="m/s2", long_name="standard deviation of PGA",
                                                   method=method))


def slice_days(slice_spec: SliceSpec) -> pd.DatetimeIndex:
    """Days whose rain belongs to a slice: after ``start`` up to and including ``end``."""
    return pd.date_range(slice_spec.start + dt.timedelta(days=1), slice_spec.end, freq="D")


def _coverage_fix(rain: xr.DataArray, missing: pd.DatetimeIndex) -> str:
    """How to fix missing days; a 365-day calendar's missing 29 February is named as such."""
    calendar = str(rain.attrs.get("calendar_in_file", ""))
    if calendar in ("noleap", "365_day") and ((missing.month == 2) & (missing.day == 29)).all():
        return (f"the file's `{calendar}` calendar has no 29 February: add that day to the file (e.g. the mean "
                "of 28 February and 1 March, or 0), or shorten the slice")
    return "extend the rainfall series or shorten the slice"


def _check_rain_covers(rain: xr.DataArray, slice_spec: SliceSpec, source: str) -> pd.DatetimeIndex:
    days = slice_days(slice_spec)
    have = pd.DatetimeIndex(rain["time"].values).normalize()
    missing = days.difference(have)
    if len(missing):
        raise CoverageError(describe(
            f"rainfall does not cover slice {slice_spec.label}", source=source,
            expected=f"every day {days[0].date()} .. {days[-1].date()}",
            found=f"{len(missing)} days missing, first {missing[0].date()}, last {missing[-1].date()}",
            fix=_coverage_fix(rain, missing)))
    return days


def _check_no_gaps(block: np.ndarray, days: pd.DatetimeIndex, slice_spec: SliceSpec, source: str) -> None:
    """Refuse pixels with values on some days of a slice but not on others (a gap in the series).

    Pixels without any value in the slice (sea, outside the data) stay NaN and are masked later.
    """
    missing = np.isnan(block)
    gaps = missing.any(axis=0) & ~missing.all(axis=0)
    if gaps.any():
        gap_days = days[missing[:, gaps].any(axis=1)]
        raise CoverageError(describe(
            f"rainfall has gaps inside slice {slice_spec.label}", source=source,
            expected=f"a value on every day {days[0].date()} .. {days[-1].date()}",
            found=f"{len(gap_days)} days without a value at {int(gaps.sum())} pixels, first {gap_days[0].date()}",
            fix="fill the gaps in the series (or use another station), or shorten the slice"))


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
        ``rain_max`` and ``rain_span95`` (slice, y, x) in mm/day and ``rain_total`` (the
        slice's cumulative rain, mm) on the rainfall's grid; the ``spread`` and
        ``points_used`` attrs of point series are kept.

    Raises
    ------
    CoverageError
        If a day of a slice is missing from the series, or a pixel has values on some days of
        a slice and none on others.
    """
    time_index = pd.DatetimeIndex(rain_mm_day["time"].values).normalize()
    maxima, spans, totals = [], [], []
    for slice_spec in slices:
        days = _check_rain_covers(rain_mm_day, slice_spec, source)
        block = rain_mm_day.isel(time=np.flatnonzero(time_index.isin(days))).values
        _check_no_gaps(block, days, slice_spec, source)
        maxima.append(block.max(axis=0))
        low, high = np.percentile(block, [2.5, 97.5], axis=0)
        spans.append(high - low)
        totals.append(block.sum(axis=0, dtype="float64"))
    coords = {"slice": [s.label for s in slices], "y": rain_mm_day["y"], "x": rain_mm_day["x"]}
    ds = xr.Dataset({
        name: (("slice", "y", "x"), np.stack(values).astype("float32"),
               {"units": CHANNEL_UNITS[name], "long_name": CHANNEL_LONG_NAMES[name]})
        for name, values in {"rain_max": maxima, "rain_span95": spans, "rain_total": totals}.items()}, coords=coords)
    for name in RAIN_CHANNELS:  # how point series were spread, when they were
        ds[name].attrs |= {key: rain_mm_day.attrs[key] for key in ("spread", "points_used") if key in rain_mm_day.attrs}
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


def earthquake_in_slice(slices: list[SliceSpec], events: list[EventSpec]) -> np.ndarray:
    """1 where a catalog earthquake falls in the slice (after its start, up to its end), else 0 (float32)."""
    return np.asarray([float(any(s.start < e.date <= s.end for e in events)) for s in slices], dtype="float32")


def slice_lengths_days(slices: list[SliceSpec]) -> np.ndarray:
    """Length of each slice in days (float32): unequal slices expose their cells for unequal times."""
    return np.asarray([(s.end - s.start).days for s in slices], dtype="float32")


def period_covariates(slices: list[SliceSpec], events: list[EventSpec]) -> np.ndarray:
    """(slice, 3) float32: monsoons since the earthquake, earthquake in the slice, slice days.

    In ``hazardcore.predictors.PERIOD_CHANNELS`` order.
    """
    return np.stack([monsoon_counts(slices, events), earthquake_in_slice(slices, events), slice_lengths_days(slices)],
                    axis=1)


def slice_seasons(monsoons: Sequence[float] | np.ndarray) -> np.ndarray:
    """Season of each slice from its count of monsoons since the earthquake.

    A slice with no monsoon since the earthquake is ``co-seismic``; one whose count exceeds the
    previous slice's (a monsoon ended within it; the first slice is compared with 0) is
    ``post-monsoon``; any other (the dry season between two monsoons) is ``pre-monsoon``. The
    rule needs no calendar, so it holds for any monsoon end date a catalog sets.

    Parameters
    ----------
    monsoons
        Monsoons since the earthquake per slice, in slice (time) order.

    Returns
    -------
    numpy.ndarray
        One of ``co-seismic``, ``post-monsoon``, ``pre-monsoon`` per slice.
    """
    counts = np.asarray(monsoons, dtype=np.float64)
    previous = np.r_[0.0, counts[:-1]]
    return np.array(["co-seismic" if count == 0 else "post-monsoon" if count > before else "pre-monsoon"
                     for count, before in zip(counts, previous, strict=True)])

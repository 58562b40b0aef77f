"""Periods and a stationary monsoon climate for the physical synthetic world (one job: time).

**Periods.** Like a real multi-temporal inventory, the mapping dates depend on when cloud-free
images happened to be available: after the pre-event baseline (2015-04-01) and the
co-seismic slice ending between 1 and 21 June 2015, each year has a post-monsoon mapping
date between 15 October and 14 December and a pre-monsoon date between 15 March and 29 May
(uniform draws), so the periods last from about two to eight months. Labels and monsoon
counts follow the intensity world (``2015-co, 2015-post, 2016-pre, …``; 0, 1, 1, 2, …).

**Climate.** The daily rain of :func:`hazardcore.synthetic_triggers.daily_rain` (same
:class:`~hazardcore.synthetic_triggers.RainClimate`, storms, orography and 0.05° lattice), with
each year's monsoon strength an independent draw ``s_y ~ logN(0, year_sd)`` from one
stationary climate, so that held-out periods usually lie inside the range of training periods.
One post-monsoon period may be made deliberately extreme: its year's strength is set to the
climate's 1-in-T-year quantile ``exp(year_sd · Φ⁻¹(1 − 1/T))`` and the period is flagged in the
catalog, for testing extrapolation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import ndtri

from hazardcore.errors import ConfigError, describe
from hazardcore.grid import GridSpec
from hazardcore.synthetic_triggers import RainClimate, seasonal_profile, storm_rain

BASELINE_DATE = dt.date(2015, 4, 1)
CO_SEISMIC_END = (dt.date(2015, 6, 1), 20)
POST_MONSOON_WINDOW = ((10, 15), 60)  # (month, day) of the earliest date, days of spread
PRE_MONSOON_WINDOW = ((3, 15), 75)


@dataclass(frozen=True)
class Period:
    """One mapped period: label, start (exclusive) and end (inclusive) dates, monsoons since the
    earthquake at its end, and whether its monsoon was made deliberately extreme."""

    label: str
    start: dt.date
    end: dt.date
    monsoons: int
    extreme: bool = False

    @property
    def days(self) -> int:
        """Length in days."""
        return (self.end - self.start).days


def _window(rng: np.random.Generator, year: int, window: tuple[tuple[int, int], int]) -> dt.date:
    (month, day), spread = window
    return dt.date(year, month, day) + dt.timedelta(days=int(rng.integers(0, spread + 1)))


def draw_periods(n_periods: int, rng: np.random.Generator, extreme: str | None = None) -> list[Period]:
    """Draw the mapping dates of ``n_periods`` periods (1–8) from the imagery windows.

    Parameters
    ----------
    n_periods
        Number of periods, from the co-seismic one on.
    rng
        Random generator of the period component.
    extreme
        Label of a post-monsoon period to make deliberately extreme, or None.

    Returns
    -------
    list of Period
        In time order; all eight are drawn, the first ``n_periods`` kept.

    Raises
    ------
    ConfigError
        If ``extreme`` is not the label of a kept post-monsoon period.
    """
    ends = [BASELINE_DATE, CO_SEISMIC_END[0] + dt.timedelta(days=int(rng.integers(0, CO_SEISMIC_END[1] + 1)))]
    labels, monsoons = ["2015-co"], [0]
    for year in (2015, 2016, 2017, 2018):
        ends.append(_window(rng, year, POST_MONSOON_WINDOW))
        labels.append(f"{year}-post")
        monsoons.append(year - 2014)
        if year < 2018:
            ends.append(_window(rng, year + 1, PRE_MONSOON_WINDOW))
            labels.append(f"{year + 1}-pre")
            monsoons.append(year - 2014)
    periods = [Period(labels[t], ends[t], ends[t + 1], monsoons[t], labels[t] == extreme)
               for t in range(n_periods)]
    allowed = [p.label for p in periods if p.label.endswith("-post")]
    if extreme is not None and extreme not in allowed:
        raise ConfigError(describe("the extreme period must be a post-monsoon period of the region",
                                   expected=allowed or "a region with a post-monsoon period",
                                   found=extreme))
    return periods


def monsoon_strengths(years: list[int], rng: np.random.Generator, climate: RainClimate,
                      extreme_year: int | None = None, return_period: float = 50.0) -> dict[int, float]:
    """Monsoon strength of each year: iid ``logN(0, year_sd)``; the extreme year at its 1-in-T quantile."""
    draws = np.exp(climate.year_sd * rng.standard_normal(len(years)))
    strengths = dict(zip(years, (float(v) for v in draws), strict=True))
    if extreme_year is not None:
        strengths[extreme_year] = float(np.exp(climate.year_sd * ndtri(1.0 - 1.0 / return_period)))
    return strengths


def seasonal_cycle(days: pd.DatetimeIndex, strengths: dict[int, float], climate: RainClimate,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Domain-mean daily rain (mm/day) and wet-day probability, given each year's monsoon strength.

    The formula of :func:`hazardcore.synthetic_triggers.seasonal_cycle`; the onset shift is
    drawn per year.
    """
    years = np.unique(days.year)
    shift = dict(zip(years, climate.onset_sd_days * rng.standard_normal(len(years)), strict=True))
    return seasonal_profile(days, strengths, shift, climate)


def climate_rain(grid: GridSpec, periods: list[Period], rng: np.random.Generator,
                 climate: RainClimate | None = None, return_period: float = 50.0) -> xr.DataArray:
    """CHIRPS-like daily rain (mm/day) over the periods, from the stationary climate.

    The storm field, gamma amounts and orography are
    :func:`hazardcore.synthetic_triggers.storm_rain`'s, as in the intensity world.

    Returns
    -------
    xarray.DataArray
        float32 (time, latitude, longitude), latitude descending, CRS EPSG:4326, from the day
        after the first period's start to the last period's end.
    """
    climate = climate or RainClimate()
    days = pd.date_range(periods[0].start + dt.timedelta(days=1), periods[-1].end, freq="D")
    extreme = [p.end.year for p in periods if p.extreme]
    strengths = monsoon_strengths(sorted(set(days.year)), rng, climate, extreme[0] if extreme else None,
                                  return_period)
    mean, wet = seasonal_cycle(days, strengths, climate, rng)
    return storm_rain(grid, days, mean, wet, climate, rng)


def running_max(rain: xr.DataArray, start: dt.date, end: dt.date, window_days: int) -> xr.DataArray:
    """Largest ``window_days``-day mean daily rain (mm/day) of the days after ``start`` up to ``end``.

    Returns
    -------
    xarray.DataArray
        (latitude, longitude) float32 with the rain's CRS.

    Raises
    ------
    ConfigError
        If fewer than ``window_days`` days lie in the interval.
    """
    days = rain.sel(time=slice(np.datetime64(start + dt.timedelta(days=1)), np.datetime64(end)))
    if days.sizes["time"] < window_days:
        raise ConfigError(describe("too few days of rain for the running mean", expected=f">= {window_days}",
                                   found=f"{days.sizes['time']} days from {start} to {end}"))
    mean = days.rolling(time=window_days).mean().max("time")
    return mean.astype(np.float32).rio.write_crs("EPSG:4326")

"""Scenario triggers: a period's rain and an earthquake's shaking built from what users have.

A forecast period (``forecasts:`` in a catalog) without a rain forecast takes its rain from
the daily record:

* **scaled** — a past period's daily rain times a factor, day by day from the new period's
  first day (the past days repeated when the new period is longer, cut when shorter);
* **return period** — the same past period's daily pattern scaled pixel by pixel so that its
  wettest day equals the design daily rainfall of ``T`` years. The design rainfall comes from
  a regional frequency analysis of the record's annual maxima (index flood): each pixel's
  annual maxima are divided by their mean, the pooled ratios are fitted by a GEV
  (:func:`scipy.stats.genextreme.fit`, maximum likelihood), and the ``T``-year return level of a
  pixel is its mean annual maximum times the growth curve's ``1 − 1/T`` quantile. The fitted
  parameters and the Kolmogorov–Smirnov statistic of the pooled ratios against the fit are
  reported (:class:`GevFit`). Pooling over correlated pixels overstates the sample size, so
  the KS p-value is optimistic; the number of years is reported beside it.

An earthquake given by magnitude and location gets the **median** of the synthetic world's
ground-motion law (:mod:`hazardcore.synthetic_triggers`): a Wells & Coppersmith (1994)
rectangular rupture (strike 290°, dip 10°) whose anchor is the given point, the closest
distance ``R`` to it, and ``ln PGA[g] = a + b (M − 6) − ln √(R² + h²) − k R`` with
``a = 0.58, b = 0.60, h = 6 km, k = 0.005 / km``; no within-event scatter (a scenario is its
median).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from hazardcore.errors import CatalogError, describe
from hazardcore.grid import GridSpec
from hazardcore.slices import QuakeScenario, RainScenario, SliceSpec
from hazardcore.synthetic_triggers import GroundMotionModel, Rupture, median_pga_g, rupture_distance_km
from hazardcore.units import STANDARD_GRAVITY_MS2

MIN_DAYS_PER_YEAR = 180  # a calendar year of the record counts for annual maxima with at least this many days
MIN_YEARS = 3


@dataclass(frozen=True)
class GevFit:
    """The regional GEV growth curve of annual maximum daily rain (scipy's ``c`` sign convention)."""

    shape_c: float
    loc: float
    scale: float
    years: list[int]
    pixels: int
    ks_statistic: float
    ks_pvalue: float
    return_period_years: float
    growth_factor: float  # the T-year quantile of maxima / mean annual maximum

    def to_dict(self) -> dict[str, Any]:
        """The fit as plain numbers (for metadata and JSON)."""
        return {key: (round(value, 6) if isinstance(value, float) else value) for key, value in asdict(self).items()}


def period_days(spec: SliceSpec) -> pd.DatetimeIndex:
    """The days whose rain belongs to a period: after its start up to and including its end."""
    return pd.date_range(spec.start + dt.timedelta(days=1), spec.end, freq="D")


def past_rain(rain: xr.DataArray, past: SliceSpec, source: str) -> xr.DataArray:
    """The record's daily rain of a past period (time, y, x).

    Raises
    ------
    CatalogError
        If the record does not hold every day of the period.
    """
    days = period_days(past)
    have = pd.DatetimeIndex(rain["time"].values).normalize()
    missing = days.difference(have)
    if len(missing):
        raise CatalogError(describe(f"the rain record does not cover period {past.label} of a scenario", source=source,
                                    expected=f"every day {days[0].date()} .. {days[-1].date()}",
                                    found=f"{len(missing)} days missing",
                                    fix="choose another period for `rain.period`"))
    return rain.isel(time=np.flatnonzero(have.isin(days)))


def moved(block: xr.DataArray, target: SliceSpec) -> xr.DataArray:
    """A past period's days laid onto a target period's days, in order (repeated or cut to its length)."""
    days = period_days(target)
    order = np.arange(len(days)) % block.sizes["time"]
    return block.isel(time=order).assign_coords(time=days.values)


def scaled_rain(rain: xr.DataArray, past: SliceSpec, target: SliceSpec, factor: float,
                source: str = "rainfall") -> xr.DataArray:
    """The ``target`` period's rain: the ``past`` period's daily rain times ``factor``."""
    out = moved(past_rain(rain, past, source), target) * np.float32(factor)
    return out.astype("float32").assign_attrs(rain.attrs)


def annual_maxima(rain: xr.DataArray, min_days: int = MIN_DAYS_PER_YEAR) -> xr.DataArray:
    """Maximum daily rain of each calendar year with at least ``min_days`` days of record (year, y, x)."""
    years = pd.DatetimeIndex(rain["time"].values).year
    counts = pd.Series(years).value_counts()
    kept = sorted(int(year) for year, n in counts.items() if n >= min_days)
    maxima = [rain.isel(time=np.flatnonzero(years == year)).max("time") for year in kept]
    if not maxima:
        return xr.DataArray(np.empty((0, *rain.shape[1:]), dtype="float32"), dims=("year", *rain.dims[1:]))
    return xr.concat(maxima, dim="year").assign_coords(year=kept)


def fit_growth_curve(maxima: xr.DataArray, return_period_years: float, source: str = "rainfall") -> GevFit:
    """The regional GEV of annual maxima divided by each pixel's mean annual maximum (index flood).

    Raises
    ------
    CatalogError
        If the record holds fewer than ``MIN_YEARS`` usable years or no pixel with rain.
    """
    n_years = maxima.sizes["year"]
    if n_years < MIN_YEARS:
        raise CatalogError(describe("too short a rain record for a design rainfall", source=source,
                                    expected=f">= {MIN_YEARS} calendar years with >= {MIN_DAYS_PER_YEAR} days each",
                                    found=f"{n_years} such year(s)",
                                    fix="use a longer daily record, or a scaled past period (`rain.factor`)"))
    values = maxima.values.reshape(n_years, -1)
    index = values.mean(axis=0)
    usable = np.isfinite(values).all(axis=0) & (index > 0)
    if not usable.any():
        raise CatalogError(describe("no pixel of the rain record has rain in every year", source=source))
    ratios = (values[:, usable] / index[usable]).ravel().astype("float64")
    shape_c, loc, scale = stats.genextreme.fit(ratios)
    ks = stats.kstest(ratios, "genextreme", args=(shape_c, loc, scale))
    growth = float(stats.genextreme.isf(1.0 / return_period_years, shape_c, loc, scale))
    return GevFit(float(shape_c), float(loc), float(scale), [int(y) for y in maxima["year"].values],
                  int(usable.sum()), float(ks.statistic), float(ks.pvalue), float(return_period_years), growth)


def design_rain(rain: xr.DataArray, past: SliceSpec, target: SliceSpec, return_period_years: float,
                source: str = "rainfall") -> tuple[xr.DataArray, GevFit]:
    """The ``target`` period's rain: ``past``'s pattern with its wettest day at the ``T``-year design rainfall.

    Returns
    -------
    (xarray.DataArray, GevFit)
        Daily rain (time, y, x) in the record's unit, and the fitted growth curve.
    """
    maxima = annual_maxima(rain)
    fit = fit_growth_curve(maxima, return_period_years, source)
    level = maxima.mean("year") * np.float32(fit.growth_factor)
    block = past_rain(rain, past, source)
    wettest = block.max("time")
    factor = xr.where(wettest > 0, level / wettest.where(wettest > 0), np.float32(1.0))
    out = moved(block * factor, target).astype("float32")
    return out.transpose(*rain.dims).assign_attrs(rain.attrs), fit


def scenario_rain(rain: xr.DataArray, scenario: RainScenario, slices: list[SliceSpec], target: SliceSpec,
                  source: str = "rainfall") -> tuple[xr.DataArray, dict[str, Any]]:
    """A forecast period's daily rain from the record, and its provenance (with the GEV fit when designed)."""
    past = next(spec for spec in slices if spec.label == scenario.period)
    provenance: dict[str, Any] = {"kind": scenario.kind, "period": scenario.period, "record": source}
    if scenario.kind == "scaled":
        return scaled_rain(rain, past, target, scenario.factor, source), provenance | {"factor": scenario.factor}
    years = float(scenario.return_period_years or 0.0)
    out, fit = design_rain(rain, past, target, years, source)
    return out, provenance | {"return_period_years": years, "gev": fit.to_dict()}


def quake_pga(grid: GridSpec, quake: QuakeScenario, name: str = "scenario",
              gmm: GroundMotionModel | None = None) -> xr.DataArray:
    """Median PGA (m/s²) of an earthquake by magnitude and location on the grid's 30 m lattice."""
    gmm = gmm or GroundMotionModel()
    lattice = grid.template("30m")
    rupture = Rupture(name, "", quake.magnitude, anchor_km=(0.0, 0.0), extends="west", top_depth_km=quake.depth_km)
    east = (lattice["x"].values[None, :] - quake.x) / 1000.0
    north = (lattice["y"].values[:, None] - quake.y) / 1000.0
    east, north = np.broadcast_arrays(east, north)
    median = median_pga_g(quake.magnitude, rupture_distance_km(east, north, rupture), gmm)
    lattice.values[:] = (median * STANDARD_GRAVITY_MS2).astype("float32")
    return lattice.assign_attrs(units="m/s2", long_name=f"median peak ground acceleration, {name}",
                                magnitude=quake.magnitude, source=f"scenario {name}")

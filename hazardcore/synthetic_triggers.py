"""Synthetic triggers: earthquake shaking (PGA) and daily rainfall (one job: the triggers).

**PGA.** Each earthquake is a rectangular rupture dipping 10° to the north-north-east
(strike 290°, like the Main Himalayan Thrust), sized by Wells & Coppersmith (1994):
``log10 L = −2.44 + 0.59 M``, ``log10 W = −1.01 + 0.32 M`` (km). The closest distance
``R`` from a surface point to the rupture plane is exact (the point is projected onto the
plane and clamped to the rectangle). The median follows a GMPE-like law

    ln PGA[g] = a + b (M − 6) − ln √(R² + h²) − k R,
    a = 0.58, b = 0.60, h = 6 km, k = 0.005 / km,

and log-normal within-event scatter ``σ_ln = 0.35`` that is spatially correlated
(Gaussian-filtered white noise, correlation length 10 km, centred over the lattice: each
event is a median event, its between-event term is zero). The mainshock (M 7.8) rupture ends 5 km west of the
region's centre and extends west-north-west; the aftershock (M 7.3) starts 12 km east of
the centre and extends east-south-east, so shaking varies across any region.

**Rainfall.** A CHIRPS-like daily series on a 0.05° lon/lat lattice: a monsoon cycle
(June–September wet, tens of mm/day, a smaller pre-monsoon bump in May, dry winters) whose
strength and onset vary per year; each day a smooth random storm field decides where it
rains (the wet fraction follows the season's wet-day probability) and a gamma-distributed
daily amount (shape 1.5) is modulated by the storm field and by a static orographic field
(wetter to the north and on a smooth random pattern).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from pyproj import Transformer
from scipy import ndimage
from scipy.special import ndtri

from hazardcore.grid import GridSpec

PGA_OFFSET_M = (370.0, -410.0)
PGA_MARGIN_CELLS = 5
RAIN_STEP_DEG = 0.05
RAIN_MARGIN_DEG = 0.1


@dataclass(frozen=True)
class Rupture:
    """A rectangular rupture plane.

    Parameters
    ----------
    name, date, magnitude
        Event name, ISO date and moment magnitude.
    anchor_km
        (east, north) offset (km) from the region's centre of the anchor point: the
        eastern end of the top edge when ``extends`` is ``"west"``, the western end when
        ``"east"``.
    extends
        Direction along strike in which the rupture extends from the anchor.
    top_depth_km, strike_deg, dip_deg
        Depth of the top edge (km), strike and dip (degrees).
    """

    name: str
    date: str
    magnitude: float
    anchor_km: tuple[float, float]
    extends: str
    top_depth_km: float
    strike_deg: float = 290.0
    dip_deg: float = 10.0

    @property
    def length_km(self) -> float:
        """Rupture length (km), Wells & Coppersmith (1994), all slip types."""
        return float(10 ** (-2.44 + 0.59 * self.magnitude))

    @property
    def width_km(self) -> float:
        """Down-dip rupture width (km), Wells & Coppersmith (1994), all slip types."""
        return float(10 ** (-1.01 + 0.32 * self.magnitude))


EVENTS = (
    Rupture("mainshock", "2015-04-25", 7.8, anchor_km=(-5.0, -8.0), extends="west",
            top_depth_km=6.0),
    Rupture("aftershock", "2015-05-12", 7.3, anchor_km=(12.0, -4.0), extends="east",
            top_depth_km=8.0),
)


@dataclass(frozen=True)
class GroundMotionModel:
    """Coefficients of ``ln PGA[g] = a + b (M − 6) − ln √(R² + h²) − k R`` and its scatter."""

    a: float = 0.58
    b: float = 0.60
    h_km: float = 6.0
    k_per_km: float = 0.005
    sigma_ln: float = 0.35
    correlation_km: float = 10.0


def pga_grid(grid: GridSpec) -> GridSpec:
    """The 1 km PGA lattice: the grid plus a 5 km margin, origin shifted by (+370, −410) m."""
    margin = PGA_MARGIN_CELLS * grid.cell_size_m
    return GridSpec(crs=grid.crs, x_min=grid.x_min - margin + PGA_OFFSET_M[0],
                    y_max=grid.y_max + margin + PGA_OFFSET_M[1],
                    n_rows=grid.n_rows + 2 * PGA_MARGIN_CELLS,
                    n_cols=grid.n_cols + 2 * PGA_MARGIN_CELLS,
                    cell_size_m=grid.cell_size_m, pixels_per_cell=1)


def _unit(azimuth_deg: float) -> np.ndarray:
    """Horizontal unit vector (east, north) of an azimuth."""
    rad = np.radians(azimuth_deg)
    return np.array([np.sin(rad), np.cos(rad)])


def rupture_distance_km(east_km: np.ndarray, north_km: np.ndarray, rupture: Rupture) -> np.ndarray:
    """Closest distance (km) from surface points to the rupture rectangle.

    Parameters
    ----------
    east_km, north_km
        Point coordinates (km) relative to the region's centre.
    rupture
        The rupture.

    Returns
    -------
    numpy.ndarray
        Distances (km), same shape as the inputs.
    """
    strike = _unit(rupture.strike_deg)
    sign = 1.0 if rupture.extends == "west" else -1.0  # strike 290° points west-north-west
    dip = np.radians(rupture.dip_deg)
    down_dip = np.append(_unit(rupture.strike_deg + 90.0) * np.cos(dip), -np.sin(dip))
    along = np.append(sign * strike, 0.0)
    origin = np.array([*rupture.anchor_km, -rupture.top_depth_km])
    rel = np.stack([east_km, north_km, np.zeros_like(east_km)], axis=-1) - origin
    u = np.clip(rel @ along, 0.0, rupture.length_km)
    w = np.clip(rel @ down_dip, 0.0, rupture.width_km)
    closest = u[..., None] * along + w[..., None] * down_dip
    return np.asarray(np.linalg.norm(rel - closest, axis=-1))


def median_pga_g(magnitude: float, distance_km: np.ndarray, gmm: GroundMotionModel) -> np.ndarray:
    """Median PGA (g) of the GMPE-like law."""
    ln_pga = (gmm.a + gmm.b * (magnitude - 6.0)
              - 0.5 * np.log(distance_km**2 + gmm.h_km**2) - gmm.k_per_km * distance_km)
    return np.asarray(np.exp(ln_pga))


def correlated_normal(shape: tuple[int, ...], sigma_px: tuple[float, ...],
                      rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to unit variance by the filter's own gain.

    The gain is computed by filtering a unit impulse, so the variance is 1 in expectation
    (not forced per draw) and the field keeps its sampling variability.
    """
    noise = rng.standard_normal(shape).astype(np.float32)
    smooth = ndimage.gaussian_filter(noise, sigma_px, mode="reflect")
    impulse = np.zeros([int(8 * s) + 1 for s in sigma_px], dtype=np.float64)
    impulse[tuple(n // 2 for n in impulse.shape)] = 1.0
    gain = np.sqrt(np.sum(ndimage.gaussian_filter(impulse, sigma_px, mode="constant") ** 2))
    return (smooth / np.float32(gain)).astype(np.float32)


def pga_event(grid: GridSpec, rupture: Rupture, rng: np.random.Generator,
              gmm: GroundMotionModel | None = None) -> xr.DataArray:
    """PGA field (g) of one earthquake on the 1 km PGA lattice of ``grid``.

    Returns
    -------
    xarray.DataArray
        float32 (y, x) with CRS, ``units = "g"``.
    """
    gmm = gmm or GroundMotionModel()
    lattice = pga_grid(grid)
    da = lattice.template("1km")
    left, bottom, right, top = grid.bounds
    east = (da["x"].values[None, :] - 0.5 * (left + right)) / 1000.0
    north = (da["y"].values[:, None] - 0.5 * (bottom + top)) / 1000.0
    east, north = np.broadcast_arrays(east, north)
    median = median_pga_g(rupture.magnitude, rupture_distance_km(east, north, rupture), gmm)
    sigma_px = gmm.correlation_km * 1000.0 / (np.sqrt(2.0) * lattice.cell_size_m)
    eps = correlated_normal(median.shape, (sigma_px, sigma_px), rng)
    eps -= eps.mean()  # a median event: the between-event term is zero
    da.values[:] = median * np.exp(gmm.sigma_ln * eps)
    return da.assign_attrs(units="g", long_name=f"peak ground acceleration, {rupture.name}",
                           event=rupture.name, magnitude=rupture.magnitude)


@dataclass(frozen=True)
class RainClimate:
    """Parameters of the synthetic daily rainfall (mm/day).

    Parameters
    ----------
    dry_mm, premonsoon_mm, monsoon_mm
        Mean daily rain of the dry background, of the pre-monsoon bump (peak) and of the
        monsoon (peak).
    premonsoon_doy, premonsoon_sd_days, monsoon_doy, monsoon_sd_days
        Centre day-of-year and width (days) of the two seasonal bumps.
    wet_dry, wet_monsoon, wet_premonsoon
        Wet-day probability in the dry season and the increase at the peaks.
    year_sd, onset_sd_days
        Log-normal year-to-year monsoon strength and onset shift (days).
    gamma_shape
        Shape of the gamma-distributed domain-mean daily amount.
    storm_sigma_km, storm_amplitude
        Correlation scale of the daily storm field and its log-amplitude on amounts.
    orographic_gain, orographic_sd, orographic_sigma_km
        Log-increase of rain from the southern to the northern edge; standard deviation and
        scale of the static smooth orographic pattern.
    """

    dry_mm: float = 0.6
    premonsoon_mm: float = 2.5
    monsoon_mm: float = 17.0
    premonsoon_doy: float = 135.0
    premonsoon_sd_days: float = 18.0
    monsoon_doy: float = 205.0
    monsoon_sd_days: float = 32.0
    wet_dry: float = 0.12
    wet_monsoon: float = 0.75
    wet_premonsoon: float = 0.2
    year_sd: float = 0.15
    onset_sd_days: float = 6.0
    gamma_shape: float = 1.5
    storm_sigma_km: float = 10.0
    storm_amplitude: float = 0.3
    orographic_gain: float = 0.3
    orographic_sd: float = 0.2
    orographic_sigma_km: float = 20.0


def rain_axes(grid: GridSpec) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre longitudes (ascending) and latitudes (descending) of the 0.05° lattice.

    The lattice is aligned on multiples of 0.05° (as CHIRPS) and covers the grid's
    footprint plus at least 0.1° on every side.
    """
    transformer = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    left, bottom, right, top = transformer.transform_bounds(*grid.bounds, densify_pts=21)
    i0 = int(np.floor((left - RAIN_MARGIN_DEG) / RAIN_STEP_DEG))
    i1 = int(np.ceil((right + RAIN_MARGIN_DEG) / RAIN_STEP_DEG))
    j0 = int(np.floor((bottom - RAIN_MARGIN_DEG) / RAIN_STEP_DEG))
    j1 = int(np.ceil((top + RAIN_MARGIN_DEG) / RAIN_STEP_DEG))
    lon = np.round((np.arange(i0, i1) + 0.5) * RAIN_STEP_DEG, 6)
    lat = np.round((np.arange(j1 - 1, j0 - 1, -1) + 0.5) * RAIN_STEP_DEG, 6)
    return lon, lat


def seasonal_cycle(days: pd.DatetimeIndex, climate: RainClimate,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Domain-mean daily rain (mm/day) and wet-day probability per day.

    Monsoon strength (log-normal) and onset shift (normal) are drawn once per year.
    """
    years = np.unique(days.year)
    strength = dict(zip(years, np.exp(climate.year_sd * rng.standard_normal(len(years))),
                        strict=True))
    shift = dict(zip(years, climate.onset_sd_days * rng.standard_normal(len(years)),
                     strict=True))
    return seasonal_profile(days, strength, shift, climate)


def seasonal_profile(days: pd.DatetimeIndex, strength: dict[int, float], shift: dict[int, float],
                     climate: RainClimate) -> tuple[np.ndarray, np.ndarray]:
    """Domain-mean daily rain (mm/day) and wet-day probability from each year's monsoon strength and onset shift."""
    doy = days.day_of_year.to_numpy(dtype=np.float64)
    year_strength = np.array([strength[y] for y in days.year])
    year_shift = np.array([shift[y] for y in days.year])
    monsoon = np.exp(-0.5 * ((doy - climate.monsoon_doy - year_shift) / climate.monsoon_sd_days) ** 2)
    pre = np.exp(-0.5 * ((doy - climate.premonsoon_doy) / climate.premonsoon_sd_days) ** 2)
    mean = climate.dry_mm + climate.premonsoon_mm * pre + climate.monsoon_mm * year_strength * monsoon
    wet = climate.wet_dry + climate.wet_monsoon * monsoon + climate.wet_premonsoon * pre
    return mean, np.clip(wet, 0.02, 0.95)


def orographic_field(lon: np.ndarray, lat: np.ndarray, grid: GridSpec, climate: RainClimate,
                     rng: np.random.Generator) -> np.ndarray:
    """Static multiplicative rain pattern: wetter to the north, plus smooth random structure.

    The random structure is centred on the lattice so that it redistributes rain without
    changing the region's climate.
    """
    transformer = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    _, north = transformer.transform(*np.meshgrid(lon, lat))
    _, bottom, _, top = grid.bounds
    north_frac = np.clip((north - bottom) / (top - bottom), -0.5, 1.5) - 0.5
    sigma_px = climate.orographic_sigma_km / (RAIN_STEP_DEG * 111.0)
    pattern = correlated_normal((lat.size, lon.size), (sigma_px, sigma_px), rng)
    pattern -= pattern.mean()
    return np.exp(climate.orographic_gain * north_frac + climate.orographic_sd * pattern)


def daily_rain(grid: GridSpec, start: dt.date, end: dt.date, rng: np.random.Generator,
               climate: RainClimate | None = None) -> xr.DataArray:
    """CHIRPS-like daily rainfall (mm/day) from ``start`` to ``end`` inclusive.

    Returns
    -------
    xarray.DataArray
        float32 (time, latitude, longitude), latitude descending, CRS EPSG:4326.
    """
    climate = climate or RainClimate()
    days = pd.date_range(start, end, freq="D")
    mean, wet = seasonal_cycle(days, climate, rng)
    return storm_rain(grid, days, mean, wet, climate, rng)


def storm_rain(grid: GridSpec, days: pd.DatetimeIndex, mean: np.ndarray, wet: np.ndarray, climate: RainClimate,
               rng: np.random.Generator) -> xr.DataArray:
    """Daily rain from a day's regional mean (mm/day) and wet-area fraction: correlated storms on an orography.

    A day's storms are the upper ``wet`` tail of a spatially correlated normal field, scaled so
    the expected rain is ``mean``, with a gamma-distributed day-to-day amount, times a
    persistent orographic field. Shared by both synthetic worlds (their seasons differ).
    """
    lon, lat = rain_axes(grid)
    orography = orographic_field(lon, lat, grid, climate, rng)
    sigma_px = climate.storm_sigma_km / (RAIN_STEP_DEG * 111.0)
    storm = correlated_normal((days.size, lat.size, lon.size), (0.0, sigma_px, sigma_px), rng)
    amount = rng.gamma(climate.gamma_shape, 1.0 / climate.gamma_shape, days.size)
    threshold = ndtri(1.0 - wet)[:, None, None]
    scale = (mean / wet * amount)[:, None, None]
    rain = np.where(storm > threshold, scale * np.exp(climate.storm_amplitude * storm
                                                      - 0.5 * climate.storm_amplitude**2), 0.0)
    rain = (rain * orography[None]).astype(np.float32)
    da = xr.DataArray(rain, dims=("time", "latitude", "longitude"),
                      coords={"time": days.values, "latitude": lat, "longitude": lon})
    return da.rio.set_spatial_dims(x_dim="longitude", y_dim="latitude").rio.write_crs("EPSG:4326")

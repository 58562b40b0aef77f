"""The physical synthetic world: landslides from slope-stability physics (one job: assemble it).

Terrain and hidden geology come from :mod:`hazardcore.synthetic_geology`, periods and rain
from :mod:`hazardcore.synthetic_climate`, the earthquakes' PGA from
:func:`hazardcore.synthetic_triggers.pga_event`, and failure and runout from the kernels of
:mod:`hazardcore.synthetic_physics`, per 31.25 m pixel of the grid and its 1 km margin.

**What is fixed and what is random.** Terrain, geology, the written PGA and rain fields
(the "observed" ShakeMap and CHIRPS-like products) and the periods are the world. The truth
is an expectation over the parts nobody maps (:class:`PhysicalParams`): a persistent field of
unmapped soil and land cover scaling cohesion, each event's ShakeMap error, each period's
rain-product error (all spatially correlated over kilometres), the pixel-scale variability of
cohesion, the co-seismic failure draws and hence the clusters and their runout. One
realisation of all of them is the inventory; ``n_realisations`` independent ones give the
truth by Monte Carlo.

**Per period and pixel.** Rain-triggered failure where the infinite-slope FS under the
period's wettest steady state (largest running-mean rain less evapotranspiration as recharge,
TOPMODEL wetness) is below 1, with cohesion reduced by the earthquakes' damage
``δ·min(1, PGA/1 g)·exp(−m/τ)`` (``m`` monsoons completed since the earthquake); co-seismic
failure with the Newmark probability of
each event in the period, from the FS under the wetness before the event. Failed pixels form
8-connected clusters, each one landslide with a runout path
(:func:`hazardcore.synthetic_physics.landslides`). A cell's new area is the area of the union of
the footprints inside it, so a landslide can add area to a neighbouring cell.

**Speed.** Pixels whose failure probability cannot reach ``min_pixel_probability`` even with
every smooth random field at its ±4σ clip are skipped; the number of expected failures this
misses is bounded and reported (``skipped_failures_bound``).
"""

from __future__ import annotations

import datetime as dt
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from scipy.special import ndtr

from hazardcore import terrain
from hazardcore.errors import ConfigError, describe
from hazardcore.grid import GridSpec, to_grid
from hazardcore.metrics import auc, or_nan, pearson_r
from hazardcore.synthetic_climate import Period, climate_rain, draw_periods, running_max
from hazardcore.synthetic_geology import Geology, class_table, geology_and_dem, unit_field
from hazardcore.synthetic_physics import (
    WATER_UNIT_WEIGHT_KN_M3,
    critical_acceleration_g,
    factor_of_safety,
    failure_probability,
    landslides,
    newmark_displacement_cm,
    soil_depth_m,
    steepest_descent,
)
from hazardcore.synthetic_terrain import upsample
from hazardcore.synthetic_triggers import EVENTS, pga_event
from hazardcore.synthetic_truth import TruthParams, cumulative_inventory

MARGIN_CELLS = 1
FIELD_CLIP = 4.0
FAILURE_CHUNK = 1 << 21


@dataclass(frozen=True)
class PhysicalParams:
    """Parameters of the random parts, the earthquake legacy and the Monte Carlo.

    Parameters
    ----------
    unit_weight_kn_m3
        Soil unit weight (kN/m³).
    cohesion_sd_ln
        Log-standard deviation of cohesion from pixel to pixel (within a class).
    soil_sd_ln, soil_correlation_m
        Persistent unmapped soil and land-cover field on ln cohesion: standard deviation and
        correlation length (m); drawn once per realisation.
    rain_error_sd_ln, rain_error_correlation_m
        Error of the rain product per period (multiplicative, mean one): log-standard
        deviation and correlation length (m).
    pga_error_sd_ln, pga_error_correlation_m
        Error of the ShakeMap per event (multiplicative, median one).
    damage_max, damage_full_pga_g, recovery_monsoons
        Earthquake legacy: cohesion loss ``damage_max · min(1, PGA / damage_full_pga_g)`` right
        after the shaking, decaying as ``exp(−monsoons / recovery_monsoons)``.
    rain_window_days, evapotranspiration_mm_day
        The steady recharge is the period's largest running mean of daily rain over this many
        days, less the evapotranspiration (mm/day).
    thin_soil_extra_deg
        Soil is thinnest at the rock's threshold hillslope angle plus this (degrees).
    n_realisations
        Monte-Carlo realisations of the truth.
    mc_stream
        Stream of the Monte-Carlo draws (another value gives independent draws of the truth).
    bootstrap
        Bootstrap replicates over realisations for the Monte-Carlo error of the oracle's scores.
    min_pixel_probability
        Pixels whose failure probability stays below this are skipped.
    max_runout_steps
        Longest runout path (pixels).
    threads
        Realisations simulated at once (NumPy releases the GIL; results do not depend on it).
    """

    unit_weight_kn_m3: float = 18.0
    cohesion_sd_ln: float = 0.3
    soil_sd_ln: float = 0.15
    soil_correlation_m: float = 10_000.0
    rain_error_sd_ln: float = 0.35
    rain_error_correlation_m: float = 15_000.0
    pga_error_sd_ln: float = 0.3
    pga_error_correlation_m: float = 15_000.0
    damage_max: float = 0.5
    damage_full_pga_g: float = 1.0
    recovery_monsoons: float = 1.5
    rain_window_days: int = 15
    evapotranspiration_mm_day: float = 3.0
    thin_soil_extra_deg: float = 5.0
    n_realisations: int = 100
    mc_stream: int = 0
    bootstrap: int = 100
    min_pixel_probability: float = 1e-6
    max_runout_steps: int = 256
    threads: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.damage_max < 1.0:
            raise ConfigError(describe("damage_max must be in [0, 1): a cohesion loss of 100 % has no logarithm",
                                       expected="0 <= damage_max < 1", found=self.damage_max))
        if self.n_realisations < 2 or self.bootstrap < 2 or self.threads < 1:
            raise ConfigError(describe("n_realisations and bootstrap must be >= 2 and threads >= 1",
                                       expected=">= 2, >= 2, >= 1",
                                       found=(self.n_realisations, self.bootstrap, self.threads)))


def component_rng(seed: int, name: str) -> np.random.Generator:
    """Independent generator of one named component: ``SeedSequence([seed, crc32(name)])``."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def draw_rng(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """Generator of one realisation's draws: ``SeedSequence([seed, crc32(stream), *keys])``.

    The Monte Carlo (one stream per ``mc_stream``), the inventory and the old scars use
    different streams, so they are independent; a realisation's persistent fields (key ``r``)
    are redrawn identically for every period, so periods can be simulated one after the other.
    """
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(stream.encode()), *keys]))


# ---------------------------------------------------------------------------------------
# Static pixel layers
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Terrain:
    """Pixel layers of the expanded grid (flattened; float32 unless said).

    ``receiver`` is the flat index (int32 below 2³¹ pixels) of each pixel's steepest strictly-lower
    neighbour.
    """

    shape: tuple[int, int]
    pixel_m: float
    z: np.ndarray
    slope_deg: np.ndarray
    specific_area_m: np.ndarray
    receiver: np.ndarray
    lithology: np.ndarray


def terrain_layers(dem: xr.DataArray, geology: Geology) -> Terrain:
    """Slope, specific contributing area (flow accumulation / pixel width) and steepest descent."""
    pixel_m = float(abs(dem["x"].values[1] - dem["x"].values[0]))
    z = np.asarray(dem.values, dtype=np.float32)
    area = np.asarray(terrain.flow_accumulation(dem).values, dtype=np.float32) / np.float32(pixel_m)
    slope = np.asarray(terrain.slope(dem).values, dtype=np.float32)
    index_type = np.int32 if z.size < 2**31 else np.int64  # flat indices: half the memory on large regions
    return Terrain(z.shape, pixel_m, z.ravel(), slope.ravel(), area.ravel(),
                   steepest_descent(z, pixel_m).ravel().astype(index_type), geology.lithology.ravel())


def block_of(index: np.ndarray, pixels_per_cell: int, n_x_px: int) -> np.ndarray:
    """Flat index (int32) of the 1 km block of the expanded lattice holding each flat pixel index."""
    row, col = np.divmod(index, n_x_px)
    return ((row // pixels_per_cell) * (n_x_px // pixels_per_cell) + col // pixels_per_cell).astype(np.int32)


def cell_of(index: np.ndarray, grid: GridSpec, n_x_px: int) -> np.ndarray:
    """Flat 1 km cell index in the grid (not the margin) of flat pixel indices; −1 outside."""
    ppc, margin = grid.pixels_per_cell, MARGIN_CELLS * grid.pixels_per_cell
    row, col = np.divmod(index, n_x_px)
    r, c = (row - margin) // ppc, (col - margin) // ppc
    inside = (row >= margin) & (col >= margin) & (r < grid.n_rows) & (c < grid.n_cols)
    return np.where(inside, r * grid.n_cols + c, -1)


def bilinear_pixels(cells: np.ndarray, pixels_per_cell: int) -> np.ndarray:
    """A field of the expanded 1 km lattice bilinearly on its 30 m lattice (flattened float32)."""
    shape = (cells.shape[0] * pixels_per_cell, cells.shape[1] * pixels_per_cell)
    return upsample(cells.astype(np.float32), pixels_per_cell, shape).ravel()


# ---------------------------------------------------------------------------------------
# Observed triggers
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Triggers:
    """Observed triggers on the expanded 1 km lattice: recharge (m/day) per period, before the first
    event, PGA (g) per event, and the period of each event (−1: none)."""

    recharge_m_day: list[np.ndarray]
    pre_event_m_day: np.ndarray
    pga_g: list[np.ndarray]
    event_period: list[int]


def observed_triggers(grid: GridSpec, periods: list[Period], rain: xr.DataArray, pga: list[xr.DataArray],
                      p: PhysicalParams) -> Triggers:
    """Each period's recharge (largest running-mean rain less evapotranspiration), the recharge
    before the first event, and each event's PGA, bilinear on the expanded 1 km lattice."""
    big = grid.expanded(MARGIN_CELLS)
    daily = rain.rename(latitude="y", longitude="x").rio.set_spatial_dims(x_dim="x", y_dim="y")

    def cells(start: dt.date, end: dt.date) -> np.ndarray:
        field = running_max(daily, start, end, p.rain_window_days).rio.write_crs("EPSG:4326")
        mm = np.asarray(to_grid(field, big, "1km", "bilinear", "rain").values, dtype=np.float32)
        return np.maximum(mm - np.float32(p.evapotranspiration_mm_day), np.float32(0.0)) / np.float32(1000.0)

    first = min(dt.date.fromisoformat(e.date) for e in EVENTS)
    event_period = [next((t for t, q in enumerate(periods) if q.start < dt.date.fromisoformat(e.date) <= q.end),
                         -1) for e in EVENTS]
    return Triggers([cells(q.start, q.end) for q in periods], cells(periods[0].start, first),
                    [np.asarray(to_grid(f, big, "1km", "bilinear", "pga").values, dtype=np.float32) for f in pga],
                    event_period)


# ---------------------------------------------------------------------------------------
# Per-period pixel inputs
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeismicPixels:
    """Inputs of the Newmark analysis of the candidate pixels (float32; ``pga`` per event in the period)."""

    sin: np.ndarray
    cos: np.ndarray
    tan_phi: np.ndarray
    depth: np.ndarray
    wetness_pre: np.ndarray
    pga: list[np.ndarray]


@dataclass(frozen=True)
class PeriodPixels:
    """The pixels that can fail in one period and the fixed terms of their failure test.

    A pixel fails under rain when ``ln c < ln(crit_a + crit_b · min(1, wetness_obs · f))`` with
    ``f`` the period's rain-error factor, i.e. when its cohesion is below the critical cohesion
    ``z cos²β [γ tan β − (γ − w γ_w) tan φ]`` of the wettest steady state.
    """

    index: np.ndarray
    block: np.ndarray
    ln_cohesion: np.ndarray
    wetness_obs: np.ndarray
    crit_a: np.ndarray
    crit_b: np.ndarray
    seismic: SeismicPixels | None
    events: list[int]
    damage_events: list[int]
    damage_decay: float
    skipped_bound: float

    def part(self, rows: slice) -> PeriodPixels:
        """Views of a contiguous range of the candidates."""
        seismic = None if self.seismic is None else SeismicPixels(
            self.seismic.sin[rows], self.seismic.cos[rows], self.seismic.tan_phi[rows], self.seismic.depth[rows],
            self.seismic.wetness_pre[rows], [g[rows] for g in self.seismic.pga])
        return PeriodPixels(self.index[rows], self.block[rows], self.ln_cohesion[rows], self.wetness_obs[rows],
                            self.crit_a[rows], self.crit_b[rows], seismic, self.events, self.damage_events,
                            self.damage_decay, self.skipped_bound)


def _static_terms(world: Terrain, index: np.ndarray, recharge: np.ndarray, p: PhysicalParams) -> dict[str, Any]:
    """Slope, soil and wetness terms of the pixels ``index`` (float32)."""
    lith = world.lithology[index]
    beta = np.radians(world.slope_deg[index])
    sin, cos, tan_b = np.sin(beta), np.cos(beta), np.tan(beta)
    tan_thin = np.tan(np.radians(class_table("critical_angle_deg")[lith] + np.float32(p.thin_soil_extra_deg)))
    depth = soil_depth_m(class_table("soil_depth_m")[lith], tan_b, tan_thin)
    tan_phi = np.tan(np.radians(class_table("friction_deg")[lith]))
    area_over_t = world.specific_area_m[index] / class_table("transmissivity_m2_day")[lith]
    gamma = np.float32(p.unit_weight_kn_m3)
    load = depth * cos**2
    return {"sin": sin, "cos": cos, "tan_phi": tan_phi, "depth": depth, "area_over_t": area_over_t,
            "ln_cohesion": np.log(class_table("cohesion_kpa")[lith]),
            "wetness_obs": recharge[index] * area_over_t / np.maximum(sin, np.float32(1e-6)),
            "crit_a": load * gamma * (tan_b - tan_phi),
            "crit_b": load * np.float32(WATER_UNIT_WEIGHT_KN_M3) * tan_phi}


def damage_fraction(pga_true: list[np.ndarray], decay: float, p: PhysicalParams) -> np.ndarray:
    """Cohesion loss ``damage_max · decay · min(1, max_e PGA_e / damage_full_pga_g)`` (float32)."""
    if decay == 0.0 or not pga_true:
        return np.zeros_like(pga_true[0]) if pga_true else np.zeros(1, dtype=np.float32)
    peak = np.maximum.reduce(pga_true)
    return (np.float32(p.damage_max * decay) * np.minimum(peak / np.float32(p.damage_full_pga_g), 1.0)).astype(
        np.float32)


def _rain_bound(t: dict[str, Any], block: np.ndarray, damage_max: np.ndarray, p: PhysicalParams) -> np.ndarray:
    """Largest rain-failure probability of each pixel over the clipped ranges of the smooth fields."""
    rain_up = np.float32(np.exp(p.rain_error_sd_ln * FIELD_CLIP - 0.5 * p.rain_error_sd_ln**2))
    crit = t["crit_a"] + t["crit_b"] * np.minimum(t["wetness_obs"] * rain_up, np.float32(1.0))
    lowest = t["ln_cohesion"] - np.float32(p.soil_sd_ln * FIELD_CLIP) + np.log1p(-damage_max[block])
    k = (np.log(np.maximum(crit, np.float32(1e-30))) - lowest) / np.float32(p.cohesion_sd_ln)
    return np.where(crit > 0, ndtr(k), 0.0)


def seismic_limit_kpa(t: dict[str, Any], wetness_ratio: np.ndarray, pga_g: np.ndarray,
                      p: PhysicalParams) -> np.ndarray:
    """Cohesion (kPa) below which a pixel can slide under ``pga_g``: ``a_c < PGA`` ⇔ ``FS < 1 + PGA / sin β``."""
    gamma = np.float32(p.unit_weight_kn_m3)
    sin, cos = t["sin"], t["cos"]
    friction = (gamma - wetness_ratio * np.float32(WATER_UNIT_WEIGHT_KN_M3)) * t["depth"] * cos**2 * t["tan_phi"]
    return np.asarray((1.0 + pga_g / np.maximum(sin, np.float32(1e-6))) * gamma * t["depth"] * sin * cos - friction,
                      dtype=np.float32)


def _seismic_bound(t: dict[str, Any], pre: np.ndarray, pga_up: np.ndarray, p: PhysicalParams) -> np.ndarray:
    """Largest probability that a pixel's cohesion lets it slide at all under the clipped largest PGA."""
    rain_up = np.float32(np.exp(p.rain_error_sd_ln * FIELD_CLIP - 0.5 * p.rain_error_sd_ln**2))
    w0 = np.minimum(pre * t["area_over_t"] / np.maximum(t["sin"], np.float32(1e-6)) * rain_up, np.float32(1.0))
    limit = seismic_limit_kpa(t, w0, pga_up, p)
    lowest = t["ln_cohesion"] - np.float32(p.soil_sd_ln * FIELD_CLIP)
    k = (np.log(np.maximum(limit, np.float32(1e-30))) - lowest) / np.float32(p.cohesion_sd_ln)
    return np.where(limit > 0, ndtr(k), 0.0)


def period_pixels(world: Terrain, grid: GridSpec, triggers: Triggers, t: int, periods: list[Period],
                  p: PhysicalParams, recharge_cells: np.ndarray | None = None, chunk: int = 1 << 21) -> PeriodPixels:
    """Select the pixels that can fail in period ``t`` and precompute their failure terms.

    A pixel is kept when its failure probability can reach ``min_pixel_probability`` with the
    smooth random fields anywhere in their clipped range; ``skipped_bound`` bounds the expected
    number of failures of the others. ``recharge_cells`` replaces the period's recharge and
    removes the earthquakes (old scars: a monsoon before them).
    """
    quake = recharge_cells is None
    damage_events = [e for e, q in enumerate(triggers.event_period) if 0 <= q <= t] if quake else []
    events = [e for e in damage_events if triggers.event_period[e] == t]
    decay = float(np.exp(-(periods[t - 1].monsoons if t > 0 else 0) / p.recovery_monsoons)) if damage_events else 0.0
    pga_up = [triggers.pga_g[e] * np.float32(np.exp(p.pga_error_sd_ln * FIELD_CLIP)) for e in damage_events]
    damage_max = damage_fraction(pga_up, decay, p).ravel() if damage_events else np.zeros(
        triggers.pga_g[0].size, np.float32)
    ppc, n_x = grid.pixels_per_cell, world.shape[1]
    recharge = bilinear_pixels(triggers.recharge_m_day[t] if recharge_cells is None else recharge_cells, ppc)
    pre = bilinear_pixels(triggers.pre_event_m_day, ppc) if events else None
    pga = [bilinear_pixels(triggers.pga_g[e], ppc) for e in events]
    parts, skipped = [], 0.0
    for start in range(0, world.z.size, chunk):
        index = np.arange(start, min(start + chunk, world.z.size), dtype=world.receiver.dtype)
        terms = _static_terms(world, index, recharge, p)
        block = block_of(index, ppc, n_x)
        prob = _rain_bound(terms, block, damage_max, p)
        if events and pre is not None:
            peak = np.maximum.reduce([g[index] for g in pga]) * np.float32(np.exp(p.pga_error_sd_ln * FIELD_CLIP))
            prob = np.maximum(prob, _seismic_bound(terms, pre[index], peak, p))
        keep = prob >= p.min_pixel_probability
        skipped += float(prob[~keep].sum())
        parts.append(_kept(terms, index[keep], block[keep], keep, pre, pga))
    return _join(parts, events, damage_events, decay, skipped)


def _kept(terms: dict[str, Any], index: np.ndarray, block: np.ndarray, keep: np.ndarray, pre: np.ndarray | None,
          pga: list[np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {name: np.asarray(terms[name][keep], dtype=np.float32)
                           for name in ("ln_cohesion", "wetness_obs", "crit_a", "crit_b")}
    out |= {"index": index, "block": block}
    if pre is not None:
        out |= {name: np.asarray(terms[name][keep], dtype=np.float32) for name in ("sin", "cos", "tan_phi", "depth")}
        out["wetness_pre"] = np.asarray(pre[index] * terms["area_over_t"][keep]
                                        / np.maximum(terms["sin"][keep], np.float32(1e-6)), dtype=np.float32)
        out["pga"] = [g[index] for g in pga]
    return out


def _join(parts: list[dict[str, Any]], events: list[int], damage_events: list[int], decay: float,
          skipped: float) -> PeriodPixels:
    def cat(name: str) -> np.ndarray:
        return np.concatenate([part[name] for part in parts])

    seismic = None
    if events:
        seismic = SeismicPixels(cat("sin"), cat("cos"), cat("tan_phi"), cat("depth"), cat("wetness_pre"),
                                [np.concatenate([part["pga"][i] for part in parts]) for i in range(len(events))])
    return PeriodPixels(cat("index"), cat("block"), cat("ln_cohesion"), cat("wetness_obs"), cat("crit_a"),
                        cat("crit_b"), seismic, events, damage_events, decay, skipped)


# ---------------------------------------------------------------------------------------
# One realisation of one period
# ---------------------------------------------------------------------------------------
def smooth_field(shape: tuple[int, int], sd: float, length_m: float, cell_m: float,
                 rng: np.random.Generator) -> np.ndarray:
    """``sd · η`` with ``η`` a unit-variance Gaussian-correlated field (correlation length ``length_m``),
    clipped to ±4, on a lattice of ``cell_m`` spacing (flattened float32)."""
    sigma = length_m / (np.sqrt(2.0) * cell_m)
    eta = np.clip(unit_field(shape, (sigma, sigma), rng), -FIELD_CLIP, FIELD_CLIP)
    return (np.float32(sd) * eta).ravel()


@dataclass(frozen=True)
class BlockFields:
    """One realisation's random terms of one period on the expanded 1 km lattice (flattened float32).

    ``rain_factor`` multiplies the recharge; ``strength_ln`` is added to ln cohesion (unmapped soil
    and earthquake damage); ``soil_ln`` is the soil part alone (before the earthquake);
    ``pga_factor`` multiplies each event's ShakeMap PGA.
    """

    rain_factor: np.ndarray
    strength_ln: np.ndarray
    soil_ln: np.ndarray
    pga_factor: list[np.ndarray]


#: A realisation's persistent fields: ln soil strength and each event's ShakeMap error factor.
PersistentFields = tuple[np.ndarray, list[np.ndarray]]


def persistent_fields(triggers: Triggers, cell_m: float, persistent: np.random.Generator,
                      p: PhysicalParams) -> PersistentFields:
    """Draw a realisation's persistent fields (soil, ShakeMap errors): the same in every period."""
    shape = triggers.pga_g[0].shape
    soil = smooth_field(shape, p.soil_sd_ln, p.soil_correlation_m, cell_m, persistent)
    pga_factor = [np.exp(smooth_field(shape, p.pga_error_sd_ln, p.pga_error_correlation_m, cell_m, persistent))
                  for _ in EVENTS]
    return soil, pga_factor


def block_fields(px: PeriodPixels, triggers: Triggers, cell_m: float, kept: PersistentFields,
                 period: np.random.Generator, p: PhysicalParams) -> BlockFields:
    """A realisation's persistent fields (``kept``) with the period's rain error and earthquake damage."""
    shape = triggers.pga_g[0].shape
    soil, pga_factor = kept
    rain_ln = smooth_field(shape, p.rain_error_sd_ln, p.rain_error_correlation_m, cell_m, period)
    rain_factor = np.exp(rain_ln - np.float32(0.5 * p.rain_error_sd_ln**2))
    strength = soil
    if px.damage_events and px.damage_decay > 0:
        true = [triggers.pga_g[e].ravel() * pga_factor[e] for e in px.damage_events]
        strength = soil + np.log1p(-damage_fraction(true, px.damage_decay, p))
    return BlockFields(rain_factor, strength, soil, pga_factor)


def period_failures(px: PeriodPixels, fields: BlockFields, rng: np.random.Generator,
                    p: PhysicalParams) -> np.ndarray:
    """Flat indices of the pixels that fail in one realisation of the period.

    Candidates are processed in fixed chunks of :data:`FAILURE_CHUNK` pixels (views, in order),
    so that temporaries stay small enough for the allocator to reuse them: on a study-area grid
    whole-array temporaries of 45 M pixels cost more in page faults than in arithmetic. The
    chunk size is fixed, so the draws do not depend on anything but the seed.
    """
    parts = [_chunk_failures(px.part(slice(start, start + FAILURE_CHUNK)), fields, rng, p)
             for start in range(0, px.index.size, FAILURE_CHUNK)]
    return np.concatenate(parts) if parts else px.index


def _chunk_failures(px: PeriodPixels, fields: BlockFields, rng: np.random.Generator,
                    p: PhysicalParams) -> np.ndarray:
    """:func:`period_failures` on one chunk of candidates."""
    w = np.minimum(px.wetness_obs * fields.rain_factor[px.block], np.float32(1.0))
    crit = px.crit_a + px.crit_b * w
    noise = np.float32(p.cohesion_sd_ln) * rng.standard_normal(px.index.size, dtype=np.float32)
    failed = px.ln_cohesion + noise + fields.strength_ln[px.block] < np.log(np.maximum(crit, np.float32(1e-30)))
    if px.seismic is not None:
        failed |= _seismic(px, px.seismic, fields, noise, rng, p)
    return px.index[failed]


def _seismic(px: PeriodPixels, s: SeismicPixels, fields: BlockFields, noise: np.ndarray,
             rng: np.random.Generator, p: PhysicalParams) -> np.ndarray:
    """Co-seismic failure draws: Newmark probability of each event of the period (undamaged soil).

    The displacement is computed only where the block can slide (``a_c < PGA``); elsewhere it is 0.
    """
    cohesion = np.exp(px.ln_cohesion + noise + fields.soil_ln[px.block])
    w0 = np.minimum(s.wetness_pre * fields.rain_factor[px.block], np.float32(1.0))
    fs = factor_of_safety(s.sin, s.cos, cohesion, s.tan_phi, s.depth, w0, p.unit_weight_kn_m3)
    critical = critical_acceleration_g(fs, s.sin)
    survive = np.ones(px.index.size)
    for e, pga in zip(px.events, s.pga, strict=True):
        shaking = pga * fields.pga_factor[e][px.block]
        slides = np.flatnonzero(critical < shaking)
        survive[slides] *= 1.0 - failure_probability(newmark_displacement_cm(critical[slides], shaking[slides]))
    return rng.random(px.index.size) < 1.0 - survive


@dataclass(frozen=True)
class CellLandslides:
    """New landslides of one realisation and period per grid cell: footprint pixels (union) and the
    number of landslides whose footprint touches the cell."""

    area_px: np.ndarray
    count: np.ndarray


def cell_landslides(failed: np.ndarray, world: Terrain, grid: GridSpec, p: PhysicalParams) -> CellLandslides:
    """Turn failed pixels into landslides with runout and summarise their footprints per cell."""
    slides = landslides(failed, world.z.reshape(world.shape), world.receiver.reshape(world.shape),
                        world.pixel_m, p.max_runout_steps)
    n_cells = grid.n_rows * grid.n_cols
    cells = cell_of(slides.pixel, grid, world.shape[1])
    inside = cells >= 0
    union = cell_of(np.unique(slides.pixel), grid, world.shape[1])
    area = np.bincount(union[union >= 0], minlength=n_cells)
    pairs = np.unique(slides.owner[inside] * n_cells + cells[inside])
    count = np.bincount(pairs % n_cells, minlength=n_cells)
    return CellLandslides(area.astype(np.uint16), count.astype(np.int32))


def realisation(px: PeriodPixels, world: Terrain, grid: GridSpec, triggers: Triggers, seed: int, stream: str,
                r: int, t: int, p: PhysicalParams, stripped: np.ndarray,
                kept: PersistentFields | None = None) -> tuple[CellLandslides, np.ndarray]:
    """Realisation ``r`` of period ``t`` in a named stream: its cell landslides and failed pixels.

    The realisation's persistent fields come from ``draw_rng(seed, stream, r)`` (the same for
    every period), the period's rain error and pixel draws from ``draw_rng(seed, stream, r, t + 1)``.
    Pixels in ``stripped`` (sorted flat indices) lost their soil in an earlier failure and
    cannot fail again within the simulated years. ``kept``: the persistent fields when already
    drawn (they depend on the realisation only).
    """
    if kept is None:
        kept = persistent_fields(triggers, grid.cell_size_m, draw_rng(seed, stream, r), p)
    period = draw_rng(seed, stream, r, t + 1)
    fields = block_fields(px, triggers, grid.cell_size_m, kept, period, p)
    failed = period_failures(px, fields, period, p)
    failed = failed[~np.isin(failed, stripped, assume_unique=True)]
    return cell_landslides(failed, world, grid, p), failed


# ---------------------------------------------------------------------------------------
# Truth by Monte Carlo
# ---------------------------------------------------------------------------------------
def truth_from_samples(area_px: np.ndarray, pixel_area_m2: float, cell_area_m2: float,
                       weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo ``P(new area > 0)`` and ``E[new area % | > 0]`` per period and cell.

    Parameters
    ----------
    area_px
        (n, periods, cells) footprint pixels per realisation.
    pixel_area_m2, cell_area_m2
        Areas of a pixel and a cell.
    weights
        Optional count of each realisation (a bootstrap resample); default one each.

    Returns
    -------
    tuple of numpy.ndarray
        Probability and density given occurrence (%), (periods, cells) float64. Where no
        realisation has a landslide the density is that of one failed pixel, its lower limit.
    """
    n = area_px.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    flat = area_px.reshape(n, -1)
    hits = w @ (flat > 0)
    area = w @ flat.astype(np.float64)
    density = 100.0 * pixel_area_m2 / cell_area_m2 * np.divide(area, hits, out=np.ones_like(area), where=hits > 0)
    shape = area_px.shape[1:]
    return (hits / w.sum()).reshape(shape), density.reshape(shape)


def oracle_errors(area_px: np.ndarray, presence: np.ndarray, observed: np.ndarray, pixel_area_m2: float,
                  cell_area_m2: float, n_boot: int, rng: np.random.Generator) -> dict[str, float]:
    """Oracle AUC and R+ against an inventory, with bootstrap-over-realisations Monte-Carlo errors.

    Parameters
    ----------
    area_px
        (n, periods, cells) Monte-Carlo footprint pixels.
    presence, observed
        (periods, cells) presence and observed density (%) of the inventory.
    pixel_area_m2, cell_area_m2
        Areas of a pixel and a cell.
    n_boot
        Bootstrap replicates.
    rng
        Generator of the resampling.

    Returns
    -------
    dict
        ``n_realisations``, ``oracle_auc``, ``oracle_auc_mc_se``, ``oracle_r_positive``,
        ``oracle_r_positive_mc_se``.
    """
    n = area_px.shape[0]
    positive = presence.astype(bool).reshape(area_px.shape[1:])
    observed = observed.reshape(area_px.shape[1:])

    def scores(weights: np.ndarray | None) -> tuple[float, float]:
        prob, density = truth_from_samples(area_px, pixel_area_m2, cell_area_m2, weights)
        r = or_nan(pearson_r, observed[positive], density[positive])
        return or_nan(auc, positive, prob), r  # NaN when the mapped draw has no landslide (a tiny world)

    base = scores(None)
    boot = np.array([scores(rng.multinomial(n, np.full(n, 1.0 / n))) for _ in range(n_boot)])
    return {"n_realisations": n, "oracle_auc": base[0], "oracle_auc_mc_se": float(np.std(boot[:, 0], ddof=1)),
            "oracle_r_positive": base[1], "oracle_r_positive_mc_se": float(np.std(boot[:, 1], ddof=1))}


# ---------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------
@dataclass
class PhysicalWorld:
    """Everything the physical world generated; :func:`hazardcore.synthetic.synthesize` writes it.

    Truth arrays are (periods, rows, cols); ``area_px`` holds the Monte-Carlo footprints
    (realisations, periods, cells); ``inventory_failed`` the failed pixels of the mapped
    realisation per period (flat indices on the expanded 30 m lattice).
    """

    grid: GridSpec
    params: PhysicalParams
    dem: xr.DataArray
    geology: Geology
    pga: list[xr.DataArray]
    rain: xr.DataArray
    periods: list[Period]
    terrain: Terrain
    p_occurrence: np.ndarray
    density_given_occurrence: np.ndarray
    p_standard_error: np.ndarray
    new_area_m2: np.ndarray
    n_landslides: np.ndarray
    cumulative_m2: np.ndarray
    inventory_failed: list[np.ndarray]
    area_px: np.ndarray
    candidate_pixels: list[int] = field(default_factory=list)
    skipped_failures_bound: list[float] = field(default_factory=list)


def terrain_figures(world: Terrain, grid: GridSpec) -> dict[str, float]:
    """Elevation span and mean / max slope inside the grid (30 m lattice)."""
    m = MARGIN_CELLS * grid.pixels_per_cell
    z = world.z.reshape(world.shape)[m:-m, m:-m]
    slope = world.slope_deg.reshape(world.shape)[m:-m, m:-m]
    return {"elevation_span_m": float(z.max() - z.min()), "mean_slope_deg": float(slope.mean(dtype=np.float64)),
            "max_slope_deg": float(slope.max())}


@dataclass
class _Simulated:
    area_px: np.ndarray
    inventory: list[CellLandslides]
    failed: list[np.ndarray]
    candidates: list[int]
    skipped: list[float]


def simulate(world: Terrain, grid: GridSpec, triggers: Triggers, periods: list[Period], seed: int,
             p: PhysicalParams, scars: np.ndarray, bar: Any = None) -> _Simulated:
    """The Monte Carlo and the mapped realisation, period after period (one period's pixels in memory).

    Each realisation keeps the pixels it has stripped of soil so far (starting from the old
    scars' ``scars``), so a slope that failed does not fail again in a later period.
    """
    n_cells = grid.n_rows * grid.n_cols
    out = _Simulated(np.zeros((p.n_realisations, len(periods), n_cells), dtype=np.uint16), [], [], [], [])
    stripped = [scars] * p.n_realisations
    kept: dict[int, PersistentFields] = {}
    mapped = scars
    stream = f"physical/monte-carlo/{p.mc_stream}"
    for t in range(len(periods)):
        px = period_pixels(world, grid, triggers, t, periods, p)

        def one(r: int, px: PeriodPixels = px, t: int = t) -> tuple[np.ndarray, np.ndarray]:
            if r not in kept:  # drawn once per realisation, not once per period
                kept[r] = persistent_fields(triggers, grid.cell_size_m, draw_rng(seed, stream, r), p)
            cells, failed = realisation(px, world, grid, triggers, seed, stream, r, t, p, stripped[r], kept[r])
            return cells.area_px, np.union1d(stripped[r], failed)

        with ThreadPoolExecutor(max_workers=p.threads) as pool:
            for r, (area, now) in enumerate(pool.map(one, range(p.n_realisations))):
                out.area_px[r, t], stripped[r] = area, now
        cells, failed = realisation(px, world, grid, triggers, seed, "physical/inventory", 0, t, p, mapped)
        mapped = np.union1d(mapped, failed)
        out.inventory.append(cells)
        out.failed.append(failed)
        out.candidates.append(int(px.index.size))
        out.skipped.append(px.skipped_bound)
        if bar is not None:
            bar.update(1)
    return out


def old_scars(world: Terrain, grid: GridSpec, triggers: Triggers, periods: list[Period], seed: int,
              p: PhysicalParams) -> tuple[np.ndarray, np.ndarray]:
    """Scars at the baseline: one realisation of the wettest period's rain without earthquakes.

    Returns
    -------
    tuple of numpy.ndarray
        Scar area (m²) per cell and the sorted flat indices of the failed (soil-stripped) pixels.
    """
    wettest = int(np.argmax([r.mean() for r in triggers.recharge_m_day]))
    px = period_pixels(world, grid, triggers, wettest, periods, p, triggers.recharge_m_day[wettest])
    none = np.zeros(0, dtype=px.index.dtype)
    cells, failed = realisation(px, world, grid, triggers, seed, "physical/old-scars", 0, wettest, p, none)
    return cells.area_px.astype(np.float64) * grid.pixel_size_m**2, np.sort(failed)


def generate(grid: GridSpec, seed: int, n_periods: int, extreme: str | None = None,
             params: PhysicalParams | None = None, bar: Any = None) -> PhysicalWorld:
    """Generate the physical world: terrain, geology, triggers, periods, truth and inventory.

    Parameters
    ----------
    grid
        The region's grid (the pixels of its 1 km margin are simulated too).
    seed
        Seed of the region.
    n_periods
        Number of periods (1–8).
    extreme
        Label of a post-monsoon period made deliberately extreme (1-in-50-year monsoon), or None.
    params
        Parameters of the random parts and the Monte Carlo; defaults to :class:`PhysicalParams`.
    bar
        Optional tqdm bar, advanced once after the terrain and once per period.

    Returns
    -------
    PhysicalWorld
        Everything :func:`hazardcore.synthetic.synthesize` writes, plus the hidden geology.
    """
    p = params or PhysicalParams()
    geology, dem = geology_and_dem(grid, component_rng(seed, "physical/geology"), component_rng(seed, "terrain"),
                                   MARGIN_CELLS)
    pga = [pga_event(grid, e, component_rng(seed, f"pga/{e.name}")) for e in EVENTS]
    periods = draw_periods(n_periods, component_rng(seed, "physical/periods"), extreme)
    rain = climate_rain(grid, periods, component_rng(seed, "rain"))
    world = terrain_layers(dem, geology)
    triggers = observed_triggers(grid, periods, rain, pga, p)
    if bar is not None:
        bar.update(1)
    scar_area, scars = old_scars(world, grid, triggers, periods, seed, p)
    sim = simulate(world, grid, triggers, periods, seed, p, scars, bar)
    prob, density = truth_from_samples(sim.area_px, grid.pixel_size_m**2, grid.cell_area_m2)
    new_area = np.stack([c.area_px.astype(np.float64) * grid.pixel_size_m**2 for c in sim.inventory])
    cumulative = cumulative_inventory(scar_area, list(new_area), component_rng(seed, "inventory"), TruthParams(),
                                      grid.cell_area_m2)
    shape = (n_periods, grid.n_rows, grid.n_cols)
    return PhysicalWorld(
        grid=grid, params=p, dem=dem, geology=geology, pga=pga, rain=rain, periods=periods, terrain=world,
        p_occurrence=prob.reshape(shape), density_given_occurrence=density.reshape(shape),
        p_standard_error=np.sqrt(prob * (1.0 - prob) / p.n_realisations).reshape(shape),
        new_area_m2=new_area.reshape(shape), n_landslides=np.stack([c.count for c in sim.inventory]).reshape(shape),
        cumulative_m2=cumulative.reshape((n_periods + 1, grid.n_rows, grid.n_cols)), inventory_failed=sim.failed,
        area_px=sim.area_px, candidate_pixels=sim.candidates, skipped_failures_bound=sim.skipped)

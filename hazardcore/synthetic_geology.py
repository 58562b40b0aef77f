"""Hidden geology of the physical synthetic world and the terrain it shapes (one job: geology).

**Strength field.** A Gaussian random field with anisotropic Gaussian correlation,
15 km along the strike of the range (east–west) and 5 km across it, like the belts of the
Himalayan front, drawn on a 500 m lattice (:func:`unit_field`, unit variance everywhere) and
cut at fixed standard-normal quantiles into lithology classes ordered from weak to strong
(:data:`LITHOLOGIES`). Each class has its own soil-mantle strength (cohesion,
friction angle), soil depth and transmissivity, used by the slope-stability physics, and its
own threshold hillslope angle and channel steepness, used to build the terrain.

**Terrain.** The DEM follows :func:`hazardcore.synthetic_terrain.synthetic_dem` step by step
(fractal roughness, steady-state ridge-and-valley landscape on a 125 m lattice, full-resolution
incision, rescaling to a mean slope of 28°) with one change: the threshold hillslope gradient
and the channel steepness come from the lithology instead of an independent random field.
Stronger rock holds steeper threshold slopes (Schmidt & Montgomery 1995; Burbank et al. 1996;
Larsen & Montgomery 2012) and erodes more slowly, so its steady-state channels are steeper
(``k_s ∝ K^(−1/n)``, Whipple & Tucker 1999). The geology is never written as a predictor:
models see it only through the terrain it shaped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.special import ndtri

from hazardcore.grid import GridSpec
from hazardcore.synthetic_terrain import (
    TerrainParams,
    block_mean,
    eroded_surface,
    finished_dem,
    fractal_surface,
    northward_distance,
    upsample,
)
from hazardcore.synthetic_triggers import correlated_normal


@dataclass(frozen=True)
class Lithology:
    """One lithology class: its share of the region, soil mantle and terrain parameters.

    Parameters
    ----------
    name
        Rock type.
    share
        Expected share of the region's area.
    cohesion_kpa
        Median effective cohesion of soil and roots (kPa).
    friction_deg
        Effective friction angle of the soil (degrees).
    soil_depth_m
        Vertical soil depth (m).
    transmissivity_m2_day
        Saturated transmissivity of the soil (m²/day).
    critical_angle_deg
        Threshold hillslope angle the rock holds (degrees).
    steepness_factor
        Multiplier of the channel steepness ``k_s``.
    """

    name: str
    share: float
    cohesion_kpa: float
    friction_deg: float
    soil_depth_m: float
    transmissivity_m2_day: float
    critical_angle_deg: float
    steepness_factor: float


LITHOLOGIES = (
    Lithology("phyllite and schist", 0.30, 8.0, 30.0, 1.4, 20.0, 30.0, 0.80),
    Lithology("schist and quartzite", 0.30, 8.0, 33.0, 1.3, 30.0, 34.0, 0.95),
    Lithology("gneiss", 0.25, 8.0, 36.0, 1.2, 40.0, 38.0, 1.10),
    Lithology("granite and massive quartzite", 0.15, 8.0, 39.0, 1.1, 50.0, 42.0, 1.25),
)


@dataclass(frozen=True)
class GeologyParams:
    """Correlation lengths (m) of the strength field along and across strike, and its lattice (m)."""

    along_strike_m: float = 15_000.0
    across_strike_m: float = 5_000.0
    lattice_m: float = 500.0


def class_table(name: str) -> np.ndarray:
    """One parameter of every lithology class as a float32 array indexed by class."""
    return np.array([getattr(lith, name) for lith in LITHOLOGIES], dtype=np.float32)


def unit_field(shape: tuple[int, int], sigma_px: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Gaussian-correlated standard-normal field with unit variance at every point (float32).

    :func:`hazardcore.synthetic_triggers.correlated_normal` reflects the noise at the lattice's
    edges, which on a lattice only a few correlation lengths wide raises the variance (to about
    2 on 34 × 34 cells with σ = 7 cells); drawing on a lattice padded by 4σ and cropping avoids it.

    Parameters
    ----------
    shape
        (rows, cols) of the field.
    sigma_px
        Gaussian filter widths (rows, cols) in lattice cells: correlation ``exp(−h² / 4σ²)``.
    rng
        Random generator.

    Returns
    -------
    numpy.ndarray
        float32 field of ``shape``.
    """
    pad = [int(np.ceil(4.0 * s)) for s in sigma_px]
    big = (shape[0] + 2 * pad[0], shape[1] + 2 * pad[1])
    field = correlated_normal(big, sigma_px, rng)
    return np.ascontiguousarray(field[pad[0]: pad[0] + shape[0], pad[1]: pad[1] + shape[1]])


def strength_field(shape: tuple[int, int], rng: np.random.Generator,
                   params: GeologyParams | None = None) -> np.ndarray:
    """Standard-normal strength field on the geology lattice (anisotropic Gaussian correlation).

    Parameters
    ----------
    shape
        (rows, cols) of the lattice (``params.lattice_m`` spacing).
    rng
        Random generator of the geology component.
    params
        Correlation lengths and lattice; defaults to :class:`GeologyParams`.

    Returns
    -------
    numpy.ndarray
        float32 field with unit variance in expectation.
    """
    p = params or GeologyParams()
    # a Gaussian filter of width s gives the correlation exp(−h² / 4s²): s = L / √2
    sigma = (p.across_strike_m / (np.sqrt(2.0) * p.lattice_m),
             p.along_strike_m / (np.sqrt(2.0) * p.lattice_m))
    return unit_field(shape, sigma, rng)


def lithology_classes(field: np.ndarray) -> np.ndarray:
    """Lithology class (uint8, weak 0 … strong 3) of a standard-normal field by fixed quantiles.

    The thresholds are the standard-normal quantiles of the cumulative class shares, so that
    the expected shares are :attr:`Lithology.share` and each region's shares vary as a
    correlated field's do.
    """
    cumulative = np.cumsum([lith.share for lith in LITHOLOGIES])[:-1]
    thresholds = ndtri(cumulative).astype(np.float32)
    return np.searchsorted(thresholds, field).astype(np.uint8)


def coarse_geology_landscape(roughness: np.ndarray, classes: np.ndarray, pixel_m: float,
                             rng: np.random.Generator, p: TerrainParams) -> np.ndarray:
    """Steady-state landscape on the coarse lattice with lithology-dependent threshold slopes.

    As :func:`hazardcore.synthetic_terrain.coarse_landscape`, with the critical gradient
    ``tan φ_c`` and the channel steepness factor of each pixel's lithology class.

    Parameters
    ----------
    roughness
        Roughness (m) on the full lattice.
    classes
        Lithology class on the coarse lattice (``coarse_factor`` times coarser).
    pixel_m
        Full-lattice pixel size (m).
    rng
        Random generator of the terrain component.
    p
        Terrain parameters.

    Returns
    -------
    numpy.ndarray
        float32 coarse surface, 0 on the southern edge.
    """
    coarse_m = pixel_m * p.coarse_factor
    rough = block_mean(roughness, p.coarse_factor)
    rough += np.float32(p.seed_noise_m) * rng.standard_normal(rough.shape, dtype=np.float32)
    north = northward_distance(rough.shape[0], coarse_m)
    gain = np.minimum(north / np.float32(p.steepness_scale_m), np.float32(1.0))
    steepness = (np.float32(p.steepness) * (1 + p.steepness_north_gain * gain)
                 * class_table("steepness_factor")[classes]).astype(np.float32)
    critical = np.tan(np.radians(class_table("critical_angle_deg")[classes])).astype(np.float32)
    return eroded_surface(rough, north, steepness, critical, coarse_m, p)


@dataclass(frozen=True)
class Geology:
    """The hidden geology on the DEM's 30 m lattice (grid plus margin).

    Attributes
    ----------
    field
        Continuous standard-normal strength field (float32).
    lithology
        Lithology class (uint8, index into :data:`LITHOLOGIES`).
    """

    field: np.ndarray
    lithology: np.ndarray


def geology_and_dem(grid: GridSpec, geology_rng: np.random.Generator, terrain_rng: np.random.Generator,
                    margin_cells: int = 1, params: TerrainParams | None = None,
                    geology: GeologyParams | None = None) -> tuple[Geology, xr.DataArray]:
    """Draw the hidden geology and the DEM it shapes, on the grid grown by ``margin_cells``.

    Parameters
    ----------
    grid
        The region's grid.
    geology_rng, terrain_rng
        Random generators of the geology and of the terrain.
    margin_cells
        Margin (cells) on every side.
    params
        Terrain parameters; defaults to :class:`TerrainParams`.
    geology
        Geology parameters; defaults to :class:`GeologyParams`.

    Returns
    -------
    tuple
        The :class:`Geology` on the 30 m lattice and the float32 DEM (m) with the expanded
        grid's coordinates, CRS and transform.
    """
    p, g = params or TerrainParams(), geology or GeologyParams()
    big = grid.expanded(margin_cells)
    pixel_m, shape, f = big.pixel_size_m, big.shape("30m"), p.coarse_factor
    ratio = round(g.lattice_m / pixel_m)
    lattice = (-(-shape[0] // ratio), -(-shape[1] // ratio))
    field_coarse = strength_field(lattice, geology_rng, g)
    field = upsample(field_coarse, ratio, (lattice[0] * ratio, lattice[1] * ratio))[: shape[0], : shape[1]]
    classes_coarse = lithology_classes(block_mean(field, f))
    rough = fractal_surface(shape, pixel_m, terrain_rng, p.beta, p.rolloff_m, p.smooth_m)
    coarse = coarse_geology_landscape(np.float32(p.roughness_m) * rough, classes_coarse, pixel_m,
                                      terrain_rng, p)
    dem = finished_dem(rough, coarse, grid, margin_cells, p)
    return Geology(np.ascontiguousarray(field), lithology_classes(field)), dem

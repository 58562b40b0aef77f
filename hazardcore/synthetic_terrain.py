"""Synthetic mountain terrain like the Himalayan front (one job: the DEM).

The surface is built in four steps, in float32:

1. **Fractal roughness.** White noise filtered in the Fourier domain to a power spectrum
   ``P(k) ∝ (k² + k_c²)^(−β/2)`` with ``β = 3.2`` (natural topography has ``β ≈ 3–3.5``),
   a roll-off ``1/k_c = 12 km`` and a 30 m Gaussian smoothing (``scipy.fft``, complex64,
   worker threads).
2. **Steady-state ridges and valleys** on a lattice 4× coarser (125 m). A seed surface
   (a southward tilt, the roughness and pixel-scale noise, which makes flow paths wander
   and merge as in invasion percolation) is routed with pyflwdir (D8, depressions filled,
   every outlet on the southern edge); elevations are then integrated upstream from the
   outlets with the stream-power steady-state gradient capped at a threshold hillslope,
   ``S = min(k_s A^(−θ), tan φ_c)`` (``θ = 0.45``; ``k_s`` doubles over 40 km northward, as
   uplift grows toward the High Himalaya, which gives the regional rise; ``φ_c = 35° ± 7°``,
   a smooth random rock-strength field). Three passes, each re-routed on the previous
   surface; gradients steeper than 60° where basins meet are finally cut back.
3. **Full resolution.** Bilinear upsampling plus the sub-125 m part of the roughness, then
   channels of depth ``K·A^0.5`` (``K = 0.003``, A in m²) with 0.6 m/m walls are carved
   along the 31.25 m drainage of :func:`hazardcore.terrain.flow_accumulation`, so that the
   pipeline's flow routing of the written DEM follows the valleys.
4. **Relief rescaling.** The relief is scaled so that the mean slope
   (:func:`hazardcore.terrain.slope`) inside the grid is 28°, and the lowest point is set
   to 400 m.

Why not plain fractal noise: its flow routing fills closed depressions into flats crossed
by straight, parallel flow paths, and its streams do not sit in valleys. The steady-state
construction (in the spirit of FastScape, Braun & Willett 2013) drains every pixel and
gives dendritic networks, concave river profiles and threshold hillslopes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyflwdir
import pyflwdir.dem
import scipy.fft as sfft
import xarray as xr
from affine import Affine
from scipy import ndimage

from hazardcore import terrain
from hazardcore.grid import GridSpec

FFT_WORKERS = 2
NODATA = -9999.0


@dataclass(frozen=True)
class TerrainParams:
    """Parameters of the synthetic terrain (defaults give a Himalayan-front relief).

    Parameters
    ----------
    beta
        Spectral exponent of the roughness power spectrum (3–3.5 for real topography).
    rolloff_m
        Wavelength (m) above which the spectrum flattens.
    smooth_m
        Gaussian smoothing length (m) of the roughness (hillslope diffusion).
    base_m
        Lowest elevation (m) of the final surface (the outlets on the southern edge).
    seed_tilt
        Southward tilt (m/m) of the seed surface, so that the seed drains south without
        large closed depressions.
    roughness_m
        Standard deviation (m) of the roughness of the seed surface that sets the network.
    detail_m
        Standard deviation (m) of the sub-125 m roughness added on the full lattice.
    coarse_factor, coarse_passes
        Lattice coarsening of the steady-state landscape, and its number of passes.
    seed_noise_m
        Standard deviation (m) of the pixel-scale noise added to the seed (coarse lattice).
    repass_roughness
        Fraction of the roughness added to the surface before re-routing it.
    max_angle_deg
        Steepest gradient (degrees) allowed on the coarse lattice (cliffs are cut back).
    steepness, steepness_north_gain, steepness_scale_m, concavity
        Channel steepness ``k_s`` (m^0.9) at the southern edge, its relative increase per
        ``steepness_scale_m`` northward (uplift grows northward; the increase saturates at
        one scale) and the concavity ``θ`` of ``S = k_s A^−θ``.
    critical_angle_deg, critical_angle_sd_deg, strength_scale_m
        Threshold hillslope angle: mean, standard deviation and correlation length of its
        spatial variation (rock strength).
    fine_incision_k, incision_m
        Depth ``K·A^m`` (m, A in m²) of the channels carved on the full lattice.
    wall_gradient
        Gradient (m/m) of the walls of the carved channels.
    target_mean_slope_deg
        Mean slope (degrees) inside the grid after rescaling.
    """

    beta: float = 3.2
    rolloff_m: float = 12_000.0
    smooth_m: float = 30.0
    base_m: float = 400.0
    seed_tilt: float = 0.1
    seed_noise_m: float = 30.0
    repass_roughness: float = 0.1
    max_angle_deg: float = 60.0
    roughness_m: float = 300.0
    detail_m: float = 15.0
    coarse_factor: int = 4
    coarse_passes: int = 3
    steepness: float = 120.0
    steepness_north_gain: float = 1.0
    steepness_scale_m: float = 40_000.0
    concavity: float = 0.45
    critical_angle_deg: float = 35.0
    critical_angle_sd_deg: float = 7.0
    strength_scale_m: float = 1_500.0
    fine_incision_k: float = 0.003
    incision_m: float = 0.5
    wall_gradient: float = 0.6
    target_mean_slope_deg: float = 28.0


def fractal_surface(shape: tuple[int, int], pixel_m: float, rng: np.random.Generator,
                    beta: float = 3.2, rolloff_m: float = 12_000.0,
                    smooth_m: float = 0.0) -> np.ndarray:
    """Gaussian random surface with a power-law spectrum, zero mean and unit variance.

    Parameters
    ----------
    shape
        (rows, cols) of the output.
    pixel_m
        Pixel size (m).
    rng
        Random generator.
    beta
        Spectral exponent: power ``∝ (k² + k_c²)^(−beta/2)``.
    rolloff_m
        Roll-off wavelength ``1 / k_c`` (m).
    smooth_m
        Standard deviation (m) of a Gaussian smoothing (hillslope diffusion) of the field.

    Returns
    -------
    numpy.ndarray
        float32 field of ``shape``.
    """
    n_y, n_x = (sfft.next_fast_len(n, real=True) for n in shape)
    noise = rng.standard_normal((n_y, n_x), dtype=np.float32)
    spectrum = sfft.rfft2(noise, workers=FFT_WORKERS)
    del noise
    k_y = sfft.fftfreq(n_y, d=pixel_m).astype(np.float32)[:, None]
    k_x = sfft.rfftfreq(n_x, d=pixel_m).astype(np.float32)[None, :]
    k_c = np.float32(1.0 / rolloff_m)
    k2 = k_y**2 + k_x**2
    amplitude = (k2 + k_c**2) ** np.float32(-beta / 4.0)
    amplitude *= np.exp(np.float32(-0.5 * (2.0 * np.pi * smooth_m) ** 2) * k2)
    amplitude[0, 0] = 0.0
    spectrum *= amplitude
    del amplitude
    field = sfft.irfft2(spectrum, s=(n_y, n_x), workers=FFT_WORKERS)[: shape[0], : shape[1]]
    field = np.ascontiguousarray(field, dtype=np.float32)
    field -= np.float32(field.mean(dtype=np.float64))
    field /= np.float32(field.std(dtype=np.float64))
    return field


def northward_distance(n_rows: int, pixel_m: float) -> np.ndarray:
    """Distance (m) of each row's centre from the southern edge, as a float32 column."""
    rows = np.arange(n_rows, dtype=np.float64)
    return (pixel_m * (n_rows - rows - 0.5)).astype(np.float32)[:, None]


def _as_dem(z: np.ndarray, pixel_m: float) -> xr.DataArray:
    """Wrap an array as a (y, x) DataArray with metre coordinates (origin at 0, 0)."""
    n_y, n_x = z.shape
    x = pixel_m * (np.arange(n_x) + 0.5)
    y = -pixel_m * (np.arange(n_y) + 0.5)
    return xr.DataArray(z, dims=("y", "x"), coords={"y": y, "x": x})


def upstream_area(z: np.ndarray, pixel_m: float) -> np.ndarray:
    """Upstream area (m²) of every pixel by D8 routing (``terrain.flow_accumulation``)."""
    area = terrain.flow_accumulation(_as_dem(z, pixel_m))
    return np.asarray(area.values, dtype=np.float32)


def valley_depth(depth: np.ndarray, pixel_m: float, wall_gradient: float) -> np.ndarray:
    """Spread channel depths into V-shaped valleys: ``max_q(depth_q − g·|p − q|)``.

    A chamfer (3 × 3 grey dilation) approximation of the cone is iterated until the
    walls reach the deepest channel's depth.

    Parameters
    ----------
    depth
        Incision depth (m) at each pixel (non-negative).
    pixel_m
        Pixel size (m).
    wall_gradient
        Gradient of the valley walls (m/m).

    Returns
    -------
    numpy.ndarray
        float32 incision (m), ``>= depth`` everywhere.
    """
    step = wall_gradient * pixel_m
    structure = -step * np.array([[np.sqrt(2.0), 1.0, np.sqrt(2.0)], [1.0, 0.0, 1.0],
                                  [np.sqrt(2.0), 1.0, np.sqrt(2.0)]], dtype=np.float32)
    out = depth.astype(np.float32)
    for _ in range(int(np.ceil(float(out.max()) / step)) + 1):
        grown = ndimage.grey_dilation(out, structure=structure, mode="nearest")
        if np.array_equal(grown, out):
            break
        out = grown
    return out


def incise(z: np.ndarray, pixel_m: float, k: float, params: TerrainParams) -> np.ndarray:
    """One incision pass: carve V-valleys of depth ``k·A^m`` along the D8 drainage."""
    area = upstream_area(z, pixel_m)
    depth = np.float32(k) * area ** np.float32(params.incision_m)
    depth -= depth.min()
    return z - valley_depth(depth, pixel_m, params.wall_gradient)


def flow_network(z: np.ndarray, pixel_m: float) -> pyflwdir.FlwdirRaster:
    """D8 network of ``z`` draining to the southern edge (depressions filled, pyflwdir)."""
    n_y, n_x = z.shape
    south = (n_y - 1) * n_x + np.arange(n_x)
    d8 = pyflwdir.dem.fill_depressions(z.astype(np.float32), nodata=NODATA, idxs_pit=south)[1]
    transform = Affine(pixel_m, 0.0, 0.0, 0.0, -pixel_m, 0.0)
    return pyflwdir.from_array(d8, ftype="d8", transform=transform, latlon=False)


def steady_state_surface(seed: np.ndarray, pixel_m: float, steepness: np.ndarray,
                         critical_gradient: np.ndarray, concavity: float,
                         outlet_elevation: np.ndarray) -> np.ndarray:
    """Surface in erosional steady state on the drainage network of ``seed``.

    The gradient along each flow path is the stream-power steady state
    ``S = k_s · A^(−θ)``, capped at the critical (threshold-hillslope) gradient ``S_c``;
    elevations are integrated from the outlets upstream: ``z = z_outlet + Σ S·L``.

    Parameters
    ----------
    seed
        Surface whose D8 routing defines the network.
    pixel_m
        Pixel size (m).
    steepness
        Channel steepness ``k_s`` (m^(2θ)) per pixel.
    critical_gradient
        Threshold hillslope gradient ``S_c`` (m/m) per pixel.
    concavity
        Concavity index ``θ``.
    outlet_elevation
        Elevation (m) given to each outlet pixel.

    Returns
    -------
    numpy.ndarray
        float32 surface; every pixel drains to an outlet by strictly descending steps.
    """
    flw = flow_network(seed, pixel_m)
    area = flw.upstream_area(unit="cell").astype(np.float32) * np.float32(pixel_m**2)
    gradient = np.minimum(steepness * area ** np.float32(-concavity), critical_gradient)
    idx = np.arange(seed.size)
    down = flw.idxs_ds
    d_row, d_col = np.divmod(down, seed.shape[1])
    row, col = np.divmod(idx, seed.shape[1])
    length = np.float32(pixel_m) * np.hypot(d_row - row, d_col - col).astype(np.float32)
    step = (gradient.ravel() * length).astype(np.float32)
    outlet = down == idx
    step[outlet] = outlet_elevation.ravel()[outlet]
    return np.asarray(flw.accuflux(step.reshape(seed.shape), nodata=NODATA,
                                   direction="down"), dtype=np.float32)


def smooth_field(shape: tuple[int, int], sigma_px: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise scaled to unit variance (float32)."""
    noise = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_px,
                                    mode="wrap")
    return noise / np.float32(noise.std(dtype=np.float64))


def limit_gradient(z: np.ndarray, pixel_m: float, max_gradient: float) -> np.ndarray:
    """Lower every pixel to at most ``max_gradient`` above its lower neighbours.

    ``z_p ← min_q(z_q + g·|p − q|)`` (a grey erosion with a cone, iterated to convergence),
    which removes cliffs where two basins meet while leaving valley floors untouched.
    """
    step = max_gradient * pixel_m  # grey_erosion subtracts the structure: min(z_q − s_q)
    structure = -step * np.array([[np.sqrt(2.0), 1.0, np.sqrt(2.0)], [1.0, 0.0, 1.0],
                                 [np.sqrt(2.0), 1.0, np.sqrt(2.0)]], dtype=np.float32)
    out = z.astype(np.float32)
    for _ in range(1000):
        lowered = ndimage.grey_erosion(out, structure=structure, mode="nearest")
        if np.array_equal(lowered, out):
            break
        out = lowered
    return out


def coarse_landscape(roughness: np.ndarray, pixel_m: float, rng: np.random.Generator,
                     p: TerrainParams) -> np.ndarray:
    """Steady-state ridge-and-valley landscape on the lattice ``coarse_factor`` times coarser.

    The first pass takes its network from a southward-tilted seed plus roughness and
    pixel-scale noise (which makes flow paths wander and merge, as in invasion
    percolation); later passes route on the previous surface plus the same perturbation,
    so that the network reorganises. Elevations start at 0 on the southern edge; cliffs
    left where basins meet are finally limited to ``max_gradient``.
    """
    f = p.coarse_factor
    coarse_m = pixel_m * f
    rough = block_mean(roughness, f)
    rough += np.float32(p.seed_noise_m) * rng.standard_normal(rough.shape, dtype=np.float32)
    north = northward_distance(rough.shape[0], coarse_m)
    gain = np.minimum(north / np.float32(p.steepness_scale_m), np.float32(1.0))
    steepness = np.broadcast_to(np.float32(p.steepness) * (1 + p.steepness_north_gain * gain),
                                rough.shape)
    angle = p.critical_angle_deg + p.critical_angle_sd_deg * smooth_field(
        rough.shape, p.strength_scale_m / coarse_m, rng)
    critical = np.tan(np.radians(np.clip(angle, 15.0, 60.0))).astype(np.float32)
    return eroded_surface(rough, north, steepness, critical, coarse_m, p)


def eroded_surface(rough: np.ndarray, north: np.ndarray, steepness: np.ndarray, critical: np.ndarray,
                   coarse_m: float, p: TerrainParams) -> np.ndarray:
    """Steady-state uplift-erosion passes from a tilted rough seed, then the steepest angle enforced.

    Shared by both synthetic worlds (the physical one sets ``steepness`` and ``critical`` by rock class).
    """
    outlet = np.zeros(rough.shape, dtype=np.float32)
    surface = np.float32(p.seed_tilt) * north
    for i in range(p.coarse_passes):
        seed = surface + rough * np.float32(1.0 if i == 0 else p.repass_roughness)
        surface = steady_state_surface(seed, coarse_m, steepness, critical, p.concavity, outlet)
    return limit_gradient(surface, coarse_m, float(np.tan(np.radians(p.max_angle_deg))))


def upsample(coarse: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling by an integer factor, padded by edge values to ``shape``."""
    fine = ndimage.zoom(coarse, factor, order=1, mode="nearest", grid_mode=True)
    pad = ((0, shape[0] - fine.shape[0]), (0, shape[1] - fine.shape[1]))
    return np.pad(fine, pad, mode="edge").astype(np.float32)


def mean_slope_deg(z: np.ndarray, pixel_m: float, inner: int) -> float:
    """Mean slope (degrees, ``terrain.slope``) of the pixels ``inner`` away from the edges."""
    slope = terrain.slope(_as_dem(z, pixel_m)).values[inner:-inner or None, inner:-inner or None]
    return float(np.nanmean(slope, dtype=np.float64))


def rescale_relief(z: np.ndarray, pixel_m: float, inner: int, target_deg: float) -> np.ndarray:
    """Scale the relief ``z − min(z)`` so that the mean slope inside is ``target_deg``.

    The scale factor is found by secant iterations on ``log(mean slope)`` against
    ``log(scale)``, starting from the ratio of the tangents.
    """
    relief = z - z.min()
    scales, errors = [1.0], [np.log(mean_slope_deg(relief, pixel_m, inner) / target_deg)]
    out = relief
    for _ in range(8):
        if len(scales) == 1:
            now = target_deg * np.exp(errors[0])
            scale = float(np.tan(np.radians(target_deg)) / np.tan(np.radians(now)))
        else:
            rate = (errors[-1] - errors[-2]) / np.log(scales[-1] / scales[-2])
            scale = scales[-1] * float(np.exp(-errors[-1] / rate))
        out = np.float32(scale) * relief
        scales.append(scale)
        errors.append(np.log(mean_slope_deg(out, pixel_m, inner) / target_deg))
        if abs(errors[-1]) < 1e-3:
            break
    return out


def block_mean(z: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor`` × ``factor`` blocks (trailing partial blocks dropped)."""
    n_y, n_x = z.shape[0] // factor, z.shape[1] // factor
    blocks = z[: n_y * factor, : n_x * factor].reshape(n_y, factor, n_x, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def synthetic_dem(grid: GridSpec, rng: np.random.Generator, margin_cells: int = 1,
                  params: TerrainParams | None = None) -> xr.DataArray:
    """Synthetic DEM (m) on the 30 m lattice of ``grid`` grown by ``margin_cells``.

    Parameters
    ----------
    grid
        The region's grid (the DEM covers it plus the margin).
    rng
        Random generator of the terrain component.
    margin_cells
        Margin (cells) on every side, so that terrain at the grid's edge has neighbours.
    params
        Terrain parameters; defaults to :class:`TerrainParams`.

    Returns
    -------
    xarray.DataArray
        float32 (y, x) DEM with the expanded grid's coordinates, CRS and transform.
    """
    p = params or TerrainParams()
    big = grid.expanded(margin_cells)
    pixel_m, shape = big.pixel_size_m, big.shape("30m")
    rough = fractal_surface(shape, pixel_m, rng, p.beta, p.rolloff_m, p.smooth_m)
    coarse = coarse_landscape(np.float32(p.roughness_m) * rough, pixel_m, rng, p)
    return finished_dem(rough, coarse, grid, margin_cells, p)


def finished_dem(rough: np.ndarray, coarse: np.ndarray, grid: GridSpec, margin_cells: int,
                 p: TerrainParams) -> xr.DataArray:
    """The DEM from its fractal roughness and its coarse landscape: fine detail added, incised, rescaled.

    Shared by both synthetic worlds (the physical one shapes its coarse landscape by geology).
    """
    big = grid.expanded(margin_cells)
    pixel_m, shape, f = big.pixel_size_m, big.shape("30m"), p.coarse_factor
    detail = rough - upsample(block_mean(rough, f), f, shape)
    z = upsample(coarse, f, shape) + np.float32(p.detail_m) * detail / detail.std(dtype=np.float64)
    del detail
    z = incise(z, pixel_m, p.fine_incision_k, p)
    z = rescale_relief(z, pixel_m, margin_cells * grid.pixels_per_cell, p.target_mean_slope_deg)
    z += np.float32(p.base_m)
    dem = big.template("30m")
    dem.values[:] = z
    return dem.assign_attrs(units="m", long_name="elevation")

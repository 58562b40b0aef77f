"""Synthetic truth: where, when and how large new landslides are (one job: the truth).

**Intensity per pixel.** The expected number of new landslides initiating in a 31.25 m
pixel during slice *t* is ``λ = c·(1 − exp(−λ_raw / c))`` (a soft ceiling
``c = 0.06`` per pixel) of

    λ_raw = F_slope · F_river · ( a_eq · F_conv · (PGA / 0.4 g)^6 · [an earthquake in t]
                                  + a_rain · F_wet · H(R_max) · (1 + R_span / 60 mm) / 2 · L_t )

* ``F_slope = 1 / (1 + exp(−(slope − 42°) / 3.5°))``: steep pixels dominate, so the sum
  over the 1,024 pixels of a cell is not a function of the cell's mean slope;
* ``F_river = 1 + 2 exp(−d_river / 150 m)``: toe erosion near channels;
* ``κ = tanh(planar curvature / 0.005 m⁻¹)``; ``F_conv = exp(0.6 κ)`` (shaking is amplified
  on convex ridges) and ``F_wet = exp(−0.6 κ) · exp(0.25 · clip(TWI − 6, −4, 6))`` (rain fails
  wet, concave hollows);
* ``H(R) = R³ / (R³ + (70 mm)³)``: a saturating response to the slice's maximum daily rain;
* ``L_t = 1 + 8 (PGA / 0.4 g)² exp(−monsoons_t / 1.5)``: the earthquake's legacy
  (shattered, cracked slopes) on later rain-triggered failures, decaying with monsoons;
* ``a_eq = 0.004``, ``a_rain = 0.0006``.

Every input is what the pipeline computes: terrain with
:func:`hazardcore.terrain.terrain_channels` on the written DEM (margin included, then
cropped), PGA (max over events) and per-slice rain statistics resampled bilinearly onto the
30 m lattice with :func:`hazardcore.grid.to_grid`.

**Counts.** Per cell ``Λ = Σ_pixels λ``, ``N ~ Poisson(Λ)``, ``P(N ≥ 1) = 1 − e^(−Λ)``.

**Sizes.** A landslide's area is ``k · A``: ``A`` follows the inverse-gamma law of Malamud
et al. (2004) (``ρ = 1.4``, ``a = 1.28·10⁻³ km²``, ``s = −1.32·10⁻⁴ km²``) truncated to
[100, 50,000] m², and ``k`` is the cell's size multiplier, the intensity-weighted mean over
its pixels of ``exp(0.08 (slope − 35°)) · (PGA / 0.4 g)^1.5`` for co-seismic landslides and
``exp(0.08 (slope − 35°)) · (2 H(R_max))^0.7 · L_t^0.3`` for rain-triggered ones (each
clipped to [0.2, 5]). Hence, exactly,

    E[new area / cell area · 100 | N ≥ 1] = Λ / (1 − e^(−Λ)) · k · E[A] / cell area · 100,

with ``E[A]`` of the truncated law from regularised incomplete gamma functions.

**Inventory.** Cumulative mapped area per cell and date: old scars at the baseline (rate
0.0005 · Σ F_slope · F_river, k = 1), then ``A_t = min(A_{t−1} (1 − r) + new_t, cell area)``
with revegetation ``r`` uniform in 3 % ± 1.5 % per cell and slice, so the pipeline's target
``max(0, A_t − A_{t−1})`` misses small new landslides in old scars, as real data do.

All sampling is vectorised: counts per cell, then every area of a slice in one vector,
summed per cell with ``np.bincount``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammainc, gammaincc, gammainccinv


@dataclass(frozen=True)
class SizeLaw:
    """Truncated inverse-gamma landslide-area law (Malamud et al., 2004), areas in m²."""

    rho: float = 1.4
    a_m2: float = 1280.0
    s_m2: float = -132.0
    min_m2: float = 100.0
    max_m2: float = 50_000.0

    def _bounds(self) -> tuple[float, float]:
        """Gamma-variable bounds ``g = a / (A − s)`` of the truncation (g_low < g_high)."""
        return self.a_m2 / (self.max_m2 - self.s_m2), self.a_m2 / (self.min_m2 - self.s_m2)

    def mean_m2(self) -> float:
        """Exact mean area (m²) of the truncated law.

        With ``G = a / (A − s) ~ Gamma(ρ, 1)``,
        ``E[A − s | g₁ < G < g₂] = a / (ρ − 1) · ΔP(ρ − 1) / ΔP(ρ)`` where ``ΔP(x)`` is the
        regularised lower incomplete gamma function ``P(x, g₂) − P(x, g₁)``.
        """
        g_low, g_high = self._bounds()
        mass = gammainc(self.rho, g_high) - gammainc(self.rho, g_low)
        partial = gammainc(self.rho - 1.0, g_high) - gammainc(self.rho - 1.0, g_low)
        return float(self.s_m2 + self.a_m2 / (self.rho - 1.0) * partial / mass)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` areas (m², float64) by inverting the truncated CDF."""
        g_low, g_high = self._bounds()
        q_low, q_high = gammaincc(self.rho, g_high), gammaincc(self.rho, g_low)
        q = rng.uniform(q_low, q_high, n)
        return np.asarray(self.s_m2 + self.a_m2 / gammainccinv(self.rho, q))


@dataclass(frozen=True)
class TruthParams:
    """Coefficients of the intensity and size model (see the module docstring)."""

    a_eq: float = 0.004
    a_rain: float = 0.0006
    pga_ref_g: float = 0.4
    pga_exponent: float = 6.0
    slope_mid_deg: float = 42.0
    slope_width_deg: float = 3.5
    river_gain: float = 2.0
    river_scale_m: float = 150.0
    curvature_scale: float = 0.005
    curvature_gain: float = 0.6
    twi_ref: float = 6.0
    twi_gain: float = 0.25
    rain_half_mm: float = 70.0
    rain_exponent: float = 3.0
    span_ref_mm: float = 60.0
    legacy_gain: float = 8.0
    legacy_tau: float = 1.5
    size_slope_gain: float = 0.08
    size_pga_exponent: float = 1.5
    size_rain_exponent: float = 0.7
    size_legacy_exponent: float = 0.3
    max_pixel_rate: float = 0.06
    old_scar_rate: float = 0.0005
    reveg_rate: float = 0.03
    reveg_spread: float = 0.015


@dataclass(frozen=True)
class PixelFactors:
    """Slice-independent parts of the intensity and size model on the 30 m lattice (float32).

    Attributes
    ----------
    seismic
        ``F_slope · F_river · F_conv · (PGA / ref)^γ``.
    rain
        ``F_slope · F_river · F_wet``.
    legacy
        ``(PGA / ref)²``: the earthquake's legacy on later rain-triggered failures.
    size_terrain
        ``exp(g (slope − 35°))``.
    size_seismic
        ``size_terrain · (PGA / ref)^1.5``, clipped to [0.2, 5].
    """

    seismic: np.ndarray
    rain: np.ndarray
    legacy: np.ndarray
    size_terrain: np.ndarray
    size_seismic: np.ndarray

    def rows(self, rows: slice) -> PixelFactors:
        """Views of a block of rows of every factor."""
        return PixelFactors(self.seismic[rows], self.rain[rows], self.legacy[rows],
                            self.size_terrain[rows], self.size_seismic[rows])


SIZE_CLIP = (0.2, 5.0)
ROW_CHUNK_CELLS = 8


def susceptibility(slope_deg: np.ndarray, river_m: np.ndarray, p: TruthParams) -> np.ndarray:
    """Terrain part shared by all triggers: ``F_slope · F_river`` (float32)."""
    f_slope = 1.0 / (1.0 + np.exp((p.slope_mid_deg - slope_deg) / np.float32(p.slope_width_deg)))
    f_river = 1.0 + p.river_gain * np.exp(-river_m / np.float32(p.river_scale_m))
    return np.asarray(f_slope * f_river, dtype=np.float32)


def row_blocks(n_rows: int, pixels_per_cell: int,
               chunk_cells: int = ROW_CHUNK_CELLS) -> list[slice]:
    """Slices of whole cell rows over the pixel rows, to bound temporary memory."""
    step = chunk_cells * pixels_per_cell
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def pixel_factors(slope_deg: np.ndarray, curvature: np.ndarray, twi: np.ndarray,
                  river_m: np.ndarray, pga_g: np.ndarray, p: TruthParams,
                  pixels_per_cell: int) -> PixelFactors:
    """Slice-independent factors of the model from the pixel layers (all float32 (y, x)).

    Computed by blocks of cell rows, so that temporaries stay small on large regions.

    Parameters
    ----------
    slope_deg, curvature, twi, river_m
        Slope (degrees), planar curvature (1/m, positive convex), topographic wetness
        index, distance to the nearest stream (m).
    pga_g
        Maximum PGA over the events (g).
    p
        Model coefficients.
    pixels_per_cell
        Pixels along a cell's edge.

    Returns
    -------
    PixelFactors
        The factors, float32.
    """
    out = PixelFactors(*(np.empty(slope_deg.shape, dtype=np.float32) for _ in range(5)))
    for rows in row_blocks(slope_deg.shape[0], pixels_per_cell):
        block = _factor_block(slope_deg[rows], curvature[rows], twi[rows], river_m[rows],
                              pga_g[rows], p)
        for name in PixelFactors.__dataclass_fields__:
            getattr(out, name)[rows] = getattr(block, name)
    return out


def _factor_block(slope_deg: np.ndarray, curvature: np.ndarray, twi: np.ndarray,
                  river_m: np.ndarray, pga_g: np.ndarray, p: TruthParams) -> PixelFactors:
    """:func:`pixel_factors` on one block of rows."""
    base = susceptibility(slope_deg, river_m, p)
    kappa = np.tanh(curvature / np.float32(p.curvature_scale))
    shaking = pga_g / np.float32(p.pga_ref_g)
    seismic = base * np.exp(p.curvature_gain * kappa) * shaking ** np.float32(p.pga_exponent)
    wet = np.exp(p.twi_gain * np.clip(twi - np.float32(p.twi_ref), -4.0, 6.0))
    rain = base * np.exp(-p.curvature_gain * kappa) * wet
    size_terrain = np.exp(np.float32(p.size_slope_gain) * (slope_deg - np.float32(35.0)))
    size_seismic = np.clip(size_terrain * shaking ** np.float32(p.size_pga_exponent), *SIZE_CLIP)
    return PixelFactors(seismic, rain, shaking**2, size_terrain, size_seismic)


def cell_sum(pixels: np.ndarray, pixels_per_cell: int) -> np.ndarray:
    """Sum (float64) over each cell's ``pixels_per_cell`` × ``pixels_per_cell`` block."""
    n_y, n_x = pixels.shape[0] // pixels_per_cell, pixels.shape[1] // pixels_per_cell
    blocks = pixels.reshape(n_y, pixels_per_cell, n_x, pixels_per_cell)
    return np.asarray(blocks.sum(axis=(1, 3), dtype=np.float64))


def slice_intensity(f: PixelFactors, rain_max: np.ndarray, rain_span: np.ndarray,
                    monsoons: float, has_event: bool, p: TruthParams,
                    pixels_per_cell: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell intensity ``Λ = Σ λ`` and size-weighted intensity ``Σ λ·k`` of one slice.

    Computed by blocks of cell rows, so that temporaries stay small on large regions.

    Parameters
    ----------
    f
        Slice-independent pixel factors.
    rain_max, rain_span
        Maximum daily rain and 95 % span of the slice (mm/day) on the 30 m lattice.
    monsoons
        Monsoons since the earthquake at the slice's end.
    has_event
        Whether an earthquake falls in the slice.
    p
        Model coefficients.
    pixels_per_cell
        Pixels along a cell's edge.

    Returns
    -------
    tuple of numpy.ndarray
        ``Λ`` and ``Σ λ·k`` per cell (float64).
    """
    sums = [_intensity_block(f.rows(rows), rain_max[rows], rain_span[rows], monsoons, has_event,
                             p, pixels_per_cell)
            for rows in row_blocks(rain_max.shape[0], pixels_per_cell)]
    return np.concatenate([lam for lam, _ in sums]), np.concatenate([lam_k for _, lam_k in sums])


def _intensity_block(f: PixelFactors, rain_max: np.ndarray, rain_span: np.ndarray,
                     monsoons: float, has_event: bool, p: TruthParams,
                     pixels_per_cell: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`slice_intensity` on one block of rows."""
    legacy = 1.0 + np.float32(p.legacy_gain * np.exp(-monsoons / p.legacy_tau)) * f.legacy
    ratio = (rain_max / np.float32(p.rain_half_mm)) ** np.float32(p.rain_exponent)
    storm = ratio / (1.0 + ratio)
    size = np.clip(f.size_terrain * (2.0 * storm) ** np.float32(p.size_rain_exponent)
                   * legacy ** np.float32(p.size_legacy_exponent), *SIZE_CLIP)
    storm *= 0.5 * (1.0 + rain_span / np.float32(p.span_ref_mm))
    lam = np.float32(p.a_rain) * f.rain * storm * legacy
    lam_k = lam * size
    if has_event:
        quake = np.float32(p.a_eq) * f.seismic
        lam += quake
        lam_k += quake * f.size_seismic
    saturated = saturate(lam, p.max_pixel_rate)
    lam_k *= np.divide(saturated, lam, out=np.ones_like(lam), where=lam > 0)
    return cell_sum(saturated, pixels_per_cell), cell_sum(lam_k, pixels_per_cell)


def saturate(rate: np.ndarray, ceiling: float) -> np.ndarray:
    """Soft ceiling of a pixel rate: ``c · (1 − exp(−rate / c))`` (≈ rate when small)."""
    return np.asarray(-np.float32(ceiling) * np.expm1(-rate / np.float32(ceiling)),
                      dtype=np.float32)


def sample_landslides(lam: np.ndarray, lam_k: np.ndarray, law: SizeLaw,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sample counts ``N ~ Poisson(Λ)`` and total new area (m²) per cell, vectorised.

    All areas of a slice are drawn in one vector and summed per cell with ``np.bincount``.

    Returns
    -------
    tuple of numpy.ndarray
        Counts (int32) and new area (float64, m²), shaped like ``lam``.
    """
    counts = rng.poisson(lam)
    size = np.divide(lam_k, lam, out=np.ones_like(lam), where=lam > 0)
    cell = np.repeat(np.arange(lam.size), counts.ravel())
    areas = law.sample(cell.size, rng) * size.ravel()[cell]
    total = np.bincount(cell, weights=areas, minlength=lam.size).reshape(lam.shape)
    return counts.astype(np.int32), total


def occurrence_and_density(lam: np.ndarray, lam_k: np.ndarray, law: SizeLaw,
                           cell_area_m2: float) -> tuple[np.ndarray, np.ndarray]:
    """True ``P(N ≥ 1)`` and ``E[new area / cell area · 100 | N ≥ 1]`` (%) per cell.

    Where ``Λ = 0`` the density is its limit for ``Λ → 0`` with a size multiplier of 1.
    """
    p_occ = -np.expm1(-lam)
    expected = np.where(lam > 0, lam_k, 1.0) * law.mean_m2()
    density = 100.0 * np.divide(expected, p_occ * cell_area_m2, out=np.full_like(lam, np.nan),
                                where=p_occ > 0)
    density = np.where(p_occ > 0, density, 100.0 * law.mean_m2() / cell_area_m2)
    return p_occ, density


def old_scars(base_cells: np.ndarray, law: SizeLaw, rng: np.random.Generator,
              p: TruthParams) -> np.ndarray:
    """Area (m²) of pre-existing scars at the baseline: terrain-only intensity, multiplier 1."""
    lam = p.old_scar_rate * base_cells
    return sample_landslides(lam, lam, law, rng)[1]


def cumulative_inventory(baseline_m2: np.ndarray, new_m2: list[np.ndarray],
                         rng: np.random.Generator, p: TruthParams,
                         cell_area_m2: float) -> np.ndarray:
    """Cumulative mapped area (m²) per date: revegetation of older scars plus new ones.

    ``A_t = min(A_{t−1} (1 − r) + new_t, cell area)``, with ``r`` uniform in
    ``reveg_rate ± reveg_spread`` per cell and slice.

    Returns
    -------
    numpy.ndarray
        float32 (dates, y, x), the first date being the baseline.
    """
    areas = [np.minimum(baseline_m2, cell_area_m2)]
    for new in new_m2:
        r = rng.uniform(p.reveg_rate - p.reveg_spread, p.reveg_rate + p.reveg_spread, new.shape)
        areas.append(np.minimum(areas[-1] * (1.0 - r) + new, cell_area_m2))
    return np.stack(areas).astype(np.float32)

"""Slope-stability physics of the physical synthetic world (one job: pure physics kernels).

Every function works on plain NumPy arrays (one value per pixel, any shape) and does no IO;
the physical world (:mod:`hazardcore.synthetic_physical`) gathers the inputs.

* **Wetness** (steady-state, TOPMODEL-style; Beven & Kirkby 1979, O'Loughlin 1986,
  Montgomery & Dietrich 1994): the saturated fraction of the soil column
  ``w = min(1, R a / (T sin β))`` with ``R`` the steady recharge (m/day), ``a`` the specific
  contributing area (upslope area per unit contour width, m) and ``T`` the soil
  transmissivity (m²/day).
* **Infinite-slope factor of safety** (Skempton & DeLory 1957; Hammond et al. 1992):
  ``FS = [c' + (γ_s − w γ_w) z cos²β tan φ'] / (γ_s z sin β cos β)``.
* **Newmark sliding block** (Newmark 1965; Jibson 2007): critical acceleration
  ``a_c = (FS − 1) g sin β``; displacement from Jibson's (2007, eq. 6) regression on the
  critical acceleration ratio, ``log10 D = 0.215 + log10[(1 − r)^2.341 r^−1.438]`` (D in cm,
  ``r = a_c / PGA``); probability of failure from displacement, the Weibull curve of
  Jibson et al. (2000), ``P = 0.335 [1 − exp(−0.048 D^1.565)]``.
* **Runout**: a failed cluster's volume ``V = 0.074 A^1.450`` (Guzzetti et al. 2009, m³ from
  m²) sets its reach angle ``tan α = 0.97 V^−0.105`` (Corominas 1996, all landslides); the
  debris follows the steepest strictly-descending path from the cluster's lowest pixel while
  the line from the crown to the front stays steeper than α.

Clusters are labelled with ``scipy.sparse.csgraph`` on the failed pixels only (the failed
set is sparse, so this is much cheaper than labelling the whole raster every realisation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

GRAVITY_M_S2 = 9.81
WATER_UNIT_WEIGHT_KN_M3 = 9.81
JIBSON_2007 = (0.215, 2.341, 1.438)  # log10 D = a + log10[(1 − r)^b r^−c], D in cm
JIBSON_2000 = (0.335, 0.048, 1.565)  # P = m [1 − exp(−k D^e)], D in cm
GUZZETTI_2009 = (0.074, 1.450)  # V = α A^γ (m³, m²)
COROMINAS_1996 = (0.97, 0.105)  # tan(reach angle) = k V^−e (V in m³)
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def wetness(specific_area_m: np.ndarray, sin_slope: np.ndarray, recharge_m_day: np.ndarray,
            transmissivity_m2_day: np.ndarray) -> np.ndarray:
    """Steady-state saturated fraction of the soil ``w = min(1, R a / (T sin β))``.

    Parameters
    ----------
    specific_area_m
        Upslope contributing area per unit contour width (m).
    sin_slope
        Sine of the slope angle; flat pixels (0) are saturated.
    recharge_m_day
        Steady recharge (m/day).
    transmissivity_m2_day
        Saturated soil transmissivity (m²/day).

    Returns
    -------
    numpy.ndarray
        ``w`` in [0, 1], float32.
    """
    flux = np.asarray(recharge_m_day * specific_area_m, dtype=np.float32)
    capacity = np.asarray(transmissivity_m2_day * sin_slope, dtype=np.float32)
    ratio = np.divide(flux, capacity, out=np.ones_like(flux), where=capacity > 0)
    return np.minimum(ratio, np.float32(1.0))


def soil_depth_m(max_depth_m: np.ndarray, tan_slope: np.ndarray, tan_thin: np.ndarray,
                 gentle_deg: float = 20.0, thin_fraction: float = 0.1) -> np.ndarray:
    """Soil depth thinning linearly with the slope gradient (Saulnier et al. 1997).

    ``z = z_max`` up to ``gentle_deg``, then linear in ``tan β`` down to ``thin_fraction · z_max`` at
    ``tan_thin`` (the rock's threshold angle plus a few degrees) and constant beyond: steep rock
    slopes hold thin soil.

    Parameters
    ----------
    max_depth_m
        Soil depth (m) on gentle slopes.
    tan_slope
        Tangent of the slope.
    tan_thin
        Tangent of the angle at which the soil is thinnest (per pixel).
    gentle_deg
        Steepest angle (degrees) that still holds the full depth.
    thin_fraction
        Depth at ``tan_thin`` and beyond, as a fraction of ``max_depth_m``.

    Returns
    -------
    numpy.ndarray
        Vertical soil depth (m), float32.
    """
    tan_gentle = np.float32(np.tan(np.radians(gentle_deg)))
    fraction = 1.0 - (1.0 - thin_fraction) * (tan_slope - tan_gentle) / (tan_thin - tan_gentle)
    return np.asarray(max_depth_m * np.clip(fraction, thin_fraction, 1.0), dtype=np.float32)


def factor_of_safety(sin_slope: np.ndarray, cos_slope: np.ndarray, cohesion_kpa: np.ndarray,
                     tan_friction: np.ndarray, soil_depth_m: np.ndarray, wetness_ratio: np.ndarray,
                     unit_weight_kn_m3: float = 18.0) -> np.ndarray:
    """Infinite-slope factor of safety with a steady water table.

    ``FS = [c' + (γ_s − w γ_w) z cos²β tan φ'] / (γ_s z sin β cos β)``.

    Parameters
    ----------
    sin_slope, cos_slope
        Sine and cosine of the slope angle β.
    cohesion_kpa
        Effective cohesion of soil and roots c' (kPa).
    tan_friction
        Tangent of the effective friction angle φ'.
    soil_depth_m
        Vertical soil depth z (m).
    wetness_ratio
        Saturated fraction of the soil column w (0–1).
    unit_weight_kn_m3
        Soil unit weight γ_s (kN/m³); water is 9.81 kN/m³.

    Returns
    -------
    numpy.ndarray
        FS (float32); ``inf`` on flat ground.
    """
    weight = np.float32(unit_weight_kn_m3) * soil_depth_m
    effective = (np.float32(unit_weight_kn_m3) - wetness_ratio * np.float32(WATER_UNIT_WEIGHT_KN_M3))
    resisting = cohesion_kpa + effective * soil_depth_m * cos_slope**2 * tan_friction
    driving = np.asarray(weight * sin_slope * cos_slope, dtype=np.float32)
    resisting = np.asarray(resisting, dtype=np.float32)
    return np.divide(resisting, driving, out=np.full_like(resisting, np.inf), where=driving > 0)


def critical_acceleration_g(fs: np.ndarray, sin_slope: np.ndarray) -> np.ndarray:
    """Newmark critical acceleration ``a_c = (FS − 1) sin β`` in units of g (negative: unstable)."""
    return np.asarray((fs - 1.0) * sin_slope, dtype=np.float32)


def newmark_displacement_cm(critical_g: np.ndarray, pga_g: np.ndarray) -> np.ndarray:
    """Median Newmark displacement (cm), Jibson (2007) eq. 6, from the critical acceleration ratio.

    ``log10 D = 0.215 + log10[(1 − r)^2.341 r^−1.438]`` with ``r = a_c / PGA``; ``D = 0`` where
    ``r ≥ 1`` (the block never slides) and ``inf`` where ``r ≤ 0`` (statically unstable).

    Parameters
    ----------
    critical_g
        Critical acceleration (g).
    pga_g
        Peak ground acceleration (g), positive.

    Returns
    -------
    numpy.ndarray
        Displacement (cm), float64.
    """
    a, b, c = JIBSON_2007
    ratio = np.asarray(critical_g, dtype=np.float64) / np.asarray(pga_g, dtype=np.float64)
    inside = (ratio > 0) & (ratio < 1)
    r = np.where(inside, ratio, 0.5)
    disp = 10.0**a * (1.0 - r) ** b * r ** (-c)
    return np.where(inside, disp, np.where(ratio <= 0, np.inf, 0.0))


def failure_probability(displacement_cm: np.ndarray) -> np.ndarray:
    """Probability of failure from Newmark displacement, Jibson et al. (2000).

    ``P = 0.335 [1 − exp(−0.048 D^1.565)]`` (D in cm; ``inf`` gives the ceiling 0.335).
    """
    m, k, e = JIBSON_2000
    d = np.asarray(displacement_cm, dtype=np.float64)
    return m * -np.expm1(-k * np.power(d, e, where=np.isfinite(d), out=np.full_like(d, np.inf)))


def landslide_volume_m3(area_m2: np.ndarray) -> np.ndarray:
    """Volume (m³) of a landslide of planimetric area A (m²): ``0.074 A^1.450`` (Guzzetti et al. 2009)."""
    alpha, gamma = GUZZETTI_2009
    return alpha * np.asarray(area_m2, dtype=np.float64) ** gamma


def reach_tangent(volume_m3: np.ndarray) -> np.ndarray:
    """Tangent of the reach angle (H / L) of a landslide of volume V: ``0.97 V^−0.105`` (Corominas 1996)."""
    k, e = COROMINAS_1996
    return k * np.asarray(volume_m3, dtype=np.float64) ** (-e)


def steepest_descent(z: np.ndarray, pixel_m: float) -> np.ndarray:
    """Flat index of each pixel's steepest strictly-lower 8-neighbour (itself where none is lower).

    Parameters
    ----------
    z
        Elevation (m), 2-D, finite.
    pixel_m
        Pixel size (m).

    Returns
    -------
    numpy.ndarray
        int64 flat indices, shaped like ``z``.
    """
    n_y, n_x = z.shape
    padded = np.pad(z.astype(np.float32), 1, constant_values=np.inf)
    rows, cols = np.indices(z.shape)
    best = np.zeros(z.shape, dtype=np.float32)
    target = rows * n_x + cols
    for dr, dc in _NEIGHBOURS:
        neighbour = padded[1 + dr: 1 + dr + n_y, 1 + dc: 1 + dc + n_x]
        gradient = (z - neighbour) / np.float32(pixel_m * np.hypot(dr, dc))
        steeper = gradient > best
        best = np.where(steeper, gradient, best)
        target = np.where(steeper, (rows + dr) * n_x + (cols + dc), target)
    return target.astype(np.int64)


def failed_clusters(failed: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Label the 8-connected clusters of failed pixels.

    Parameters
    ----------
    failed
        Sorted, unique flat indices of the failed pixels.
    shape
        (rows, cols) of the raster.

    Returns
    -------
    numpy.ndarray
        int64 cluster label (0 … n_clusters − 1) of each failed pixel.
    """
    n = failed.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    n_x = shape[1]
    row, col = np.divmod(failed, n_x)
    heads, tails = [], []
    for dr, dc in ((0, 1), (1, -1), (1, 0), (1, 1)):
        wanted = failed + dr * n_x + dc
        pos = np.minimum(np.searchsorted(failed, wanted), n - 1)
        hit = (failed[pos] == wanted) & (col + dc >= 0) & (col + dc < n_x) & (row + dr < shape[0])
        heads.append(np.flatnonzero(hit))
        tails.append(pos[hit])
    i, j = np.concatenate(heads), np.concatenate(tails)
    graph = coo_matrix((np.ones(i.size, dtype=np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


@dataclass(frozen=True)
class Landslides:
    """Landslides of one realisation: every footprint pixel with the landslide it belongs to.

    Attributes
    ----------
    pixel
        Flat pixel index of each footprint pixel (source cluster first, then runout path).
    owner
        Landslide index (0 … n − 1) of each footprint pixel.
    source_pixels
        Number of failed (source) pixels of each landslide.
    runout_pixels
        Number of runout-path pixels of each landslide.
    """

    pixel: np.ndarray
    owner: np.ndarray
    source_pixels: np.ndarray
    runout_pixels: np.ndarray

    @property
    def count(self) -> int:
        """Number of landslides."""
        return int(self.source_pixels.size)


def landslides(failed: np.ndarray, z: np.ndarray, receiver: np.ndarray, pixel_m: float,
               max_steps: int = 256) -> Landslides:
    """Turn failed pixels into landslides: one per 8-connected cluster, with a runout path.

    The runout starts at the cluster's lowest pixel and steps to the steepest strictly-lower
    neighbour while ``(z_crown − z_front) / (L_cluster + path length) ≥ tan α(V)``
    (:func:`reach_tangent` of :func:`landslide_volume_m3` of the cluster's area), where
    ``L_cluster`` is the horizontal distance from the crown (highest pixel) to the lowest.

    Parameters
    ----------
    failed
        Flat indices of the failed pixels (any order, unique).
    z
        Elevation (m), 2-D.
    receiver
        :func:`steepest_descent` of ``z``.
    pixel_m
        Pixel size (m).
    max_steps
        Longest runout path (pixels).

    Returns
    -------
    Landslides
        The footprints: sources and runout paths (which never re-enter their source).
    """
    failed = np.unique(failed).astype(np.int64)
    if failed.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Landslides(empty, empty, empty, empty)
    label = failed_clusters(failed, z.shape)
    n = int(label.max()) + 1
    flat_z = z.ravel()
    order = np.lexsort((flat_z[failed], label))
    boundary = np.r_[0, np.flatnonzero(np.diff(label[order])) + 1]
    lowest = failed[order[boundary]]
    last = np.r_[boundary[1:], label.size] - 1
    crown = failed[order[last]]
    size = np.bincount(label, minlength=n)
    path_owner, path_pixel = runout_paths(lowest, crown, size * pixel_m**2, z, receiver, pixel_m,
                                          max_steps)
    runout = np.bincount(path_owner, minlength=n)
    return Landslides(np.concatenate([failed, path_pixel]), np.concatenate([label, path_owner]),
                      size, runout)


def runout_paths(start: np.ndarray, crown: np.ndarray, area_m2: np.ndarray, z: np.ndarray,
                 receiver: np.ndarray, pixel_m: float, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Trace every landslide's runout path at once (vectorised over landslides).

    Returns
    -------
    tuple of numpy.ndarray
        Owner (landslide index) and flat pixel index of every path pixel, int64.
    """
    flat_z = z.ravel().astype(np.float64)
    n_x = z.shape[1]
    tan_reach = reach_tangent(landslide_volume_m3(area_m2))
    (r0, c0), (r1, c1) = np.divmod(crown, n_x), np.divmod(start, n_x)
    travelled = pixel_m * np.hypot(r1 - r0, c1 - c0).astype(np.float64)
    top = flat_z[crown]
    active = np.arange(start.size)
    current = start.copy()
    owners, pixels = [], []
    for _ in range(max_steps):
        if active.size == 0:
            break
        here = current[active]
        nxt = receiver.ravel()[here]
        (ra, ca), (rb, cb) = np.divmod(here, n_x), np.divmod(nxt, n_x)
        reach = travelled[active] + pixel_m * np.hypot(rb - ra, cb - ca)
        go = (nxt != here) & (top[active] - flat_z[nxt] >= tan_reach[active] * reach)
        active, nxt, reach = active[go], nxt[go], reach[go]
        owners.append(active)
        pixels.append(nxt)
        current[active] = nxt
        travelled[active] = reach
    if not owners:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(owners).astype(np.int64), np.concatenate(pixels).astype(np.int64)

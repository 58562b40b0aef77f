"""Terrain predictors from a DEM: slope, aspect, curvature, flow routing, TWI, rivers.

Every public function takes a DEM as an ``xarray.DataArray`` with dims ``("y", "x")``
(row 0 north, square pixels, NaN = nodata, any rioxarray CRS) and returns a float32
DataArray on the same coordinates, with ``units`` and ``long_name`` set, and no IO
(style after xarray-spatial's ``slope``). A NaN pixel makes NaN every output pixel whose
stencil touches it: its 3×3 neighbourhood for the stencil quantities, itself for the
flow-routing quantities. Raster edges are handled by replicating the edge pixels, so a
finite DEM gives finite outputs of the same shape.

Stencils
    Slope, aspect, northness and eastness use Horn's (1981) weighted 3×3 differences;
    profile and planar curvature use Zevenbergen & Thorne's (1987) second differences.
    They are a few lines of vectorised NumPy in float32 (neighbours are differenced
    before they are summed, so that float32 loses no precision on high elevations),
    which keeps a 44 M-pixel DEM within a few GB.

Flow routing: why pyflwdir
    pyflwdir (Deltares) is a maintained, numba-compiled flow-direction library that works
    on plain arrays (no GDAL, no files), treats NaN as nodata, and scales to rasters of
    tens of millions of pixels. It fills depressions with a priority flood (Wang & Liu
    2006) and accumulates upstream area. Its ``from_dem`` is not used as is: it gives
    each pixel the direction to its *lowest* neighbour (not the steepest, so diagonals
    are favoured), breaks ties by row and column (a plane falling due south drains
    south-west), and lets raster-edge pixels drain along the edge into a single corner
    pit, which draws false rivers along tile edges. So the D8 directions are steepest
    descent (O'Callaghan & Mark 1984) on pyflwdir's depression-filled DEM; pixels
    without a lower neighbour (flats and filled depressions) keep pyflwdir's
    priority-flood direction, which leads to the pour point; pixels on the raster border
    may drain inwards but never along the border, and drain off the map otherwise.
    pyflwdir then accumulates the upstream area on these directions.

Distances: why scipy
    ``scipy.ndimage.distance_transform_edt`` gives the exact Euclidean distance
    transform in linear time, with the pixel size as sampling.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pyflwdir
import xarray as xr
from affine import Affine
from scipy import ndimage

from hazardcore.errors import GridMismatchError, describe
from hazardcore.predictors import CHANNEL_LONG_NAMES, CHANNEL_UNITS, TERRAIN_CHANNELS

#: Upstream area (m²) from which a pixel counts as a stream: 0.25 km², a typical
#: channel-initiation area for steep Himalayan catchments mapped on a 30 m DEM (steep
#: slopes start channels from small areas). It sets where ``distance_to_river`` is 0,
#: so it is a documented argument of every function that draws streams.
STREAM_THRESHOLD_M2 = 250_000.0

#: Floor of tan(slope) in the wetness index, so that flats (tan β = 0) get a finite TWI;
#: 1e-3 is a drop of 3 cm over a 30 m pixel, below the vertical accuracy of the DEM.
TAN_SLOPE_FLOOR = 1e-3


# (row offset, column offset, pyflwdir D8 code) of the eight neighbours.
_D8_NEIGHBOURS = (
    (-1, -1, 32), (-1, 0, 64), (-1, 1, 128), (0, -1, 16),
    (0, 1, 1), (1, -1, 8), (1, 0, 4), (1, 1, 2),
)
_D8_PIT = np.uint8(0)
_D8_NODATA = np.uint8(247)

#: Units and long names of the layers computed here: the predictor channels' from their table, and the others.
_ATTRS = {name: (CHANNEL_UNITS[name], CHANNEL_LONG_NAMES[name]) for name in TERRAIN_CHANNELS} | {
    "aspect": ("degree", "aspect: azimuth of the downslope direction, clockwise from north"),
    "flow_accumulation": ("m2", "upstream area, D8 on the depression-filled DEM"),
    "streams": ("1", "stream pixels: upstream area at or above the threshold"),
}


# ---------------------------------------------------------------------------------------
# DataArray in and out
# ---------------------------------------------------------------------------------------
def _pixel_size(dem: xr.DataArray) -> float:
    """Check that ``dem`` is a north-up (y, x) raster of square pixels; return the pixel (m)."""
    if dem.dims != ("y", "x") or min(dem.shape) < 2:
        raise GridMismatchError(describe(
            "a DEM must be a 2-D DataArray with dims ('y', 'x'), at least 2 x 2 pixels",
            source=str(dem.name), expected="dims ('y', 'x')",
            found=f"dims {dem.dims}, shape {dem.shape}", fix="transpose or select a band"))
    dx = float(dem["x"][1] - dem["x"][0])
    dy = float(dem["y"][1] - dem["y"][0])
    if dx <= 0 or dy >= 0:
        raise GridMismatchError(describe(
            "a DEM must be north-up: x increasing, y decreasing", source=str(dem.name),
            found=f"x step {dx}, y step {dy}",
            fix="dem.sortby('x').sortby('y', ascending=False)"))
    if not np.isclose(dx, -dy, rtol=1e-6):
        raise GridMismatchError(describe(
            "terrain derivatives need square pixels", source=str(dem.name),
            expected="|dx| == |dy|", found=f"dx={dx}, dy={dy}",
            fix="resample the DEM onto the grid with hazardcore.grid.to_grid"))
    return dx


def _values(dem: xr.DataArray) -> tuple[np.ndarray, float]:
    """Return the DEM as a float32 array (a copy) and its pixel size (m)."""
    pixel = _pixel_size(dem)
    return np.array(dem.values, dtype=np.float32), pixel


def _wrap(dem: xr.DataArray, data: np.ndarray, name: str) -> xr.DataArray:
    """Put ``data`` on the DEM's coords (CRS included), named and with units/long_name."""
    units, long_name = _ATTRS[name]
    out = dem.copy(data=data).rename(name)
    out.attrs.update(units=units, long_name=long_name)
    return out


def _transform(dem: xr.DataArray) -> Affine:
    """Return the affine transform (pixel corner origin) from the pixel-centre coords."""
    x, y = dem["x"].values, dem["y"].values
    dx, dy = float(x[1] - x[0]), float(y[1] - y[0])
    return Affine(dx, 0.0, float(x[0]) - dx / 2, 0.0, dy, float(y[0]) - dy / 2)


# ---------------------------------------------------------------------------------------
# 3×3 stencils on numpy arrays
# ---------------------------------------------------------------------------------------
def _pad(z: np.ndarray, mode: str = "edge") -> np.ndarray:
    """Pad by one pixel: ``edge`` replicates the border, ``nan`` pads with NaN."""
    if mode == "nan":
        return np.pad(z, 1, mode="constant", constant_values=np.nan)
    return np.pad(z, 1, mode="edge")


def _shift(zp: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """View of the padded array ``zp`` holding each pixel's neighbour at (dr, dc)."""
    n_rows, n_cols = zp.shape[0] - 2, zp.shape[1] - 2
    return zp[1 + dr : 1 + dr + n_rows, 1 + dc : 1 + dc + n_cols]


def _horn_gradient(zp: np.ndarray, pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """Horn's gradient (p = dz/dx east, q = dz/dy north) of an edge-padded DEM.

    Parameters
    ----------
    zp
        DEM padded by one pixel (float32), row 0 north.
    pixel
        Pixel size (m).

    Returns
    -------
    tuple of numpy.ndarray
        ``(p, q)`` in m/m, float32; NaN where the 3×3 window holds a NaN.
    """
    a, b, c = _shift(zp, -1, -1), _shift(zp, -1, 0), _shift(zp, -1, 1)
    d, e, f = _shift(zp, 0, -1), _shift(zp, 0, 0), _shift(zp, 0, 1)
    g, h, i = _shift(zp, 1, -1), _shift(zp, 1, 0), _shift(zp, 1, 1)
    p = f - d
    p *= 2
    p += c - a
    p += i - g
    q = b - h
    q *= 2
    q += a - g
    q += c - i
    scale = np.float32(1.0 / (8.0 * pixel))
    p *= scale
    q *= scale
    centre_nan = np.isnan(e)  # Horn skips the centre; nodata there still voids the pixel
    p[centre_nan] = np.nan
    q[centre_nan] = np.nan
    return p, q


def _horn(dem: xr.DataArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horn gradient (p east, q north) of a DEM and its magnitude tan(slope), float32."""
    z, pixel = _values(dem)
    p, q = _horn_gradient(_pad(z), pixel)
    return p, q, np.hypot(p, q)


def _slope_deg(tan_slope: np.ndarray) -> np.ndarray:
    """Slope angle (degrees) from its tangent, the gradient magnitude hypot(p, q)."""
    out = np.arctan(tan_slope)
    return np.degrees(out, out=out)


def _aspect_deg(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Azimuth (degrees clockwise from north, [0, 360)) of the downslope direction (-p, -q)."""
    out = np.degrees(np.arctan2(-p, -q))
    out[out < 0] += np.float32(360.0)
    out[out >= 360.0] = 0.0  # -tiny + 360 rounds to 360 in float32
    out[(p == 0) & (q == 0)] = np.nan
    return out


def _northness_eastness(p: np.ndarray, q: np.ndarray,
                        norm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of the aspect: the unit downslope vector (north, east); 0 on flats.

    ``norm`` is the gradient magnitude hypot(p, q).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        north = -q / norm
        east = -p / norm
    flat = norm == 0
    north[flat] = 0.0
    east[flat] = 0.0
    return north, east


def _zt_term(zp: np.ndarray, pixel: float, term: str) -> np.ndarray:
    """One Zevenbergen-Thorne derivative of an edge-padded DEM (x east, y north, float32).

    ``term`` is ``p`` = dz/dx, ``q`` = dz/dy, ``r`` = d²z/dx², ``t`` = d²z/dy² or
    ``s`` = d²z/dxdy. Neighbours are differenced before they are summed, so that float32
    keeps its precision on high elevations.
    """
    if term == "p":
        return (_shift(zp, 0, 1) - _shift(zp, 0, -1)) * np.float32(0.5 / pixel)
    if term == "q":  # row -1 lies north of the centre
        return (_shift(zp, -1, 0) - _shift(zp, 1, 0)) * np.float32(0.5 / pixel)
    if term in ("r", "t"):
        dr, dc = (0, 1) if term == "r" else (1, 0)
        centre = _shift(zp, 0, 0)
        out = _shift(zp, dr, dc) - centre
        out += _shift(zp, -dr, -dc) - centre
        out *= np.float32(1.0 / pixel**2)
        return out
    out = _shift(zp, -1, 1) - _shift(zp, -1, -1)  # north row: NE - NW
    out -= _shift(zp, 1, 1) - _shift(zp, 1, -1)  # minus south row: SE - SW
    out *= np.float32(0.25 / pixel**2)
    return out


def _curvatures(zp: np.ndarray, pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """Profile and planar curvature (1/m, positive convex) of an edge-padded DEM.

    The numerators p²r + 2pqs + q²t and q²r - 2pqs + p²t are accumulated one second
    derivative at a time, so that at most seven full-size arrays are alive at once.

    Returns
    -------
    tuple of numpy.ndarray
        ``(profile, planar)`` float32; 0 where the gradient is 0.
    """
    p, q = _zt_term(zp, pixel, "p"), _zt_term(zp, pixel, "q")
    profile, planar = p * p, q * q
    grad2 = profile + planar
    r = _zt_term(zp, pixel, "r")
    profile *= r  # p²r
    planar *= r  # q²r
    t = _zt_term(zp, pixel, "t")
    np.multiply(p, p, out=r)  # r is reused as scratch from here
    r *= t
    planar += r  # + p²t
    np.multiply(q, q, out=r)
    r *= t
    profile += r  # + q²t
    del t
    np.multiply(_zt_term(zp, pixel, "s"), p, out=r)
    r *= q
    r *= 2
    profile += r  # + 2pqs
    planar -= r  # - 2pqs
    del p, q
    np.add(grad2, 1, out=r)
    with np.errstate(invalid="ignore", divide="ignore"):
        profile /= np.power(r, 1.5, out=r) * grad2
        planar /= np.power(grad2, 1.5, out=r)
    flat = grad2 == 0
    profile[flat] = 0.0
    planar[flat] = 0.0
    return np.negative(profile, out=profile), np.negative(planar, out=planar)


# ---------------------------------------------------------------------------------------
# Flow routing on numpy arrays
# ---------------------------------------------------------------------------------------
def _filled(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depression-filled DEM and priority-flood D8 directions (pyflwdir).

    The DEM is first shifted into [R, 2R] (R its relief): there every difference of two
    elevations is exact in float32 (Sterbenz), so filled flats are exactly flat and the
    directions derived from them cannot form loops.
    """
    low, high = float(np.nanmin(z)), float(np.nanmax(z))
    relief = np.float32(max(high - low, 1.0))
    shifted = z - np.float32(low)
    shifted += relief
    filled, d8 = pyflwdir.dem.fill_depressions(shifted, nodata=np.nan, outlets="edge")
    return filled, d8


def _steepest_d8(zp: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Steepest-descent D8 codes of a NaN-padded DEM; ``fallback`` where none is lower.

    A pixel on the raster border may not drain to another border pixel (water leaves
    the map there instead of running along its edge).
    """
    filled = _shift(zp, 0, 0)
    border = np.ones(zp.shape, dtype=bool)
    border[2:-2, 2:-2] = False
    on_border = _shift(border, 0, 0)
    best = np.zeros(filled.shape, dtype=np.float32)
    drop = np.empty_like(best)
    d8 = fallback
    for dr, dc, code in _D8_NEIGHBOURS:
        np.subtract(filled, _shift(zp, dr, dc), out=drop)  # NaN neighbour: never lower
        if dr and dc:
            drop *= np.float32(1 / np.sqrt(2))
        steeper = drop > best
        steeper &= ~(on_border & _shift(border, dr, dc))
        np.copyto(best, drop, where=steeper)
        np.copyto(d8, np.uint8(code), where=steeper)
    return d8


def _flow_directions(z: np.ndarray) -> np.ndarray:
    """D8 flow directions (pyflwdir codes, 247 = nodata) of a DEM with NaN nodata."""
    filled, d8 = _filled(z)
    zp = _pad(filled, "nan")
    del filled
    for edge in (d8[0], d8[-1], d8[:, 0], d8[:, -1]):  # border pixels drain off the map
        edge[edge != _D8_NODATA] = _D8_PIT  # unless a lower pixel lies inwards
    return _steepest_d8(zp, d8)


def _upstream_area(z: np.ndarray, transform: Affine, pixel: float) -> np.ndarray:
    """Upstream area (m², the pixel included; NaN at nodata) of a DEM array."""
    if not np.isfinite(z).any():
        return np.full(z.shape, np.nan, dtype=np.float32)
    d8 = _flow_directions(z)
    flw = pyflwdir.from_array(d8, ftype="d8", check_ftype=False,
                              transform=transform, latlon=False)
    del d8
    flw.order_cells(method="sort")  # half the memory of the default "walk" order
    cells = flw.upstream_area(unit="cell")  # int32, -9999 at nodata
    del flw
    area = cells.astype(np.float32)
    area *= np.float32(pixel * pixel)
    area[cells < 0] = np.nan
    return area


def _stream_distance(stream: np.ndarray, z: np.ndarray, pixel: float) -> np.ndarray:
    """Euclidean distance (m) to the nearest True pixel of ``stream``; NaN at nodata."""
    if not stream.any():
        warnings.warn("no stream pixel: distance to river is NaN everywhere; "
                      "lower threshold_m2 or use a larger DEM", RuntimeWarning, stacklevel=3)
        return np.full(z.shape, np.nan, dtype=np.float32)
    nearest = ndimage.distance_transform_edt(~stream, sampling=pixel, return_distances=False,
                                             return_indices=True)
    rows = np.arange(z.shape[0], dtype=np.int32)[:, None]
    cols = np.arange(z.shape[1], dtype=np.int32)[None, :]
    dy = (nearest[0] - rows).astype(np.float32)
    dx = (nearest[1] - cols).astype(np.float32)
    del nearest
    dist = np.hypot(dx, dy)
    dist *= np.float32(pixel)
    dist[np.isnan(z)] = np.nan
    return dist


def _twi(area: np.ndarray, tan_slope: np.ndarray, pixel: float) -> np.ndarray:
    """ln(a / tan β) with a = area / pixel width (m) and tan β floored at TAN_SLOPE_FLOOR."""
    out = area / np.float32(pixel)
    out /= np.maximum(tan_slope, np.float32(TAN_SLOPE_FLOOR))
    return np.log(out)


# ---------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------
def slope(dem: xr.DataArray) -> xr.DataArray:
    """Slope angle from Horn's 3×3 finite differences.

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.

    Returns
    -------
    xarray.DataArray
        Slope (degrees, in [0, 90)), float32; NaN where the 3×3 window holds a NaN.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    _, _, tan_slope = _horn(dem)
    return _wrap(dem, _slope_deg(tan_slope), "slope")


def aspect(dem: xr.DataArray) -> xr.DataArray:
    """Aspect: azimuth of the downslope direction, clockwise from north.

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.

    Returns
    -------
    xarray.DataArray
        Aspect (degrees in [0, 360); a plane falling to the east has 90), float32;
        NaN on flat pixels (gradient 0) and where the 3×3 window holds a NaN.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    p, q, _ = _horn(dem)
    return _wrap(dem, _aspect_deg(p, q), "aspect")


def northness(dem: xr.DataArray) -> xr.DataArray:
    """Northness, the cosine of the aspect (1 for a slope facing north, -1 facing south).

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.

    Returns
    -------
    xarray.DataArray
        cos(aspect) in [-1, 1], float32; 0 on flat pixels.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    north, _ = _northness_eastness(*_horn(dem))
    return _wrap(dem, north, "northness")


def eastness(dem: xr.DataArray) -> xr.DataArray:
    """Eastness, the sine of the aspect (1 for a slope facing east, -1 facing west).

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.

    Returns
    -------
    xarray.DataArray
        sin(aspect) in [-1, 1], float32; 0 on flat pixels.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    _, east = _northness_eastness(*_horn(dem))
    return _wrap(dem, east, "eastness")


def profile_curvature(dem: xr.DataArray) -> xr.DataArray:
    """Profile curvature (along the slope line), Zevenbergen-Thorne.

    k_p = -(p²r + 2pqs + q²t) / ((p²+q²)(1+p²+q²)^{3/2}) with p = dz/dx (east),
    q = dz/dy (north), r, s, t the second derivatives.

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.

    Returns
    -------
    xarray.DataArray
        Profile curvature (1/m), float32: positive = convex (slope steepening downhill,
        dome, ridge), negative = concave (bowl, valley); negating the DEM flips the sign.
        0 where the gradient is 0.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    z, pixel = _values(dem)
    profile, _ = _curvatures(_pad(z), pixel)
    return _wrap(dem, profile, "profile_curvature")


def planar_curvature(dem: xr.DataArray) -> xr.DataArray:
    """Planar (contour) curvature, Zevenbergen-Thorne.

    k_c = -(q²r - 2pqs + p²t) / (p²+q²)^{3/2} with p = dz/dx (east), q = dz/dy (north),
    r, s, t the second derivatives.

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.

    Returns
    -------
    xarray.DataArray
        Planar curvature (1/m), float32: positive = convex (contours bulge downhill,
        ridge, flow diverges), negative = concave (valley, hollow, flow converges);
        negating the DEM flips the sign. 0 where the gradient is 0.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    z, pixel = _values(dem)
    _, planar = _curvatures(_pad(z), pixel)
    return _wrap(dem, planar, "planar_curvature")


def flow_accumulation(dem: xr.DataArray) -> xr.DataArray:
    """Upstream area from D8 flow directions on the depression-filled DEM (pyflwdir).

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.

    Returns
    -------
    xarray.DataArray
        Upstream area (m²) including the pixel itself, float32; NaN at nodata pixels.
        Pixels on the raster border and next to nodata are outlets.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    z, pixel = _values(dem)
    return _wrap(dem, _upstream_area(z, _transform(dem), pixel), "flow_accumulation")


def streams(dem: xr.DataArray, threshold_m2: float = STREAM_THRESHOLD_M2) -> xr.DataArray:
    """Stream pixels: upstream area at or above a channel-initiation threshold.

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.
    threshold_m2
        Upstream area (m²) from which a pixel is a stream; see ``STREAM_THRESHOLD_M2``.

    Returns
    -------
    xarray.DataArray
        Boolean stream mask (False at nodata).

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    z, pixel = _values(dem)
    area = _upstream_area(z, _transform(dem), pixel)
    return _wrap(dem, area >= threshold_m2, "streams")


def distance_to_river(dem: xr.DataArray,
                      threshold_m2: float = STREAM_THRESHOLD_M2) -> xr.DataArray:
    """Euclidean distance to the nearest stream pixel (scipy's exact distance transform).

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.
    threshold_m2
        Upstream area (m²) from which a pixel is a stream; see ``STREAM_THRESHOLD_M2``.

    Returns
    -------
    xarray.DataArray
        Distance (m) between pixel centres, 0 on streams, float32; NaN at nodata pixels,
        and everywhere (with a RuntimeWarning) when no pixel reaches the threshold.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    z, pixel = _values(dem)
    stream = _upstream_area(z, _transform(dem), pixel) >= threshold_m2
    return _wrap(dem, _stream_distance(stream, z, pixel), "distance_to_river")


def twi(dem: xr.DataArray) -> xr.DataArray:
    """Topographic wetness index ln(a / tan β).

    a is the specific catchment area, the upstream area (m², D8) divided by the pixel
    width (m); β is the Horn slope, with tan β floored at ``TAN_SLOPE_FLOOR`` (1e-3) so
    that flats get a finite value.

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.

    Returns
    -------
    xarray.DataArray
        TWI (dimensionless, ln of metres), float32; NaN where the slope or the upstream
        area is NaN.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    z, pixel = _values(dem)
    area = _upstream_area(z, _transform(dem), pixel)
    _, _, tan_slope = _horn(dem)
    return _wrap(dem, _twi(area, tan_slope, pixel), "twi")


def terrain_channels(dem: xr.DataArray,
                     threshold_m2: float = STREAM_THRESHOLD_M2) -> xr.Dataset:
    """All eight terrain predictor channels, routing the flow once.

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.
    threshold_m2
        Upstream area (m²) from which a pixel is a stream; see ``STREAM_THRESHOLD_M2``.

    Returns
    -------
    xarray.Dataset
        Variables ``TERRAIN_CHANNELS`` in that order, float32, on the DEM's coords,
        each as its own function here returns it.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    z, pixel = _values(dem)
    area = _upstream_area(z, _transform(dem), pixel)  # the one flow routing
    channels = {"distance_to_river": _stream_distance(area >= threshold_m2, z, pixel)}
    zp = _pad(z)
    channels["profile_curvature"], channels["planar_curvature"] = _curvatures(zp, pixel)
    p, q = _horn_gradient(zp, pixel)
    del zp
    tan_slope = np.hypot(p, q)
    channels["northness"], channels["eastness"] = _northness_eastness(p, q, tan_slope)
    del p, q
    channels["twi"] = _twi(area, tan_slope, pixel)
    del area
    channels["slope"] = _slope_deg(tan_slope)
    channels["elevation"] = z
    return xr.Dataset({name: _wrap(dem, channels.pop(name), name)
                       for name in TERRAIN_CHANNELS})


def hillshade(dem: xr.DataArray, azimuth_deg: float = 315.0, altitude_deg: float = 45.0) -> xr.DataArray:
    """Analytical hillshade: the cosine of the angle between the surface normal and the sun.

    With Horn's gradient p = dz/dx (east) and q = dz/dy (north), the unit normal is
    (-p, -q, 1) / sqrt(1 + p² + q²) and the direction to the sun (east, north, up) is
    (cos h sin A, cos h cos A, sin h), A the azimuth clockwise from north and h the altitude;
    the shade is their dot product, clipped at 0 (faces turned away from the sun).

    Parameters
    ----------
    dem
        Elevation (m), dims ``("y", "x")``, square pixels, NaN = nodata.
    azimuth_deg
        Direction the light comes from, degrees clockwise from north (315 = north-west).
    altitude_deg
        Sun elevation above the horizon, degrees (90 = overhead).

    Returns
    -------
    xarray.DataArray
        Illumination in [0, 1] (1 = facing the sun, a flat pixel gets sin h), float32;
        NaN where the 3×3 window holds a NaN.

    Raises
    ------
    GridMismatchError
        If the DEM is not a north-up (y, x) raster of square pixels.
    """
    p, q, tan_slope = _horn(dem)
    azimuth, altitude = np.radians(azimuth_deg), np.radians(altitude_deg)
    light = np.float32(np.cos(altitude))
    shade = np.float32(np.sin(altitude)) - p * (light * np.float32(np.sin(azimuth)))
    shade -= q * (light * np.float32(np.cos(azimuth)))
    shade /= np.sqrt(np.float32(1.0) + tan_slope * tan_slope)
    np.clip(shade, 0.0, 1.0, out=shade)
    out = dem.copy(data=shade.astype(np.float32)).rename("hillshade")
    out.attrs.update(units="1", long_name=f"hillshade (sun from {azimuth_deg:g} deg, {altitude_deg:g} deg high)")
    return out


#: The terrain channels each computed from a pixel's 3 × 3 neighbourhood (a tile needs a one-pixel
#: halo), and those that route the flow over the whole DEM. With ``elevation`` they are every channel
#: of :func:`terrain_channels`; the tiled prepare (:mod:`hazardcore.tiled_cube`) computes them from here.
LOCAL_CHANNELS: dict[str, Callable[[xr.DataArray], xr.DataArray]] = {
    "slope": slope, "northness": northness, "eastness": eastness, "profile_curvature": profile_curvature,
    "planar_curvature": planar_curvature}
FLOW_CHANNELS: dict[str, Callable[[xr.DataArray], xr.DataArray]] = {
    "twi": twi, "distance_to_river": distance_to_river}

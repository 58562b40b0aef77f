"""Tests of hazardcore.terrain against hand computations on analytic surfaces.

Surfaces are sampled at pixel centres x = j·L, y = -i·L (row 0 north) around the centre
pixel, with L = 31.25 m. Horn's and Zevenbergen-Thorne's differences are exact for
planes and quadrics, so those checks use tight tolerances; they are made away from the
raster border, where the replicated edge changes the stencil.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from hazardcore import terrain
from hazardcore.errors import GridMismatchError
from hazardcore.predictors import TERRAIN_CHANNELS

PIXEL = 31.25
Surface = Callable[[np.ndarray, np.ndarray], np.ndarray]
MakeDem = Callable[..., xr.DataArray]


def _grid(n_rows: int, n_cols: int, pixel: float = PIXEL) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y decreasing), with (0, 0) at the centre of the raster."""
    x = (np.arange(n_cols) - (n_cols - 1) / 2) * pixel
    y = ((n_rows - 1) / 2 - np.arange(n_rows)) * pixel
    return y, x


@pytest.fixture
def make_dem() -> MakeDem:
    """Factory: sample ``surface(x, y)`` on an ``n_rows`` × ``n_cols`` float32 DataArray."""

    def make(surface: Surface, n_rows: int = 65, n_cols: int = 65) -> xr.DataArray:
        y, x = _grid(n_rows, n_cols)
        xx, yy = np.meshgrid(x, y)
        z = np.asarray(surface(xx, yy), dtype=np.float32)
        return xr.DataArray(z, dims=("y", "x"), coords={"y": y, "x": x}, name="dem")

    return make


def _interior(a: xr.DataArray | np.ndarray) -> np.ndarray:
    return np.asarray(a)[1:-1, 1:-1]


# --- planes --------------------------------------------------------------------------
# (dz/dx, dz/dy, azimuth of the downslope direction by hand)
PLANES = [
    (-0.32, 0.0, 90.0),  # falls to the east
    (0.0, -0.16, 0.0),  # falls to the north
    (0.0, 0.16, 180.0),  # falls to the south
    (0.08, 0.08, 225.0),  # rises to the north-east, falls to the south-west
    (0.16, -0.32, 360.0 - np.degrees(np.arctan(0.5))),  # falls north-north-west
]


@pytest.mark.parametrize(("a", "b", "azimuth"), PLANES)
def test_plane_slope_aspect_and_zero_curvature(make_dem: MakeDem, a: float, b: float,
                                               azimuth: float) -> None:
    dem = make_dem(lambda x, y: 1000.0 + a * x + b * y)
    expected_slope = np.degrees(np.arctan(np.hypot(a, b)))
    np.testing.assert_allclose(_interior(terrain.slope(dem)), expected_slope, rtol=1e-5)
    np.testing.assert_allclose(_interior(terrain.aspect(dem)), azimuth, atol=1e-3)
    np.testing.assert_allclose(_interior(terrain.northness(dem)),
                               np.cos(np.radians(azimuth)), atol=1e-6)
    np.testing.assert_allclose(_interior(terrain.eastness(dem)),
                               np.sin(np.radians(azimuth)), atol=1e-6)
    np.testing.assert_allclose(_interior(terrain.profile_curvature(dem)), 0.0, atol=1e-9)
    np.testing.assert_allclose(_interior(terrain.planar_curvature(dem)), 0.0, atol=1e-9)


def test_flat_dem_has_nan_aspect_and_zero_northness(make_dem: MakeDem) -> None:
    dem = make_dem(lambda x, y: np.full_like(x, 500.0), 9, 9)
    assert np.all(terrain.slope(dem).values == 0)
    assert np.all(np.isnan(terrain.aspect(dem).values))
    assert np.all(terrain.northness(dem).values == 0)
    assert np.all(terrain.eastness(dem).values == 0)
    assert np.all(terrain.profile_curvature(dem).values == 0)
    assert np.all(terrain.planar_curvature(dem).values == 0)


# --- paraboloid ----------------------------------------------------------------------
# z = c(x² + y²)/2: p = cx, q = cy, r = t = c, s = 0, p² + q² = c²ρ². Hence
#   profile = -(c²x²·c + c²y²·c) / (c²ρ² (1 + c²ρ²)^{3/2}) = -c / (1 + c²ρ²)^{3/2}
#   planar  = -(c²y²·c + c²x²·c) / (c²ρ²)^{3/2}          = -1 / ρ
# both negative: a bowl is concave. Its slope is atan(cρ) (Horn is exact on a quadric).
C = 1.0 / 1024.0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_paraboloid_curvatures(make_dem: MakeDem, sign: float) -> None:
    dem = make_dem(lambda x, y: sign * C * (x**2 + y**2) / 2)
    y, x = _grid(65, 65)
    rho = _interior(np.hypot(*np.meshgrid(x, y)))
    off_centre = rho > 0
    profile = _interior(terrain.profile_curvature(dem))
    planar = _interior(terrain.planar_curvature(dem))
    expected_profile = -C / (1 + C**2 * rho**2) ** 1.5
    np.testing.assert_allclose(profile[off_centre], sign * expected_profile[off_centre],
                               rtol=1e-4)
    np.testing.assert_allclose(planar[off_centre], sign * -1 / rho[off_centre], rtol=1e-4)
    assert profile[~off_centre] == 0 and planar[~off_centre] == 0  # flat apex
    np.testing.assert_allclose(_interior(terrain.slope(dem)),
                               np.degrees(np.arctan(C * rho)), rtol=1e-4, atol=1e-6)


# --- cone ----------------------------------------------------------------------------
def test_cone_slope_and_aspect_towards_apex(make_dem: MakeDem) -> None:
    k = 0.5
    dem = make_dem(lambda x, y: 2000.0 + k * np.hypot(x, y))
    y, x = _grid(65, 65)
    xx, yy = np.meshgrid(x, y)
    away = (np.hypot(xx, yy) >= 8 * PIXEL)[1:-1, 1:-1]
    slope = _interior(terrain.slope(dem))[away]
    # Horn's truncation error on a cone falls as (L/ρ)²: 1.5° at 2 pixels, 0.09° at 8
    np.testing.assert_allclose(slope, np.degrees(np.arctan(k)), atol=0.1)
    towards_apex = np.degrees(np.arctan2(-xx, -yy)) % 360  # azimuth of (-x, -y)
    diff = (_interior(terrain.aspect(dem)) - _interior(towards_apex) + 180) % 360 - 180
    assert np.abs(diff[away]).max() < 0.05
    on_axes = away & ((_interior(xx) == 0) | (_interior(yy) == 0))
    np.testing.assert_allclose(diff[on_axes], 0, atol=1e-3)  # exact by symmetry


# --- V-shaped valley: flow routing, streams, distance --------------------------------
# z = s|x| + g·y with s = 0.5 > (1 + √2)·g: every side pixel's steepest D8 neighbour is
# the next pixel towards the floor in its own row, and the floor (x = 0) drains south.
# Row 0 drains into row 1, the bottom row back into row n-2 (its floor pixel is the
# outlet), so floor row i (1 ≤ i ≤ n-3) collects rows 0..i: (i+1)·n_cols pixels, and the
# outlet collects the whole DEM.
N_ROWS, N_COLS, FLOOR = 64, 65, 32


@pytest.fixture
def valley(make_dem: MakeDem) -> xr.DataArray:
    return make_dem(lambda x, y: 3000.0 + 0.5 * np.abs(x) + 0.1 * y, N_ROWS, N_COLS)


def test_valley_flow_accumulation(valley: xr.DataArray) -> None:
    area = terrain.flow_accumulation(valley).values
    floor = area[:, FLOOR] / PIXEL**2
    assert np.all(np.diff(floor) > 0)  # grows downstream
    rows = np.arange(1, N_ROWS - 2)
    np.testing.assert_allclose(floor[rows], (rows + 1) * N_COLS, rtol=1e-6)
    assert floor[-1] == pytest.approx(N_ROWS * N_COLS, rel=1e-6)  # outlet drains all
    off_floor = np.delete(area, FLOOR, axis=1)
    assert off_floor.max() < terrain.STREAM_THRESHOLD_M2


def test_valley_streams_and_distance(valley: xr.DataArray) -> None:
    first = int(np.ceil(terrain.STREAM_THRESHOLD_M2 / PIXEL**2 / N_COLS)) - 1  # row 3
    expected = np.zeros((N_ROWS, N_COLS), dtype=bool)
    expected[first:, FLOOR] = True
    stream = terrain.streams(valley)
    assert stream.dtype == bool
    np.testing.assert_array_equal(stream.values, expected)

    distance = terrain.distance_to_river(valley).values
    dx = np.abs(valley["x"].values)[None, :]
    dy = np.maximum(first - np.arange(N_ROWS), 0)[:, None] * PIXEL  # rows above the head
    np.testing.assert_allclose(distance, np.hypot(dx, dy), rtol=1e-6)
    assert np.all(distance[first:, FLOOR] == 0)


def test_threshold_moves_the_stream_head(valley: xr.DataArray) -> None:
    stream = terrain.streams(valley, threshold_m2=20 * N_COLS * PIXEL**2).values
    assert stream[:, FLOOR].argmax() == 19
    assert stream.sum() == N_ROWS - 19


# --- TWI on a plane falling due south ------------------------------------------------
# Interior columns drain straight south, so pixel row i collects rows 0..i:
# a = (i+1)·L² / L = (i+1)·L and TWI = ln((i+1)·L / g). Border rows see half the Horn
# gradient (the replicated edge), border columns drain into their inner neighbours.
def test_twi_on_south_facing_plane(make_dem: MakeDem) -> None:
    g, n = 0.16, 32
    dem = make_dem(lambda x, y: 1000.0 + g * y, n, n)
    rows = np.arange(n)[:, None]
    area = terrain.flow_accumulation(dem).values[:, 2:-2]
    np.testing.assert_array_equal(area, np.broadcast_to((rows + 1) * PIXEL**2, area.shape))
    tan_slope = np.where((rows == 0) | (rows == n - 1), g / 2, g)
    expected = np.log((rows + 1) * PIXEL / tan_slope)
    np.testing.assert_allclose(terrain.twi(dem).values[:, 2:-2],
                               np.broadcast_to(expected, (n, n - 4)), rtol=1e-6)


def test_twi_is_finite_on_flats(make_dem: MakeDem) -> None:
    dem = make_dem(lambda x, y: np.full_like(x, 100.0), 12, 12)
    area = terrain.flow_accumulation(dem).values
    expected = np.log(area / PIXEL / terrain.TAN_SLOPE_FLOOR)
    np.testing.assert_allclose(terrain.twi(dem).values, expected, rtol=1e-6)
    assert area.sum() >= dem.size * PIXEL**2  # every pixel drains somewhere


# --- nodata --------------------------------------------------------------------------
def test_nan_voids_its_3x3_neighbourhood_only(make_dem: MakeDem) -> None:
    dem = make_dem(lambda x, y: 1000.0 + 0.1 * x - 0.05 * y + C * x * y, 24, 24)
    dem[10, 15] = np.nan
    dem[0, 4] = np.nan  # on the border: the replicated edge carries it
    expected = np.zeros(dem.shape, dtype=bool)
    expected[9:12, 14:17] = True
    expected[0:2, 3:6] = True
    for func in (terrain.slope, terrain.aspect, terrain.northness, terrain.eastness,
                 terrain.profile_curvature, terrain.planar_curvature):
        np.testing.assert_array_equal(np.isnan(func(dem).values), expected, func.__name__)
    np.testing.assert_array_equal(np.isnan(terrain.twi(dem).values), expected)
    nodata = np.isnan(dem.values)
    np.testing.assert_array_equal(np.isnan(terrain.flow_accumulation(dem).values), nodata)
    distance = terrain.distance_to_river(dem, threshold_m2=10 * PIXEL**2).values
    np.testing.assert_array_equal(np.isnan(distance), nodata)


def test_distance_without_streams_is_nan_with_warning(make_dem: MakeDem) -> None:
    dem = make_dem(lambda x, y: 10.0 + 0.1 * y, 8, 8)
    with pytest.warns(RuntimeWarning, match="no stream"):
        distance = terrain.distance_to_river(dem)
    assert np.all(np.isnan(distance.values))


# --- metadata and the channel stack --------------------------------------------------
@pytest.fixture
def utm_dem() -> xr.DataArray:
    rng = np.random.default_rng(7)
    y, x = _grid(40, 48)
    xx, yy = np.meshgrid(x, y)
    z = 2000 + 0.3 * yy + 40 * np.sin(xx / 300) + rng.normal(0, 1, xx.shape)
    dem = xr.DataArray(z.astype(np.float32), dims=("y", "x"),
                       coords={"y": y + 3_170_000.0, "x": x + 250_000.0})
    return dem.rio.write_crs("EPSG:32645")


PUBLIC = {
    "slope": "degree", "aspect": "degree", "northness": "1", "eastness": "1",
    "profile_curvature": "1/m", "planar_curvature": "1/m", "flow_accumulation": "m2",
    "streams": "1", "distance_to_river": "m", "twi": "1",
}


@pytest.mark.parametrize(("name", "units"), PUBLIC.items())
def test_outputs_keep_coords_crs_and_set_attrs(utm_dem: xr.DataArray, name: str,
                                               units: str) -> None:
    out = getattr(terrain, name)(utm_dem)
    assert out.dims == ("y", "x") and out.name == name
    assert out.dtype == (bool if name == "streams" else np.float32)
    assert out.attrs["units"] == units and out.attrs["long_name"]
    assert out.rio.crs.to_epsg() == 32645
    xr.testing.assert_equal(out["x"], utm_dem["x"])
    xr.testing.assert_equal(out["y"], utm_dem["y"])


def test_terrain_channels_match_the_single_functions(utm_dem: xr.DataArray) -> None:
    threshold = 20 * PIXEL**2
    ds = terrain.terrain_channels(utm_dem, threshold_m2=threshold)
    assert tuple(ds.data_vars) == TERRAIN_CHANNELS
    assert ds.rio.crs.to_epsg() == 32645
    for name in TERRAIN_CHANNELS:
        assert ds[name].dtype == np.float32 and ds[name].attrs["units"]
    assert ds["elevation"].attrs["units"] == "m"
    np.testing.assert_array_equal(ds["elevation"].values, utm_dem.values)
    assert ds["distance_to_river"].min() == 0
    for name in ("slope", "northness", "eastness", "profile_curvature", "planar_curvature",
                 "twi"):
        np.testing.assert_array_equal(ds[name].values, getattr(terrain, name)(utm_dem).values)
    np.testing.assert_array_equal(ds["distance_to_river"].values,
                                  terrain.distance_to_river(utm_dem, threshold).values)
    assert np.all((ds["slope"] >= 0) & (ds["slope"] < 90))


def test_rejects_bad_layouts(utm_dem: xr.DataArray) -> None:
    with pytest.raises(GridMismatchError, match="dims"):
        terrain.slope(utm_dem.transpose("x", "y"))
    with pytest.raises(GridMismatchError, match="north-up"):
        terrain.slope(utm_dem.sortby("y"))
    stretched = utm_dem.assign_coords(y=utm_dem["y"] * 2)
    with pytest.raises(GridMismatchError, match="square"):
        terrain.slope(stretched)


def test_the_tiled_prepare_computes_every_terrain_channel() -> None:
    """Local (3 × 3) and flow-routing channels, with elevation, are all of the table's terrain channels."""
    assert {*terrain.LOCAL_CHANNELS, *terrain.FLOW_CHANNELS, "elevation"} == set(TERRAIN_CHANNELS)

"""Tests of hazardcore.terrain.hillshade against a hand computation on tilted planes.

For a plane the Horn gradient is exact away from the raster border (where the replicated
edge halves the difference), so the interior must match the textbook formula
cos(zenith)·cos(slope) + sin(zenith)·sin(slope)·cos(azimuth − aspect), computed here by
hand from the plane's slope angle and the azimuth of its downslope direction.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hazardcore import terrain
from hazardcore.errors import GridMismatchError

PIXEL = 31.25


def plane(dz_dx: float, dz_dy: float, n: int = 9) -> xr.DataArray:
    """A plane z = 1000 + dz_dx·x + dz_dy·y sampled at pixel centres (row 0 north)."""
    x = np.arange(n) * PIXEL
    y = (n - 1 - np.arange(n)) * PIXEL
    xx, yy = np.meshgrid(x, y)
    z = (1000.0 + dz_dx * xx + dz_dy * yy).astype(np.float32)
    return xr.DataArray(z, dims=("y", "x"), coords={"y": y, "x": x}, name="dem", attrs={"units": "m"})


def by_hand(slope_deg: float, aspect_deg: float, azimuth_deg: float, altitude_deg: float) -> float:
    zenith = np.radians(90.0 - altitude_deg)
    slope = np.radians(slope_deg)
    value = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(
        np.radians(azimuth_deg - aspect_deg))
    return float(max(value, 0.0))


# (dz/dx, dz/dy, slope by hand, downslope azimuth by hand)
PLANES = [
    (np.tan(np.radians(30.0)), 0.0, 30.0, 270.0),  # rises to the east, faces west
    (0.0, -np.tan(np.radians(20.0)), 20.0, 0.0),  # falls to the north, faces north
    (-0.5, 0.5, np.degrees(np.arctan(np.sqrt(0.5))), 135.0),  # falls to the south-east
]


@pytest.mark.parametrize(("dz_dx", "dz_dy", "slope_deg", "aspect_deg"), PLANES)
@pytest.mark.parametrize(("azimuth", "altitude"), [(315.0, 45.0), (270.0, 30.0), (90.0, 60.0)])
def test_tilted_plane_matches_hand_computation(dz_dx: float, dz_dy: float, slope_deg: float, aspect_deg: float,
                                              azimuth: float, altitude: float) -> None:
    shade = terrain.hillshade(plane(dz_dx, dz_dy), azimuth_deg=azimuth, altitude_deg=altitude)
    expected = by_hand(slope_deg, aspect_deg, azimuth, altitude)
    np.testing.assert_allclose(shade.values[1:-1, 1:-1], expected, atol=2e-5)


def test_facing_the_sun_is_one_and_flat_is_sin_altitude() -> None:
    # a 45° slope facing west, lit from the west 45° high: normal and sun coincide
    facing = terrain.hillshade(plane(1.0, 0.0), azimuth_deg=270.0, altitude_deg=45.0)
    np.testing.assert_allclose(facing.values[1:-1, 1:-1], 1.0, atol=1e-5)
    flat = terrain.hillshade(plane(0.0, 0.0), altitude_deg=30.0)
    np.testing.assert_allclose(flat.values, 0.5, atol=1e-6)


def test_keeps_coords_sets_attrs_and_propagates_nan() -> None:
    dem = plane(0.1, 0.2)
    dem.values[4, 4] = np.nan
    shade = terrain.hillshade(dem)
    assert shade.dtype == np.float32 and shade.name == "hillshade" and shade.attrs["units"] == "1"
    np.testing.assert_array_equal(shade["x"].values, dem["x"].values)
    assert np.isnan(shade.values[3:6, 3:6]).all()
    assert np.isfinite(shade.values[0, 0]) and np.nanmin(shade.values) >= 0.0


def test_refuses_a_dem_that_is_not_north_up() -> None:
    with pytest.raises(GridMismatchError):
        terrain.hillshade(plane(0.1, 0.1).isel(y=slice(None, None, -1)))

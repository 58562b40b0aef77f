import numpy as np
import pytest
import xarray as xr

from hazardcore.errors import CoverageError, CRSError, GridMismatchError
from hazardcore.grid import GridSpec, assert_on_grid, to_grid


def make_grid() -> GridSpec:
    return GridSpec(crs="EPSG:32645", x_min=400000.0, y_max=3100000.0, n_rows=2, n_cols=3)


def test_lattices_and_transform() -> None:
    grid = make_grid()
    assert grid.pixel_size_m == 31.25
    assert grid.shape("30m") == (64, 96) and grid.shape("1km") == (2, 3)
    coords = grid.coords("30m")
    assert coords["x"][0] == 400015.625 and coords["y"][0] == 3099984.375
    assert grid.bounds == (400000.0, 3098000.0, 403000.0, 3100000.0)
    transform = grid.transform("1km")
    assert (transform.c, transform.f, transform.a, transform.e) == (400000.0, 3100000.0, 1000.0, -1000.0)


def test_geographic_grid_refused() -> None:
    with pytest.raises(CRSError, match="projected"):
        GridSpec(crs="EPSG:4326", x_min=85.0, y_max=28.0, n_rows=2, n_cols=2)


def coarse_layer(offset_m: float, crs: str | None = "EPSG:32645") -> xr.DataArray:
    """A plane v = x/1000 (km) on a 500 m lattice offset from the grid."""
    x = 399000.0 + offset_m + 500.0 * (np.arange(12) + 0.5)
    y = 3101000.0 - offset_m - 500.0 * (np.arange(8) + 0.5)
    values = np.broadcast_to((x / 1000.0)[None, :], (len(y), len(x))).astype("float32")
    da = xr.DataArray(values.copy(), dims=("y", "x"), coords={"y": y, "x": x})
    return da.rio.write_crs(crs) if crs else da


def test_to_grid_bilinear_preserves_a_plane() -> None:
    grid = make_grid()
    out = to_grid(coarse_layer(130.0), grid, "30m")
    assert_on_grid(out, grid, "30m")
    expected = grid.coords("30m")["x"] / 1000.0
    # bilinear interpolation reproduces a linear field exactly (up to float32)
    np.testing.assert_allclose(out.values, np.broadcast_to(expected, out.shape), atol=2e-3)


def test_to_grid_errors() -> None:
    grid = make_grid()
    with pytest.raises(CRSError, match="no CRS"):
        to_grid(coarse_layer(0.0, crs=None), grid)
    small = coarse_layer(0.0).isel(x=slice(0, 4))
    with pytest.raises(CoverageError, match="does not cover"):
        to_grid(small, grid)
    with pytest.raises(GridMismatchError):
        assert_on_grid(coarse_layer(0.0), grid, "1km")

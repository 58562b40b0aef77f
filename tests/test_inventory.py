import datetime as dt

import numpy as np
import pytest
import xarray as xr

from hazardcore.errors import InvalidValueError, InventoryError
from hazardcore.inventory import new_landslide_density, presence
from hazardcore.slices import SliceSpec

D = dt.date
SLICES = [SliceSpec("a", D(2015, 4, 1), D(2015, 6, 15)), SliceSpec("b", D(2015, 6, 15), D(2015, 11, 15))]
DATES = [D(2015, 4, 1), D(2015, 6, 15), D(2015, 11, 15)]


def cumulative(values: list[list[float]]) -> xr.DataArray:
    data = np.array(values, dtype="float32")[:, :, None]  # (band, y=cells, x=1)
    return xr.DataArray(data, dims=("band", "y", "x"),
                        coords={"band": np.arange(1, len(data) + 1), "y": np.arange(data.shape[1]), "x": [0]})


def test_differencing_hand_computed() -> None:
    # cell 0: old scar 5000, +20000, then recovery -5000 ; cell 1: nothing then +10000 ; cell 2: nodata later
    areas = cumulative([[5000, 0, 0], [25000, 0, 100], [20000, 10000, np.nan]])
    density = new_landslide_density(areas, DATES, SLICES, 1e6)
    np.testing.assert_allclose(density.sel(slice="a").values[:, 0], [2.0, 0.0, 0.01])
    np.testing.assert_allclose(density.sel(slice="b").values[:2, 0], [0.0, 1.0])
    assert np.isnan(density.sel(slice="b").values[2, 0])
    assert density.attrs["units"] == "%"
    pres = presence(density)
    np.testing.assert_array_equal(pres.sel(slice="a").values[:, 0], [1.0, 0.0, 1.0])


def test_without_baseline_band_starts_from_zero() -> None:
    areas = cumulative([[3000, 3000], [1000, 500]])
    density = new_landslide_density(areas, DATES[1:], SLICES, 1e6)
    np.testing.assert_allclose(density.values[:, :, 0], [[0.3, 0.3], [0.0, 0.0]])


def test_dates_must_increase() -> None:
    with pytest.raises(InventoryError, match="not increasing"):
        new_landslide_density(cumulative([[0, 0, 0]]), [DATES[0], DATES[2], DATES[1]], SLICES, 1e6)


def test_dates_must_match_slices() -> None:
    with pytest.raises(InventoryError, match="does not end on a mapping date"):
        new_landslide_density(cumulative([[0, 0, 0]]), [DATES[0], DATES[1], D(2015, 12, 1)], SLICES, 1e6)
    with pytest.raises(InventoryError, match="do not match the slices"):
        new_landslide_density(cumulative([[0]]), DATES[:1], SLICES, 1e6)


@pytest.mark.parametrize(("value", "what"), [(-1.0, "negative"), (1.5e6, "above the cell area")])
def test_impossible_areas(value: float, what: str) -> None:
    with pytest.raises(InvalidValueError, match=what) as info:
        new_landslide_density(cumulative([[0], [value], [0]]), DATES, SLICES, 1e6, source="inv.tif")
    assert "inv.tif" in str(info.value) and "band 2" in str(info.value)

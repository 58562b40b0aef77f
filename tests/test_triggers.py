import datetime as dt

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hazardcore.errors import CoverageError, UnitError
from hazardcore.slices import EventSpec, SliceSpec
from hazardcore.triggers import (
    monsoon_counts,
    pga_statistics,
    pga_to_ms2,
    rain_slice_statistics,
    rain_to_mm_day,
    slice_seasons,
)

D = dt.date


def test_pga_units() -> None:
    da = xr.DataArray(np.array([0.5, 1.0], dtype="float32"))
    np.testing.assert_allclose(pga_to_ms2(da, "g", "f").values, [4.903325, 9.80665], rtol=1e-6)
    np.testing.assert_allclose(pga_to_ms2(da, "%g", "f").values, [0.04903325, 0.0980665], rtol=1e-6)
    with pytest.raises(UnitError, match="PGA unit"):
        pga_to_ms2(da, None, "f")
    with pytest.raises(UnitError, match="gal"):
        pga_to_ms2(da, "gal", "f")
    assert float(rain_to_mm_day(da, "m/day", "r")[1]) == 1000.0


def test_pga_max_and_std() -> None:
    a = xr.DataArray(np.array([1.0, 4.0], dtype="float32"), dims="x")
    b = xr.DataArray(np.array([3.0, 2.0], dtype="float32"), dims="x")
    pga_max, pga_std = pga_statistics([a, b])
    np.testing.assert_allclose(pga_max.values, [3.0, 4.0])
    np.testing.assert_allclose(pga_std.values, [1.0, 1.0])


def rain_series(start: str, end: str) -> xr.DataArray:
    days = pd.date_range(start, end, freq="D")
    values = np.arange(len(days), dtype="float32")[:, None, None] * np.array([[1.0, 2.0]])[None]
    da = xr.DataArray(values, dims=("time", "y", "x"), coords={"time": days, "y": [0.0], "x": [0.0, 1.0]})
    return da.rio.write_crs("EPSG:32645")


def test_rain_statistics_by_hand() -> None:
    rain = rain_series("2015-01-01", "2015-01-31")
    slices = [SliceSpec("a", D(2015, 1, 1), D(2015, 1, 11)), SliceSpec("b", D(2015, 1, 11), D(2015, 1, 31))]
    stats = rain_slice_statistics(rain, slices)
    # slice a holds Jan 2..11 = values 1..10 ; slice b Jan 12..31 = 11..30
    np.testing.assert_allclose(stats["rain_max"].values[:, 0, :], [[10, 20], [30, 60]])
    expected_span = np.percentile(np.arange(1, 11), 97.5) - np.percentile(np.arange(1, 11), 2.5)
    np.testing.assert_allclose(stats["rain_span95"].values[0, 0, 0], expected_span, rtol=1e-6)


def test_rain_gap_is_an_error() -> None:
    rain = rain_series("2015-01-01", "2015-01-31")
    rain = rain.isel(time=np.arange(31) != 20)  # drop Jan 21
    with pytest.raises(CoverageError, match="1 days missing, first 2015-01-21"):
        rain_slice_statistics(rain, [SliceSpec("a", D(2015, 1, 1), D(2015, 1, 31))], "rain.nc")


def test_monsoon_counts_match_method() -> None:
    ends = [D(2015, 6, 15), D(2015, 11, 15), D(2016, 5, 15), D(2016, 11, 15), D(2017, 5, 15),
            D(2017, 11, 15), D(2018, 5, 15), D(2018, 11, 15)]
    starts = [D(2015, 4, 1), *ends[:-1]]
    slices = [SliceSpec(str(i), s, e) for i, (s, e) in enumerate(zip(starts, ends, strict=True))]
    counts = monsoon_counts(slices, [EventSpec("mainshock", D(2015, 4, 25))])
    np.testing.assert_array_equal(counts, [0, 1, 1, 2, 2, 3, 3, 4])
    slices[0] = SliceSpec("0", starts[0], ends[0], monsoons=5)
    assert monsoon_counts(slices, [])[0] == 5


def test_slice_seasons_of_the_default_region() -> None:
    from hazardcore.synthetic import MONSOONS

    assert slice_seasons(MONSOONS).tolist() == ["co-seismic"] + ["post-monsoon", "pre-monsoon"] * 3 + [
        "post-monsoon"]


def test_slices_go_through_the_cube_and_back_unchanged() -> None:
    from hazardcore.slices import from_iso_pairs, iso_pairs

    slices = [SliceSpec("2015-co", dt.date(2015, 4, 25), dt.date(2015, 6, 10), 0),
              SliceSpec("2015-post", dt.date(2015, 6, 11), dt.date(2015, 11, 30), 1)]
    stored = iso_pairs(slices)
    assert stored == [["2015-04-25", "2015-06-10"], ["2015-06-11", "2015-11-30"]]
    assert from_iso_pairs([s.label for s in slices], stored, [0, 1]) == slices
    with pytest.raises(ValueError, match="2 slice labels but 1 date pairs"):
        from_iso_pairs(["a", "b"], stored[:1])

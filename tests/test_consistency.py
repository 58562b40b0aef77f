"""Real files lie (issue 22): each kind of input built as real files come (GDAL tags through
rasterio, CF attributes through netCDF, pandas CSVs), with the right numbers or the error text."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import builders
import numpy as np
import pandas as pd
import pytest
import rasterio
import rioxarray
import xarray as xr

from hazardcore.catalog import load_catalog, open_rainfall, open_raster
from hazardcore.consistency import cf_days, local_days
from hazardcore.cube import PreparedCube
from hazardcore.errors import CatalogError, CoverageError, IntegrityError, InvalidValueError, MetadataConflictError
from hazardcore.prepare import prepare
from hazardcore.units import canonical


def write_tif(path: Path, values: np.ndarray, like: Path, *, dtype: str | None = None, nodata: float | None = None,
              units: str | None = None, scale: float | None = None, offset: float | None = None,
              descriptions: list[str] | None = None, tags: dict[str, str] | None = None) -> Path:
    """A GeoTIFF on the lattice of ``like``, written with rasterio and the tags real files carry."""
    with rasterio.open(like) as src:
        transform, crs = src.transform, src.crs
    data = values if values.ndim == 3 else values[None]
    profile = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
               "dtype": dtype or str(data.dtype), "crs": crs, "transform": transform, "nodata": nodata}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(profile["dtype"]))
        for band in range(1, len(data) + 1):
            if units is not None:
                dst.set_band_unit(band, units)
            if descriptions is not None:
                dst.set_band_description(band, descriptions[band - 1])
        if scale is not None or offset is not None:
            dst.scales = (scale or 1.0,) * len(data)
            dst.offsets = (offset or 0.0,) * len(data)
        if tags:
            dst.update_tags(**tags)
    return path


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read().astype("float64")


def entry(catalog: Path, role: str, index: int = 0) -> Any:
    return load_catalog(catalog).layer_list(role)[index]


def edit(catalog: Path, role: str, **changes: Any) -> Path:
    def apply(c: dict) -> None:  # type: ignore[type-arg]
        item = c["layers"][role]
        for target in item if isinstance(item, list) else [item]:
            for key, value in changes.items():
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value

    return builders.edit_catalog(catalog, apply)


# ------------------------------------------------------------------ the file's own metadata
def test_packed_integers_are_unpacked_with_the_files_scale_and_offset(region_copy: Path) -> None:
    dem = region_copy.parent / "dem.tif"
    z = read(dem)[0]
    stored = np.round((z - 1000.0) / 0.5)
    stored[10, 10] = -32768
    write_tif(dem, stored, dem, dtype="int16", nodata=-32768, scale=0.5, offset=1000.0, units="m")
    edit(region_copy, "dem", nodata=-32768)
    out = open_raster(entry(region_copy, "dem")).values[0]
    assert np.isnan(out[10, 10]) and np.isnan(out).sum() == 1
    inside = ~np.isnan(out)
    assert np.abs(out[inside] - z[inside]).max() <= 0.25 + 1e-3  # half the packing step
    assert out[inside].min() > 1000.0  # not the stored integers


def test_a_pga_unit_tag_contradicting_the_catalog_is_refused(region_copy: Path) -> None:
    pga = region_copy.parent / "pga_mainshock.tif"
    write_tif(pga, read(pga)[0] * 100.0, pga, dtype="float32", nodata=-1.0, units="%g")
    with pytest.raises(MetadataConflictError) as info:
        prepare(region_copy, region_copy.parent.parent / "work")
    text = str(info.value)
    assert "pga_mainshock.tif (layer `pga`): the file's own unit contradicts the catalog's `units:`" in text
    assert "expected: units: g (the catalog entry)" in text and "found: '%g' in the file's metadata" in text
    assert "set `units: %g` in the catalog entry" in text


def test_a_unit_tag_agreeing_in_another_spelling_passes_and_free_text_is_kept(region_copy: Path) -> None:
    pga = region_copy.parent / "pga_mainshock.tif"
    write_tif(pga, read(pga)[0] * 100.0, pga, dtype="float32", nodata=-1.0, units="percent g")
    edit(region_copy, "pga", units="%g")
    layer = open_raster(entry(region_copy, "pga"))
    assert layer.attrs["units_tag_in_file"] == "percent g" and float(layer.max()) == pytest.approx(50.0)
    dem = region_copy.parent / "dem.tif"
    write_tif(dem, read(dem)[0], dem, dtype="float32", nodata=-9999.0, tags={"UNITS": "metres above EGM96 geoid"})
    assert open_raster(entry(region_copy, "dem")).attrs["units_tag_in_file"] == "metres above EGM96 geoid"


def test_a_netcdf_units_attribute_contradicting_the_catalog_is_refused(region_copy: Path) -> None:
    path = region_copy.parent / "rain.nc"
    with xr.open_dataset(path) as ds:
        rain = ds.load()
    rain["precip"] = rain["precip"] / 86400.0
    rain["precip"].attrs["units"] = "kg m-2 s-1"
    rain.to_netcdf(path)
    with pytest.raises(MetadataConflictError, match=r"found: 'kg m-2 s-1' in the file's metadata"):
        open_rainfall(entry(region_copy, "rainfall"))
    edit(region_copy, "rainfall", units="kg m-2 s-1")  # the fix the message gives: same numbers as before
    fixed = open_rainfall(entry(region_copy, "rainfall"))
    assert float(fixed.max()) * 86400.0 == pytest.approx(100.0, rel=1e-5)


def test_band_dates_contradicting_the_catalogs_dates_are_refused(region_copy: Path) -> None:
    inventory = region_copy.parent / "inventory.tif"
    shifted = ["2015-04-01", "2015-07-15", "2015-11-15", "2016-05-15"]
    write_tif(inventory, read(inventory), inventory, dtype="float32", nodata=-1.0, descriptions=shifted)
    with pytest.raises(MetadataConflictError) as info:
        prepare(region_copy, region_copy.parent.parent / "work")
    text = str(info.value)
    assert "the dates in the file's band descriptions contradict the catalog's `dates:`" in text
    assert "2015-07-15" in text and "2015-06-15" in text


def test_a_nodata_tag_differing_from_the_catalogs_is_refused(region_copy: Path) -> None:
    dem = region_copy.parent / "dem.tif"
    write_tif(dem, read(dem)[0], dem, dtype="float32", nodata=-32768.0)
    with pytest.raises(MetadataConflictError) as info:
        open_raster(entry(region_copy, "dem"))
    assert "expected: nodata: -9999.0 (the catalog entry)" in str(info.value)
    assert "found: nodata -32768.0 in the file's metadata" in str(info.value)


def test_a_netcdf_nan_fill_does_not_contradict_a_declared_number(region_copy: Path) -> None:
    path = region_copy.parent / "rain.nc"
    with xr.open_dataset(path) as ds:
        rain = ds.load()
    rain["precip"][5:7] = -9999.0  # gaps written as -9999 by a tool whose _FillValue is xarray's NaN
    rain.to_netcdf(path)
    edit(region_copy, "rainfall", nodata=-9999.0)
    out = open_rainfall(entry(region_copy, "rainfall"))
    assert np.isnan(out.values[5:7]).all() and not np.isnan(out.values[7:]).any()
    rain.to_netcdf(path, encoding={"precip": {"_FillValue": -9999.0}})  # the CHIRPS form: fill = nodata
    assert np.isnan(open_rainfall(entry(region_copy, "rainfall")).values[5:7]).all()


# ------------------------------------------------------------------ sentinels nobody declared
def test_a_rounded_float32_minimum_in_a_float64_file(region_copy: Path) -> None:
    dem = region_copy.parent / "dem.tif"
    z = read(dem)[0]
    z[:3, :] = -3.4028234663852e38  # float32's minimum as a float64 writer rounded it
    write_tif(dem, z, dem, dtype="float64", nodata=float(np.finfo("float32").min))
    edit(region_copy, "dem", nodata=float(np.finfo("float32").min))
    out = open_raster(entry(region_copy, "dem")).values[0]
    assert np.isnan(out).sum() == 3 * z.shape[1] and np.nanmin(out) > 1000.0
    write_tif(dem, z, dem, dtype="float64", nodata=None)  # declared nowhere
    edit(region_copy, "dem", nodata=None)
    with pytest.raises(InvalidValueError) as info:
        open_raster(entry(region_copy, "dem"))
    text = str(info.value)
    assert "dem.tif (layer `dem`): values impossible for dem" in text and "expected: -500 … 9000 m" in text
    assert "a nodata sentinel the catalog does not declare" in text
    assert "declare `nodata: -3.4028234663852886e+38`" in text


def point_rain(folder: Path, values: np.ndarray, days: list[str] | pd.DatetimeIndex) -> dict[str, Any]:
    """A wide CSV of two rain gauges (pandas) and its locations table, as a catalog entry."""
    lon, lat = builders.lonlat_axes(builders.grid())
    pd.DataFrame({"date": days, "north": values[:, 0], "south": values[:, 1]}).to_csv(folder / "gauges.csv",
                                                                                     index=False)
    pd.DataFrame({"column": ["north", "south"], "lon": [lon.mean()] * 2,
                  "lat": [lat.max(), lat.min()]}).to_csv(folder / "gauges_at.csv", index=False)
    return {"path": "gauges.csv", "format": "PointSeriesCSV", "crs": "EPSG:4326", "units": "mm/day",
            "locations": "gauges_at.csv"}


def test_an_undeclared_minus_9999_in_a_rain_series(region_copy: Path) -> None:
    days = pd.date_range("2015-04-02", "2016-05-15", freq="D")
    values = np.stack([builders.rain_frame(days)] * 2, axis=1).astype("float64")
    values[100:103, 1] = -9999.0
    layer = point_rain(region_copy.parent, values, days.strftime("%Y-%m-%d").tolist())
    builders.edit_catalog(region_copy, lambda c: c["layers"].update(rainfall=layer))
    with pytest.raises(InvalidValueError) as info:
        open_rainfall(entry(region_copy, "rainfall"))
    text = str(info.value)
    assert "gauges.csv (layer `rainfall`): values impossible for rainfall" in text
    assert "3 of 820 values outside, from -9999 to -9999 mm/day" in text
    assert "declare `nodata: -9999.0` in the catalog entry if these are gaps" in text
    edit(region_copy, "rainfall", nodata=-9999.0)  # declared: a gap, never a value
    with pytest.raises(CoverageError, match="rainfall has gaps inside slice 2015-post"):
        prepare(region_copy, region_copy.parent.parent / "work")


def test_pga_nodata_at_the_edge_of_the_field_inside_the_grid_is_refused(region_copy: Path) -> None:
    pga = region_copy.parent / "pga_mainshock.tif"
    values = read(pga)[0]
    values[:, :6] = -1.0  # the field's western columns reach the grid's first column
    write_tif(pga, values, pga, dtype="float32", nodata=-1.0)
    with pytest.raises(CoverageError) as info:
        prepare(region_copy, region_copy.parent.parent / "work")
    assert "20 nodata pixels of the PGA field lie on or next to the grid" in str(info.value)


@pytest.mark.parametrize(("role", "units", "factor", "what"), [
    ("dem", "m", 100.0, "values impossible for dem"),            # a DEM in cm declared m
    ("pga", "g", 100.0, "values impossible for pga"),            # PGA in % g declared g
    ("dem", "m", -1.0, "from -2"),                                # an upside-down DEM (bathymetry sign)
])
def test_physically_impossible_values(region_copy: Path, role: str, units: str, factor: float, what: str) -> None:
    path = region_copy.parent / ("dem.tif" if role == "dem" else "pga_mainshock.tif")
    nodata = -9999.0 if role == "dem" else -1.0
    write_tif(path, read(path)[0] * factor, path, dtype="float32", nodata=nodata)
    with pytest.raises(InvalidValueError, match=what):
        prepare(region_copy, region_copy.parent.parent / "work")


def test_absurd_rain_from_a_wrong_unit_is_refused(region_copy: Path) -> None:
    path = region_copy.parent / "rain.nc"
    with xr.open_dataset(path) as ds:
        rain = ds.load()
    rain["precip"].attrs.pop("units")  # a file that does not say its unit
    rain.to_netcdf(path)
    edit(region_copy, "rainfall", units="kg m-2 s-1")  # the file holds mm/day: ×86400 once more
    with pytest.raises(InvalidValueError) as info:
        open_rainfall(entry(region_copy, "rainfall"))
    assert "expected: -0.001 … 2000 mm/day (-1.15741e-08 … 0.0231481 kg m-2 s-1, as declared)" in str(info.value)


# ------------------------------------------------------------------ time that is not a plain UTC day
def rain_with_time(region: Path, values: np.ndarray, units: str, calendar: str) -> None:
    path = region.parent / "rain.nc"
    with xr.open_dataset(path) as ds:
        rain = ds.load()
    n = len(values)
    rain = rain.isel(time=slice(0, n)).assign_coords(time=("time", values, {"units": units, "calendar": calendar}))
    rain.to_netcdf(path, encoding={"time": {"dtype": "float64"}})


def test_days_of_time_units_with_a_utc_offset_are_the_local_days_written(region_copy: Path, tmp_path: Path) -> None:
    before = open_rainfall(entry(region_copy, "rainfall"))
    n = before.sizes["time"]
    rain_with_time(region_copy, np.arange(n, dtype="float64"), "days since 2015-04-02 00:00:00 +05:45", "standard")
    after = open_rainfall(entry(region_copy, "rainfall"))
    assert (after["time"].values == before["time"].values).all()
    np.testing.assert_array_equal(after.values, before.values)
    assert list(cf_days(np.array([0.0, 1.5]), "hours since 2015-04-02T00:00Z", None, "x").day) == [2, 2]


def test_a_noleap_calendar_keeps_dates_and_its_missing_29_february_is_named(region_copy: Path) -> None:
    days = pd.date_range("2015-04-02", "2016-05-15", freq="D")
    noleap = days[~((days.month == 2) & (days.day == 29))]
    offsets = np.array([(d - pd.Timestamp("2015-01-01")).days for d in noleap], dtype="float64")
    offsets[noleap >= pd.Timestamp("2016-03-01")] -= 1  # no 29 February in a 365-day year
    rain_with_time(region_copy, offsets, "days since 2015-01-01", "noleap")
    rain = open_rainfall(entry(region_copy, "rainfall"))
    assert (pd.DatetimeIndex(rain["time"].values) == noleap).all()
    with pytest.raises(CoverageError, match=r"1 days missing, first 2016-02-29(.|\n)*`noleap` calendar has no 29 Feb"):
        prepare(region_copy, region_copy.parent.parent / "work")


def test_packed_netcdf_rain_is_unpacked_by_its_cf_attributes(region_copy: Path) -> None:
    before = open_rainfall(entry(region_copy, "rainfall"))
    path = region_copy.parent / "rain.nc"
    with xr.open_dataset(path) as ds:
        rain = ds.load()
    rain.to_netcdf(path, encoding={"precip": {"dtype": "int16", "scale_factor": 0.1, "add_offset": 0.0,
                                              "_FillValue": -32768}})
    after = open_rainfall(entry(region_copy, "rainfall"))
    np.testing.assert_allclose(after.values, before.values, atol=0.05)
    assert float(after.max()) == pytest.approx(100.0)


@pytest.mark.parametrize("calendar", ["360_day", "all_leap", "julian"])
def test_calendars_whose_days_are_not_gregorian_days_are_refused(region_copy: Path, calendar: str) -> None:
    rain_with_time(region_copy, np.arange(400, dtype="float64"), "days since 2015-04-02", calendar)
    with pytest.raises(CatalogError, match=f"rainfall in the `{calendar}` calendar: its days are not days of the "
                                           "Gregorian year"):
        open_rainfall(entry(region_copy, "rainfall"))


def test_a_duplicate_day_is_an_error(region_copy: Path) -> None:
    offsets = np.arange(400, dtype="float64")
    offsets[200] = 199.5  # a second value on day 199 (e.g. a file concatenated with an overlap)
    rain_with_time(region_copy, offsets, "days since 2015-04-02", "standard")
    with pytest.raises(CatalogError, match="1 repeated days, first 2015-10-18"):
        open_rainfall(entry(region_copy, "rainfall"))


def test_a_rain_stack_with_other_dimensions_is_refused_without_a_traceback(region_copy: Path) -> None:
    path = region_copy.parent / "rain.nc"
    with xr.open_dataset(path) as ds:
        rain = ds.load()
    rain.rename(latitude="rlat").to_netcdf(path)
    with pytest.raises(CatalogError, match=r"not a \(time, lat, lon\) stack(.|\n)*found: dims \('time', 'rlat'"):
        open_rainfall(entry(region_copy, "rainfall"))


def test_timezone_aware_timestamps_in_a_csv_are_their_local_days(region_copy: Path) -> None:
    days = pd.date_range("2015-04-02", "2016-05-15", freq="D")
    values = np.stack([builders.rain_frame(days)] * 2, axis=1).astype("float64")
    aware = days.tz_localize("Asia/Kathmandu").strftime("%Y-%m-%dT%H:%M:%S%z").tolist()
    layer = point_rain(region_copy.parent, values, aware)
    builders.edit_catalog(region_copy, lambda c: c["layers"].update(rainfall=layer))
    rain = open_rainfall(entry(region_copy, "rainfall"))
    assert (pd.DatetimeIndex(rain["time"].values) == days).all()
    assert float(rain.sel(time="2015-08-01").max()) == 100.0
    assert list(local_days(["2015-04-02T00:00:00+05:45", "2015-04-02 23:00-03:00"], "x").day) == [2, 2]


def test_common_spellings_of_accepted_units() -> None:
    assert [canonical(u) for u in ("m/s²", "mm d-1", "Percent g", "kg m⁻² s⁻¹", "M")] == [
        "m/s2", "mm day-1", "%g", "kg m-2 s-1", "m"]


def test_a_tab_in_the_catalog_says_what_yaml_forbids(region_copy: Path) -> None:
    text = region_copy.read_text().replace("\n  dem:", "\n\tdem:", 1)
    region_copy.write_text(text)
    with pytest.raises(CatalogError, match=r"YAML forbids tabs for indentation(.|\n)*line\(s\) \[\d+\]"):
        load_catalog(region_copy)


# ------------------------------------------------------------------ the prepared cube's checksums
def test_a_damaged_cube_is_refused(tiny_catalog: Path, tmp_path: Path) -> None:
    prepare(tiny_catalog, tmp_path / "work")
    cube = tmp_path / "work" / "prepared.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the records are a Zarr node: nothing for Zarr to warn about
        assert PreparedCube.open(tmp_path / "work").static.shape[0] > 0
    chunk = sorted((cube / "static").rglob("c/*/*/*"))[0]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x01
    chunk.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="file is corrupted: it differs from the checksum recorded"):
        PreparedCube.open(tmp_path / "work")
    chunk.unlink()
    with pytest.raises(IntegrityError, match=r"files of the folder differ from those recorded(.|\n)*missing"):
        PreparedCube.open(tmp_path / "work")
    shutil.rmtree(cube / "checksums")
    with pytest.raises(IntegrityError, match="no checksums recorded for this folder"):
        PreparedCube.open(tmp_path / "work")


def test_rioxarray_reads_what_the_helper_writes(tmp_path: Path) -> None:
    like = builders.write_region(tmp_path / "r").parent / "dem.tif"
    path = write_tif(tmp_path / "a.tif", np.ones((2, 4, 4)), like, dtype="int16", nodata=-1, units="m",
                     scale=0.5, offset=1.0, descriptions=["2015-04-01", "2015-06-15"])
    da = rioxarray.open_rasterio(path)
    assert da.attrs["units"] == ("m", "m") and da.attrs["scale_factor"] == 0.5
    assert da.attrs["long_name"] == ("2015-04-01", "2015-06-15")

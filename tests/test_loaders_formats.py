"""The loaders of users' formats on small files written here, with hand-computed results, and
each bad input of the real-data issue: a clear error or a counted repair."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import builders
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rioxarray
import shapely
import xarray as xr
from pyproj import Transformer

from hazardcore import export
from hazardcore.catalog import load_catalog, open_rainfall, open_raster
from hazardcore.cube import PreparedCube
from hazardcore.errors import CatalogError, CoverageError, InvalidValueError, InventoryError, UnitError
from hazardcore.grid import GridSpec, to_grid
from hazardcore.predictors import STATIC_CHANNELS
from hazardcore.prepare import prepare
from hazardcore.triggers import pga_statistics, pga_to_ms2, rain_slice_statistics
from hazardcore.units import factor as unit_factor

TO_LONLAT = Transformer.from_crs(builders.CRS, "EPSG:4326", always_xy=True)
X0, Y0 = builders.X_MIN, builders.Y_MAX


def one_cell(x: float, y: float) -> GridSpec:
    """A one-cell grid centred on (x, y) in the builders' CRS."""
    return GridSpec(crs=builders.CRS, x_min=float(x) - 500.0, y_max=float(y) + 500.0, n_rows=1, n_cols=1)


def catalog_with(folder: Path, grid: GridSpec, **layers: Any) -> Path:
    """A catalog of the tiny region's files, on ``grid``, with some layers replaced."""
    path = builders.write_region(folder)
    raw = builders.catalog_dict(grid, 3)
    raw["grid"] = grid.to_dict()
    raw["layers"].update(layers)
    return export.write_yaml(raw, path)


def lonlat_nodes(centre_x: float, centre_y: float, step_deg: float = 0.02, n: int = 5) -> tuple[np.ndarray, ...]:
    lon0, lat0 = TO_LONLAT.transform(centre_x, centre_y)
    lon = lon0 + step_deg * (np.arange(n) - n // 2)
    lat = lat0 + step_deg * (np.arange(n) - n // 2)
    return tuple(a.ravel() for a in np.meshgrid(lon, lat))


def shakemap_xml(path: Path, lon: np.ndarray, lat: np.ndarray, pga: np.ndarray, units: str = "pctg") -> Path:
    rows = "\n".join(f"{a:.6f} {b:.6f} {c:.4f} 10.0" for a, b, c in zip(lon, lat, pga, strict=True))
    path.write_text(f"""<?xml version="1.0" encoding="US-ASCII" standalone="yes"?>
<shakemap_grid xmlns="http://earthquake.usgs.gov/eqcenter/shakemap" event_id="test" shakemap_version="1">
<event event_id="test" magnitude="7.8"/>
<grid_field index="1" name="LON" units="dd" />
<grid_field index="2" name="LAT" units="dd" />
<grid_field index="3" name="PGA" units="{units}" />
<grid_field index="4" name="PGV" units="cms" />
<grid_data>
{rows}
</grid_data>
</shakemap_grid>
""")
    return path


def test_shakemap_xml_is_log_interpolated_and_converted(tmp_path: Path) -> None:
    lon, lat = lonlat_nodes(X0 + 4000, Y0 - 4000)
    pga = 20.0 + 3.0 * np.arange(lon.size)  # % g
    xml = shakemap_xml(tmp_path / "grid.xml", lon, lat, pga)
    to_utm = Transformer.from_crs("EPSG:4326", builders.CRS, always_xy=True)
    x, y = to_utm.transform(lon, lat)
    # the midpoint of two neighbours on a row lies on a triangle edge: the value is their geometric mean
    mid = one_cell((x[12] + x[13]) / 2, (y[12] + y[13]) / 2)
    entry = {"path": str(xml), "format": "ShakeMapXML", "units": "%g", "event": "mainshock"}
    catalog = load_catalog(catalog_with(tmp_path / "r", mid, pga=[entry]))
    field = open_raster(catalog.layer_list("pga")[0])
    np.testing.assert_allclose(field.values[0, 1, 1], np.sqrt(pga[12] * pga[13]), rtol=1e-5)
    assert field.attrs["units"] == "%g"


def test_shakemap_xml_unit_contradicting_the_catalog(tmp_path: Path) -> None:
    lon, lat = lonlat_nodes(X0 + 4000, Y0 - 4000)
    xml = shakemap_xml(tmp_path / "grid.xml", lon, lat, np.full(lon.size, 30.0))
    entry = {"path": str(xml), "format": "ShakeMapXML", "units": "g"}
    catalog = load_catalog(catalog_with(tmp_path / "r", one_cell(X0 + 4000, Y0 - 4000), pga=[entry]))
    with pytest.raises(UnitError, match="the catalog's unit differs from the file's"):
        open_raster(catalog.layer_list("pga")[0])


@pytest.mark.parametrize(("units", "match"), [(None, "PGA unit missing or unknown"),
                                              ("cm", "PGA unit missing or unknown")])
def test_missing_or_wrong_units_fail_at_load(tmp_path: Path, units: str | None, match: str) -> None:
    path = builders.write_region(tmp_path / "r")
    builders.edit_catalog(path, lambda c: c["layers"]["pga"][0].update(units=units))
    with pytest.raises(UnitError, match=match):
        load_catalog(path)


def test_point_field_not_covering_the_grid(tmp_path: Path) -> None:
    lon, lat = lonlat_nodes(X0 + 4000, Y0 - 4000, step_deg=0.01, n=3)  # about 2 km across
    frame = pd.DataFrame({"lon": lon, "lat": lat, "PGA": np.full(lon.size, 0.3)})
    frame.to_csv(tmp_path / "field.csv", index=False)
    entry = {"path": str(tmp_path / "field.csv"), "format": "PointCSV", "units": "g", "columns": {"value": "PGA"}}
    catalog = load_catalog(catalog_with(tmp_path / "r", builders.grid(), pga=[entry]))
    with pytest.raises(CoverageError, match="point field does not cover the grid"):
        open_raster(catalog.layer_list("pga")[0])


def test_openquake_csv_with_comment_and_newline_in_header(tmp_path: Path) -> None:
    lon, lat = lonlat_nodes(X0 + 500, Y0 - 500)
    lines = ["# a comment line", 'custom_site_id,lon,lat,"ModelA\nregion = ""X""",ModelB']
    lines += [f"t_{i},{a},{b},{0.1 + 0.01 * i},{0.2}" for i, (a, b) in enumerate(zip(lon, lat, strict=True))]
    (tmp_path / "gmf.csv").write_text("\n".join(lines) + "\n")
    entry = {"path": str(tmp_path / "gmf.csv"), "format": "PointCSV", "units": "g",
             "columns": {"value": "ModelA", "name": "custom_site_id"}}
    to_utm = Transformer.from_crs("EPSG:4326", builders.CRS, always_xy=True)
    x, y = to_utm.transform(lon[12], lat[12])
    catalog = load_catalog(catalog_with(tmp_path / "r", one_cell(x, y), pga=[entry]))
    np.testing.assert_allclose(open_raster(catalog.layer_list("pga")[0]).values[0, 1, 1], 0.1 + 0.12, rtol=1e-5)


def series_files(folder: Path, values: dict[str, np.ndarray], days: pd.DatetimeIndex,
                 where: dict[str, tuple[float, float]]) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), **values}).to_csv(folder / "rain.csv", index=False)
    lon_lat = {name: TO_LONLAT.transform(*xy) for name, xy in where.items()}
    pd.DataFrame({"column": list(where), "lon": [v[0] for v in lon_lat.values()],
                  "lat": [v[1] for v in lon_lat.values()]}).to_csv(folder / "points.csv", index=False)
    return {"path": str(folder / "rain.csv"), "format": "PointSeriesCSV", "units": "mm/day",
            "locations": str(folder / "points.csv")}


def test_idw_spread_by_hand(tmp_path: Path) -> None:
    days = pd.date_range("2015-04-01", "2016-05-15", freq="D")
    cell = one_cell(X0 + 500, Y0 - 500)
    where = {"a": (X0 + 500 - 5000, Y0 - 500), "b": (X0 + 500 + 1000, Y0 - 500)}  # 5 km and 1 km away
    entry = series_files(tmp_path / "s", {"a": np.full(len(days), 10.0), "b": np.full(len(days), 50.0)}, days, where)
    catalog = load_catalog(catalog_with(tmp_path / "r", cell, rainfall=entry | {"spread": "idw"}))
    rain = open_rainfall(catalog.layer("rainfall"))
    weights = np.array([1 / 5**2, 1 / 1**2])
    np.testing.assert_allclose(rain.values[0, 1, 1], (weights @ [10.0, 50.0]) / weights.sum(), rtol=1e-5)
    assert rain.attrs["spread"] == "idw (power 2)"
    nearest = open_rainfall(load_catalog(catalog_with(tmp_path / "r2", cell, rainfall=entry)).layer("rainfall"))
    assert nearest.values[0, 1, 1] == 50.0 and nearest.attrs["points_used"] == "b"


def test_rain_series_gap_inside_a_slice_is_an_error(tmp_path: Path) -> None:
    days = pd.date_range("2015-04-01", "2016-05-15", freq="D")
    values = np.arange(len(days), dtype="float64") % 7
    values[days == pd.Timestamp("2015-08-03")] = np.nan  # inside slice 2015-post
    entry = series_files(tmp_path / "s", {"a": values}, days, {"a": (X0 + 4000, Y0 - 4000)})
    catalog = load_catalog(catalog_with(tmp_path / "r", builders.grid(), rainfall=entry))
    rain = open_rainfall(catalog.layer("rainfall"))
    stats = rain_slice_statistics(rain, catalog.slices[:1], "rain.csv")  # 2015-co has no gap
    assert float(stats["rain_max"].max()) == 6.0
    with pytest.raises(CoverageError, match="rainfall has gaps inside slice 2015-post"):
        rain_slice_statistics(rain, catalog.slices, "rain.csv")


def square(x: float, y: float, side: float) -> shapely.Polygon:
    return shapely.box(x, y - side, x + side, y)


def polygon_inventory(folder: Path, rows: list[tuple[shapely.Geometry, str]], driver: str = "GPKG") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame = gpd.GeoDataFrame({"mapped": [d for _, d in rows]}, geometry=[g for g, _ in rows], crs=builders.CRS)
    path = folder / ("slides.gpkg" if driver == "GPKG" else "slides.shp")
    frame.to_file(path, driver=driver)
    return path


def polygon_entry(path: Path, **extra: Any) -> dict[str, Any]:
    fmt = "GeoPackage" if path.suffix == ".gpkg" else "Shapefile"
    return {"path": str(path), "format": fmt, "units": "m2", "date_column": "mapped",
            "dates": builders.DATES, **extra}


def test_polygons_to_density_through_prepare(tmp_path: Path) -> None:
    # a 500 m square centred on the corner of cells (1,1),(1,2),(2,1),(2,2): 62,500 m² in each, slice 1;
    # a second square overlapping the first's cell (1,1) part by 250 x 250 m, slice 2 (only new area counts);
    # a self-intersecting bow-tie in cell (5,5) in slice 3, repaired with make_valid
    corner_x, corner_y = X0 + 2000, Y0 - 2000
    bow_tie = shapely.Polygon([(X0 + 5100, Y0 - 5100), (X0 + 5900, Y0 - 5900),
                               (X0 + 5900, Y0 - 5100), (X0 + 5100, Y0 - 5900)])
    rows = [(square(corner_x - 250, corner_y + 250, 500), "2015-05-01"),
            (square(corner_x - 500, corner_y + 500, 500), "2015-09-01"),
            (bow_tie, "2016-02-01")]
    path = polygon_inventory(tmp_path / "poly", rows)
    catalog = catalog_with(tmp_path / "r", builders.grid(), inventory=polygon_entry(path))
    with pytest.warns(UserWarning, match="'repaired_geometries': 1"):
        areas = open_raster(load_catalog(catalog).layer("inventory"))
    assert areas.attrs["repaired_geometries"] == 1 and areas.attrs["units"] == "m2"
    np.testing.assert_allclose(areas.values[1, 1:3, 1:3], 62_500.0)
    np.testing.assert_allclose(areas.values[2, 1, 1], 250_000.0)  # union: 500 x 500 m in cell (1,1)
    np.testing.assert_allclose(areas.values[3, 5, 5], 2 * 0.5 * 800 * 400)  # two triangles of the bow-tie
    with pytest.warns(UserWarning):
        summary = prepare(catalog, tmp_path / "work")
    assert summary["positive_fraction"] == pytest.approx([4 / 64, 1 / 64, 1 / 64], abs=1e-4)


def test_shapefile_polygon_dated_after_every_slice(tmp_path: Path) -> None:
    rows = [(square(X0 + 100, Y0 - 100, 300), "2015-05-01"), (square(X0 + 3100, Y0 - 3100, 300), "2017-01-01")]
    path = polygon_inventory(tmp_path / "poly", rows, driver="ESRI Shapefile")
    catalog = load_catalog(catalog_with(tmp_path / "r", builders.grid(), inventory=polygon_entry(path)))
    with pytest.raises(InventoryError, match="1 polygons are dated after the last mapping date 2016-05-15"):
        open_raster(catalog.layer("inventory"))
    dropping = polygon_entry(path, outside_dates="drop")
    catalog = load_catalog(catalog_with(tmp_path / "r2", builders.grid(), inventory=dropping))
    with pytest.warns(UserWarning, match="'dropped_outside_dates': 1"):
        areas = open_raster(catalog.layer("inventory"))
    assert areas.attrs["dropped_outside_dates"] == 1
    np.testing.assert_allclose(areas.values[1:, 0, 0], 90_000.0)
    assert float(areas.values[:, 3, 3].max()) == 0.0


def test_inventory_area_in_percent_of_the_cell(tmp_path: Path) -> None:
    path = builders.write_region(tmp_path / "r")
    inventory = path.parent / "inventory.tif"
    da = rioxarray.open_rasterio(inventory).load()
    export.write_geotiff(da / 1e4, inventory, nodata=-1.0)  # m² -> % of a 1 km² cell
    builders.edit_catalog(path, lambda c: c["layers"]["inventory"].update(units="%"))
    summary = prepare(path, tmp_path / "work")
    reference = prepare(builders.write_region(tmp_path / "ref"), tmp_path / "work_ref")
    assert summary["positive_fraction"] == reference["positive_fraction"]


def test_dem_in_a_geographic_crs_and_in_feet_is_reprojected_and_converted(tmp_path: Path) -> None:
    path = builders.write_region(tmp_path / "r")
    dem_path = path.parent / "dem.tif"
    dem = rioxarray.open_rasterio(dem_path).load()
    geographic = dem.rio.reproject("EPSG:4326", nodata=-9999.0)
    feet = (geographic / 0.3048).where(geographic != -9999.0, -9999.0)
    export.write_geotiff(feet.rio.write_crs("EPSG:4326"), dem_path, nodata=-9999.0)
    builders.edit_catalog(path, lambda c: c["layers"]["dem"].update(crs="EPSG:4326", units="ft"))
    with pytest.warns(UserWarning, match="DEM in a geographic CRS"):
        prepare(path, tmp_path / "work")
    elevation = PreparedCube.open(tmp_path / "work").static[STATIC_CHANNELS.index("elevation")]
    z, _, _ = builders.dem_values(builders.grid())
    inner = (slice(32, -32), slice(32, -32))  # away from the grid's edge, where the margin was cut
    error = np.abs(elevation[inner] - z[32:-32, 32:-32][inner])  # m, after two bilinear resamplings
    assert error.max() < 10.0 and error.mean() < 2.0  # unconverted feet would be off by ~4,000 m


def test_geotiff_rain_stack_needs_one_date_per_band(tmp_path: Path) -> None:
    lon, lat = builders.lonlat_axes(builders.grid())
    days = pd.date_range("2015-04-02", "2015-04-05", freq="D")
    values = np.stack([np.full((len(lat), len(lon)), float(i), dtype="float32") for i in range(len(days))])
    export.write_geotiff(builders.raster(values, lon, lat, crs="EPSG:4326"), tmp_path / "rain.tif", nodata=-1.0)
    entry = {"path": str(tmp_path / "rain.tif"), "format": "GeoTIFF", "units": "mm/h", "crs": "EPSG:4326",
             "dates": [d.strftime("%Y-%m-%d") for d in days]}
    catalog = load_catalog(catalog_with(tmp_path / "r", builders.grid(), rainfall=entry))
    rain = open_rainfall(catalog.layer("rainfall"))
    assert rain.sizes["time"] == 4 and float(rain.isel(time=3).max()) == 3.0 and rain.attrs["units"] == "mm/h"
    short = entry | {"dates": entry["dates"][:3]}
    catalog = load_catalog(catalog_with(tmp_path / "r2", builders.grid(), rainfall=short))
    with pytest.raises(CatalogError, match="one date per band"):
        open_rainfall(catalog.layer("rainfall"))


def test_spread_method_is_kept_in_the_slice_statistics(tmp_path: Path) -> None:
    days = pd.date_range("2015-04-01", "2016-05-15", freq="D")
    entry = series_files(tmp_path / "s", {"a": np.ones(len(days))}, days, {"a": (X0 + 4000, Y0 - 4000)})
    catalog = load_catalog(catalog_with(tmp_path / "r", builders.grid(), rainfall=entry))
    stats = rain_slice_statistics(open_rainfall(catalog.layer("rainfall")), catalog.slices, "rain.csv")
    assert stats["rain_max"].attrs["spread"] == "nearest" and stats["rain_span95"].attrs["points_used"] == "a"


@pytest.mark.parametrize(("kind", "units", "expected"), [
    ("acceleration", "%g", 0.0980665), ("acceleration", "pctg", 0.0980665), ("rain rate", "kg m-2 s-1", 86400.0),
    ("length", "ft", 0.3048), ("area", "km2", 1e6), ("area", "%", 1e4), ("area", "fraction", 1e6)])
def test_unit_factors(kind: str, units: str, expected: float) -> None:
    assert unit_factor(kind, units, "test", cell_area_m2=1e6) == pytest.approx(expected)


def test_cell_relative_area_needs_the_cell_area() -> None:
    with pytest.raises(UnitError, match="cannot be converted to m2 here"):
        unit_factor("area", "%", "test")


def test_shakemap_uncertainty_is_a_pga_spread_in_log_units(tmp_path: Path) -> None:
    lon, lat = lonlat_nodes(X0 + 4000, Y0 - 4000)
    median = shakemap_xml(tmp_path / "grid.xml", lon, lat, np.full(lon.size, 40.0))
    sigma = shakemap_xml(tmp_path / "uncertainty.xml", lon, lat, np.full(lon.size, 0.5), units="ln(pctg)")
    pga = [{"event": "mainshock", "path": str(median), "format": "ShakeMapXML", "units": "%g"},
           {"statistic": "std", "path": str(sigma), "format": "ShakeMapXML", "units": "ln"}]
    catalog = load_catalog(catalog_with(tmp_path / "r", one_cell(X0 + 4000, Y0 - 4000), pga=pga))
    layers = [pga_to_ms2(open_raster(entry).squeeze("band", drop=True), entry.units, "pga")
              for entry in catalog.layer_list("pga")]
    pga_max, pga_std = pga_statistics(layers)
    median_ms2 = 0.4 * 9.80665
    np.testing.assert_allclose(pga_max.values[1, 1], median_ms2, rtol=1e-5)
    np.testing.assert_allclose(pga_std.values[1, 1], median_ms2 * np.exp(0.125) * np.sqrt(np.expm1(0.25)), rtol=1e-5)


def test_chirps_netcdf_with_ascending_latitude_lands_the_same(tmp_path: Path) -> None:
    path = builders.write_region(tmp_path / "r")
    lon, lat = builders.lonlat_axes(builders.grid())  # descending, as written by the builders
    days = pd.date_range("2015-04-02", "2016-05-15", freq="D")
    field = (10.0 * np.arange(len(lat))[:, None] + np.arange(len(lon))[None, :]).astype("float32")
    ds = xr.Dataset({"precip": (("time", "latitude", "longitude"), np.broadcast_to(field, (len(days), *field.shape)),
                                {"units": "mm/day"})}, coords={"time": days, "latitude": lat, "longitude": lon})
    on_grid = []
    for layout in (ds, ds.isel(latitude=slice(None, None, -1))):  # CHIRPS files store latitude ascending
        export.write_netcdf(layout.rio.write_crs("EPSG:4326"), path.parent / "rain.nc")
        rain = open_rainfall(load_catalog(path).layer("rainfall")).isel(time=0)
        on_grid.append(to_grid(rain, builders.grid(), "1km", "bilinear").values)
    np.testing.assert_array_equal(on_grid[0], on_grid[1])
    assert np.ptp(on_grid[0]) > 1.0  # the field varies over the grid, so a flip would show


def test_polygon_periods_and_a_period_spanning_two_slices(tmp_path: Path) -> None:
    folder = tmp_path / "poly"
    folder.mkdir()
    rows = {"period": ["2015-04-25/2015-06-15", "2015-07-01/2015-10-01"],
            "geometry": [square(X0 + 100, Y0 - 100, 300), square(X0 + 3100, Y0 - 3100, 200)]}
    gpd.GeoDataFrame(rows, crs=builders.CRS).to_file(folder / "slides.gpkg")
    entry = {"path": str(folder / "slides.gpkg"), "format": "GeoPackage", "units": "m2", "period_column": "period",
             "dates": builders.DATES}
    areas = open_raster(load_catalog(catalog_with(tmp_path / "r", builders.grid(), inventory=entry)).layer("inventory"))
    np.testing.assert_allclose(areas.values[:, 0, 0], [0.0, 90_000.0, 90_000.0, 90_000.0])
    np.testing.assert_allclose(areas.values[:, 3, 3], [0.0, 0.0, 40_000.0, 40_000.0])
    rows["period"][1] = "2015-05-01/2015-10-01"  # starts in 2015-co, ends in 2015-post
    gpd.GeoDataFrame(rows, crs=builders.CRS).to_file(folder / "slides.gpkg")
    catalog = load_catalog(catalog_with(tmp_path / "r2", builders.grid(), inventory=entry))
    with pytest.raises(InventoryError, match="1 polygons have a period spanning more than one slice"):
        open_raster(catalog.layer("inventory"))


def test_rain_point_too_far_and_non_positive_ground_motion(tmp_path: Path) -> None:
    days = pd.date_range("2015-04-01", "2016-05-15", freq="D")
    entry = series_files(tmp_path / "s", {"a": np.ones(len(days))}, days, {"a": (X0 + 60_000, Y0 - 4000)})
    catalog = load_catalog(catalog_with(tmp_path / "r", builders.grid(), rainfall=entry | {"max_distance_km": 50}))
    with pytest.raises(CoverageError, match="cells are farther than 50 km from every point"):
        open_rainfall(catalog.layer("rainfall"))
    lon, lat = lonlat_nodes(X0 + 4000, Y0 - 4000, step_deg=0.1)
    frame = pd.DataFrame({"lon": lon, "lat": lat, "PGA": np.where(np.arange(lon.size) == 3, 0.0, 0.3)})
    frame.to_csv(tmp_path / "field.csv", index=False)
    pga = {"path": str(tmp_path / "field.csv"), "format": "PointCSV", "units": "g", "columns": {"value": "PGA"}}
    catalog = load_catalog(catalog_with(tmp_path / "r2", builders.grid(), pga=[pga]))
    with pytest.raises(InvalidValueError, match="1 point values are not positive"):
        open_raster(catalog.layer_list("pga")[0])


def erddap_file(path: Path, days: pd.DatetimeIndex, lon: float, lat: float, values: np.ndarray, units: str) -> None:
    lines = ["time,latitude,longitude,precip", f"UTC,degrees_north,degrees_east,{units}"]
    lines += [f"{d.strftime('%Y-%m-%dT%H:%M:%SZ')},{lat},{lon},{v}" for d, v in zip(days, values, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def test_erddap_extracts_one_file_per_pixel(tmp_path: Path) -> None:
    days = pd.date_range("2015-04-01", "2016-05-15", freq="D")
    folder = tmp_path / "erddap"
    folder.mkdir()
    near, far = TO_LONLAT.transform(X0 + 500, Y0 - 500), TO_LONLAT.transform(X0 + 40_000, Y0 - 40_000)
    erddap_file(folder / "Near.csv", days, *near, np.arange(len(days)) % 5, "mm/day")
    erddap_file(folder / "Far.csv", days[:-10], *far, np.full(len(days) - 10, 9.0), "mm/day")
    entry = {"path": str(folder / "Far.csv"), "format": "ERDDAPCSV", "units": "mm/day", "crs": "EPSG:4326",
             "pattern": "*.csv"}
    catalog = load_catalog(catalog_with(tmp_path / "r", one_cell(X0 + 500, Y0 - 500), rainfall=entry))
    rain = open_rainfall(catalog.layer("rainfall"))
    assert rain.sizes["time"] == len(days) and rain.attrs["points_used"] == "Near"
    np.testing.assert_allclose(rain.sel(time="2015-04-03").values[1, 1], 2.0)
    erddap_file(folder / "Far.csv", days, *far, np.full(len(days), 9.0), "mm/h")
    with pytest.raises(UnitError, match="the catalog's unit differs from the file's"):
        open_rainfall(load_catalog(catalog_with(tmp_path / "r2", one_cell(X0 + 500, Y0 - 500),
                                                rainfall=entry)).layer("rainfall"))
    folder_entry = entry | {"path": str(folder)}  # a folder would break the products' input checksums
    with pytest.raises(CatalogError, match="must be one file"):
        open_rainfall(load_catalog(catalog_with(tmp_path / "r3", one_cell(X0 + 500, Y0 - 500),
                                                rainfall=folder_entry)).layer("rainfall"))

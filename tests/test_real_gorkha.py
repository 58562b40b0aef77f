"""Each real file of ../shared/data/gorkha_real through its loader, checked against numbers read
independently (rasterio, the csv module, PROVENANCE.md)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import yaml
from pyproj import Transformer

from hazardcore.catalog import Catalog, load_catalog, open_event_points, open_rainfall, open_raster
from hazardcore.errors import InventoryError
from hazardcore.grid import GridSpec, to_grid
from hazardcore.triggers import pga_statistics, pga_to_ms2, rain_to_mm_day

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "gorkha_real"
DEM = REAL / "dem" / "langtang_aw3d30_dsm_utm45n_28p56m.tif"
SHAKEMAP = REAL / "pga" / "usgs_shakemap_atlas_us20002926_langtang_slice.csv"
GEM16 = REAL / "pga" / "gem_gmf_median_PGA_calc16.csv"
GEM_TIF = REAL / "pga" / "gem_pga_studygrid_1km.tif"
STATIONS = REAL / "pga" / "gem_stationlist_all_Panjamani_USGS.csv"
RAIN = REAL / "rain" / "chirps_v2_daily_nepal_points_2013_2023.csv"
RAIN_POINTS = REAL / "rain" / "chirps_points_metadata.csv"
GLC = REAL / "landslides" / "nasa_glc_events_in_study_grid.csv"
STUDY = GridSpec(crs="EPSG:32645", x_min=248635.08, y_max=3175441.11, n_rows=196, n_cols=220)
ROWS, COLS = slice(35, 60), slice(106, 135)  # the Langtang tile of the study grid
LANGTANG = GridSpec(crs="EPSG:32645", x_min=STUDY.x_min + 1000 * COLS.start, y_max=STUDY.y_max - 1000 * ROWS.start,
                    n_rows=25, n_cols=29)
G = 9.80665

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not REAL.is_dir(), reason=f"real data not found at {REAL}")]


def layers(**extra: Any) -> dict[str, Any]:
    """Catalog layers naming the real files (roles a catalog requires, plus ``extra``)."""
    return {"dem": {"path": str(DEM), "format": "GeoTIFF", "units": "m", "nodata": 0},
            "pga": [{"path": str(SHAKEMAP), "format": "PointCSV", "units": "%g", "crs": "EPSG:4326",
                     "columns": {"value": "pga_pct_g"}, "event": "mainshock"},
                    {"path": str(GEM16), "format": "PointCSV", "units": "g",
                     "columns": {"value": "ZhaoEtAl2016SInter", "name": "custom_site_id"}},
                    {"path": str(GEM_TIF), "format": "GeoTIFF", "units": "ln", "band": 3, "statistic": "std"},
                    {"path": str(STATIONS), "format": "PointCSV", "units": "g",
                     "columns": {"lon": "LONGITUDE", "lat": "LATITUDE", "value": "PGA_VALUE", "name": "STATION_ID"}}],
            "rainfall": {"path": str(RAIN), "format": "PointSeriesCSV", "units": "mm/day", "crs": "EPSG:4326",
                         "locations": str(RAIN_POINTS), "start": "2015-04-01", "end": "2018-11-15",
                         "location_columns": {"name": "column", "lon": "chirps_pixel_lon", "lat": "chirps_pixel_lat"}},
            "inventory": {"path": str(GLC), "format": "EventPointsCSV", "units": "m2"},
            "landslide_events": {"path": str(GLC), "format": "EventPointsCSV", "date_format": "%m/%d/%Y %H:%M"},
            **extra}


def catalog_on(grid: GridSpec, folder: Path, **extra: Any) -> Catalog:
    raw = {"case": "real", "grid": grid.to_dict(),
           "slices": [{"label": "2015-co", "start": "2015-04-01", "end": "2015-06-15"}], "layers": layers(**extra)}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_catalog(path)


def cell_at(lon: float, lat: float) -> GridSpec:
    """A one-cell grid centred on a lon/lat point (UTM 45N)."""
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32645", always_xy=True).transform(lon, lat)
    return GridSpec(crs="EPSG:32645", x_min=x - 500.0, y_max=y + 500.0, n_rows=1, n_cols=1)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return list(csv.DictReader(lines))


@pytest.fixture(scope="module")
def langtang(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return catalog_on(LANGTANG, tmp_path_factory.mktemp("langtang"))


def test_dem_values_nodata_and_grid(langtang: Catalog) -> None:
    with rasterio.open(DEM) as src:
        raw = src.read(1)
        transform = src.transform
    valid = raw[raw != 0]
    assert (valid.min(), valid.max()) == (3282, 8006)
    dem = open_raster(langtang.layer("dem"))
    assert dem.attrs["units"] == "m" and dem.dtype == np.float32
    assert (float(dem.min()), float(dem.max())) == (3282.0, 8006.0)
    assert int(np.isnan(dem.values).sum()) == int((raw == 0).sum())
    on_grid = to_grid(dem.squeeze("band", drop=True), LANGTANG, "30m", "bilinear", "dem")
    assert on_grid.shape == (800, 928) and np.isfinite(on_grid.values).all()
    assert 3282.0 <= float(on_grid.min()) and float(on_grid.max()) <= 8006.0
    # cell (row 10, col 12) of the tile: mean of the source pixels whose centres fall in it
    cols, rows = np.meshgrid(np.arange(raw.shape[1]), np.arange(raw.shape[0]))
    xs, ys = transform.c + transform.a * (cols + 0.5), transform.f + transform.e * (rows + 0.5)
    left, top = LANGTANG.x_min + 12_000, LANGTANG.y_max - 10_000
    inside = (xs >= left) & (xs < left + 1000) & (ys <= top) & (ys > top - 1000)
    ours = on_grid.values[320:352, 384:416].mean()
    assert abs(ours - raw[inside].mean()) < 5.0


def test_shakemap_csv_node_value_and_units(tmp_path: Path) -> None:
    row = next(r for r in csv_rows(SHAKEMAP) if (r["lon"], r["lat"]) == ("85.6167", "28.2167"))
    field = open_raster(catalog_on(cell_at(85.6167, 28.2167), tmp_path).layer_list("pga")[0])
    centre = field.values[0, 1, 1]  # the one cell, inside its margin ring
    np.testing.assert_allclose(centre, float(row["pga_pct_g"]), rtol=1e-5)
    np.testing.assert_allclose(pga_to_ms2(field, "%g", "shakemap").values[0, 1, 1],
                               float(row["pga_pct_g"]) / 100 * G, rtol=1e-5)


def test_shakemap_on_langtang_within_file_range(langtang: Catalog) -> None:
    values = [float(r["pga_pct_g"]) for r in csv_rows(SHAKEMAP)]
    assert len(values) == 400 and (min(values), max(values)) == (30.9, 65.09)  # PROVENANCE: 30.9 to 65.1 % g
    field = open_raster(langtang.layer_list("pga")[0])
    assert field.shape == (1, 27, 31) and field.attrs["units"] == "%g"
    assert min(values) <= float(field.min()) and float(field.max()) <= max(values)
    assert "ln(value)" in field.attrs["interpolation"]


def test_openquake_field_at_a_site_and_against_the_derived_grid(tmp_path: Path, langtang: Catalog) -> None:
    site = next(r for r in csv_rows(GEM16) if r["custom_site_id"] == "m_10")
    assert next(k for k in site if k and k.startswith("AbrahamsonEtAl2014")).endswith('region = "CHN"')
    field = open_raster(catalog_on(cell_at(float(site["lon"]), float(site["lat"])), tmp_path).layer_list("pga")[1])
    np.testing.assert_allclose(field.values[0, 1, 1], float(site["ZhaoEtAl2016SInter"]), rtol=1e-5)
    # the shared folder's band 1 was made from the same column by griddata on ln(PGA) at cell centres
    ours = open_raster(langtang.layer_list("pga")[1]).values[0, 1:-1, 1:-1]
    with rasterio.open(GEM_TIF) as src:
        published = src.read(1)[ROWS, COLS]
    np.testing.assert_allclose(ours, published, rtol=1e-5)


def test_gem_spread_band_and_lognormal_std(langtang: Catalog) -> None:
    spread = open_raster(langtang.layer_list("pga")[2])
    with rasterio.open(GEM_TIF) as src:
        band3 = src.read(3)
    np.testing.assert_array_equal(spread.values[0], band3)
    sigma = float(band3[40, 120])
    tile = to_grid(pga_to_ms2(spread.squeeze("band", drop=True), "ln", "gem"), LANGTANG, "1km", "nearest")
    median = tile * 0 + 3.0
    median.attrs = {"units": "m/s2"}
    _, std = pga_statistics([median, tile])
    expected = 3.0 * np.exp(sigma**2 / 2) * np.sqrt(np.exp(sigma**2) - 1)
    np.testing.assert_allclose(std.values[40 - 35, 120 - 106], expected, rtol=1e-5)
    assert std.attrs["units"] == "m/s2" and "log-normal" in std.attrs["method"]


def test_station_pga_at_kathmandu_station(tmp_path: Path) -> None:
    ktp = next(r for r in csv_rows(STATIONS) if r["STATION_ID"] == "KTP")
    assert float(ktp["PGA_VALUE"]) == 0.25972
    catalog = catalog_on(cell_at(float(ktp["LONGITUDE"]), float(ktp["LATITUDE"])), tmp_path)
    field = open_raster(catalog.layer_list("pga")[3])
    np.testing.assert_allclose(pga_to_ms2(field, "g", "stations").values[0, 1, 1], 0.25972 * G, rtol=1e-5)


def test_chirps_series_nearest_pixel(langtang: Catalog) -> None:
    points = {r["column"]: (float(r["chirps_pixel_lon"]), float(r["chirps_pixel_lat"])) for r in csv_rows(RAIN_POINTS)}
    rows = csv_rows(RAIN)
    assert len(rows) == 3712
    rain = rain_to_mm_day(open_rainfall(langtang.layer("rainfall")), "mm/day", "chirps")
    assert rain.attrs["units"] == "mm/day"
    assert rain.sizes["time"] == (np.datetime64("2018-11-15") - np.datetime64("2015-04-01")).astype(int) + 1
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32645", always_xy=True)
    names = list(points)
    px, py = to_utm.transform([points[n][0] for n in names], [points[n][1] for n in names])
    day = next(r for r in rows if r["date"] == "2015-07-20")
    for row, col in ((1, 1), (13, 15), (25, 29)):  # cells of the tile (margin ring included in the layer)
        x = LANGTANG.x_min - 1000 + 1000 * col + 500
        y = LANGTANG.y_max + 1000 - 1000 * row - 500
        nearest = names[int(np.argmin(np.hypot(np.asarray(px) - x, np.asarray(py) - y)))]
        value = rain.sel(time="2015-07-20").values[row, col]
        np.testing.assert_allclose(value, float(day[nearest]), rtol=1e-6)
    assert rain.attrs["spread"] == "nearest" and "Nawakot" in rain.attrs["points_used"]


def test_nasa_points_are_events_never_area(tmp_path: Path) -> None:
    catalog = catalog_on(STUDY, tmp_path)
    events = open_event_points(catalog.layer("landslide_events"))
    rows = csv_rows(GLC)
    assert len(events) == len(rows) == 162 and bool(events["inside_grid"].all())
    by_year = events["date"].dt.year.value_counts()
    assert (by_year[2015], by_year[2016], by_year[2017]) == (26, 42, 10)
    assert int((events["landslide_trigger"] == "earthquake").sum()) == 10
    with pytest.raises(InventoryError, match="point catalogue of landslide events cannot give landslide area"):
        open_raster(catalog.layer("inventory"))


def test_openquake_models_combined_reproduce_the_spread_band(tmp_path: Path) -> None:
    site = next(r for r in csv_rows(GEM16) if r["custom_site_id"] == "t_1000")
    models = [k for k in site if k not in ("custom_site_id", "lon", "lat")]
    assert len(models) == 7
    first_lines = [m.splitlines()[0] for m in models]
    spread = {"path": str(GEM16), "format": "PointCSV", "units": "ln", "statistic": "std", "combine": "std_ln",
              "columns": {"values": first_lines}}
    median = {k: v for k, v in spread.items() if k != "statistic"} | {"units": "g", "combine": "geometric_mean"}
    catalog = catalog_on(LANGTANG, tmp_path / "a", pga=[median, spread])
    ours = open_raster(catalog.layer_list("pga")[1]).values[0, 1:-1, 1:-1]
    with rasterio.open(GEM_TIF) as src:  # band 3: std of ln PGA across the 7 models, interpolated linearly
        np.testing.assert_allclose(ours, src.read(3)[ROWS, COLS], rtol=1e-5)
    at_site = catalog_on(cell_at(float(site["lon"]), float(site["lat"])), tmp_path / "b", pga=[median])
    logs = np.log([float(site[m]) for m in models])
    np.testing.assert_allclose(open_raster(at_site.layer_list("pga")[0]).values[0, 1, 1], np.exp(logs.mean()),
                               rtol=1e-5)

"""Tests of the synthetic region generator (hazardcore.synthetic*) and of hazardcore.metrics.

Small regions (8 × 8 km, 2–3 slices) are generated once per session; the full default's
figures are checked by one slow test (``pytest -m slow``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
import yaml
from scipy import integrate, ndimage

from hazardcore import terrain
from hazardcore.catalog import load_catalog, open_rainfall, open_raster
from hazardcore.errors import ConfigError
from hazardcore.grid import GridSpec
from hazardcore.metrics import auc, pearson_r
from hazardcore.synthetic import (
    FILES,
    MAPPING_DATES,
    SLICE_LABELS,
    SynthReport,
    component_rng,
    observed_density,
    synthesize,
)
from hazardcore.synthetic_terrain import fractal_surface, rescale_relief, synthetic_dem
from hazardcore.synthetic_triggers import (
    EVENTS,
    GroundMotionModel,
    Rupture,
    median_pga_g,
    rupture_distance_km,
)
from hazardcore.synthetic_truth import SIZE_CLIP, SizeLaw

SIZE = 8
ALL_FILES = ("catalog.yaml", "dem_31m.tif", "pga_mainshock_1km.tif", "pga_aftershock_1km.tif",
             "rain_daily_chirps.nc", "inventory_cumulative_1km.tif", "truth_1km.nc")


@pytest.fixture(scope="session")
def region(tmp_path_factory: pytest.TempPathFactory) -> SynthReport:
    """Seed 42, 8 × 8 km, 3 slices; treat as read-only."""
    return synthesize(tmp_path_factory.mktemp("synth") / "a", seed=42, size_km=SIZE, n_slices=3)


@pytest.fixture(scope="session")
def twins(tmp_path_factory: pytest.TempPathFactory) -> tuple[SynthReport, SynthReport]:
    """Seed 42, 8 × 8 km, 2 slices, generated twice into two folders."""
    root = tmp_path_factory.mktemp("twins")
    first = synthesize(root / "one", seed=42, size_km=SIZE, n_slices=2)
    second = synthesize(root / "two", seed=42, size_km=(SIZE, SIZE), n_slices=2, progress=True)
    return first, second


def _truth(report: SynthReport) -> xr.Dataset:
    with xr.open_dataset(report.out_dir / FILES["truth"], decode_coords="all") as ds:
        return ds.load()


# ---------------------------------------------------------------------------------------
# Files, formats, catalog
# ---------------------------------------------------------------------------------------
def test_writes_every_file_and_a_loadable_catalog(region: SynthReport) -> None:
    assert sorted(p.name for p in region.out_dir.iterdir()) == sorted([*ALL_FILES, "manifest.json"])
    catalog = load_catalog(region.catalog_path)
    assert catalog.grid == region.grid
    assert catalog.slice_labels == list(SLICE_LABELS[:3]) == region.slice_labels
    assert [s.monsoons for s in catalog.slices] == [0, 1, 1]
    assert [(e.name, e.date.isoformat()) for e in catalog.events] == [
        ("mainshock", "2015-04-25"), ("aftershock", "2015-05-12")]


def test_catalog_schema_and_quoted_dates(region: SynthReport) -> None:
    text = region.catalog_path.read_text()
    raw = yaml.safe_load(text)
    assert list(raw) == ["case", "description", "licence", "citation", "generator", "grid",
                         "events", "slices", "layers"]
    assert raw["generator"] == {"module": "hazardcore.synthetic", "seed": 42,
                                "size_km": [SIZE, SIZE], "n_slices": 3,
                                "version": raw["generator"]["version"]}
    assert raw["citation"] == f"hazardcore synthetic region (seed 42, {SIZE}x{SIZE} km)"
    assert raw["grid"] == {"crs": "EPSG:32645", "x_min": 300000.0, "y_max": 3140000.0,
                           "n_rows": SIZE, "n_cols": SIZE, "cell_size_m": 1000.0,
                           "pixels_per_cell": 32}
    assert set(raw["layers"]) == {"dem", "pga", "rainfall", "inventory", "truth"}
    assert raw["layers"]["inventory"]["dates"] == list(MAPPING_DATES[:4])
    assert raw["layers"]["rainfall"]["start"] == "2015-04-02"
    assert raw["layers"]["rainfall"]["end"] == "2016-05-15"
    assert "'2015-04-01'" in text and "'2015-04-25'" in text  # dates are quoted strings
    for entry in [raw["layers"]["dem"], *raw["layers"]["pga"], raw["layers"]["truth"]]:
        assert not Path(entry["path"]).is_absolute()
        assert (region.out_dir / entry["path"]).is_file()


def test_dem_on_the_expanded_lattice(region: SynthReport) -> None:
    with rasterio.open(region.out_dir / FILES["dem"]) as src:
        assert src.dtypes == ("float32",)
        assert src.nodata == -9999.0
        assert src.crs.to_epsg() == 32645
        assert src.shape == ((SIZE + 2) * 32, (SIZE + 2) * 32)
        assert src.transform.a == pytest.approx(31.25) and src.transform.e == pytest.approx(-31.25)
        assert (src.transform.c, src.transform.f) == (299000.0, 3141000.0)
        z = src.read(1)
    assert np.isfinite(z).all() and z.min() > 0


def test_pga_lattice_units_and_range(region: SynthReport) -> None:
    for event in EVENTS:
        with rasterio.open(region.out_dir / f"pga_{event.name}_1km.tif") as src:
            assert src.tags()["units"] == "g"
            assert src.nodata == -1.0
            assert src.shape == (SIZE + 10, SIZE + 10)
            assert (src.transform.c, src.transform.f) == (300000.0 - 5000 + 370,
                                                          3140000.0 + 5000 - 410)
            assert src.transform.a == 1000.0
            pga = src.read(1)
        assert 0.02 < pga.min() and pga.max() < 2.0
        assert pga.max() / pga.min() > 1.3  # shaking varies across the region


def test_rainfall_is_chirps_like(region: SynthReport) -> None:
    with xr.open_dataset(region.out_dir / FILES["rain"], decode_coords="all") as ds:
        precip = ds["precip"].load()
        assert precip.dims == ("time", "latitude", "longitude")
        assert precip.attrs["units"] == "mm/day"
        assert precip.attrs["standard_name"] == "lwe_precipitation_rate"
        assert ds.rio.crs.to_epsg() == 4326
        assert ds.attrs["latitude_order"] == "descending"
    lat, lon = precip["latitude"].values, precip["longitude"].values
    assert np.allclose(np.diff(lon), 0.05) and np.allclose(np.diff(lat), -0.05)
    days = precip["time"].values
    assert days[0] == np.datetime64("2015-04-02") and days[-1] == np.datetime64("2016-05-15")
    assert np.all(np.diff(days) == np.timedelta64(1, "D"))
    left, bottom, right, top = (v for v in _lonlat_bounds(region.grid))
    assert lon[0] - 0.025 <= left - 0.1 and lon[-1] + 0.025 >= right + 0.1
    assert lat[-1] - 0.025 <= bottom - 0.1 and lat[0] + 0.025 >= top + 0.1
    month = precip["time"].dt.month
    wet = precip.where(month.isin([6, 7, 8, 9]), drop=True)
    dry = precip.where(month.isin([12, 1, 2, 3]), drop=True)
    assert float(wet.mean()) > 5 * float(dry.mean())
    assert float(wet.mean()) > 8.0 and float(wet.max()) > 50.0
    assert 0.05 < float((precip == 0).mean()) < 0.8  # dry days and dry areas exist
    assert open_rainfall(load_catalog(region.catalog_path).layer("rainfall")).dims == (
        "time", "y", "x")


def _lonlat_bounds(grid: GridSpec) -> tuple[float, float, float, float]:
    from pyproj import Transformer

    transformer = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    return transformer.transform_bounds(*grid.bounds, densify_pts=21)


def test_inventory_bands_dates_and_values(region: SynthReport) -> None:
    with rasterio.open(region.out_dir / FILES["inventory"]) as src:
        assert src.count == 4 and src.dtypes[0] == "float32" and src.nodata == -1.0
        assert list(src.descriptions) == list(MAPPING_DATES[:4])
        assert src.transform == region.grid.transform("1km")
        areas = src.read()
    assert areas.min() >= 0 and areas.max() <= 1e6
    assert (np.diff(areas, axis=0) < 0).any()  # old scars revegetate
    assert (areas[0] > 0).any()  # pre-existing scars at the baseline


def test_truth_layers_are_consistent(region: SynthReport) -> None:
    ds = _truth(region)
    assert ds["p_occurrence"].dims == ("slice", "y", "x")
    assert list(ds["slice"].values) == region.slice_labels
    assert ds.rio.crs.to_epsg() == 32645
    coords = region.grid.coords("1km")
    assert np.allclose(ds["x"], coords["x"]) and np.allclose(ds["y"], coords["y"])
    p, density = ds["p_occurrence"].values, ds["expected_density_given_occurrence"].values
    n, area = ds["n_landslides"].values, ds["new_area_m2"].values
    assert ((0 <= p) & (p <= 1)).all() and (density > 0).all()
    assert np.issubdtype(n.dtype, np.integer) and n.min() >= 0
    assert ((area > 0) == (n > 0)).all()
    known = p < 0.999  # where float32 p still resolves Λ = −ln(1 − p)
    lam = -np.log1p(-p[known].astype(np.float64))
    size = density[known] * p[known] * 1e6 / (100 * lam * SizeLaw().mean_m2())
    assert SIZE_CLIP[0] * 0.999 <= size.min() and size.max() <= SIZE_CLIP[1] * 1.001
    assert abs(n[known].sum() - lam.sum()) < 4 * np.sqrt(lam.sum())  # N ~ Poisson(Λ)
    expected_area = (p * density / 100 * 1e6).sum()
    assert area.sum() == pytest.approx(expected_area, rel=0.5)


def test_inventory_increase_holds_the_new_area(region: SynthReport) -> None:
    """The differenced inventory shows the new area, less the old scars' revegetation."""
    ds = _truth(region)
    areas = open_raster(load_catalog(region.catalog_path).layer("inventory")).values
    observed = observed_density(areas, 1e6)
    new = ds["new_area_m2"].values / 1e4
    assert (observed <= new + 1e-3).all()
    assert (observed[new == 0] == 0).all()
    assert (observed > 0).sum() >= 0.7 * (new > 0).sum()


def test_report_figures_match_the_files(region: SynthReport) -> None:
    ds = _truth(region)
    areas = open_raster(load_catalog(region.catalog_path).layer("inventory")).values
    observed = observed_density(areas, 1e6)
    positive = observed > 0
    assert region.positive_fraction == pytest.approx(positive.mean())
    assert region.positive_fraction_per_slice == pytest.approx(list(positive.mean(axis=(1, 2))))
    assert region.oracle_auc == pytest.approx(auc(positive, ds["p_occurrence"].values), abs=1e-3)
    assert region.density_max_pct == pytest.approx(observed.max(), rel=1e-5)
    assert 0.5 < region.oracle_auc <= 1.0
    assert 20.0 < region.mean_slope_deg < 35.0


# ---------------------------------------------------------------------------------------
# Determinism and independence of the components
# ---------------------------------------------------------------------------------------
def test_same_seed_gives_byte_identical_files(twins: tuple[SynthReport, SynthReport]) -> None:
    first, second = twins
    names = sorted(p.name for p in first.out_dir.iterdir())
    assert names == sorted(p.name for p in second.out_dir.iterdir())
    for name in names:
        assert (first.out_dir / name).read_bytes() == (second.out_dir / name).read_bytes(), name


def test_fewer_slices_leave_the_other_components_unchanged(
        region: SynthReport, twins: tuple[SynthReport, SynthReport]) -> None:
    short = twins[0]
    for name in ("dem_31m.tif", "pga_mainshock_1km.tif", "pga_aftershock_1km.tif"):
        assert (short.out_dir / name).read_bytes() == (region.out_dir / name).read_bytes()
    long_truth, short_truth = _truth(region), _truth(short)
    for name in ("p_occurrence", "n_landslides", "new_area_m2"):
        np.testing.assert_array_equal(short_truth[name].values, long_truth[name].values[:2])


def test_different_seed_gives_a_different_dem(tmp_path: Path) -> None:
    grid = GridSpec("EPSG:32645", 300000.0, 3140000.0, 4, 4)
    dem_a = synthetic_dem(grid, component_rng(42, "terrain"))
    dem_b = synthetic_dem(grid, component_rng(43, "terrain"))
    assert not np.array_equal(dem_a.values, dem_b.values)
    assert float(np.abs(dem_a.values - dem_b.values).mean()) > 10.0


def test_component_generators_are_independent() -> None:
    a = component_rng(42, "terrain").standard_normal(3)
    b = component_rng(42, "rain").standard_normal(3)
    c = component_rng(42, "terrain").standard_normal(3)
    assert not np.allclose(a, b) and np.array_equal(a, c)


@pytest.mark.parametrize("kwargs", [{"n_slices": 0}, {"n_slices": 9}, {"size_km": 2},
                                    {"size_km": (8, 8, 8)}, {"size_km": (8, 2.5)}])
def test_bad_arguments_raise_config_error(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        synthesize(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------
# Science: terrain, shaking, sizes
# ---------------------------------------------------------------------------------------
def _valley_depth_m(dem: xr.DataArray) -> np.ndarray:
    """Elevation of each stream pixel below the mean of its 1 km neighbourhood (m)."""
    z = dem.values.astype(np.float64)
    relative = z - ndimage.uniform_filter(z, 33, mode="nearest")
    stream = terrain.streams(dem).values
    stream[:32], stream[-32:], stream[:, :32], stream[:, -32:] = False, False, False, False
    return np.asarray(-relative[stream])


def test_streams_lie_in_valleys_which_noise_lacks() -> None:
    grid = GridSpec("EPSG:32645", 300000.0, 3140000.0, SIZE, SIZE)
    dem = synthetic_dem(grid, component_rng(42, "terrain"))
    curvature = terrain.planar_curvature(dem).values[terrain.streams(dem).values]
    assert curvature.mean() < 0 and np.median(curvature) < 0 and (curvature < 0).mean() > 0.8
    depth = _valley_depth_m(dem)
    assert depth.mean() > 60.0 and np.percentile(depth, 25) > 40.0
    # control: a fractal surface with the same mean slope has no carved valleys
    noise = fractal_surface((dem.shape[0], dem.shape[1]), 31.25, np.random.default_rng(0))
    control = dem.copy(data=rescale_relief(100 * noise, 31.25, 32, 28.0) + 1000)
    control_depth = _valley_depth_m(control)
    assert control_depth.mean() < 50.0 and np.percentile(control_depth, 25) < 30.0


def test_rupture_distance_by_hand() -> None:
    rupture = Rupture("test", "2015-04-25", 7.0, anchor_km=(0.0, 0.0), extends="west",
                      top_depth_km=5.0, strike_deg=270.0, dip_deg=90.0)
    # vertical plane along the x axis, from x = 0 westward, top 5 km deep
    east = np.array([-10.0, 3.0, -10.0])
    north = np.array([0.0, 0.0, 4.0])
    expected = np.array([5.0, np.hypot(3.0, 5.0), np.hypot(4.0, 5.0)])
    np.testing.assert_allclose(rupture_distance_km(east, north, rupture), expected, atol=1e-9)
    dipping = Rupture("d", "2015-04-25", 7.8, anchor_km=(0.0, 0.0), extends="west",
                      top_depth_km=6.0)
    down = np.array([np.sin(np.radians(20.0)), np.cos(np.radians(20.0))]) * 10.0
    above = rupture_distance_km(np.array([-20 * 0.94 + down[0]]), np.array([20 * 0.342 + down[1]]),
                                dipping)
    depth = 6.0 + 10.0 * np.tan(np.radians(10.0))  # plane depth 10 km down-dip
    assert above[0] == pytest.approx(depth * np.cos(np.radians(10.0)), rel=1e-3)


def test_near_fault_shaking_is_strong() -> None:
    gmm = GroundMotionModel()
    near = median_pga_g(7.8, np.array([6.0]), gmm)[0]
    far = median_pga_g(7.8, np.array([60.0]), gmm)[0]
    assert 0.4 < near < 0.8 and far < near / 4
    assert median_pga_g(7.3, np.array([6.0]), gmm)[0] < near


def test_size_law_mean_is_exact() -> None:
    law = SizeLaw()

    def pdf(area: float) -> float:
        y = area - law.s_m2
        return float((law.a_m2 / y) ** (law.rho + 1) * np.exp(-law.a_m2 / y) / law.a_m2)

    mass = integrate.quad(pdf, law.min_m2, law.max_m2, limit=200, points=[1e3, 1e4])[0]
    first = integrate.quad(lambda a: a * pdf(a), law.min_m2, law.max_m2, limit=200,
                           points=[1e3, 1e4])[0]
    assert law.mean_m2() == pytest.approx(first / mass, rel=1e-6)
    draws = law.sample(400_000, np.random.default_rng(1))
    assert draws.min() >= law.min_m2 and draws.max() <= law.max_m2
    assert draws.mean() == pytest.approx(law.mean_m2(), rel=0.02)


# ---------------------------------------------------------------------------------------
# The default region (slow)
# ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_default_region_hits_its_targets(tmp_path: Path) -> None:
    report = synthesize(tmp_path, seed=42)
    assert report.grid.shape("1km") == (32, 32)
    assert report.elevation_span_m >= 2500.0
    assert 20.0 <= report.mean_slope_deg <= 35.0 and report.max_slope_deg > 50.0
    assert 0.10 <= report.positive_fraction <= 0.25
    assert 0.85 <= report.oracle_auc <= 0.95
    assert report.oracle_density_r >= 0.6
    assert report.density_p50_pct < 5.0 and report.density_max_pct > 30.0
    assert report.positive_fraction_per_slice[0] == max(report.positive_fraction_per_slice)


# ---------------------------------------------------------------------------------------
# hazardcore.metrics
# ---------------------------------------------------------------------------------------
def test_auc_by_hand() -> None:
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auc([0, 1], [0.2, 0.9]) == 1.0 and auc([1, 0], [0.2, 0.9]) == 0.0
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auc([0, 0, 1], [0.3, 0.7, 0.7]) == pytest.approx(0.75)  # one tie counts 1/2
    rng = np.random.default_rng(3)
    y, s = rng.integers(0, 2, 300), rng.normal(size=300)
    pairs = [(float(a > b) + 0.5 * float(a == b)) for a in s[y == 1] for b in s[y == 0]]
    assert auc(y, s) == pytest.approx(np.mean(pairs))


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1]])
def test_auc_needs_both_classes(labels: list[int]) -> None:
    with pytest.raises(ValueError, match="both classes"):
        auc(labels, np.arange(len(labels), dtype=float))


def test_pearson_r_matches_numpy() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=50)
    y = 2 * x + rng.normal(size=50)
    assert pearson_r(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert pearson_r(x, -x) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        pearson_r([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        pearson_r([1.0, 2.0], [1.0, 2.0, 3.0])


def test_rain_dates_cover_every_slice_day(region: SynthReport) -> None:
    rain = open_rainfall(load_catalog(region.catalog_path).layer("rainfall"))
    have = set(rain["time"].values.astype("datetime64[D]").tolist())
    start, end = dt.date.fromisoformat(MAPPING_DATES[0]), dt.date.fromisoformat(MAPPING_DATES[3])
    days = {start + dt.timedelta(days=i + 1) for i in range((end - start).days)}
    assert days <= have

"""Forecast periods (issue 20): unmapped periods in the catalog, scenarios, forecast maps, the hindcast."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import builders
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from hazardcore.catalog import load_catalog
from hazardcore.config import TrainConfig
from hazardcore.cube import PreparedCube
from hazardcore.errors import CatalogError
from hazardcore.prepare import prepare
from hazardcore.scenarios import annual_maxima, design_rain, fit_growth_curve, quake_pga, scaled_rain
from hazardcore.slices import QuakeScenario, SliceSpec
from hazardcore.synthetic_triggers import GroundMotionModel, median_pga_g

FORECAST = {"label": "2016-post", "start": "2016-05-15", "end": "2016-11-15"}
#: The forward split of the tiny region: test the last mapped period, validate on the one before, train on the first.
FORWARD = {"split": "forward", "test_slice": -1, "temporal_validation": "slices", "validation_slice_count": 1}


def hindcast_catalog(catalog: Path, out: Path) -> Path:
    """A copy of a catalog whose last mapped period is withheld: declared a forecast period."""
    shutil.copy(catalog, out)

    def withhold(data: dict[str, Any]) -> None:
        data["forecasts"] = [data["slices"].pop()]
        for item in data["layers"].values():  # the layers stay where they are
            for entry in item if isinstance(item, list) else [item]:
                entry["path"] = str(catalog.parent / entry["path"])

    return builders.edit_catalog(out, withhold)


@pytest.fixture(scope="module")
def scenario_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny region with one forecast period after its last mapping: rain 2 × 2015-post and an M 7 quake."""
    root = tmp_path_factory.mktemp("forecast")
    grid = builders.grid()
    quake = {"name": "scenario-M7", "date": "2016-06-01", "magnitude": 7.0, "x": grid.x_min + 4000.0,
             "y": grid.y_max - 4000.0}
    catalog = builders.write_region(root / "region", forecasts=[
        FORECAST | {"rain": {"period": "2015-post", "factor": 2.0}, "earthquake": quake}])
    prepare(catalog, root / "work")
    return root / "work"


def test_withheld_period_has_the_predictors_of_the_mapped_one(tiny_catalog: Path, tiny_workdir: Path,
                                                              tmp_path: Path) -> None:
    """Withholding the last period's inventory changes its labels only: same predictors, no targets."""
    prepare(hindcast_catalog(tiny_catalog, tmp_path / "hindcast.yaml"), tmp_path / "work")
    full, held = PreparedCube.open(tiny_workdir), PreparedCube.open(tmp_path / "work")
    assert held.slice_labels == full.slice_labels
    assert held.labelled_mask.tolist() == [True, True, False]
    np.testing.assert_array_equal(held.dynamic, full.dynamic)
    np.testing.assert_array_equal(held.static, full.static)
    np.testing.assert_array_equal(held.period, full.period)
    np.testing.assert_array_equal(held.valid, full.valid)  # valid: the predictors, in a forecast period
    assert np.isnan(held.density[2]).all() and not held.presence[2].any()
    np.testing.assert_array_equal(held.density[:2], full.density[:2])
    assert held.forecasts == {"2016-pre": {"label": "2016-pre", "labelled": False,
                                           "rain": {"source": "catalog rainfall layer"}}}


def test_forecast_periods_are_never_labels(tiny_catalog: Path, tmp_path: Path) -> None:
    """Samples, every split protocol's sides and the cell masks of training, calibration and test skip them."""
    from hazardcore.datasets import split_of
    from hazardcore.pipeline import side_masks

    prepare(hindcast_catalog(tiny_catalog, tmp_path / "hindcast.yaml"), tmp_path / "work")
    cube = PreparedCube.open(tmp_path / "work")
    assert set(cube.samples()[:, 0]) == {0, 1}
    for protocol in ("random", "spatial", "forward", "temporal"):
        config = TrainConfig(split=protocol, test_slice=-1, split_block_patches=1, temporal_validation="blocks")
        split = split_of(cube, config)
        masks = side_masks(cube, split)
        for side, mask in masks.items():
            assert not mask[2].any(), (protocol, side)
            assert not len(split.samples(cube.samples(), side)) or 2 not in split.samples(cube.samples(), side)[:, 0]
        if protocol in ("forward", "temporal"):
            assert split.test_slices is not None and split.test_slices.tolist() == [1], protocol


def test_catalog_forecast_entries(scenario_workdir: Path) -> None:
    """A forecast period is a slice in time order, unlabelled, with its earthquake among the events."""
    catalog = load_catalog(PreparedCube.open(scenario_workdir).catalog_path)
    assert catalog.slice_labels == ["2015-co", "2015-post", "2016-pre", "2016-post"]
    assert [spec.labelled for spec in catalog.slices] == [True, True, True, False]
    assert [event.name for event in catalog.events] == ["mainshock", "aftershock", "scenario-M7"]
    forecast = catalog.forecasts["2016-post"]
    assert forecast.rain is not None and forecast.rain.factor == 2.0 and forecast.quake is not None
    provenance = forecast.provenance()
    assert provenance["rain"]["period"] == "2015-post" and provenance["earthquake"]["magnitude"] == 7.0


def test_scenario_period_predictors(scenario_workdir: Path) -> None:
    """Scaled rain doubles the past period's wettest day; the quake sets its period and PGA channels."""
    cube = PreparedCube.open(scenario_workdir)
    assert cube.labelled_mask.tolist() == [True, True, True, False]
    rain_max = [float(np.nanmax(cube.dynamic[k, 0])) for k in range(4)]
    assert rain_max[3] == pytest.approx(2 * rain_max[1])  # 2015-post's 100 mm day, doubled
    assert cube.period[3].tolist() == [2.0, 1.0, 184.0]  # monsoons since the mainshock, quake in it, days
    assert cube.pga_of_slice is not None and cube.pga_of_slice.tolist() == [-1, -1, -1, 0]
    image, before = cube.block_image(3, slice(0, 64), slice(0, 64)), cube.block_image(1, slice(0, 64), slice(0, 64))
    np.testing.assert_array_equal(image[:8], before[:8])  # terrain unchanged
    # three uniform events (0.5 g, 0.3 g and the scenario's field): the spread over them is larger than over two
    assert (image[12] > before[12]).all() and np.allclose(image[11], 0.5 * 9.80665, rtol=1e-6)
    assert cube.valid[3].all() and np.isnan(cube.density[3]).all()


def test_forecast_rain_from_its_own_file(tmp_path: Path) -> None:
    """A forecast's rain file on another lattice (0.1°) is put on the record's lattice, then on the grid."""
    import hazardcore.export as export

    grid = builders.grid()
    lon, lat = builders.lonlat_axes(grid, step_deg=0.1, pad_deg=0.2)
    days = pd.date_range("2016-05-16", "2016-11-15", freq="D")
    values = np.full((len(days), len(lat), len(lon)), 7.0, dtype="float32")
    values[days == pd.Timestamp("2016-07-01")] = 70.0
    rain = xr.Dataset({"precip": (("time", "latitude", "longitude"), values, {"units": "mm/day"})},
                      coords={"time": days, "latitude": lat, "longitude": lon}).rio.write_crs("EPSG:4326")
    (tmp_path / "region").mkdir()
    export.write_netcdf(rain, tmp_path / "region" / "outlook.nc")
    entry = {"path": "outlook.nc", "format": "NetCDF", "variable": "precip", "crs": "EPSG:4326", "units": "mm/day"}
    catalog = builders.write_region(tmp_path / "region", forecasts=[FORECAST | {"rainfall": entry}])
    prepare(catalog, tmp_path / "work")
    cube = PreparedCube.open(tmp_path / "work")
    np.testing.assert_allclose(np.asarray(cube.dynamic[3, 0]), 70.0, rtol=1e-5)  # rain_max
    np.testing.assert_allclose(np.asarray(cube.dynamic[3, 2]), 7.0 * (len(days) - 1) + 70.0, rtol=1e-5)  # rain_total
    assert cube.valid[3].all() and cube.forecasts is not None
    assert cube.forecasts["2016-post"]["rain"]["path"].endswith("outlook.nc")


def test_forecast_errors(region_copy: Path) -> None:
    """Unknown scenario periods, quakes outside their period and doubled labels are refused at load."""
    cases = [({"rain": {"period": "1999"}}, "unknown period"),
             ({"earthquake": {"date": "2010-01-01", "magnitude": 7, "x": 0, "y": 0}}, "outside its period"),
             ({"earthquake": {"date": "2016-06-01"}}, "no ground motion"),
             ({"label": "2015-co"}, "share a label")]
    for extra, message in cases:
        builders.edit_catalog(region_copy, lambda data, extra=extra: data.update(forecasts=[FORECAST | extra]))
        with pytest.raises(CatalogError, match=message):
            load_catalog(region_copy)


def record(years: int = 30, seed: int = 1) -> xr.DataArray:
    """A daily record (time, y, x) whose annual maxima are known: Gumbel (GEV c = 0) draws, scaled per pixel."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("1990-01-01", f"{1990 + years - 1}-12-31", freq="D")
    scale = np.array([[1.0, 2.0], [3.0, 4.0]], dtype="float32")
    values = rng.uniform(0, 5, size=(len(days), 2, 2)).astype("float32")
    peaks = stats.gumbel_r.rvs(loc=50, scale=10, size=years, random_state=rng)
    for k, year in enumerate(range(1990, 1990 + years)):
        values[np.flatnonzero(days.year == year)[200]] = peaks[k]
    da = xr.DataArray(values * scale, dims=("time", "y", "x"),
                      coords={"time": days, "y": [1.0, 0.0], "x": [0.0, 1.0]})
    return da


def test_design_rainfall_from_annual_maxima() -> None:
    """The growth curve of a Gumbel record: c near 0, KS not rejecting, the 100-year level at its quantile."""
    rain = record()
    maxima = annual_maxima(rain)
    assert maxima.sizes["year"] == 30
    fit = fit_growth_curve(maxima, 100.0)
    assert abs(fit.shape_c) < 0.25 and fit.ks_pvalue > 0.05 and fit.pixels == 4
    ratios = (maxima / maxima.mean("year")).values.ravel()
    assert fit.growth_factor == pytest.approx(stats.genextreme.isf(0.01, *stats.genextreme.fit(ratios)), rel=1e-6)
    past = SliceSpec("p", pd.Timestamp("2000-01-01").date(), pd.Timestamp("2000-12-31").date())
    target = SliceSpec("t", pd.Timestamp("2021-01-01").date(), pd.Timestamp("2021-12-31").date())
    designed, fit2 = design_rain(rain, past, target, 100.0)
    expected = (maxima.mean("year") * fit.growth_factor).values
    np.testing.assert_allclose(designed.max("time").values, expected, rtol=1e-5)
    assert designed.sizes["time"] == 364 and fit2 == fit  # the days after the start, up to the end
    with pytest.raises(CatalogError, match="too short"):
        fit_growth_curve(annual_maxima(record(years=2)), 10.0)


def test_scaled_rain_repeats_the_past_days() -> None:
    """A longer target period repeats the past days in order; every value is scaled."""
    rain = record(years=2)
    past = SliceSpec("p", pd.Timestamp("1990-01-01").date(), pd.Timestamp("1990-01-11").date())  # 10 days
    target = SliceSpec("t", pd.Timestamp("1995-01-01").date(), pd.Timestamp("1995-01-16").date())  # 15 days
    out = scaled_rain(rain, past, target, 1.5)
    block = rain.sel(time=slice("1990-01-02", "1990-01-11")).values
    np.testing.assert_allclose(out.values, 1.5 * np.concatenate([block, block[:5]]), rtol=1e-6)
    assert pd.DatetimeIndex(out["time"].values)[0] == pd.Timestamp("1995-01-02")


def test_scenario_quake_follows_the_synthetic_law() -> None:
    """The median PGA at the anchor (R = top depth) is the synthetic world's law at that distance."""
    grid = builders.grid()
    x, y = grid.coords("30m")["x"][100], grid.coords("30m")["y"][50]
    pga = quake_pga(grid, QuakeScenario(7.0, float(x), float(y), depth_km=10.0))
    expected = median_pga_g(7.0, np.array([10.0]), GroundMotionModel())[0] * 9.80665
    assert float(pga.values[50, 100]) == pytest.approx(expected, rel=1e-5)
    assert pga.rio.crs is not None and pga.attrs["units"] == "m/s2"
    assert float(pga.values[50, 100]) == pytest.approx(float(pga.max()), rel=0.2)


@pytest.fixture(scope="module")
def forward_and_hindcast(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A forward-split tiny run predicted on the full data, and the same run's hindcast of the last period."""
    from conftest import tiny_run_configs

    from hazardcore.cli import main
    from hazardcore.forecast import forecast_path
    from hazardcore.pipeline import find_run, predict_run
    from hazardcore.train import train

    root = tmp_path_factory.mktemp("hindcast")
    model, config = tiny_run_configs()
    config = TrainConfig.from_dict(config.to_dict() | FORWARD)
    prepare(tiny_catalog, root / "full")
    train(root / "full", model, config)
    run = find_run(root / "full")
    forward = predict_run(root / "full", run, device="cpu")
    prepare(hindcast_catalog(tiny_catalog, root / "hindcast.yaml"), root / "held")
    shutil.copytree(run, root / "held" / "runs" / run.name)
    assert main(["predict", str(root / "held"), "--run", run.name, "--period", "2016-pre", "--device", "cpu",
                 "--quiet"]) == 0
    return {"forward": forward, "path": forecast_path(root / "held" / "runs" / run.name, "2016-pre"),
            "held": root / "held", "full": root / "full", "run": run.name}


def test_hindcast_is_the_forward_prediction(forward_and_hindcast: dict[str, Any]) -> None:
    """The forecast of a withheld period equals the forward run's prediction of it: one prediction path."""
    forward = forward_and_hindcast["forward"].sel(slice="2016-pre")
    with xr.open_dataset(forward_and_hindcast["path"], decode_coords="all") as maps:
        assert maps.attrs["product_kind"] == "forecast" and maps.attrs["metrics"].startswith("none")
        assert maps.attrs["period_start"] == "2015-11-15" and maps.attrs["period_end"] == "2016-05-15"
        assert maps.rio.crs is not None
        for name in ("susceptibility", "density", "hazard"):
            np.testing.assert_allclose(maps[name].values, forward[name].values, rtol=1e-5, atol=1e-7)
            assert np.isfinite(maps[name].values).all()
        calibration = json.loads(forward_and_hindcast["forward"].attrs["calibration"])
        assert maps.attrs["decision_threshold"] == pytest.approx(calibration["thresholds_per_slice"]["2016-pre"])
        assert not {"observed_density", "presence", "test", "train"} & set(maps.variables)


def test_forecast_products_are_like_a_runs(forward_and_hindcast: dict[str, Any], tmp_path: Path) -> None:
    """`--period` also writes the maps as products (COGs, styles, CF NetCDF) in forecasts/<label>/, marked forecast."""
    import rasterio

    from hazardcore.export import write_style
    from hazardcore.integrity import verify_file
    from hazardcore.runfolder import forecast_products

    path = forward_and_hindcast["path"]
    folder = forecast_products(path.parent.parent, "2016-pre")
    forward = forward_and_hindcast["forward"]
    with xr.open_dataset(path) as stored:
        maps = stored.load()
    for name in ("susceptibility", "density", "hazard", "predicted_occurrence"):
        for suffix in ("tif", "qml"):
            verify_file(folder / f"{name}.{suffix}", fix="forecast again")
    units = {"susceptibility": "1", "density": "%", "hazard": "%"}
    for name, unit in units.items():
        with rasterio.open(folder / f"{name}.tif") as src:
            assert src.count == 1 and src.units == (unit,) and src.descriptions == ("2016-pre",)
            assert src.tags(1)["start_date"] == "2015-11-15T00:00:00Z"
            assert src.tags(1)["end_date"] == "2016-05-15T00:00:00Z"
            tags = src.tags()
            assert tags["product_kind"] == "forecast" and tags["metrics"].startswith("none")
            assert json.loads(tags["provenance"]) == json.loads(maps.attrs["provenance"])
            assert tags["provenance"] and json.loads(tags["provenance"])["rain"] == {"source": "catalog rainfall layer"}
            np.testing.assert_allclose(src.read(1), maps[name].values, rtol=1e-6)
            assert src.driver == "GTiff" and src.profile["tiled"]  # a COG is a tiled GeoTIFF
        # the style of the run's products for the same variable (write_products writes it with write_style)
        run_style = write_style(forward[name], tmp_path / f"{name}.qml").read_text()
        assert (folder / f"{name}.qml").read_text() == run_style
    with rasterio.open(folder / "susceptibility.tif") as src:  # the period's decision threshold, as in a run's
        assert float(src.tags(1)["decision_threshold"]) == pytest.approx(maps.attrs["decision_threshold"], rel=1e-6)
    with rasterio.open(folder / "predicted_occurrence.tif") as src:
        expected = (maps["susceptibility"].values >= np.float32(maps.attrs["decision_threshold"])).astype("uint8")
        np.testing.assert_array_equal(src.read(1), expected)
    verify_file(folder / "hazard.nc", fix="forecast again")
    with xr.open_dataset(folder / "hazard.nc") as cf:
        assert cf.attrs["product_kind"] == "forecast" and "forecast" in cf.attrs["title"]
        assert json.loads(cf.attrs["provenance"]) == json.loads(maps.attrs["provenance"])
        assert cf["slice_label"].values.tolist() == ["2016-pre"]
        assert str(cf["time_bnds"].values[0, 1])[:10] == "2016-05-15"
        np.testing.assert_allclose(cf["hazard"].values[0], maps["hazard"].values, rtol=1e-6)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["product_kind"] == "forecast" and manifest["period"] == "2016-pre"
    assert {"hazard.tif", "hazard.nc", "hazard.qgs"} <= set(manifest["files"])


def test_forecast_of_a_mapped_period_is_refused(forward_and_hindcast: dict[str, Any]) -> None:
    """--period of a mapped period, or --scenario of a period with observed rain, says what to do instead."""
    from hazardcore.cli import main

    held, run = str(forward_and_hindcast["held"]), forward_and_hindcast["run"]
    assert main(["predict", held, "--run", run, "--period", "2015-post", "--quiet"]) != 0
    assert main(["predict", held, "--run", run, "--scenario", "2016-pre", "--quiet"]) != 0


def test_scenario_forecast_says_where_it_extrapolates(forward_and_hindcast: dict[str, Any], scenario_workdir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`hazard scenario` reports the scenario; `--scenario` writes its maps with provenance and extrapolation."""
    from hazardcore.cli import main
    from hazardcore.forecast import forecast_path

    catalog = PreparedCube.open(scenario_workdir).catalog_path
    assert main(["scenario", catalog]) == 0
    out = capsys.readouterr().out
    assert "2016-post: 2016-05-15 .. 2016-11-15" in out and '"factor": 2.0' in out and "scenario-M7" in out
    run = scenario_workdir / "runs" / forward_and_hindcast["run"]
    shutil.copytree(forward_and_hindcast["held"] / "runs" / run.name, run)
    assert main(["predict", str(scenario_workdir), "--run", run.name, "--scenario", "2016-post", "--device", "cpu",
                 "--quiet"]) == 0
    with xr.open_dataset(forecast_path(run, "2016-post")) as maps:
        provenance = json.loads(maps.attrs["provenance"])
        assert provenance["rain"] == {"source": "scenario", "kind": "scaled", "period": "2015-post", "factor": 2.0,
                                      "return_period_years": None}
        assert provenance["earthquake"]["ground_motion"]["magnitude"] == 7.0
        outside = json.loads(maps.attrs["extrapolation"])
        # the doubled 100 mm day lies beyond every training cell's (the forward run trains on 2015-co: 9 mm/day)
        assert outside["rain_max"]["slice_mean"] == pytest.approx(200.0)
        assert outside["rain_max"]["train_max"] == pytest.approx(9.0) and outside["rain_max"]["cells_outside"] == 1.0
        assert "rain_max" in maps.attrs["outside_training_range"]
        # its own quake widens the spread of PGA over the events beyond the static layer's (0.98 m/s2 everywhere)
        assert outside["pga_std"]["train_max"] == pytest.approx(0.2 * 9.80665 / 2, rel=1e-5)
        assert outside["pga_std"]["slice_mean"] > outside["pga_std"]["train_max"] and "pga_max" not in outside
        assert np.isfinite(maps["hazard"].values).all()


def test_ensemble_forecast_has_intervals(scenario_workdir: Path) -> None:
    """Members trained on data with a forecast period never train on it; their forecast carries the intervals."""
    from conftest import tiny_run_configs

    from hazardcore.ensemble import train_ensemble
    from hazardcore.export import open_predictions
    from hazardcore.forecast import forecast_run
    from hazardcore.runfolder import PREDICTIONS

    model, config = tiny_run_configs()
    config = TrainConfig.from_dict(config.to_dict() | FORWARD)
    folder = train_ensemble(scenario_workdir, model, config, members=2)
    maps, path = forecast_run(scenario_workdir, folder, "2016-post", scenario=True, ensemble=True, device="cpu")
    assert path.is_file() and maps.attrs["members"].count(",") == 1
    for name in ("hazard", "hazard_p05", "hazard_p50", "hazard_p95", "susceptibility_p95"):  # products too
        assert (folder / "forecasts" / "2016-post" / f"{name}.tif").is_file(), name
    for name in ("susceptibility", "density", "hazard"):
        low, high = maps[f"{name}_p05"].values, maps[f"{name}_p95"].values
        assert np.isfinite(low).all() and (low <= high + 1e-6).all()
    predictions = open_predictions(folder / PREDICTIONS)
    assert predictions["test"].sel(slice="2016-pre").values.any()  # the forward split's test: the last mapped
    for side in ("train", "validation", "test"):
        assert not predictions[side].sel(slice="2016-post").values.any(), side
    assert np.isnan(predictions["observed_density"].sel(slice="2016-post").values).all()


def test_scenario_add_writes_a_checked_catalog(tiny_catalog: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`hazard scenario --add` writes a catalog with the period (layer paths made absolute elsewhere), or refuses."""
    from hazardcore.cli import main

    out = tmp_path / "next.yaml"
    assert main(["scenario", str(tiny_catalog), "--add", "2016-post", "--start", "2016-05-15", "--end", "2016-11-15",
                 "--rain-from", "2015-post", "--factor", "1.5", "--quake", "7", "404000", "3096000",
                 "--out", str(out)]) == 0
    catalog = load_catalog(out)
    forecast = catalog.forecasts["2016-post"]
    assert forecast.rain is not None and forecast.rain.factor == 1.5
    assert forecast.quake is not None and forecast.event is not None and forecast.event.date.isoformat() == "2016-11-15"
    assert catalog.layer("dem").path == (tiny_catalog.parent / "dem.tif").resolve()
    assert "rain_max mean / largest (mm/day)" in capsys.readouterr().out
    # the tiny record holds one year of >= 180 days: too short for a design storm, refused before writing
    assert main(["scenario", str(tiny_catalog), "--add", "x", "--start", "2016-05-15", "--end", "2016-11-15",
                 "--rain-from", "2015-post", "--return-period", "100", "--out", str(tmp_path / "x.yaml")]) != 0
    assert "too short a rain record" in capsys.readouterr().err


def test_restored_inventory_evaluates_to_the_forward_numbers(forward_and_hindcast: dict[str, Any],
                                                             tiny_catalog: Path) -> None:
    """Once the withheld inventory is back, evaluating the hindcast run gives the forward run's numbers.

    Its stored predictions (made while the period was a forecast) no longer match the data's labels,
    so evaluate predicts again rather than scoring a period without observations.
    """
    from hazardcore.pipeline import evaluate_run

    held, run = forward_and_hindcast["held"], forward_and_hindcast["run"]
    forward = evaluate_run(forward_and_hindcast["full"], forward_and_hindcast["full"] / "runs" / run).metrics
    prepare(tiny_catalog, held)  # the inventory restored
    evaluation = evaluate_run(held, held / "runs" / run)
    restored = evaluation.metrics
    # the report lists the run's forecast (made while the period was unmapped); a run without any has no section
    page = evaluation.report.read_text()
    assert '<section id="forecast-2016-pre"><h3>2016-pre</h3>' in page and "<dd>2015-11-15 – 2016-05-15</dd>" in page
    assert "<h2>Forecasts</h2>" not in (forward_and_hindcast["full"] / "runs" / run / "report.html").read_text()
    assert restored["test_cells"] == forward["test_cells"] > 0
    for key in ("susceptibility", "density", "per_slice"):  # as JSON: NaN scores compare equal
        assert json.dumps(restored[key], sort_keys=True) == json.dumps(forward[key], sort_keys=True), key


def test_tiled_prepare_of_forecast_periods_is_the_same(scenario_workdir: Path, tmp_path: Path) -> None:
    """`hazard prepare --chunks` (Dask tiles) gives the forecast periods the same predictors and PGA layers."""
    whole = PreparedCube.open(scenario_workdir)
    prepare(whole.catalog_path, tmp_path / "tiled", chunks=128)
    tiled = PreparedCube.open(tmp_path / "tiled")
    np.testing.assert_allclose(np.asarray(tiled.dynamic), np.asarray(whole.dynamic), rtol=1e-6, equal_nan=True)
    assert tiled.pga_event is not None and whole.pga_event is not None
    np.testing.assert_allclose(tiled.pga_event, whole.pga_event, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(tiled.valid, whole.valid)
    assert tiled.labelled_mask.tolist() == whole.labelled_mask.tolist()


def test_a_new_training_removes_the_forecasts(tmp_path: Path) -> None:
    """Forecasts are outputs of the trained model: a fresh training of the run makes them stale and removes them."""
    from hazardcore.runfolder import forecast_files, forecast_products
    from hazardcore.runstatus import clear_outputs

    run = tmp_path / "runs" / "abc"
    forecast_products(run, "2016-post").mkdir(parents=True)
    (run / "forecasts" / "2016-post.nc").write_bytes(b"old maps")
    assert forecast_files(run) == [run / "forecasts" / "2016-post.nc"]
    clear_outputs(run)
    assert not (run / "forecasts").exists() and forecast_files(run) == []

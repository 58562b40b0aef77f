"""What-ifs in memory (issue 20 item 5): the model sees what `hazard predict --scenario` gives it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import builders
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hazardcore import whatif
from hazardcore.config import TrainConfig
from hazardcore.cube import PreparedCube
from hazardcore.prepare import prepare
from hazardcore.whatif import WhatIf

FACTOR = 1.7
#: The forward split of the tiny region (as tests/test_forecast.py's): its validation cells hold both classes.
FORWARD = {"split": "forward", "test_slice": -1, "temporal_validation": "slices", "validation_slice_count": 1}
#: As long as 2015-post (153 days), so a scaled scenario's days are 2015-post's days one by one.
SCENARIO = {"label": "2016-post", "start": "2016-06-15", "end": "2016-11-15",
            "rain": {"period": "2015-post", "factor": FACTOR}}


@pytest.fixture(scope="module")
def scenario_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny region with a scaled-rain scenario period, a tiny run, and its `hazard predict --scenario`."""
    from conftest import tiny_run_configs

    from hazardcore.cli import main
    from hazardcore.forecast import forecast_path
    from hazardcore.pipeline import find_run
    from hazardcore.train import train

    root = tmp_path_factory.mktemp("whatif")
    catalog = builders.write_region(root / "region", forecasts=[SCENARIO])
    prepare(catalog, root / "work")
    model, config = tiny_run_configs()
    train(root / "work", model, TrainConfig.from_dict(config.to_dict() | FORWARD))
    run = find_run(root / "work")
    assert main(["predict", str(root / "work"), "--run", run.name, "--scenario", "2016-post", "--device", "cpu",
                 "--quiet"]) == 0
    with xr.open_dataset(forecast_path(run, "2016-post")) as stored:
        forecast = stored.load()
    return {"work": root / "work", "run": run, "forecast": forecast,
            "model": whatif.load(root / "work", run, device="cpu")}


def scenario_twin(cube: PreparedCube) -> WhatIf:
    """The what-if of 2015-post that is the prepared scenario 2016-post: its rain × FACTOR, its period values."""
    monsoons, earthquake, days = cube.period[cube.slice_labels.index("2016-post")]
    reference = cube.period[cube.slice_labels.index("2015-post")]
    assert days == reference[2] == 153  # same length: the scenario's days are the reference's
    assert monsoons == reference[0] + 1  # a year later: one monsoon more since the earthquake
    return WhatIf("2015-post", FACTOR, earthquake=bool(earthquake), monsoons=float(monsoons))


def test_the_model_sees_what_predict_scenario_gives_it(scenario_run: dict[str, Any]) -> None:
    """The what-if's one-period cube assembles the prepared scenario period's images (every channel, every pixel)."""
    model = scenario_run["model"]
    cube = model.cube
    change = scenario_twin(cube)
    rain, provenance = whatif.rain_channels(model, change)
    one = whatif.scenario_cube(model, change, rain)
    from hazardcore.datasets import pool_image

    rows, cols = (slice(0, n * cube.grid.pixels_per_cell) for n in (cube.grid.n_rows, cube.grid.n_cols))
    prepared = cube.block_image(cube.slice_labels.index("2016-post"), rows, cols)
    factor = cube.grid.pixels_per_cell // model.cell_px  # the cube pooled once to the pixels the networks see
    assert factor == 4 and one.grid.pixels_per_cell == model.cell_px == 8
    seen_rows, seen_cols = (slice(0, n * model.cell_px) for n in (cube.grid.n_rows, cube.grid.n_cols))
    np.testing.assert_allclose(one.block_image(0, seen_rows, seen_cols), pool_image(prepared, factor), rtol=2e-6,
                               atol=1e-6)
    assert not np.array_equal(prepared, cube.block_image(cube.slice_labels.index("2015-post"), rows, cols))
    np.testing.assert_array_equal(one.valid[0], cube.valid[cube.slice_labels.index("2016-post")])
    assert provenance == {"kind": "scaled", "period": "2015-post", "factor": FACTOR}


def test_scaled_rain_whatif_is_predict_scenario(scenario_run: dict[str, Any]) -> None:
    """The in-memory maps of rain × f equal `hazard predict --scenario` of the catalog's scenario of factor f."""
    model, forecast = scenario_run["model"], scenario_run["forecast"]
    maps = whatif.predict(model, scenario_twin(model.cube))
    for name in ("susceptibility", "density", "hazard"):
        assert np.isfinite(maps[name].values).all()
        np.testing.assert_allclose(maps[name].values, forecast[name].values, rtol=1e-5, atol=1e-7, err_msg=name)
    assert maps.attrs["decision_threshold"] == pytest.approx(forecast.attrs["decision_threshold"], rel=1e-5)
    assert whatif.totals(maps)["expected_landslide_area_km2"] == pytest.approx(
        float(forecast["hazard"].sum()) / 100 * 1.0, rel=1e-5)  # 1 km² cells


def test_factor_one_reproduces_the_stored_predictions(scenario_run: dict[str, Any]) -> None:
    """Every period's what-if without a change is the run's own prediction of it; the difference map is 0."""
    model = scenario_run["model"]
    for label in model.periods:
        maps = whatif.predict(model, WhatIf(label))
        stored = model.predictions.sel(slice=label)
        for name in ("susceptibility", "density", "hazard"):
            np.testing.assert_allclose(maps[name].values, stored[name].values, rtol=1e-5, atol=1e-7,
                                       err_msg=f"{label} {name}")
        assert maps.attrs["decision_threshold"] == pytest.approx(float(stored["decision_threshold"]), rel=1e-5)
        reference = whatif.reference_maps(model, label)
        np.testing.assert_allclose(whatif.difference(maps, reference).values, 0.0, atol=1e-6)


def test_more_rain_never_lowers_the_structured_response(scenario_run: dict[str, Any]) -> None:
    """The trigger response is monotone in rain: every cell's logit rises with the factor (the calibrated
    probability follows the Platt slope's sign: the tiny model's may be negative); the total moves."""
    model = scenario_run["model"]
    assert model.members[0].model.config.trigger_response == "structured"
    factors = (0.5, 1.0, 2.0, 3.0)
    maps = [whatif.predict(model, WhatIf("2015-post", factor)) for factor in factors]
    logit = np.stack([m["logit"].values for m in maps])
    assert (np.diff(logit, axis=0) >= -1e-5).all()
    assert (logit[-1] - logit[0]).min() > 1e-3  # the rain matters to the tiny model, in every cell
    assert model.calibration.method == "platt"
    sign = np.sign(model.calibration.parameters["slope"])
    probability = np.stack([m["susceptibility"].values for m in maps])
    assert (sign * np.diff(probability, axis=0) >= -1e-6).all()
    areas = [whatif.totals(m)["expected_landslide_area_km2"] for m in maps]
    assert len({round(area, 9) for area in areas}) == len(factors), areas


def test_totals_count_what_the_maps_hold(scenario_run: dict[str, Any]) -> None:
    """Area = Σ hazard / 100 × cell area; class counts by the products' class bounds; cells ≥ τ."""
    maps = whatif.predict(scenario_run["model"], WhatIf("2016-pre", 2.0, earthquake=True))
    totals = whatif.totals(maps)
    hazard = maps["hazard"].values
    assert totals["expected_landslide_area_km2"] == pytest.approx(np.nansum(hazard.astype("float64")) / 100)
    bounds = (0.01, 0.1, 0.5, 2.0)  # the hazard classes' upper bounds (%), styles.SCHEMES["hazard"]
    by_hand = np.histogram(hazard[np.isfinite(hazard)], bins=[-np.inf, *bounds, np.inf])[0]
    assert list(totals["cells_per_class"].values()) == by_hand.tolist()
    assert whatif.cells_at_or_above(totals["cells_per_class"], "high") == int((hazard > 0.5).sum())
    threshold = maps.attrs["decision_threshold"]
    assert totals["cells_at_or_above_threshold"] == int((maps["susceptibility"].values >= threshold).sum())
    assert totals["cells"] == 64 and 0 < totals["cells_at_or_above_threshold"] < 64
    assert '"earthquake_in_slice": 1.0' in maps.attrs["provenance"]


def test_a_bad_whatif_is_refused(scenario_run: dict[str, Any]) -> None:
    from hazardcore.errors import HazardcoreError

    model = scenario_run["model"]
    with pytest.raises(HazardcoreError, match="no period 1999"):
        whatif.predict(model, WhatIf("1999"))
    with pytest.raises(HazardcoreError, match="must be positive"):
        whatif.predict(model, WhatIf("2015-post", 0.0))
    with pytest.raises(HazardcoreError, match="too short a rain record"):  # one year of record
        whatif.predict(model, WhatIf("2015-post", return_period_years=50.0))


def long_record(folder: Path, years: range) -> None:
    """Replace a tiny region's rain with a seeded multi-year record (gamma days, a different scale per pixel)."""
    g = builders.grid()
    lon, lat = builders.lonlat_axes(g)
    days = pd.date_range(f"{years.start}-01-01", builders.DATES[-1], freq="D")
    rng = np.random.default_rng(7)
    scale = rng.uniform(2.0, 8.0, size=(len(lat), len(lon))).astype("float32")
    values = rng.gamma(0.6, 1.0, size=(len(days), len(lat), len(lon))).astype("float32") * scale
    rain = xr.Dataset({"precip": (("time", "latitude", "longitude"), values, {"units": "mm/day"})},
                      coords={"time": days, "latitude": lat, "longitude": lon})
    from hazardcore import export

    export.write_netcdf(rain.rio.write_crs("EPSG:4326"), folder / "rain.nc")


def test_design_storm_channels_are_prepares(tmp_path: Path) -> None:
    """A return period's rain channels are those `prepare` computes for the catalog's return-period scenario."""
    storm = SCENARIO | {"rain": {"period": "2015-post", "return_period_years": 50.0}}
    catalog = builders.write_region(tmp_path / "region", forecasts=[storm])
    long_record(tmp_path / "region", range(2010, 2017))
    prepare(catalog, tmp_path / "work")
    cube = PreparedCube.open(tmp_path / "work")
    channels, provenance = whatif.design_rain_channels(cube, "2015-post", 50.0)
    np.testing.assert_allclose(channels, np.asarray(cube.dynamic[cube.slice_labels.index("2016-post")]), rtol=1e-5)
    assert provenance["return_period_years"] == 50.0 and provenance["gev"]["years"][0] == 2010
    assert (channels[0] > np.asarray(cube.dynamic[1, 0])).mean() > 0.5  # a 50-year day beats 2015-post's wettest
    assert dt.date.fromisoformat(cube.slice_dates[3][1]) == dt.date(2016, 11, 15)


def test_a_rain_change_reuses_the_spatial_terms(scenario_run: dict[str, Any]) -> None:
    """The structured net's spatial network (static channels only) runs once per window row of a period;
    another rain factor reuses its outputs and gives the maps a fresh model gives."""
    model = whatif.load(scenario_run["work"], scenario_run["run"], device="cpu")
    calls: list[int] = []
    model.members[0].model.susceptibility.net.encoder.register_forward_hook(lambda *_: calls.append(1))
    first = whatif.predict(model, WhatIf("2016-pre", 1.3))
    rows = len(calls)
    assert rows == 5  # window origins -2, 0, 2, 4, 6 over the 8 rows of cells
    second = whatif.predict(model, WhatIf("2016-pre", 2.6))
    assert len(calls) == rows  # nothing recomputed
    fresh = whatif.predict(scenario_run["model"], WhatIf("2016-pre", 2.6))
    np.testing.assert_array_equal(second["logit"].values, fresh["logit"].values)
    assert not np.array_equal(first["logit"].values, second["logit"].values)


def test_an_ensembles_whatif_carries_its_intervals(scenario_run: dict[str, Any]) -> None:
    """An ensemble's what-if combines its members as `predict_ensemble` does: factor 1 is its stored maps,
    intervals included; rain × f is its `--scenario` forecast."""
    from conftest import tiny_run_configs

    from hazardcore.ensemble import predict_ensemble, train_ensemble
    from hazardcore.forecast import forecast_run

    model, config = tiny_run_configs()
    folder = train_ensemble(scenario_run["work"], model, TrainConfig.from_dict(config.to_dict() | FORWARD), members=2)
    stored = predict_ensemble(scenario_run["work"], folder, device="cpu")
    ensemble = whatif.load(scenario_run["work"], folder, device="cpu")
    assert ensemble.ensemble and len(ensemble.members) == 2
    maps = whatif.predict(ensemble, WhatIf("2016-pre"))
    for name in ("susceptibility", "density", "hazard", "hazard_p05", "hazard_p95", "susceptibility_std"):
        np.testing.assert_allclose(maps[name].values, stored[name].sel(slice="2016-pre").values, rtol=1e-5,
                                   atol=1e-7, err_msg=name)
    forecast, _ = forecast_run(scenario_run["work"], folder, "2016-post", scenario=True, ensemble=True, device="cpu")
    twin = whatif.predict(ensemble, scenario_twin(ensemble.cube))
    for name in ("hazard", "hazard_p05", "hazard_p95"):
        np.testing.assert_allclose(twin[name].values, forecast[name].values, rtol=1e-5, atol=1e-7, err_msg=name)
    assert maps.attrs["members"].count(",") == 1

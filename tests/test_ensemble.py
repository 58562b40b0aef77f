"""Seed ensembles: members share the split, differ in weights; combined spreads and coverage (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hazardcore.cli import main
from hazardcore.config import TrainConfig, config_hash, demo_configs
from hazardcore.ensemble import (
    find_ensemble,
    member_runs,
    predict_ensemble,
    train_ensemble,
)
from hazardcore.errors import CheckpointError
from hazardcore.export import open_predictions
from hazardcore.intervals import SCORE_GRID, pit_and_crps, within
from hazardcore.runstatus import is_trained


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from conftest import tiny_run_configs

    from hazardcore.prepare import prepare
    from hazardcore.synthetic import synthesize

    root = tmp_path_factory.mktemp("ensemble")
    report = synthesize(root / "region", seed=5, size_km=16, n_slices=3)
    prepare(report.catalog_path, root / "work")
    model, config = tiny_run_configs()
    folder = train_ensemble(root / "work", model, config, members=3)
    predict_ensemble(root / "work", folder, device="cpu")  # so that every test can run alone
    return root / "work", folder


def test_the_demo_run_keeps_its_id_now_that_configurations_name_a_member() -> None:
    """Member 0 is the single run: adding ``member`` did not rename any existing run."""
    model, config = demo_configs()
    assert config_hash(model, config) == "b6d95fad05"  # the demo run of docs/results (README tables)
    assert config_hash(model, TrainConfig.from_dict(config.to_dict() | {"member": 1})) != "b6d95fad05"
    assert config_hash(model, TrainConfig.from_dict(config.to_dict() | {"bootstrap_blocks": True})) != "b6d95fad05"


def test_members_share_the_split_and_differ_in_their_weights(ensemble: tuple[Path, Path]) -> None:
    workdir, folder = ensemble
    runs = member_runs(folder)
    assert len({run.name for run in runs}) == 3 and all(is_trained(run) for run in runs)
    predictions = predict_ensemble(workdir, folder, device="cpu")
    members = [open_predictions(run / "predictions.nc") for run in runs]
    for member in members[1:]:
        for side in ("train", "validation", "test"):
            assert np.array_equal(member[side].values, members[0][side].values)
        assert np.nanmax(np.abs(member["logit"].values - members[0]["logit"].values)) > 1e-3
    density = np.stack([member["density"].values for member in members])
    valid = predictions["valid"].values.astype(bool)
    mixture = predictions["density"].values[valid]
    assert np.all(mixture >= np.nanmin(density, axis=0)[valid] - 1e-4)
    assert np.all(mixture <= np.nanmax(density, axis=0)[valid] + 1e-4)
    probability = np.stack([member["susceptibility"].values for member in members])
    values = {"susceptibility": probability, "density": density, "hazard": probability * density}
    for name in ("susceptibility", "density", "hazard"):
        low, mid, high = (predictions[f"{name}_p{level:02d}"].values[valid] for level in (5, 50, 95))
        assert np.all(low <= mid + 1e-6) and np.all(mid <= high + 1e-6)
        # an interval for one more member holds the 3 members (their percentiles did not: 5-95 % of 3 values)
        assert np.all(low <= np.min(values[name], axis=0)[valid] * (1 + 1e-5) + 1e-6), name
        assert np.all(high >= np.max(values[name], axis=0)[valid] * (1 - 1e-5) - 1e-6), name
        assert predictions[f"{name}_p50"].attrs["percentile"] == 50
        assert np.nanmean(predictions[f"{name}_std"].values[valid]) > 0
        assert predictions[f"{name}_std"].attrs["cell_methods"] == "realization: standard_deviation"
    assert predictions.attrs["members"] == ", ".join(run.name for run in runs)


def test_evaluating_an_ensemble_scores_its_mean_and_the_coverage_of_its_intervals(
        ensemble: tuple[Path, Path]) -> None:
    workdir, folder = ensemble
    assert main(["evaluate", str(workdir), "--ensemble", folder.name, "--quiet"]) == 0
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["run_id"] == folder.name and 0.5 < metrics["susceptibility"]["auc"] <= 1.0
    uncertainty = metrics["uncertainty"]
    assert uncertainty["members"] == 3
    positive = metrics["positive_test_cells"]
    assert uncertainty["density"]["cells"] == uncertainty["hazard"]["cells"] == positive > 0
    assert uncertainty["susceptibility"]["cells"] == metrics["test_cells"]
    for name in ("susceptibility", "density", "hazard"):
        assert 0.0 <= uncertainty[name]["coverage"] <= 1.0 and uncertainty[name]["mean_width"] > 0
    distribution = uncertainty["observed_density"]
    assert distribution["cells"] == positive and sum(distribution["pit_histogram"]) == positive
    assert 0.0 <= distribution["central_90_coverage"] <= 1.0 and distribution["crps"] > 0
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert 'id="uncertainty"' in page and "coverage of the truth" in page and "PIT histogram" in page
    assert (folder / "products").is_dir()


def test_a_killed_member_is_named_and_resumed_never_dropped(ensemble: tuple[Path, Path]) -> None:
    from conftest import tiny_run_configs

    workdir, folder = ensemble
    first, second, _ = member_runs(folder)
    kept = (first / "model.pt").stat().st_mtime_ns
    (second / "model.pt").unlink()
    with pytest.raises(CheckpointError, match=second.name):
        find_ensemble(workdir, folder.name)
    with pytest.raises(CheckpointError, match="resumes them"):
        predict_ensemble(workdir, folder)
    model, config = tiny_run_configs()
    assert train_ensemble(workdir, model, config, members=3) == folder
    assert is_trained(second) and (first / "model.pt").stat().st_mtime_ns == kept
    assert find_ensemble(workdir, folder.name) == folder


def test_an_unknown_ensemble_is_refused_with_the_known_ones(ensemble: tuple[Path, Path], capsys) -> None:  # type: ignore[no-untyped-def]
    workdir, folder = ensemble
    assert main(["predict", str(workdir), "--ensemble", "nope-k2", "--quiet"]) != 0
    assert folder.name in capsys.readouterr().err


def test_interval_coverage_counts_the_cells_whose_truth_is_inside() -> None:
    truth = np.array([0.5, 2.0, 3.0, np.nan, 1.0])
    low = np.array([0.0, 0.0, 3.5, 0.0, 0.9])
    high = np.array([1.0, 1.0, 4.0, 1.0, 1.1])
    cells = np.array([True, True, True, True, False])
    assert within(truth, low, high, cells) == {"coverage": pytest.approx(1 / 3), "cells": 3,
                                               "mean_width": pytest.approx((1.0 + 1.0 + 0.5) / 3)}


def test_exceedance_probabilities_are_predicted_for_the_thresholds_asked(ensemble: tuple[Path, Path]) -> None:
    """P(density > x) from the density heads' laws, consistent with their means (Markov: P(D > x) ≤ E[D] / x)."""
    workdir, folder = ensemble
    assert main(["predict", str(workdir), "--ensemble", folder.name, "--exceedance", "0.5", "2", "--quiet"]) == 0
    predictions = open_predictions(folder / "predictions.nc")
    thresholds = predictions["threshold"].values.tolist()
    assert thresholds == pytest.approx(sorted({0.5, 2.0, *SCORE_GRID}), rel=1e-6)
    valid = predictions["valid"].values.astype(bool)
    given = predictions["density_exceedance"].values[:, valid]
    unconditional = predictions["hazard_exceedance"].values[:, valid]
    assert np.all(np.diff(given, axis=0) <= 1e-6) and 0.0 < given[thresholds.index(0.5)].mean() < 1.0
    for k, x in enumerate(thresholds):
        assert np.all(given[k] <= predictions["density"].values[valid] / x + 1e-4)
    assert np.all(unconditional <= predictions["susceptibility"].values[valid] + 1e-6)
    members = [open_predictions(run / "predictions.nc") for run in member_runs(folder)]
    assert all(member["threshold"].values.tolist() == thresholds for member in members)


def test_the_dashboard_lists_an_ensemble_and_maps_its_interval(ensemble: tuple[Path, Path]) -> None:
    pytest.importorskip("panel")
    import holoviews as hv

    from dashboard.jobs import JobRunner
    from dashboard.state import DashboardState
    from dashboard.views import INTERVAL_LAYER, MapsView

    workdir, folder = ensemble
    state = DashboardState(root=workdir.parent, runner=JobRunner())
    labels = [label for label, path in state.param.run.objects.items() if Path(path) == folder.resolve()]
    assert len(labels) == 1 and "ensemble" in labels[0]
    state.run = state.param.run.objects[labels[0]]
    maps = MapsView(state)
    state.slice = 1
    shown = maps.frames[INTERVAL_LAYER][()].data[INTERVAL_LAYER]
    predictions = open_predictions(folder / "predictions.nc")
    expected = (predictions["hazard_p95"] - predictions["hazard_p05"]).isel(slice=1)
    shown_north_up = shown.sortby("y", ascending=False).sortby("x").transpose("y", "x").values
    np.testing.assert_allclose(shown_north_up, expected.sortby("y", ascending=False).sortby("x").values)
    assert np.nanmax(shown_north_up) > 0
    assert maps._ensemble() and "interval width of the ensemble" in maps.frames[INTERVAL_LAYER][()].opts.get().kwargs[
        "title"]
    for view, variable in (("95th percentile", "hazard_p95"), ("standard deviation", "hazard_std")):
        state.uncertainty = view  # the toggle above the maps: the same map shows another view of the members
        shown = maps.frames[INTERVAL_LAYER][()].data[INTERVAL_LAYER]
        np.testing.assert_allclose(shown.sortby("y", ascending=False).sortby("x").transpose("y", "x").values,
                                   predictions[variable].isel(slice=1).sortby("y", ascending=False).sortby("x").values)
    totals = maps.member_totals()  # the hazard over time: one more member's regional total, not the members' range
    assert totals is not None and totals.shape == (3, predictions.sizes["slice"])
    frame = maps.regional_frame()
    assert (frame["hazard_km2_p05"] < totals.min(axis=0)).all() and (frame["hazard_km2_p95"] > totals.max(axis=0)).all()
    from dashboard.views import CellStoryView

    state.cell = (3, 4)  # the cell's story: the ensemble's 5-95 % hazard band under its curves
    (band,) = [layer for layer in CellStoryView(state).density_curves() if isinstance(layer, hv.Area)]
    at = predictions.isel(y=3, x=4)
    np.testing.assert_allclose(band.dimension_values(1), at["hazard_p05"].values, rtol=1e-6)
    np.testing.assert_allclose(band.dimension_values(2), at["hazard_p95"].values, rtol=1e-6)
    single = next(path for label, path in state.param.run.objects.items() if "ensemble" not in label)
    state.run = single  # a single run: a blank map over the same region (not a unit square that skews the axes)
    blank = maps.frames[INTERVAL_LAYER][()]
    assert np.isnan(blank.data[INTERVAL_LAYER].values).all() and "ensemble" in blank.opts.get().kwargs["title"]
    np.testing.assert_array_equal(np.sort(blank.data["x"].values), np.sort(predictions["x"].values))
    assert not maps._ensemble()  # no toggle for a single run


def test_pit_and_crps_of_a_known_law_match_their_closed_forms() -> None:
    """Exponential law of mean 2 %: CRPS(y) = y + 2μ e^(−y/μ) − 3μ/2; PIT of its own draws is uniform."""
    mean = 2.0
    thresholds = np.geomspace(1e-4, 200.0, 4000)
    observed = np.random.default_rng(0).exponential(mean, 4000)
    cdf = np.repeat((1 - np.exp(-thresholds / mean))[:, None], observed.size, axis=1)
    pit, crps = pit_and_crps(observed, thresholds, cdf)
    expected = observed + 2 * mean * np.exp(-observed / mean) - 1.5 * mean
    np.testing.assert_allclose(crps, expected, rtol=5e-3, atol=1e-2)  # the grid resolves the step at y to ~0.4 %
    counts, _ = np.histogram(pit, bins=10, range=(0, 1))
    assert counts.min() > 330 and counts.max() < 470  # 400 expected per bin
    shifted, _ = pit_and_crps(observed * 3, thresholds, cdf)  # a law too small for the data: PIT piles at 1
    assert np.mean(shifted > 0.9) > 0.4


def test_the_dashboard_maps_the_exceedance_probability_a_user_asked_for(ensemble: tuple[Path, Path]) -> None:
    """The ensemble map's toggle also shows P(new area > x % of the cell) on [0, 1]; blank, saying how, without x."""
    from dashboard.jobs import JobRunner
    from dashboard.state import DashboardState
    from dashboard.views import INTERVAL_LAYER, NO_EXCEEDANCE, MapsView

    workdir, folder = ensemble
    assert main(["predict", str(workdir), "--ensemble", folder.name, "--exceedance", "0.5", "2", "--quiet"]) == 0
    state = DashboardState(root=workdir.parent, runner=JobRunner())
    state.run = next(path for label, path in state.param.run.objects.items() if Path(path) == folder.resolve())
    maps = MapsView(state)
    state.slice, state.uncertainty = 1, "exceedance probability"
    frame = maps.frames[INTERVAL_LAYER][()]
    predictions = open_predictions(folder / "predictions.nc")
    expected = predictions["hazard_exceedance"].sel(threshold=0.5).isel(slice=1)
    shown = frame.data[INTERVAL_LAYER].sortby("y", ascending=False).sortby("x").transpose("y", "x").values
    np.testing.assert_allclose(shown, expected.sortby("y", ascending=False).sortby("x").values, rtol=1e-6)
    assert 0.0 < np.nanmax(shown) <= 1.0
    options = frame.opts.get().kwargs
    assert options["title"].startswith("P(new area > 0.5 % of cell)") and tuple(options["clim"]) == (0.0, 1.0)
    unnamed = maps.uncertainty_map(predictions.assign_attrs(exceedance_products="[]"))
    assert np.isnan(unnamed.values).all()
    assert maps.uncertainty_title(predictions.assign_attrs(exceedance_products="[]")) == NO_EXCEEDANCE

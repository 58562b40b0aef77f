"""The dashboard's state and views on an evaluated tiny run (no server, no browser).

The fast tests read the session fixture ``evaluated_root`` (treated as read-only); the
training test trains a new run in a copy of it.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import holoviews as hv
import numpy as np
import pytest
import xarray as xr

pytest.importorskip("panel")

from conftest import tiny_run_configs

from dashboard.app import TITLE, create_app
from dashboard.confine import OutsideRootError
from dashboard.jobs import Job, JobRefusedError, JobRunner
from dashboard.state import DashboardState
from dashboard.views import (
    CellStoryView,
    EvaluationView,
    InventoryView,
    MapsView,
    PredictorsView,
    RunChooser,
    TrainView,
)
from hazardcore import export
from hazardcore.catalog import REFERENCE_FILES
from hazardcore.cube import PreparedCube
from hazardcore.errors import HazardcoreError
from hazardcore.predictors import DYNAMIC_CHANNELS, STATIC_CHANNELS


def the_run(root: Path) -> Path:
    (run,) = (root / "work" / "runs").glob("*/model.pt")
    return run.parent


def north_up(values: xr.DataArray | xr.Dataset, name: str) -> np.ndarray:
    """An image's values as (y descending, x ascending) array, whatever order holoviews keeps."""
    data = values[name] if isinstance(values, xr.Dataset) else values
    return np.asarray(data.sortby("y", ascending=False).sortby("x").transpose("y", "x").values)


@pytest.fixture
def state(evaluated_root: Path) -> DashboardState:
    return DashboardState(root=evaluated_root, runner=JobRunner())


@pytest.fixture(scope="module")
def predictions(evaluated_root: Path) -> xr.Dataset:
    return export.open_predictions(the_run(evaluated_root) / "predictions.nc")


def test_chooser_lists_the_run_and_selects_it(state: DashboardState, evaluated_root: Path) -> None:
    run = the_run(evaluated_root)
    assert list(state.param.run.objects.values()) == [str(run.resolve())]
    assert state.run_path == run.resolve()
    assert run.name in next(iter(state.param.run.objects))  # the label names the run
    assert state.workdir_path == (evaluated_root / "work").resolve()
    assert state.param.slice.bounds == (0, 2)
    assert state.slice_labels == ["2015-co", "2015-post", "2016-pre"]
    assert "AUC" in RunChooser(state).summary()


def test_changing_slice_changes_the_map_data(state: DashboardState, predictions: xr.Dataset) -> None:
    maps = MapsView(state)
    for k in (2, 0, 1):
        state.slice = k
        for name in ("hazard", "susceptibility", "observed_density"):
            shown = maps.frames[name][()]  # what the DynamicMap draws now
            assert isinstance(shown, hv.Image)
            expected = predictions[name].isel(slice=k).values
            np.testing.assert_array_equal(north_up(shown.data, name), expected)
        assert state.slice_label in maps.frames["hazard"][()].opts.get().kwargs["title"]


def test_inventory_follows_the_slice(state: DashboardState, evaluated_root: Path) -> None:
    inventory = InventoryView(state)
    cube = PreparedCube.open(evaluated_root / "work")
    state.slice = 1
    shown = north_up(inventory.frames["observed_density"][()].data, "observed_density")
    expected = np.where(cube.valid[1] & (cube.density[1] > 0), cube.density[1], np.nan)
    np.testing.assert_array_equal(shown, expected)
    frame = inventory.area_frame()
    assert list(frame["positive_cells"]) == list(cube.presence.astype(bool).sum(axis=(1, 2)))
    assert np.all(np.diff(frame["cumulative_km2"]) >= 0)
    assert isinstance(inventory.density_histogram(), hv.Histogram)


def test_changing_channel_updates_the_predictors_view(state: DashboardState, evaluated_root: Path) -> None:
    view = PredictorsView(state)
    cube = PreparedCube.open(evaluated_root / "work")
    state.channel = "slope"
    shown = view.frames["channel"][()]  # every channel's values are "value": the title names the channel
    np.testing.assert_array_equal(north_up(shown.data, "value"), cube.static[STATIC_CHANNELS.index("slope")])
    state.param.update(channel="rain_max", slice=2)
    shown = view.frames["channel"][()]
    np.testing.assert_array_equal(north_up(shown.data, "value"),
                                  cube.dynamic[2, DYNAMIC_CHANNELS.index("rain_max")])
    rasterized = view.raster[()]  # datashader's regrid at the default screen size
    assert isinstance(rasterized, hv.Image) and np.isfinite(rasterized.dimension_values(2)).any()


def test_tapping_a_cell_gives_its_story(state: DashboardState, predictions: xr.Dataset,
                                        evaluated_root: Path) -> None:
    maps = MapsView(state)
    row, col = 5, 3
    x, y = float(predictions["x"][col]), float(predictions["y"][row])
    maps.taps[0].event(x=x + 300.0, y=y - 300.0)  # a click inside the cell
    assert state.cell == (row, col)
    series = CellStoryView(state).series()
    assert list(series["slice"]) == state.slice_labels
    for name in ("susceptibility", "density", "hazard", "observed_density"):
        np.testing.assert_array_equal(series[name].to_numpy(dtype="float32"),
                                      predictions[name].isel(y=row, x=col).values)
    table = state.cell_predictors()
    cube = PreparedCube.open(evaluated_root / "work")
    block = cube.static[STATIC_CHANNELS.index("slope"), row * 32:(row + 1) * 32, col * 32:(col + 1) * 32]
    assert table.loc["slope", "2015-co"] == pytest.approx(float(np.mean(block)), rel=1e-5)
    assert len(table) == 16
    maps.taps[0].event(x=x - 1e6, y=y)  # off the grid: ignored
    assert state.cell == (row, col)


def test_metrics_table_holds_the_auc(state: DashboardState, evaluated_root: Path) -> None:
    import json

    metrics = json.loads((the_run(evaluated_root) / "metrics.json").read_text())
    view = EvaluationView(state)
    table = view.metrics_frame()
    assert table.loc["model", "auc"] == metrics["susceptibility"]["auc"]
    assert table.loc["gbm", "auc"] == metrics["baselines"]["gbm"]["susceptibility"]["auc"]
    assert {"model", "logistic", "gbm", "oracle"} <= set(table.index)
    assert set(view.roc_curves()) == {"model", "oracle"}
    assert table.loc["model", "validation_threshold"] == metrics["thresholds"]["model"]
    assert "threshold" not in table.columns  # the old schema's pooled threshold
    counts = view.confusion_counts(0)
    at = state.predictions.isel(slice=0)
    shown = (at["valid"].values > 0) & (at["test"].values > 0) & np.isfinite(at["presence"].values)
    assert sum(counts.values()) == int(shown.sum())
    per_slice = view.per_slice_frame()
    assert len(per_slice) == 3
    decided = metrics["decision_thresholds"]["model"]
    assert per_slice["decision_threshold"].to_dict() == pytest.approx(decided)


def test_the_threshold_is_the_slice_decision_threshold(state: DashboardState, predictions: xr.Dataset) -> None:
    view = EvaluationView(state)
    thresholds = predictions["decision_threshold"].values.astype(float)
    assert len(set(thresholds.round(6))) == 3  # the tiny run's slices have different thresholds
    for k in (2, 0, 1):
        state.slice = k
        assert state.threshold == thresholds[k]
        at = predictions.isel(slice=k)
        cells = (at["valid"].values > 0) & (at["test"].values > 0) & np.isfinite(at["presence"].values)
        expected = np.where(cells, 2 * (at["presence"].values > 0) + (at["susceptibility"].values >= thresholds[k]),
                            np.nan)
        np.testing.assert_array_equal(view.confusion_codes().values, expected)
        assert f"threshold τ {thresholds[k]:.3f} of slice {state.slice_label}" in view.legend()
        assert "expected F1" in view.legend()


def two_slices() -> xr.Dataset:
    """The same probabilities and presence in two slices whose decision thresholds differ (0.2, 0.6)."""
    susceptibility = np.array([[0.1, 0.3, 0.5], [0.7, 0.9, np.nan]], dtype="float32")
    presence = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], dtype="float32")
    cube = ("slice", "y", "x")
    same = {name: (cube, np.stack([values, values])) for name, values in
            (("susceptibility", susceptibility), ("presence", presence), ("density", presence),
             ("hazard", presence), ("observed_density", presence))}
    ones = np.ones((2, 2, 3), dtype="uint8")
    masks = {name: (cube, ones) for name in ("valid", "test", "train", "validation")}
    decision = ("slice", np.array([0.2, 0.6], dtype="float32"), {"rule": "expected_f1"})
    return xr.Dataset(same | masks | {"decision_threshold": decision},
                      coords={"slice": ["a", "b"], "y": [1500.0, 500.0], "x": [500.0, 1500.0, 2500.0]})


def test_confusion_codes_follow_each_slice_threshold(evaluated_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dashboard.loaders

    monkeypatch.setattr(dashboard.loaders, "predictions", lambda run: two_slices())
    state = DashboardState(root=evaluated_root, runner=JobRunner())
    view = EvaluationView(state)
    nan = np.nan
    np.testing.assert_array_equal(view.confusion_codes(0).values, [[2, 1, 3], [1, 3, nan]])  # τ 0.2
    np.testing.assert_array_equal(view.confusion_codes(1).values, [[2, 0, 2], [1, 3, nan]])  # τ 0.6
    assert view.confusion_counts(0) == {"TN": 0, "FP": 2, "FN": 1, "TP": 2}
    assert view.confusion_counts(1) == {"TN": 1, "FP": 1, "FN": 2, "TP": 1}
    state.slice = 1
    assert state.threshold == pytest.approx(0.6) and "τ 0.600 of slice b" in view.legend()
    assert "τ 0.600" in view.confusion_frame().opts.get().kwargs["title"]
    pooled = two_slices().drop_vars("decision_threshold").assign_attrs(calibration='{"threshold": 0.4}')
    monkeypatch.setattr(dashboard.loaders, "predictions", lambda run: pooled)  # older predictions
    assert state.decision[1] == "validation" and state.slice_threshold(0) == state.slice_threshold(1) == 0.4
    np.testing.assert_array_equal(view.confusion_codes(0).values, [[2, 0, 3], [1, 3, nan]])


def test_layer_switches_the_published_comparison(evaluated_root: Path, predictions: xr.Dataset,
                                                 tmp_path: Path) -> None:
    import rasterio

    grid = PreparedCube.open(evaluated_root / "work").grid
    written = {}
    for name, file in REFERENCE_FILES.items():  # published maps on this run's grid, different from ours
        written[name] = np.nan_to_num(predictions[name].values * 0.5 + 0.01, nan=0.01).astype("float32")
        with rasterio.open(tmp_path / file, "w", driver="GTiff", height=grid.n_rows, width=grid.n_cols, count=3,
                           dtype="float32", crs=grid.crs, transform=grid.transform("1km")) as dst:
            dst.write(written[name])
    state = DashboardState(root=evaluated_root, reference=tmp_path, runner=JobRunner())
    maps = MapsView(state)
    assert maps.has_reference() and maps.reference_note() == ""
    for layer, k in (("density", 1), ("hazard", 2), ("susceptibility", 0)):
        state.param.update(layer=layer, slice=k)
        np.testing.assert_allclose(north_up(maps.frames["published"][()].data, layer), written[layer][k])
        np.testing.assert_array_equal(north_up(maps.frames["ours"][()].data, layer),
                                      predictions[layer].isel(slice=k).values)
    elsewhere = DashboardState(root=evaluated_root, reference=evaluated_root / "region", runner=JobRunner())
    assert not MapsView(elsewhere).has_reference()  # no published maps there: only a note


def test_a_path_outside_the_root_is_refused(state: DashboardState, evaluated_root: Path, tmp_path: Path) -> None:
    with pytest.raises(OutsideRootError, match="outside the dashboard's root"):
        state.open_run(evaluated_root.parent)
    with pytest.raises(OutsideRootError):
        state.open_run("../..")
    with pytest.raises(ValueError):
        state.run = str(tmp_path)  # the chooser accepts listed runs only
    chooser = RunChooser(state)
    assert chooser.open_path("/") is None  # the UI shows the refusal instead of raising it
    assert "outside" in state.message and str(state.root_path) in state.message
    linked = tmp_path / "root"
    linked.mkdir()
    (linked / "run").symlink_to(the_run(evaluated_root), target_is_directory=True)
    confined = DashboardState(root=linked, runner=JobRunner())
    with pytest.raises(OutsideRootError):
        confined.open_run("run")  # a link leading out of the root
    assert confined.run is None


def test_starting_a_job_while_one_runs_is_refused(state: DashboardState) -> None:
    release = threading.Event()
    other = DashboardState(root=state.root, runner=state._runner)  # another session of the same server
    other._runner.start(Job("train", "a long job"), lambda job: release.wait(30))
    try:
        state.poll()
        assert state.job_running and "another session" in state.job_status
        with pytest.raises(JobRefusedError, match="a long job is running"):
            state.start_training()
        TrainView(state).start()  # the button: refused with a message, no exception
        assert "is running" in state.message
    finally:
        release.set()
        assert state._runner.wait(30)
    state.poll()
    assert not state.job_running


def test_app_builds(evaluated_root: Path) -> None:
    app = create_app(root=evaluated_root)
    assert app.title == TITLE
    assert app.state.run_path == the_run(evaluated_root).resolve()


def test_the_slice_player_and_the_state_follow_each_other(evaluated_root: Path) -> None:
    from dashboard.app import slice_player

    state = DashboardState(root=evaluated_root)
    player = slice_player(state)
    assert (player.start, player.end, player.value) == (0, len(state.slice_labels) - 1, 0) == (0, 2, 0)
    player.value = 2
    assert state.slice == 2
    state.slice = 1
    assert player.value == 1


def test_an_empty_root_offers_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAZARD_ROOT", str(tmp_path / "empty"))
    app = create_app()  # the root comes from HAZARD_ROOT; it does not exist yet
    state = app.state
    assert state.root_path == (tmp_path / "empty").resolve()
    assert state.run is None and state.workdir is None and not state.param.run.objects
    assert "Run the demo" in RunChooser(state).summary()
    with pytest.raises(HazardcoreError, match="no prepared working folder"):
        state.start_training()
    (tmp_path / "empty" / "region").mkdir(parents=True)
    with pytest.raises(HazardcoreError, match="the demo writes region/ and work/"):
        state.start_demo()  # never over existing folders


def test_the_demo_button_runs_in_the_background(evaluated_root: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The job plumbing of the demo, with a stand-in for ``pipeline.demo`` (the real one takes minutes)."""
    import dashboard.tasks

    def fake_demo(out: Path) -> SimpleNamespace:
        for name in ("region", "work"):
            shutil.copytree(evaluated_root / name, out / name)
        return SimpleNamespace(run=out / "work" / "runs" / the_run(evaluated_root).name)

    monkeypatch.setattr(dashboard.tasks, "demo", fake_demo)
    state = DashboardState(root=tmp_path / "demo", runner=JobRunner())
    assert state.run is None
    job = state.start_demo()
    assert not job.cancellable
    assert state.wait(timeout=60) and job.outcome == "done", job.status
    assert state.job_progress == 1.0 and "done" in state.message
    assert state.run_path == (tmp_path / "demo" / "work" / "runs" / the_run(evaluated_root).name).resolve()
    assert state.predictions is not None and state.param.slice.bounds == (0, 2)


@pytest.mark.integration
def test_training_job_runs_in_the_background(evaluated_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(evaluated_root, root)
    state = DashboardState(root=root, runner=JobRunner())
    model_config, train_config = tiny_run_configs()
    train_config.seed = 1  # a new configuration: a new run id
    state.param.update(model_config=model_config, train_config=train_config)
    job = state.start_training()
    assert job.thread is not threading.current_thread() and state.job_running
    assert state.wait(timeout=150), state.job_status
    assert job.outcome == "done", job.status
    assert state.job_progress == 1.0
    assert state.log is not None and len(state.log) == 3  # 2 susceptibility epochs + 1 density epoch
    curves = [element for element in TrainView(state).loss_curves() if isinstance(element, hv.Curve)]
    # one curve per stage and loss (stages are not joined): together the train-loss curves hold every epoch
    train_steps = [step for curve in curves if str(curve.vdims[0]) == "train_loss" for step in curve.data["step"]]
    assert sorted(train_steps) == list(state.log["step"])
    new_run = (root / "work" / "runs" / job.result.name).resolve()
    assert str(new_run) in state.param.run.objects.values() and len(state.param.run.objects) == 2
    assert state.run_path == new_run and (new_run / "metrics.json").exists()


@pytest.mark.integration
def test_cancel_stops_a_training_job(evaluated_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(evaluated_root, root)
    state = DashboardState(root=root, runner=JobRunner())
    model_config, train_config = tiny_run_configs()
    train_config.param.update(seed=2, max_epochs_susceptibility=200, patience=200)
    state.param.update(model_config=model_config, train_config=train_config)
    job = state.start_training()
    deadline = time.monotonic() + 60
    while job.progress == 0.0 and job.running and time.monotonic() < deadline:
        time.sleep(0.1)  # the first epoch ends
    state.cancel()
    assert state.wait(timeout=60)
    assert job.outcome == "cancelled", job.status
    assert "cancelled" in state.message
    assert 0 < state.job_progress < 0.5
    assert len(state.param.run.objects) == 1  # the cancelled run has no model.pt: not listed
    from hazardcore.runstatus import read_status

    status = read_status(root / "work" / "runs" / job.description.split()[-1])["train"]
    assert status.state == "failed" and status.error.startswith("JobCancelledError"), status


def test_unfinished_runs_are_listed_apart_never_chosen(evaluated_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(evaluated_root, root, ignore=shutil.ignore_patterns("checkpoints", "products"))
    trained = the_run(root)
    copies = {"killed": 2**22 + 12345, "crashed": None}  # a pid no process has (above pid_max's default)
    for name, pid in copies.items():
        run = shutil.copytree(trained, trained.parent / name)
        record = {"state": "running" if pid else "failed", "started": "2026-01-01T00:00:00+00:00", "pid": pid,
                  "host": socket.gethostname(), "error": None if pid else "MemoryError: boom"}
        (run / "status.json").write_text(json.dumps({"train": record}))
    state = DashboardState(root=root, runner=JobRunner())
    assert list(state.param.run.objects.values()) == [str(trained)]  # model.pt alone does not make a run
    listed = RunChooser(state).unfinished()
    assert "killed`: train interrupted: process 4206649" in listed and "--resume" in listed
    assert "crashed`: train failed" in listed and "MemoryError: boom" in listed
    with pytest.raises(HazardcoreError, match="not a trained run"):
        state.open_run(trained.parent / "killed")


def test_the_evaluation_tab_shows_what_drives_the_maps_once_explained(evaluated_root: Path, tmp_path: Path) -> None:
    from hazardcore.cli import main

    root = tmp_path / "root"
    shutil.copytree(evaluated_root, root)
    view = EvaluationView(DashboardState(root=root, runner=JobRunner()))
    assert view.importance_frame().empty and "hazard explain" in view.importance_note()
    assert main(["explain", str(root / "work"), "--repeats", "2", "--max-patches", "30", "--quiet"]) == 0
    view = EvaluationView(DashboardState(root=root, runner=JobRunner()))
    frame = view.importance_frame()
    assert {("all", "ground motion"), ("rain", "rain"), ("co-seismic", "terrain")} <= set(frame.index)
    written = json.loads((the_run(root) / "importance.json").read_text())
    assert frame.loc[("all", "rain"), "auc drop"] == written["seasons"]["all"]["importance"]["rain"]["auc"]["mean"]
    assert len(view.importance_bars().data) == len(frame) and "2 permutations" in view.importance_note()

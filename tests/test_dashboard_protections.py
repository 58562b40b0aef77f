"""Nothing a user did is lost from the browser (issue 23): the dashboard's state and views, no browser.

Training with a trained run's exact settings opens it and asks before replacing it; only the
session that started a job may cancel it; a run whose predictions were removed offers
"Predict + evaluate" and it works; a run being trained again shows its current files, not
the removed ones. Each test works on a copy of the session's ``evaluated_root``.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("panel")

import panel as pn
from conftest import tiny_run_configs

import dashboard.tasks
from dashboard.jobs import Job, JobRefusedError, JobRunner
from dashboard.state import DashboardState, RunExistsError
from dashboard.views import NOT_PREDICTED, EvaluationView, MapsView, RunChooser, TrainView, job_panel
from hazardcore.runstatus import clear_outputs, recording, step_state

OUTPUTS = ("model.pt", "predictions.nc", "metrics.json")


@pytest.fixture
def root(evaluated_root: Path, tmp_path: Path) -> Path:
    """A copy of the evaluated root that a test may change."""
    copy = tmp_path / "root"
    shutil.copytree(evaluated_root, copy, ignore=shutil.ignore_patterns("products"))
    return copy


def the_run(root: Path) -> Path:
    (model,) = (root / "work" / "runs").glob("*/model.pt")
    return model.parent.resolve()


def button(view: Any, label: str) -> Any:
    """The one button of a view (or layout) whose label starts with ``label``."""
    layout = view.__panel__() if hasattr(view, "__panel__") else view
    found = [b for b in layout.select(pn.widgets.Button) if b.label.startswith(label)]
    assert len(found) == 1, [b.label for b in layout.select(pn.widgets.Button)]
    return found[0]


def with_the_runs_settings(state: DashboardState) -> DashboardState:
    model_config, train_config = tiny_run_configs()  # the settings the evaluated run was trained with
    state.param.update(model_config=model_config, train_config=train_config)
    return state


def stamps(run: Path) -> dict[str, int]:
    return {name: (run / name).stat().st_mtime_ns for name in OUTPUTS}


def test_start_with_a_trained_runs_settings_opens_it_and_deletes_nothing(root: Path) -> None:
    run = the_run(root)
    before, metrics = stamps(run), (run / "metrics.json").read_text()
    state = with_the_runs_settings(DashboardState(root=root, runner=JobRunner()))
    train = TrainView(state)
    assert not button(train, "Replace").visible
    train.start()  # the Start button
    assert state._runner.current is None, "a job started"
    assert state.run_path == run and state.replace_run == str(run)
    assert "opened it (nothing was deleted)" in state.message and not state.message_is_error
    assert button(train, "Replace").visible and run.name in button(train, "Replace").label
    with pytest.raises(RunExistsError):
        state.start_training()  # asked again: still nothing starts
    state.replace_run = ""
    with pytest.raises(RunExistsError):
        state.start_training(replace=True)  # a confirmation counts only for the run the question named
    assert state._runner.current is None
    assert stamps(run) == before and (run / "metrics.json").read_text() == metrics
    assert step_state(run, "evaluate") == "finished"


def blocking_training(release: threading.Event) -> Callable[..., Callable[[Job], Path]]:
    """A stand-in for ``tasks.training`` doing what a real one does first (removing the run's outputs,
    recording the training as running), then waiting for ``release`` (a real one takes minutes)."""

    def training(workdir: Path, model_config: Any, train_config: Any, reference: Any) -> Callable[[Job], Path]:
        from hazardcore.config import config_hash
        from hazardcore.runfolder import run_path

        run = run_path(workdir, config_hash(model_config, train_config))

        def target(job: Job) -> Path:
            clear_outputs(run)
            with recording(run, "train"):
                while not release.wait(0.05):
                    job.check_cancelled()
            return run

        return target

    return training


def test_a_confirmed_replacement_trains_again_and_the_views_show_the_current_files(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    monkeypatch.setattr(dashboard.tasks, "training", blocking_training(release))
    run = the_run(root)
    state = with_the_runs_settings(DashboardState(root=root, runner=JobRunner()))
    viewer = DashboardState(root=root, runner=state._runner)  # another session looking at the same run
    chooser, other_chooser = RunChooser(state), RunChooser(viewer)
    state.poll(), viewer.poll()
    assert "`metrics.json`" in chooser.summary() and "AUC" in chooser.summary()
    train = TrainView(state)
    train.start()
    assert state._runner.current is None
    button(train, "Replace").clicks += 1  # the explicit confirmation
    job = state._runner.current
    try:
        assert job is not None and job.running, state.message
        assert "started training run" in state.message and state.replace_run == ""
        assert not button(train, "Replace").visible
        while step_state(run, "train") != "running":
            assert job.running, job.status
            release.wait(0.05)
        for session, view in ((state, chooser), (viewer, other_chooser)):
            session.poll()  # the periodic callback: the run's files changed
            summary = view.summary()
            assert "`model.pt`" not in summary and "`metrics.json`" not in summary and "AUC" not in summary
            assert "being trained now" in summary
            assert session.metrics is None and session.predictions is None
            assert session.run_path == run  # kept selected, though not trained now
            label = next(label for label, path in session.param.run.objects.items() if path == str(run))
            assert "being trained" in label
            assert MapsView(session)._missing() == NOT_PREDICTED
    finally:
        release.set()
        assert state._runner.wait(30)
    state.poll()


def test_only_the_session_that_started_a_job_may_cancel_it(root: Path) -> None:
    release = threading.Event()

    def long_job(job: Job) -> None:
        while not release.wait(0.05):
            job.check_cancelled()

    runner = JobRunner()
    mine, theirs = DashboardState(root=root, runner=runner), DashboardState(root=root, runner=runner)
    job = mine._start(Job("train", "training run abc"), long_job)
    try:
        theirs.poll()
        assert theirs.job_running and not theirs.job_cancellable and "another session" in theirs.job_status
        panel = job_panel(theirs)
        assert not button(panel, "Cancel").visible  # others see the job running, read-only
        with pytest.raises(JobRefusedError, match="only that session can cancel it"):
            theirs.cancel()
        button(panel, "Cancel").clicks += 1  # even a click that reached the server is refused, with a message
        assert "only that session can cancel it" in theirs.message and theirs.message_is_error
        assert job.running and not job.cancel_requested.is_set()
        mine.poll()
        assert mine.job_cancellable and button(job_panel(mine), "Cancel").visible
        mine.cancel()
        assert mine.wait(timeout=30) and job.outcome == "cancelled"
    finally:
        release.set()
        runner.wait(30)
    ended = threading.Event()
    demo = mine._start(Job("demo", "the demo", cancellable=False), lambda job: ended.wait(30))
    try:
        assert mine.job_running and demo.running
        assert not mine.job_cancellable  # a job that cannot stop shows no Cancel, even to its own session
    finally:
        ended.set()
        assert mine.wait(timeout=30)


def test_a_run_whose_predictions_were_removed_can_predict_again(root: Path) -> None:
    run = the_run(root)
    state = DashboardState(root=root, runner=JobRunner())
    chooser = RunChooser(state)
    evaluate = button(chooser, "Predict + evaluate")
    assert not evaluate.visible and not state.can_evaluate  # evaluated: nothing to recompute
    (run / "predictions.nc").unlink()
    state.poll()  # the periodic callback sees the file gone
    assert state.predictions is None and state.can_evaluate and evaluate.visible
    label = next(label for label, path in state.param.run.objects.items() if path == str(run))
    assert "predictions missing" in label
    assert "computes them again" in chooser.summary()
    assert EvaluationView(state)._missing() == NOT_PREDICTED  # not "not evaluated" beside the metrics
    evaluate.clicks += 1
    assert state.wait(timeout=300), state.job_status
    assert state._runner.current is not None and state._runner.current.outcome == "done", state.job_status
    assert (run / "predictions.nc").is_file() and state.predictions is not None and state.metrics is not None
    assert not state.can_evaluate and not evaluate.visible


def test_the_learning_rate_is_typed_as_a_number_and_an_empty_root_explains_the_maps(tmp_path: Path) -> None:
    """Two of the issue's reads-badly items: the rate was a 0-1 slider showing "0" for 0.002; the Maps tab of
    an empty root showed blank axes where the other tabs show a notice."""
    from dashboard.views import NOTHING

    state = DashboardState(root=tmp_path / "empty", runner=JobRunner())
    (settings,) = TrainView(state).__panel__().select(pn.Accordion)
    widgets = [w for part in settings.objects for w in part.select(pn.widgets.Widget)]
    rates = [w for w in widgets if w.name.startswith("Learning rate")]
    assert len(rates) == 2 and all(isinstance(w, pn.widgets.FloatInput) for w in rates)
    assert rates[0].value == state.train_config.learning_rate == 0.002
    rates[0].value = 0.0005
    assert state.train_config.learning_rate == 0.0005
    assert MapsView(state)._missing() == NOTHING

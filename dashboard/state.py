"""The dashboard's one state: root, run, slice, layer, channel, selected cell, and the background job.

Every view (``dashboard.views``) reads this object and nothing else; its methods call
:mod:`hazardcore` only (through ``dashboard.loaders`` for cached reads). Widgets come
from its params (``pn.Param``). The concerns it coordinates live in their own modules:
paths are confined to the root folder by ``dashboard.confine`` (:meth:`resolve` refuses any
path that, resolved, lies outside it), the selected cell's geometry and series are
``dashboard.cells``, and the background work is ``dashboard.tasks`` (targets calling
:mod:`hazardcore.pipeline` only).

Long work runs in a background thread (``dashboard.jobs``); the thread never sets a
param. :meth:`poll` (a periodic callback in the app; called directly in scripts and
tests, or through :meth:`wait`) copies the job's progress into ``job_*``, reads the
followed run's ``log.jsonl`` into ``log``, and, when a job ends, lists the runs again and
selects the new one; it also lists the runs again when the selected run's files change (a
retraining removed them, a file was deleted or rewritten), so no view shows a stale state.

Nothing a user did is lost from the browser: training with an existing run's exact settings
opens that run and waits for an explicit confirmation before replacing it
(:meth:`DashboardState.start_training`), and only the session that started a job may cancel it.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import param
import xarray as xr

from dashboard import loaders, tasks
from dashboard.cells import cell_at, cell_series
from dashboard.confine import DEFAULT_ROOT, confined, default_root, is_inside
from dashboard.jobs import SHARED_RUNNER, Job, JobRunner
from hazardcore.config import ModelConfig, TrainConfig, config_hash, demo_configs
from hazardcore.cube import CUBE_NAME, PreparedCube
from hazardcore.errors import HazardcoreError, describe
from hazardcore.figure_data import period_labels as dated_labels
from hazardcore.hazard import decision_thresholds
from hazardcore.predictors import CHANNELS
from hazardcore.report import DEFAULT_THRESHOLD, RULES
from hazardcore.runfolder import ENSEMBLE, LOG, METRICS, MODEL, PREDICTIONS, STATUS, run_path, workdir_of
from hazardcore.runstatus import is_trained, step_state, summary

#: The maps a run predicts, per slice.
PREDICTED_LAYERS = ("susceptibility", "density", "hazard")
#: What the Maps tab's ensemble map shows of the members' hazard, and the variable holding it
#: (the interval's width is computed from its ends).
UNCERTAINTY_VIEWS = {"interval width": "", "standard deviation": "hazard_std", "5th percentile": "hazard_p05",
                     "95th percentile": "hazard_p95", "exceedance probability": "hazard_exceedance"}
#: The difference map's default: each period against the one before it (the first period against the second),
#: so that the map shows a change whatever the slice (against a fixed first period, slice 1 showed a blank map).
PREVIOUS = -1
PREVIOUS_LABEL = "the period before (for the first: the one after)"


class RunExistsError(HazardcoreError):
    """Training was asked for with the settings of a run that exists: it is opened, not replaced."""

    def __init__(self, message: str, run: Path) -> None:
        super().__init__(message)
        self.run = run


def hidden(**kwargs: Any) -> dict[str, Any]:
    """Keyword arguments of a param that ``pn.Param`` does not show."""
    return {"precedence": -1, **kwargs}


class DashboardState(param.Parameterized):
    """What the user is looking at, and what the background job is doing.

    Parameters
    ----------
    root
        Folder the dashboard reads under (runs at ``ROOT/**/runs/<id>``); the demo and
        training write under it too. Default: :func:`default_root`.
    reference
        Folder of the published maps, or None.
    runner
        Job runner; default the one the process's sessions share.
    """

    root = param.String(default=str(DEFAULT_ROOT), constant=True,
                        doc="folder the dashboard reads under (set with --root DIR or HAZARD_ROOT)")
    reference = param.String(default="", constant=True, precedence=-1,
                             doc="folder of the original study's published maps ('' = none)")
    workdir: param.Selector = param.Selector(objects={}, default=None, allow_None=True, check_on_set=True,
                             doc="working folder (prepared data) that training uses")
    run: param.Selector = param.Selector(objects={}, default=None, allow_None=True, check_on_set=True,
                         doc="trained run whose predictions are shown")
    slice = param.Integer(default=0, bounds=(0, 0), doc="time slice (index)")
    layer: param.Selector = param.Selector(default="hazard", objects=list(PREDICTED_LAYERS),
                           doc="predicted map compared with the published one and between two periods")
    compare: param.Selector = param.Selector(objects={}, default=None, allow_None=True, check_on_set=True, **hidden(
        doc="slice (index) the current one is compared with in the Maps tab's difference map (PREVIOUS: the one "
            "before)"))
    channel: param.Selector = param.Selector(default="slope", objects=list(CHANNELS), doc="predictor channel")
    uncertainty: param.Selector = param.Selector(default="interval width", objects=list(UNCERTAINTY_VIEWS),
                                                 doc="what the ensemble map shows of the members' hazard")
    test_only = param.Boolean(default=True, doc="evaluation maps: test cells only")
    basemap = param.Boolean(default=False, doc="web map tiles under the maps (needs internet)")
    cell = param.Tuple(default=None, length=2, allow_None=True, **hidden(doc="(row, col) of the selected cell"))
    model_config = param.ClassSelector(class_=ModelConfig, **hidden(doc="model configuration to train"))
    train_config = param.ClassSelector(class_=TrainConfig, **hidden(doc="training configuration"))
    job_kind = param.String(default="", **hidden(doc="kind of the current or last job"))
    job_status = param.String(default="idle", **hidden(doc="what the job is doing"))
    job_progress = param.Number(default=0.0, bounds=(0.0, 1.0), **hidden())
    job_running = param.Boolean(default=False, **hidden())
    job_cancellable = param.Boolean(default=False, **hidden(
        doc="whether this session started the running job and may cancel it"))
    replace_run = param.String(default="", **hidden(
        doc="run folder with the training settings, waiting for a confirmation to replace it"))
    log = param.DataFrame(default=None, allow_None=True, **hidden(doc="epochs of the followed run's log.jsonl"))
    message = param.String(default="", **hidden(doc="last message for the user"))
    message_is_error = param.Boolean(default=False, **hidden(doc="whether the last message reports a problem"))
    revision = param.Integer(default=0, **hidden(doc="bumped when the runs' files change"))

    def __init__(self, root: str | Path | None = None, reference: str | Path | None = None,
                 runner: JobRunner | None = None, **params: Any) -> None:
        root_path = Path(root if root is not None else default_root()).expanduser().resolve()
        reference_path = Path(reference).expanduser().resolve() if reference else None
        if "model_config" not in params or "train_config" not in params:
            model_config, train_config = demo_configs()
            params = {"model_config": model_config, "train_config": train_config} | params
        super().__init__(root=str(root_path), reference=str(reference_path or ""), **params)
        self._runner = runner or SHARED_RUNNER
        self._session = uuid.uuid4().hex  # owns the jobs started here: only it may cancel them
        self._files_key: tuple[Any, ...] | None = None
        self._job: Job | None = None
        self._job_handled = True
        self._follow: Path | None = None
        self._log_key: tuple[str, int, int] | None = None
        self.refresh()
        self._files_key = self.files_key()

    # ------------------------------------------------------------------ paths and data
    @property
    def root_path(self) -> Path:
        return Path(self.root)

    @property
    def reference_path(self) -> Path | None:
        return Path(self.reference) if self.reference else None

    @property
    def run_path(self) -> Path | None:
        return Path(self.run) if self.run else None

    @property
    def workdir_path(self) -> Path | None:
        return Path(self.workdir) if self.workdir else None

    def resolve(self, path: str | Path) -> Path:
        """A path chosen in the UI, resolved (relative to the root if relative).

        Raises
        ------
        OutsideRootError
            If the resolved path is not inside the root folder.
        """
        return confined(self.root_path, path)

    @property
    def predictions(self) -> xr.Dataset | None:
        """The selected run's predictions (None before ``predict``)."""
        return loaders.predictions(self.run_path) if self.run_path else None

    @property
    def metrics(self) -> dict[str, Any] | None:
        """The selected run's ``metrics.json`` (None before ``evaluate``)."""
        return loaders.metrics(self.run_path) if self.run_path else None

    @property
    def importance(self) -> dict[str, Any] | None:
        """The selected run's ``importance.json`` (None before ``hazard explain``)."""
        return loaders.importance(self.run_path) if self.run_path else None

    @property
    def can_evaluate(self) -> bool:
        """Whether the selected run is trained (or an ensemble) but lacks readable predictions or metrics:
        "Predict + evaluate" computes them again (e.g. after ``predictions.nc`` was removed)."""
        run = self.run_path
        if run is None or not (is_trained(run) or (run / ENSEMBLE).is_file()):
            return False
        return self.predictions is None or self.metrics is None

    @property
    def cube(self) -> PreparedCube | None:
        """The prepared cube of the working folder (None when it holds none)."""
        workdir = self.workdir_path
        return loaders.cube(workdir) if workdir and (workdir / CUBE_NAME).is_dir() else None

    @property
    def slice_labels(self) -> list[str]:
        predictions, cube = self.predictions, self.cube
        if predictions is not None:
            return [str(label) for label in predictions["slice"].values]
        return list(cube.slice_labels) if cube is not None else []

    @property
    def slice_label(self) -> str:
        labels = self.slice_labels
        return labels[self.slice] if self.slice < len(labels) else ""

    @property
    def period_labels(self) -> list[str]:
        """Each slice's label with its dates when the predictions carry them
        (``2015-co (2015-04-01 – 2015-06-15)``, ``hazardcore.figure_data.period_labels``)."""
        predictions = self.predictions
        return dated_labels(predictions) if predictions is not None else self.slice_labels

    @property
    def slice_period(self) -> str:
        """The current slice's label with its dates (:attr:`period_labels`)."""
        labels = self.period_labels
        return labels[self.slice] if self.slice < len(labels) else ""

    @property
    def decision(self) -> tuple[np.ndarray, str]:
        """Each slice's decision threshold of the susceptibility and its rule.

        ``hazardcore.hazard.decision_thresholds``: the predictions' ``decision_threshold``, else
        the pooled validation threshold (calibration record, else metrics.json) in every
        slice; 0.5 (rule ``default``) when none is recorded or nothing is predicted yet.
        """
        predictions = self.predictions
        decision = decision_thresholds(predictions, self.metrics) if predictions is not None else None
        return decision or (np.full(len(self.slice_labels), DEFAULT_THRESHOLD), "default")

    def slice_threshold(self, slice_index: int | None = None) -> float:
        """Decision threshold of a slice (default: the current one); 0.5 outside the known slices."""
        thresholds, _ = self.decision
        index = self.slice if slice_index is None else slice_index
        return float(thresholds[index]) if 0 <= index < len(thresholds) else DEFAULT_THRESHOLD

    @property
    def threshold(self) -> float:
        """Decision threshold of the current slice (:meth:`slice_threshold`)."""
        return self.slice_threshold()

    def threshold_text(self, slice_index: int | None = None) -> str:
        """What decides a slice's cells, e.g. "threshold τ 0.250 of slice 2015-post (rule: ...)"."""
        index = self.slice if slice_index is None else slice_index
        labels = self.slice_labels
        label = labels[index] if 0 <= index < len(labels) else "?"
        _, rule = self.decision
        return f"threshold τ {self.slice_threshold(index):.3f} of slice {label} (rule: {RULES.get(rule, rule)})"

    @property
    def compared_slice(self) -> int | None:
        """The slice the current one is compared with: ``compare``, or for :data:`PREVIOUS` the one before it
        (the second for the first); None when there is no other period."""
        if self.compare is None or self.compare != PREVIOUS:
            return self.compare
        if len(self.slice_labels) < 2:
            return None
        return self.slice - 1 if self.slice > 0 else 1

    def cell_coords(self) -> dict[str, np.ndarray]:
        """Cell-centre coordinates ``{"y", "x"}`` (m) of the 1 km grid shown."""
        predictions = self.predictions
        if predictions is not None:
            return {"y": predictions["y"].values, "x": predictions["x"].values}
        cube = self.cube
        return cube.grid.coords("1km") if cube is not None else {"y": np.array([]), "x": np.array([])}

    # ------------------------------------------------------------------ runs
    def refresh(self, select: Path | None = None) -> None:
        """List the working folders and runs under the root again; select ``select`` (or keep the run)."""
        root = self.root_path
        workdirs = [w for w in loaders.find_workdirs(root) if (w / CUBE_NAME).is_dir()] if root.is_dir() else []
        runs = [run for run in (loaders.find_runs(root) if root.is_dir() else []) if is_inside(root, run)]
        if select is not None and select not in runs:
            runs.insert(0, select)
        self.param.workdir.objects = {("." if w == root else str(w.relative_to(root))): str(w) for w in workdirs}
        self.param.run.objects = {loaders.run_label(run, root): str(run) for run in runs}
        chosen = select or (self.run_path if self.run_path in runs else None) or (runs[0] if runs else None)
        with param.parameterized.batch_call_watchers(self):
            if self.workdir not in self.param.workdir.objects.values():
                self.workdir = str(workdirs[0]) if workdirs else None
            self.run = str(chosen) if chosen else None
            self.revision += 1
        self._update_slices()

    def open_run(self, path: str | Path) -> Path:
        """Select the run folder ``path`` (absolute, or relative to the root).

        Raises
        ------
        OutsideRootError
            If the folder is not inside the root.
        HazardcoreError
            If it is not a trained run (its training did not finish).
        """
        run = self.resolve(path)
        if not is_trained(run):
            raise HazardcoreError(describe("not a trained run", source=run,
                                           expected="WORKDIR/runs/<id> whose training finished", found=summary(run),
                                           fix="choose a trained run, or wait for / resume this one"))
        self.refresh(select=run)
        return run

    @param.depends("run", watch=True)
    def _on_run(self) -> None:
        run = self.run_path
        if run is not None:
            self.resolve(run)  # the chooser only lists runs inside the root; checked again here
            workdir = workdir_of(run)
            if str(workdir) in self.param.workdir.objects.values():
                self.workdir = str(workdir)
        if self._job is None or not self._job.running:
            self._follow = None
        self._update_slices()
        self._refresh_log()

    @param.depends("workdir", watch=True)
    def _update_slices(self) -> None:
        last = max(len(self.slice_labels) - 1, 0)
        self.param.slice.bounds = (0, last)
        if self.slice > last:
            self.slice = last
        periods = self.period_labels
        self.param.compare.objects = {PREVIOUS_LABEL: PREVIOUS, **{label: k for k, label in enumerate(periods)}}
        if self.compare is None or self.compare >= len(periods):
            self.compare = PREVIOUS
        rows, cols = (len(self.cell_coords()[axis]) for axis in ("y", "x"))
        if self.cell is not None and not (self.cell[0] < rows and self.cell[1] < cols):
            self.cell = None

    # ------------------------------------------------------------------ the selected cell
    def select_xy(self, x: float | None, y: float | None) -> tuple[int, int] | None:
        """Select the cell holding the point (x, y) in the grid's CRS; ignore points off the grid."""
        cell = cell_at(self.cell_coords(), x, y)
        if cell is not None:
            self.cell = cell
        return cell

    def cell_series(self) -> pd.DataFrame:
        """The selected cell's predicted and observed values per slice (index: slice labels)."""
        return cell_series(self.predictions, self.cell)

    def cell_predictors(self) -> pd.DataFrame:
        """Mean of each predictor channel over the selected cell's pixels, per slice."""
        if self.cell is None or self.cube is None or self.workdir_path is None:
            return pd.DataFrame()
        return loaders.cell_predictors(self.workdir_path, *self.cell)

    # ------------------------------------------------------------------ jobs
    def start_training(self, replace: bool = False) -> Job:
        """Train ``model_config`` / ``train_config`` on the working folder, then predict and evaluate.

        A run folder named by these settings may exist already; training would delete its
        model, predictions and metrics. Then nothing starts: a trained run is opened instead,
        and ``replace_run`` names the folder until :meth:`start_training` is called again with
        ``replace=True`` (the explicit confirmation) and the same settings.

        Raises
        ------
        JobRefusedError
            If a job is running.
        RunExistsError
            If the settings' run folder exists and replacing it is not confirmed.
        HazardcoreError
            If there is no prepared working folder, or a process elsewhere trains that run now.
        """
        workdir = self._prepared_workdir()
        run = run_path(workdir, config_hash(self.model_config, self.train_config))
        if not self._runner.busy:  # a running job refuses first (in _start), whatever the settings
            self._check_replace(run, confirmed=replace and self.replace_run == str(run))
        target = tasks.training(workdir, self.model_config, self.train_config, self.reference_path)
        job = self._start(Job("train", f"training run {run.name}"), target, follow=run)
        self.replace_run = ""
        return job

    def _check_replace(self, run: Path, confirmed: bool) -> None:
        """Refuse to train over an existing run folder unless replacing it was confirmed."""
        if not run.exists():
            return
        if step_state(run, "train") == "running":
            raise HazardcoreError(describe(f"run {run.name} is being trained now (by another process)",
                                           source=run, found=summary(run),
                                           fix="wait until it ends, or change a setting to train a new run"))
        if confirmed:
            return
        self.replace_run = str(run)
        if is_trained(run):
            self.refresh(select=run)
            text = (f"run {run.name} has exactly these settings and is trained: opened it (nothing was deleted). "
                    f"To train it again, which deletes its model, predictions and metrics, press "
                    f"**Replace run {run.name}**; or change a setting to train a new run.")
        else:
            text = (f"run {run.name} (these settings) exists unfinished: {summary(run)}. Training again deletes its "
                    f"checkpoints and log: press **Replace run {run.name}** to do so, or resume it with "
                    "`hazard train WORKDIR --resume`.")
        self.notify(text)
        raise RunExistsError(text, run)

    def start_evaluation(self) -> Job:
        """Predict (when needed) and evaluate the selected run in the background."""
        run = self.run_path
        if run is None:
            raise HazardcoreError("no run selected: choose a run first")
        run = self.resolve(run)
        target = tasks.evaluation(workdir_of(run), run, self.reference_path)
        return self._start(Job("evaluate", f"predict + evaluate of run {run.name}", cancellable=False), target)

    def start_demo(self) -> Job:
        """Run ``hazardcore.pipeline.demo(root)`` (minutes) in the background.

        Raises
        ------
        HazardcoreError
            If the root already holds the demo's folders (``region/`` or ``work/``).
        """
        out = self.root_path
        existing = tasks.demo_conflicts(out)
        if existing:
            raise HazardcoreError(describe("the demo writes region/ and work/ under the root, which exist",
                                           source=out, found=[str(p) for p in existing],
                                           fix="choose its runs above, or start the dashboard on an empty root"))
        target = tasks.demo_run(out)
        return self._start(Job("demo", "the demo", cancellable=False), target)

    def cancel(self) -> None:
        """Ask the running job to stop (training stops after its current epoch).

        Raises
        ------
        JobRefusedError
            If nothing runs, the job cannot be cancelled, or another session started it.
        """
        job = self._runner.cancel(owner=self._session)
        self.notify(f"{job.description}: cancel requested")
        self.poll()

    def _prepared_workdir(self) -> Path:
        workdir = self.workdir_path
        if workdir is None or not (workdir / CUBE_NAME).is_dir():
            raise HazardcoreError(describe("no prepared working folder under the root", source=self.root_path,
                                           fix="run the demo, or `hazard prepare CATALOG --out ROOT/work`"))
        return self.resolve(workdir)

    def _start(self, job: Job, target: Any, follow: Path | None = None) -> Job:
        job.owner = self._session
        try:
            self._runner.start(job, target)
        except HazardcoreError as exc:
            self.notify(str(exc), error=True)
            raise
        self._job, self._job_handled, self._follow = job, False, follow
        self.notify(f"started {job.description}")
        self.poll()
        return job

    def notify(self, text: str, error: bool = False) -> None:
        """Show ``text`` to the user (as a problem when ``error``)."""
        self.param.update(message=text, message_is_error=error)

    def poll(self) -> None:
        """Copy the job's progress into the params, read the followed log, react to a job's end."""
        job, current = self._job, self._runner.current
        if job is not None and (job is current or job.running or not self._job_handled):
            if job.kind == "demo" and job.running:
                job.report(loaders.demo_progress(self.root_path), job.status)
            self.param.update(job_kind=job.kind, job_status=job.status, job_progress=job.progress,
                              job_running=job.running, job_cancellable=job.running and job.cancellable)
            if not job.running and not self._job_handled:
                self._job_handled = True
                self._finish(job)
        elif current is not None and current.running:
            self.param.update(job_kind=current.kind, job_status=f"{current.status} (started in another session)",
                              job_progress=current.progress, job_running=True, job_cancellable=False)
        elif self.job_running:  # another session's job ended: its run may be new
            self.param.update(job_status="idle", job_running=False, job_cancellable=False)
            self.refresh()
        self._watch_files()
        self._refresh_log()

    def files_key(self) -> tuple[Any, ...] | None:
        """What the views show of the selected run's folder: its file names and the stamps of the
        files they read (None without a run)."""
        run = self.run_path
        if run is None:
            return None
        try:
            names = tuple(sorted(path.name for path in run.iterdir()))
        except OSError:
            names = ()
        return (str(run), names, *(loaders.stamp(run / name) for name in (STATUS, MODEL, PREDICTIONS, METRICS)))

    def _watch_files(self) -> None:
        """List the runs again (keeping the selected one) when its files changed since the last look."""
        key = self.files_key()
        previous, self._files_key = self._files_key, key
        if previous is None or key is None or previous[0] != key[0] or previous == key:
            return
        run = self.run_path
        self.refresh(select=run if run is not None and run.is_dir() else None)

    def _finish(self, job: Job) -> None:
        result = job.result if isinstance(job.result, Path) else None
        self.refresh(select=result)
        elapsed = f"{(job.finished or time.monotonic()) - job.started:.0f} s"
        texts = {"done": f"{job.description}: done in {elapsed}",
                 "cancelled": f"{job.description}: cancelled after {elapsed}"}
        self.notify(texts.get(job.outcome, job.status), error=job.outcome == "failed")

    def wait(self, timeout: float | None = None, interval: float = 0.25) -> bool:
        """Poll until the job ends (scripts, notebooks, tests); True if it ended within ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.poll()
            if not self.job_running:
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(interval)

    # ------------------------------------------------------------------ training log
    @property
    def log_path(self) -> Path | None:
        """The ``log.jsonl`` followed: the training job's run, else the selected run's."""
        run = self._follow or self.run_path
        return run / LOG if run else None

    def _refresh_log(self) -> None:
        path = self.log_path
        if path is None:
            if self.log is not None:
                self._log_key, self.log = None, None
            return
        try:
            info = path.stat()
            key = (str(path), info.st_mtime_ns, info.st_size)
        except OSError:
            key = (str(path), -1, -1)
        if key != self._log_key:
            self._log_key = key
            self.log = loaders.log_records(path)

"""What a run folder's steps (train, predict, evaluate) are doing: ``status.json``.

Each step records ``running`` (with the process id and host) when it starts and
``finished`` or ``failed`` (with the error) when it ends. A process killed outright
(SIGKILL, power loss) cannot record its end: a ``running`` step whose process no longer
exists on this host reads as ``interrupted``. Only a run whose training ``finished`` is
listed or opened as a trained run (``pipeline.list_runs``, the dashboard).

A fresh training (not ``--resume``) makes the run's earlier outputs stale: they are
removed and the later steps' records dropped when it starts.

It also answers ``hazard runs``: each run's split and whether its recorded files are intact
(:func:`verify_run`), importing neither PyTorch nor the pipeline, so listing stays fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from hazardcore.atomic import folder_lock, write_text
from hazardcore.errors import CheckpointError, describe
from hazardcore.integrity import verify_folder
from hazardcore.runfolder import CHECKPOINTS, MODEL, OUTPUTS, PRODUCTS, STATUS, read_config

STEPS = ("train", "predict", "evaluate")
#: How a step's message names it ("the run is already being trained").
STEP_VERBS = {"train": "trained", "predict": "predicted", "evaluate": "evaluated"}
RESUME_HINT = {"train": "resume: `hazard train WORKDIR --resume` (same configuration)",
               "predict": "predict again: `hazard predict WORKDIR --run RUN_ID`",
               "evaluate": "evaluate again: `hazard evaluate WORKDIR --run RUN_ID`"}


@dataclass(frozen=True)
class StepStatus:
    """One step's record; ``state`` is running, finished, failed or interrupted."""

    step: str
    state: str
    started: str
    ended: str | None = None
    pid: int | None = None
    host: str | None = None
    error: str | None = None

    def line(self) -> str:
        """One line for people: the step, its state and, when it did not finish, what to do."""
        text = {"running": f"{self.step} running since {self.started} (process {self.pid} on {self.host})",
                "finished": f"{self.step} finished {self.ended}",
                "failed": f"{self.step} failed {self.ended}: {self.error}",
                "interrupted": f"{self.step} interrupted: process {self.pid} on {self.host} ended without "
                               f"recording an outcome (killed?)"}[self.state]
        return text if self.state in ("running", "finished") else f"{text}; {RESUME_HINT[self.step]}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def process_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (also one owned by another user)."""
    return bool(psutil.pid_exists(pid))


def _read(run: Path) -> dict[str, Any]:
    path = run / STATUS
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else {}


def read_status(run: str | Path) -> dict[str, StepStatus]:
    """The recorded steps of a run (absent steps never ran), ``running`` → ``interrupted`` for dead processes."""
    steps = {}
    for step, record in _read(Path(run)).items():
        status = StepStatus(step=step, **record)
        if status.state == "running" and status.host == socket.gethostname() and status.pid is not None \
                and not process_alive(status.pid):
            status = StepStatus(**(status.__dict__ | {"state": "interrupted"}))
        steps[step] = status
    return steps


def step_state(run: str | Path, step: str) -> str:
    """``running``, ``finished``, ``failed``, ``interrupted`` or ``not run``."""
    status = read_status(run).get(step)
    return status.state if status else "not run"


def is_trained(run: str | Path) -> bool:
    """Whether the run's training finished (its ``model.pt`` is complete and current)."""
    return step_state(run, "train") == "finished" and (Path(run) / MODEL).is_file()


def summary(run: str | Path) -> str:
    """The run's latest step in one line (``not trained`` when none ran)."""
    steps = read_status(run)
    latest = [steps[step] for step in STEPS if step in steps]
    return latest[-1].line() if latest else "no status recorded (not trained by this version)"


def refuse_if_busy(run: str | Path, step: str) -> None:
    """Raise when another live process on this host is running ``step`` of the run.

    Two trainings of one run interleave their epochs in one log and overwrite each other's
    checkpoints (seen: ``hazard train --members K`` reached a member that a second command was
    training); a fresh start would even delete the other's checkpoints first.

    Raises
    ------
    CheckpointError
        Naming the process, when it started, and what to do.
    """
    status = read_status(run).get(step)
    if status is None or status.state != "running" or status.pid in (None, os.getpid()):
        return
    raise CheckpointError(describe(f"the run is already being {STEP_VERBS.get(step, step)} by another process",
                                   source=Path(run), found=f"process {status.pid} on {status.host}, since "
                                                            f"{status.started}",
                                   fix="wait for it to finish (`hazard runs WORKDIR` shows it) or stop that process "
                                       "first; an interrupted run resumes with --resume"))


def _write(run: Path, step: str, record: dict[str, Any] | None, drop: tuple[str, ...] = ()) -> None:
    with folder_lock(run):
        steps = _read(run)
        for name in drop:
            steps.pop(name, None)
        if record is not None:
            steps[step] = record
        write_text(json.dumps(steps, indent=2) + "\n", run / STATUS)


def clear_outputs(run: str | Path) -> None:
    """Remove what an earlier training of the run produced (called when a fresh one starts)."""
    folder = Path(run)
    for name in OUTPUTS:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    _write(folder, "train", None, drop=STEPS)


@contextlib.contextmanager
def recording(run: str | Path, step: str, enabled: bool = True) -> Iterator[None]:
    """Record ``step`` as running for the block, then finished, or failed with the error (re-raised).

    ``enabled=False`` records nothing (the non-writing ranks of a distributed run).
    """
    if not enabled:
        yield
        return
    folder = Path(run)
    refuse_if_busy(folder, step)
    started = {"state": "running", "started": _now(), "pid": os.getpid(), "host": socket.gethostname()}
    later = STEPS[STEPS.index(step) + 1:]  # a new model or new predictions make later outputs stale
    _write(folder, step, started, drop=later)
    try:
        yield
    except BaseException as exc:  # KeyboardInterrupt and SystemExit are failures of the step too
        error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        _write(folder, step, started | {"state": "failed", "ended": _now(), "error": error})
        raise
    _write(folder, step, started | {"state": "finished", "ended": _now()})


def run_split_protocol(run: Path) -> str:
    """The split protocol a run was trained with."""
    return str(read_config(run)["train"].get("split", "spatial"))


def verify_run(run: Path) -> dict[str, str | None]:
    """Check every file the run's manifests record (run folder, checkpoints, products).

    Returns
    -------
    dict
        Path relative to the run → ``None`` when intact, else the error message.
    """
    outcome = {}
    for folder in (run, run / CHECKPOINTS, run / PRODUCTS):
        for name, error in verify_folder(folder).items():
            outcome[str((folder / name).relative_to(run))] = error
    return outcome

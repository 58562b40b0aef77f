"""Long work (training, the demo, predict + evaluate) in one background thread at a time.

The thread never touches the UI: it writes its progress, status and result on the
:class:`Job`, and the dashboard's state copies them into its params on the UI thread
(a periodic callback calls ``DashboardState.poll``). One :class:`JobRunner` is shared by
the sessions of a server process, so two browser tabs cannot train at once on the same
CPU cores.
Every session sees the running job, but only the session that started it (its ``owner``)
may cancel it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hazardcore.errors import HazardcoreError, describe


class JobRefusedError(HazardcoreError):
    """A job was asked for while another one runs."""


class JobCancelledError(Exception):
    """Raised inside a job (e.g. from a training callback) to stop it."""


@dataclass
class Job:
    """One background job: what it is, how far it got, and how it ended."""

    kind: str
    description: str
    cancellable: bool = True
    owner: str = ""  # the session that started it: the only one that may cancel it ("" = anyone)
    progress: float = 0.0
    status: str = "starting"
    result: Any = None
    error: str | None = None
    outcome: str = "running"  # running | done | cancelled | failed
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.outcome == "running"

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelledError` when a cancel was requested (call between steps)."""
        if self.cancel_requested.is_set():
            raise JobCancelledError(f"{self.description} cancelled")

    def report(self, progress: float, status: str) -> None:
        """Set progress (0..1, never backwards) and status; called from the job's thread."""
        self.progress = max(self.progress, min(1.0, float(progress)))
        self.status = status


class JobRunner:
    """Runs at most one :class:`Job` at a time in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: Job | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None and self.current.running

    def start(self, job: Job, target: Callable[[Job], Any]) -> Job:
        """Start ``target(job)`` in a thread; its return value becomes ``job.result``.

        Raises
        ------
        JobRefusedError
            If a job is running (one at a time).
        """
        with self._lock:
            if self.busy:
                assert self.current is not None
                raise JobRefusedError(describe(
                    f"cannot start {job.description}: {self.current.description} is running",
                    found=f"{self.current.status} ({self.current.progress:.0%})",
                    fix="wait until it ends, or cancel it"))
            self.current = job
            job.thread = threading.Thread(target=self._run, args=(job, target), name=f"dashboard-{job.kind}",
                                          daemon=True)
            job.thread.start()
        return job

    @staticmethod
    def _run(job: Job, target: Callable[[Job], Any]) -> None:
        try:
            job.result = target(job)
            job.report(1.0, "done")
            job.outcome = "done"
        except JobCancelledError as exc:
            job.status, job.outcome = str(exc), "cancelled"
        except Exception as exc:  # any failure is shown to the user, not raised in a thread
            job.error = f"{type(exc).__name__}: {exc}"
            job.status, job.outcome = f"failed: {job.error}", "failed"
        finally:
            job.finished = time.monotonic()

    def cancel(self, owner: str = "") -> Job:
        """Ask the running job to stop at its next check, on behalf of the session ``owner``.

        Raises
        ------
        JobRefusedError
            If nothing runs, the running job cannot be cancelled, or another session started it.
        """
        job = self.current
        if job is None or not job.running:
            raise JobRefusedError("nothing to cancel: no job is running")
        if job.owner and job.owner != owner:
            raise JobRefusedError(describe(f"{job.description} was started in another session: only that session "
                                           "can cancel it", fix="wait until it ends, or ask whoever started it"))
        if not job.cancellable:
            raise JobRefusedError(describe(f"{job.description} cannot be cancelled",
                                           fix="wait until it ends (or stop the server)"))
        job.cancel_requested.set()
        job.status = "cancelling (stops after the current epoch)"
        return job

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current job ends; True if it ended within ``timeout`` seconds."""
        job = self.current
        if job is None or job.thread is None:
            return True
        job.thread.join(timeout)
        return not job.thread.is_alive()


#: The runner the sessions of one process share.
SHARED_RUNNER = JobRunner()

"""The background work the dashboard starts, as job targets calling the pipeline only.

Each function returns a target for :class:`dashboard.jobs.JobRunner`: it receives the
:class:`~dashboard.jobs.Job`, reports progress on it, checks for cancellation between epochs,
and returns the run folder it produced. Configurations are copied when the task is made, so
later edits in the UI do not reach a running job.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dashboard.jobs import Job
from hazardcore.config import ModelConfig, TrainConfig
from hazardcore.pipeline import demo, evaluate_run, fit_run, predict_run
from hazardcore.runfolder import ENSEMBLE, PREDICTIONS
from hazardcore.runstatus import step_state

Target = Callable[[Job], Path]
#: What the demo writes under its output folder.
DEMO_FOLDERS = ("region", "work")


def training(workdir: Path, model_config: ModelConfig, train_config: TrainConfig, reference: Path | None) -> Target:
    """Train the configuration on ``workdir``, then predict and evaluate (cancellable after any epoch)."""
    model_config = ModelConfig.from_dict(model_config.to_dict())
    train_config = TrainConfig.from_dict(train_config.to_dict())

    def target(job: Job) -> Path:
        def on_progress(fraction: float, message: str) -> None:
            job.check_cancelled()  # raising here stops the training after its current epoch
            job.report(fraction, message)

        return fit_run(workdir, model_config, train_config, reference=reference, on_progress=on_progress)[0]

    return target


def evaluation(workdir: Path, run: Path, reference: Path | None) -> Target:
    """Predict (when its ``predictions.nc`` is missing or unfinished) and evaluate a trained run or an ensemble."""

    ensemble = (run / ENSEMBLE).is_file()

    def target(job: Job) -> Path:
        from hazardcore.ensemble import evaluate_ensemble, predict_ensemble

        if step_state(run, "predict") != "finished" or not (run / PREDICTIONS).is_file():
            job.report(0.05, "predicting every cell and slice")
            if ensemble:
                predict_ensemble(workdir, run)
            else:
                predict_run(workdir, run)
        job.report(0.7, "evaluating on the test cells")
        if ensemble:
            evaluate_ensemble(workdir, run, reference=reference)
        else:
            evaluate_run(workdir, run, reference=reference)
        return run

    return target


def demo_run(out: Path) -> Target:
    """The whole demo (synthesise, prepare, train, predict, evaluate) under ``out``."""

    def target(job: Job) -> Path:
        job.report(0.01, "synthesising the region, preparing, training, predicting, evaluating")
        return demo(out).run

    return target


def demo_conflicts(out: Path) -> list[Path]:
    """The demo's folders that already exist under ``out`` (the demo refuses to overwrite them)."""
    return [out / name for name in DEMO_FOLDERS if (out / name).exists()]

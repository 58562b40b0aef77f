"""Leave-one-slice-out: every slice held out in turn, one row of skill per held-out slice.

One temporal split says how the model does on one period; a hazard model must do well on
periods it has not seen, whatever their trigger. ``hazard train --split temporal
--test-slice all`` trains, predicts and evaluates one normal run per slice (each resumable,
named by its configuration like any run) and writes ``WORKDIR/leave_one_slice_out.json``
with, per held-out slice, the model's and the oracle's within-slice scores and the predicted
against observed number of positive cells.

Both this and :mod:`hazardcore.cv` run their folds through :func:`run_folds`: one after the
other, or ``jobs`` at a time in separate processes that share the CPU threads (folds are
independent run folders, and a fold's run id does not depend on its thread count).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from hazardcore import export
from hazardcore.config import ModelConfig, TrainConfig
from hazardcore.cube import PreparedCube
from hazardcore.errors import ConfigError, HazardcoreError, describe
from hazardcore.metrics import count_hit_probability
from hazardcore.pipeline import evaluate_run
from hazardcore.result import SLICE_COLUMNS, RunMetrics, run_metrics
from hazardcore.runfolder import METRICS, PREDICTIONS, SCORES
from hazardcore.runstatus import is_trained
from hazardcore.train import open_run, train

RESULT_NAME = "leave_one_slice_out.json"
COUNT_TOLERANCE = 0.3  # predicted positive cells within ±30 % of observed counts as a hit
FOLD_KEYS = SLICE_COLUMNS


def true_probabilities(run: Path, label: str) -> np.ndarray | None:
    """The oracle's (true) probabilities on the test cells of slice ``label``; None without a known truth."""
    predictions = export.open_predictions(run / PREDICTIONS)
    if "true_probability" not in predictions:
        return None
    k = [str(value) for value in predictions["slice"].values].index(label)
    truth = predictions["true_probability"].values[k].astype("float64")
    return truth[predictions["test"].values[k].astype(bool) & np.isfinite(truth)]


def fold_row(label: str, metrics: RunMetrics, truth: np.ndarray | None = None) -> dict[str, Any]:
    """The held-out slice's scores of the model (and the oracle, when known) from a run's metrics.

    With the slice's true probabilities (``truth``, synthetic cases), ``count_hit_probability``
    is the chance that the model's predicted count is a ±30 % hit of the count the truth
    draws (:func:`hazardcore.metrics.count_hit_probability`), and ``oracle_count_hit_probability``
    the same for the truth's own expected count: the mapped inventory is one draw, so in a
    slice of a few positives even the truth misses often.
    """
    model = metrics["within_slices"]["per_slice"][label]
    row: dict[str, Any] = {"slice": label, "run_id": metrics["run_id"], "ece": metrics["susceptibility"]["ece"],
                           "hazard_total_ratio": metrics["density"]["hazard_total_ratio"]}
    row |= {key: value for key, value in model.items() if key in FOLD_KEYS}
    observed = model["positive_cells_observed"]
    row["count_ratio"] = model["positive_cells_predicted"] / observed if observed else math.nan
    if "oracle" in metrics:
        oracle = metrics["oracle"]["within_slices"]["per_slice"][label]
        row |= {f"oracle_{key}": oracle[key] for key in ("auc", "f1", "brier_skill", "positive_cells_predicted")}
        row["oracle_ece"] = metrics["oracle"]["susceptibility"]["ece"]
    if truth is not None:
        row["count_hit_probability"] = count_hit_probability(model["positive_cells_predicted"], truth,
                                                             COUNT_TOLERANCE)
        row["oracle_count_hit_probability"] = count_hit_probability(float(truth.sum()), truth, COUNT_TOLERANCE)
    return row


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Folds whose predicted count is within ±30 % of the observed, and positive-weighted means."""
    weights = [row["positive_cells_observed"] for row in rows]
    total = sum(weights)

    def weighted(key: str) -> float:
        pairs = [(row[key], w) for row, w in zip(rows, weights, strict=True) if w > 0 and math.isfinite(row[key])]
        return sum(v * w for v, w in pairs) / sum(w for _, w in pairs) if pairs else math.nan

    out = {"folds": len(rows), "positive_cells": total,
           "count_within_30_percent": sum(abs(row["count_ratio"] - 1.0) <= COUNT_TOLERANCE for row in rows
                                          if math.isfinite(row["count_ratio"])),
           "positive_weighted": {key: weighted(key) for key in ("auc", "brier_skill", "f1", "ece")}}
    if rows and all("count_hit_probability" in row for row in rows):  # expected hits over the truth's draws
        out["expected_count_hits"] = sum(row["count_hit_probability"] for row in rows)
        out["oracle_expected_count_hits"] = sum(row["oracle_count_hit_probability"] for row in rows)
    return out


def trained_run(workdir: str | Path, model_config: ModelConfig, config: TrainConfig) -> Path:
    """The run folder of a configuration, trained (or its interrupted training resumed) unless it finished."""
    run = open_run(workdir, model_config, config, resume=True, write=False).folder
    if not is_trained(run):
        train(workdir, model_config, config, resume=run.exists())
    return run


@dataclass(frozen=True)
class FoldOutcome:
    """What became of one fold: its run folder, or the error that stopped it."""

    run: Path | None
    error: str = ""


#: Errors a fold records instead of stopping the others (a bug elsewhere still raises).
FOLD_ERRORS = (HazardcoreError, RuntimeError, ValueError)


def evaluated_run(workdir: str | Path, model_config: ModelConfig, config: TrainConfig) -> Path:
    """Train (or resume), predict and evaluate one fold unless it already finished; its run folder."""
    run = trained_run(workdir, model_config, config)
    if not ((run / METRICS).is_file() and (run / SCORES).is_file()):
        evaluate_run(workdir, run)
    return run


def fold_in_process(workdir: str, model: dict[str, Any], config: dict[str, Any]) -> FoldOutcome:
    """:func:`evaluated_run` from plain arguments, errors recorded (what a worker process runs)."""
    try:
        return FoldOutcome(evaluated_run(workdir, ModelConfig.from_dict(model), TrainConfig.from_dict(config)))
    except FOLD_ERRORS as error:
        return FoldOutcome(None, f"{type(error).__name__}: {error}")


def threads_per_job(train_config: TrainConfig, jobs: int) -> int:
    """CPU threads of each of ``jobs`` concurrent folds: the configured (or all) threads shared out, at least 1."""
    total = train_config.num_threads or os.cpu_count() or 1
    return max(1, total // jobs)


def run_folds(workdir: str | Path, model_config: ModelConfig, configs: list[TrainConfig], jobs: int = 1,
              progress: bool = False, desc: str = "folds") -> list[FoldOutcome]:
    """Evaluate every fold's run, ``jobs`` at a time, in the order of ``configs``.

    Parameters
    ----------
    workdir
        A prepared working folder.
    model_config, configs
        The model and each fold's training configuration.
    jobs
        Folds trained at once: 1 runs them here one after the other; more start that many
        worker processes (``spawn``), each with :func:`threads_per_job` CPU threads. Use 1 on
        a GPU.
    progress, desc
        A progress bar over the folds and its label.

    Returns
    -------
    list of FoldOutcome
        One per configuration; a failed fold has ``run=None`` and its error.

    Raises
    ------
    ConfigError
        When ``jobs`` < 1.
    """
    if jobs < 1:
        raise ConfigError(describe("--jobs: folds trained at once", expected=">= 1", found=jobs))
    outcomes: list[FoldOutcome | None] = [None] * len(configs)
    bar = tqdm(total=len(configs), desc=desc, unit="fold", disable=not progress)

    def finish(index: int, outcome: FoldOutcome) -> None:
        outcomes[index] = outcome
        bar.update(1)

    if jobs == 1:
        for index, config in enumerate(configs):
            finish(index, fold_in_process(str(workdir), model_config.to_dict(), config.to_dict()))
    else:
        threads = threads_per_job(configs[0], jobs) if configs else 1
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(fold_in_process, str(workdir), model_config.to_dict(),
                                   config.to_dict() | {"num_threads": threads}): index
                       for index, config in enumerate(configs)}
            for future in as_completed(futures):
                finish(futures[future], future.result())
    bar.close()
    return [outcome for outcome in outcomes if outcome is not None]


def leave_one_slice_out(workdir: str | Path, model_config: ModelConfig, train_config: TrainConfig,
                        progress: bool = False, jobs: int = 1) -> dict[str, Any]:
    """Train, predict and evaluate one temporal run per held-out slice; write and return the table.

    Parameters
    ----------
    workdir
        A prepared working folder.
    model_config, train_config
        The configuration of every fold; ``split`` and ``test_slice`` are set per fold.
    progress
        Show a progress bar over the folds.
    jobs
        Folds trained at once (:func:`run_folds`).

    Returns
    -------
    dict
        ``rows`` (one per held-out slice, see :func:`fold_row`) and ``summary``.
    """
    labels = PreparedCube.open(workdir).slice_labels
    configs = [TrainConfig.from_dict(train_config.to_dict() | {"split": "temporal", "test_slice": k})
               for k in range(len(labels))]
    outcomes = run_folds(workdir, model_config, configs, jobs, progress, desc="leave one slice out")
    failed = [(labels[k], outcome.error) for k, outcome in enumerate(outcomes) if outcome.run is None]
    if failed:
        raise HazardcoreError(describe("leave-one-slice-out: a fold failed", found=failed,
                                       fix="read the error; rerun the same command to resume (finished folds "
                                           "are reused)"))
    rows = [fold_row(labels[k], run_metrics(outcome.run), true_probabilities(outcome.run, labels[k]))
            for k, outcome in enumerate(outcomes) if outcome.run is not None]
    result = {"rows": rows, "summary": summary(rows),
              "config": {"model": model_config.to_dict(), "train": train_config.to_dict()}}
    export.write_json(result, Path(workdir) / RESULT_NAME)
    return result

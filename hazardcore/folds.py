"""Leave-one-slice-out: every slice held out in turn, one row of skill per held-out slice.

One temporal split says how the model does on one period; a hazard model must do well on
periods it has not seen, whatever their trigger. ``hazard train --split temporal
--test-slice all`` trains, predicts and evaluates one normal run per slice (each resumable,
named by its configuration like any run) and writes ``WORKDIR/leave_one_slice_out.json``
with, per held-out slice, the model's and the oracle's within-slice scores and the predicted
against observed number of positive cells.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from hazardcore import export
from hazardcore.config import ModelConfig, TrainConfig
from hazardcore.cube import PreparedCube
from hazardcore.pipeline import evaluate_run
from hazardcore.result import SLICE_COLUMNS, RunMetrics
from hazardcore.runstatus import is_trained
from hazardcore.train import open_run, train

RESULT_NAME = "leave_one_slice_out.json"
COUNT_TOLERANCE = 0.3  # predicted positive cells within ±30 % of observed counts as a hit
FOLD_KEYS = SLICE_COLUMNS


def fold_row(label: str, metrics: RunMetrics) -> dict[str, Any]:
    """The held-out slice's scores of the model (and the oracle, when known) from a run's metrics."""
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
    return row


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Folds whose predicted count is within ±30 % of the observed, and positive-weighted means."""
    weights = [row["positive_cells_observed"] for row in rows]
    total = sum(weights)

    def weighted(key: str) -> float:
        pairs = [(row[key], w) for row, w in zip(rows, weights, strict=True) if w > 0 and math.isfinite(row[key])]
        return sum(v * w for v, w in pairs) / sum(w for _, w in pairs) if pairs else math.nan

    return {"folds": len(rows), "positive_cells": total,
            "count_within_30_percent": sum(abs(row["count_ratio"] - 1.0) <= COUNT_TOLERANCE for row in rows
                                           if math.isfinite(row["count_ratio"])),
            "positive_weighted": {key: weighted(key) for key in ("auc", "brier_skill", "f1", "ece")}}


def trained_run(workdir: str | Path, model_config: ModelConfig, config: TrainConfig) -> Path:
    """The run folder of a configuration, trained (or its interrupted training resumed) unless it finished."""
    run = open_run(workdir, model_config, config, resume=True, write=False).folder
    if not is_trained(run):
        train(workdir, model_config, config, resume=run.exists())
    return run


def leave_one_slice_out(workdir: str | Path, model_config: ModelConfig, train_config: TrainConfig,
                        progress: bool = False) -> dict[str, Any]:
    """Train, predict and evaluate one temporal run per held-out slice; write and return the table.

    Parameters
    ----------
    workdir
        A prepared working folder.
    model_config, train_config
        The configuration of every fold; ``split`` and ``test_slice`` are set per fold.
    progress
        Show a progress bar over the folds.

    Returns
    -------
    dict
        ``rows`` (one per held-out slice, see :func:`fold_row`) and ``summary``.
    """
    labels = PreparedCube.open(workdir).slice_labels
    rows = []
    for k in tqdm(range(len(labels)), desc="leave one slice out", unit="fold", disable=not progress):
        config = TrainConfig.from_dict(train_config.to_dict() | {"split": "temporal", "test_slice": k})
        run = trained_run(workdir, model_config, config)
        rows.append(fold_row(labels[k], evaluate_run(workdir, run).metrics))
    result = {"rows": rows, "summary": summary(rows),
              "config": {"model": model_config.to_dict(), "train": train_config.to_dict()}}
    export.write_json(result, Path(workdir) / RESULT_NAME)
    return result

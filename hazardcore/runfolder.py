"""The run folder's layout: the one place that names a run's files.

A run lives in ``WORKDIR/runs/<run_id>``, where the id is the hash of its configuration
(:func:`hazardcore.config.config_hash`)::

    config.json        model and training configuration    (train)
    status.json        each step's state                   (runstatus)
    log.jsonl          one line per epoch                   (train)
    checkpoints/       <stage>_{last,best}.pt               (train)
    model.pt           the final model and its split        (train)
    calibration.json   calibration and decision thresholds  (predict)
    predictions.nc     every cell and slice                 (predict)
    scores.nc          every source's maps as scored        (evaluate)
    metrics.json       the scores                           (evaluate)
    report.html        the report                           (evaluate)
    products/          GeoTIFFs, NetCDF, manifest           (evaluate)
    forecasts/         <label>.nc and <label>/ products     (predict --period)
    importance.json    permutation importance               (explain)

An ensemble (:mod:`hazardcore.ensemble`) lives in ``WORKDIR/ensembles/<id>``: ``ensemble.json``
(its member runs, each a run folder above) beside the files of a run it predicts and
evaluates (config, status, calibration, predictions, scores, metrics, report, products).

Every other module asks this one for a path instead of spelling a file name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RUNS = "runs"
CONFIG = "config.json"
STATUS = "status.json"
LOG = "log.jsonl"
CHECKPOINTS = "checkpoints"
MODEL = "model.pt"
CALIBRATION = "calibration.json"
PREDICTIONS = "predictions.nc"
SCORES = "scores.nc"
METRICS = "metrics.json"
REPORT = "report.html"
PRODUCTS = "products"
IMPORTANCE = "importance.json"
FORECASTS = "forecasts"
ENSEMBLES = "ensembles"
ENSEMBLE = "ensemble.json"
#: What a fresh training makes stale: the trained model and everything derived from it.
OUTPUTS = (MODEL, CALIBRATION, PREDICTIONS, SCORES, METRICS, REPORT, PRODUCTS, IMPORTANCE, FORECASTS)


def runs_folder(workdir: str | Path) -> Path:
    """``WORKDIR/runs``."""
    return Path(workdir) / RUNS


def run_path(workdir: str | Path, run_id: str) -> Path:
    """``WORKDIR/runs/<run_id>``."""
    return runs_folder(workdir) / run_id


def ensembles_folder(workdir: str | Path) -> Path:
    """``WORKDIR/ensembles``."""
    return Path(workdir) / ENSEMBLES


def workdir_of(run: Path) -> Path:
    """The working folder a run folder belongs to."""
    return Path(run).parent.parent


def forecast_files(run: Path) -> list[Path]:
    """A run's forecast maps (``forecasts/<label>.nc``, written by ``hazard predict --period``), by label."""
    return sorted((Path(run) / FORECASTS).glob("*.nc"))


def forecast_products(run: Path, label: str) -> Path:
    """The folder of a forecast's products: ``forecasts/<label>/`` (GeoTIFFs, styles, CF NetCDF)."""
    return Path(run) / FORECASTS / label


def checkpoint_path(run: Path, stage: str, which: str) -> Path:
    """A stage's ``last`` or ``best`` checkpoint."""
    return Path(run) / CHECKPOINTS / f"{stage}_{which}.pt"


def all_runs(workdir: str | Path) -> list[Path]:
    """Every run folder of a working folder (one with a ``config.json``), trained or not, by name."""
    return sorted(path.parent for path in runs_folder(workdir).glob(f"*/{CONFIG}"))


def all_ensembles(workdir: str | Path) -> list[Path]:
    """Every ensemble folder of a working folder (one with an ``ensemble.json``), by name."""
    return sorted(path.parent for path in ensembles_folder(workdir).glob(f"*/{ENSEMBLE}"))


def read_config(run: Path) -> dict[str, Any]:
    """A run's ``config.json``: ``{"model": {...}, "train": {...}}``."""
    return dict(json.loads((Path(run) / CONFIG).read_text(encoding="utf-8")))

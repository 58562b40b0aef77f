"""Cross-validation: every block (or slice) a test once, repeated over seeds, with intervals.

One split cannot rank designs: on the default region the model's R+ ranges from −0.31 to
0.78 over the four test blocks of one spatial split. ``hazard cv`` trains, predicts and
evaluates one normal run per fold and seed (each resumable, named by its configuration):

``spatial``
    The blocks of the spatial split are shuffled by the seed and dealt into ``folds`` groups;
    each group is the test once (:func:`hazardcore.splits.deal_blocks`), validation blocks are
    drawn among the other groups. A new seed reshuffles the blocks and reseeds the network
    (repeated K-fold).
``temporal``
    Leave one slice out: each slice is the test once, validation on whole training slices
    (:func:`hazardcore.splits.validation_slices`).

Per seed, the test cells of its folds cover the region (spatial) or every slice (temporal)
exactly once; every metric of every source (the model, the baselines, the slice-base-rate
reference and, on synthetic cases, the oracle) is computed on this out-of-fold pool with
each fold's own decision thresholds, and averaged over seeds. The 95 % interval is a
percentile **block bootstrap**: spatial blocks of the split (all slices of a block together,
since a place's slices are not independent) are resampled with replacement, the same draw
for every source, so the differences model − baseline and model − oracle are *paired*
(their intervals are narrower than the difference of two intervals).

A fold that fails is recorded with its error and left out of the pool; the summary counts
it. Finished folds are reused when the command is run again.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from hazardcore import export, metrics
from hazardcore.checkpoint import package_versions
from hazardcore.config import ModelConfig, TrainConfig
from hazardcore.cube import PreparedCube
from hazardcore.errors import ConfigError, HazardcoreError, describe
from hazardcore.evaluate import base_rate_source
from hazardcore.folds import FOLD_ERRORS, run_folds
from hazardcore.result import density_scores, run_metrics, susceptibility_scores
from hazardcore.runfolder import SCORES
from hazardcore.splits import block_labels

RESULT_NAME = "cv.json"
TABLE_NAME = "cv.md"
PROTOCOLS = ("spatial", "temporal")
CONFIDENCE = 0.95
#: The metrics summarised per source (:func:`source_scores`).
METRIC_NAMES = ("auc", "auc_within_slices", "f1", "ece", "hazard_total_ratio", "pearson_r", "pearson_r_positive",
                "mae")


def fold_configs(train_config: TrainConfig, split: str, folds: int, seeds: list[int],
                 n_slices: int) -> list[TrainConfig]:
    """The configuration of every fold × seed (seed-major order).

    Raises
    ------
    ConfigError
        For a protocol other than ``spatial`` / ``temporal``, or fewer than 2 spatial folds.
    """
    if split not in PROTOCOLS:
        raise ConfigError(describe("cross-validation protocol", expected=list(PROTOCOLS), found=split,
                                   fix="use --split spatial (blocks) or --split temporal (leave one slice out)"))
    if split == "spatial" and folds < 2:
        raise ConfigError(describe("spatial cross-validation needs at least 2 folds", found=folds))
    base = train_config.to_dict()
    if split == "spatial":
        changes = [{"split": "spatial", "cv_folds": folds, "cv_fold": fold} for fold in range(folds)]
    else:
        changes = [{"split": "temporal", "test_slice": k} for k in range(n_slices)]
    return [TrainConfig.from_dict(base | change | {"seed": seed}) for seed in seeds for change in changes]


@dataclass
class Pool:
    """One seed's out-of-fold test cells (flat arrays, one entry per cell-slice)."""

    slice_index: np.ndarray
    block: np.ndarray
    presence: np.ndarray
    observed: np.ndarray
    sources: dict[str, dict[str, np.ndarray]]  # name → probability, density, threshold

    def take(self, cells: np.ndarray) -> Pool:
        """The pool restricted to (or resampled at) the cell indices ``cells``."""
        return Pool(self.slice_index[cells], self.block[cells], self.presence[cells], self.observed[cells],
                    {name: {key: values[cells] for key, values in maps.items()}
                     for name, maps in self.sources.items()})


def fold_cells(run: Path, block_cells: int) -> Pool:
    """A finished fold's scored test cells with every source's maps and per-slice thresholds."""
    scores = export.open_scores(run / SCORES)
    result = run_metrics(run)
    test = scores["test"].values.astype(bool)
    observed = {"presence": scores["presence"].values, "density": scores["observed_density"].values}
    names = str(scores.attrs["sources"]).split(", ")
    maps = {name: {"probability": scores[f"{name}_probability"].values.astype("float64"),
                   "density": scores[f"{name}_density"].values.astype("float64")} for name in names}
    maps["slice_base_rate"] = base_rate_source(observed, test)
    labels = [str(label) for label in scores["slice"].values]
    slice_index, rows, cols = np.nonzero(test)
    blocks = block_labels(test.shape[1], test.shape[2], block_cells)
    sources = {}
    for name, source in maps.items():
        per_slice = result["decision_thresholds"].get(name, {})
        thresholds = np.array([per_slice.get(label, math.nan) for label in labels], dtype="float64")
        sources[name] = {"probability": source["probability"][test], "density": source["density"][test],
                         "threshold": thresholds[slice_index]}
    return Pool(slice_index, blocks[rows, cols], observed["presence"][test].astype(bool),
                observed["density"][test].astype("float64"), sources)


def pooled(pools: list[Pool]) -> Pool:
    """The folds of one seed as one pool."""
    return Pool(np.concatenate([p.slice_index for p in pools]), np.concatenate([p.block for p in pools]),
                np.concatenate([p.presence for p in pools]), np.concatenate([p.observed for p in pools]),
                {name: {key: np.concatenate([p.sources[name][key] for p in pools]) for key in pools[0].sources[name]}
                 for name in pools[0].sources if all(name in p.sources for p in pools)})


def within_slices_auc(pool: Pool, probability: np.ndarray) -> float:
    """Positive-weighted mean of the AUC within each slice."""
    values, weights = [], []
    for k in np.unique(pool.slice_index):
        in_slice = pool.slice_index == k
        auc = metrics.or_nan(metrics.auc, pool.presence[in_slice], probability[in_slice])
        if math.isfinite(auc):
            values.append(auc)
            weights.append(int(pool.presence[in_slice].sum()))
    return float(np.average(values, weights=weights)) if values else math.nan


def source_scores(pool: Pool, name: str) -> dict[str, float]:
    """Every summarised metric of one source on a pool."""
    source = pool.sources[name]
    susceptibility = susceptibility_scores(pool.presence, source["probability"], source["threshold"])
    density = density_scores(pool.presence, pool.observed, source["probability"], source["density"])
    return {"auc": susceptibility["auc"], "auc_within_slices": within_slices_auc(pool, source["probability"]),
            "f1": susceptibility["f1"], "ece": susceptibility["ece"]} | {
        key: density[key] for key in ("hazard_total_ratio", "pearson_r", "pearson_r_positive", "mae")}


def all_scores(pools: list[Pool]) -> dict[str, np.ndarray]:
    """Per source, its metrics (in ``METRIC_NAMES`` order) averaged over the seeds' pools."""
    names = [name for name in pools[0].sources if all(name in p.sources for p in pools)]
    return {name: mean_over_seeds(np.array([[source_scores(pool, name)[key] for key in METRIC_NAMES]
                                            for pool in pools])) for name in names}


def mean_over_seeds(values: np.ndarray) -> np.ndarray:
    """Column means over the seeds' rows, ignoring NaN; NaN where a metric is undefined for every seed."""
    finite = np.isfinite(values)
    return np.where(finite.any(axis=0), np.where(finite, values, 0.0).sum(axis=0) / np.maximum(finite.sum(axis=0), 1),
                    np.nan)


def block_resampler(pool: Pool, rng: np.random.Generator) -> Callable[[], np.ndarray]:
    """A function drawing one block-bootstrap resample of ``pool``'s cells (indices)."""
    blocks = np.unique(pool.block)
    members = [np.flatnonzero(pool.block == block) for block in blocks]
    return lambda: np.concatenate([members[i] for i in rng.integers(0, len(blocks), len(blocks))])


def bootstrap(pools: list[Pool], replicates: int, seed: int = 0,
              progress: bool = False) -> dict[str, np.ndarray]:
    """Per source, (replicates, metric) statistics of block-resampled pools (one draw for all sources)."""
    rng = np.random.default_rng(seed)
    draws = [block_resampler(pool, rng) for pool in pools]
    out: dict[str, list[np.ndarray]] = {}
    for _ in tqdm(range(replicates), desc="block bootstrap", unit="draw", disable=not progress):
        resampled = [pool.take(draw()) for pool, draw in zip(pools, draws, strict=True)]
        for name, values in all_scores(resampled).items():
            out.setdefault(name, []).append(values)
    return {name: np.asarray(values) for name, values in out.items()}


def interval(point: np.ndarray, replicates: np.ndarray) -> dict[str, dict[str, float]]:
    """Per metric: the point estimate and the percentile interval of the replicates."""
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.nanpercentile(replicates, [tail, 100 - tail], axis=0)
    return {key: {"mean": float(point[i]), "low": float(low[i]), "high": float(high[i]),
                  "half_width": float((high[i] - low[i]) / 2)} for i, key in enumerate(METRIC_NAMES)}


def summarise(pools: list[Pool], replicates: int, progress: bool = False) -> dict[str, Any]:
    """Point estimates with intervals of every source, and paired differences of the model with the others."""
    point = all_scores(pools)
    draws = bootstrap(pools, replicates, progress=progress)
    others = [name for name in point if name != "model"]
    return {"sources": {name: interval(point[name], draws[name]) for name in point},
            "differences": {f"model - {name}": interval(point["model"] - point[name], draws["model"] - draws[name])
                            for name in others}}


def machine() -> dict[str, Any]:
    """Where the cross-validation ran."""
    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()}


def cross_validate(workdir: str | Path, model_config: ModelConfig, train_config: TrainConfig, split: str = "spatial",
                   folds: int = 4, seeds: list[int] | None = None, replicates: int = 1000,
                   progress: bool = False, command: str = "", commit: str = "", jobs: int = 1) -> dict[str, Any]:
    """Run every fold × seed, pool each seed's out-of-fold cells, and summarise with intervals.

    Parameters
    ----------
    workdir
        A prepared working folder.
    model_config, train_config
        The configuration of every fold; the split settings and the seed are set per fold.
    split
        ``spatial`` (K-fold over blocks) or ``temporal`` (leave one slice out).
    folds
        Number of spatial folds (ignored for ``temporal``: one fold per slice).
    seeds
        Seeds of the repetitions (default ``[0]``).
    replicates
        Block-bootstrap draws of the intervals.
    progress
        Progress bars over the folds and the bootstrap.
    command, commit
        The command line and the source commit, recorded in the result.
    jobs
        Folds trained at once in worker processes sharing the CPU threads
        (:func:`hazardcore.folds.run_folds`; 1 = one after the other, here).

    Returns
    -------
    dict
        What ``WORKDIR/cv.json`` holds: ``runs`` (seed, fold, run id, status, error), the
        ``sources`` and ``differences`` with ``mean`` / ``low`` / ``high`` per metric, and how,
        where and how long it ran. ``WORKDIR/cv.md`` holds :func:`cv_table`.

    Raises
    ------
    HazardcoreError
        When no fold of some seed finished (nothing to summarise).
    """
    started, workdir, seeds = time.time(), Path(workdir), seeds or [0]
    cube = PreparedCube.open(workdir)
    n_slices = len(cube.slice_labels)
    configs = fold_configs(train_config, split, folds, seeds, n_slices)
    block_cells = train_config.split_block_patches * cube.patch_cells
    runs: list[dict[str, Any]] = []
    pools: dict[int, list[Pool]] = {seed: [] for seed in seeds}
    outcomes = run_folds(workdir, model_config, configs, jobs, progress, desc=f"{split} cross-validation")
    for config, outcome in zip(configs, outcomes, strict=True):
        fold = config.cv_fold if split == "spatial" else config.test_slice
        record: dict[str, Any] = {"seed": config.seed, "fold": fold}
        try:
            if outcome.run is None:
                raise HazardcoreError(outcome.error)
            pools[config.seed].append(fold_cells(outcome.run, block_cells))
            record |= {"run_id": outcome.run.name, "status": "finished"}
        except FOLD_ERRORS as error:  # recorded; the summary says so
            record |= {"status": "failed", "error": outcome.error or f"{type(error).__name__}: {error}"}
        runs.append(record)
    if not all(pools.values()):
        raise HazardcoreError(describe("cross-validation: no fold of a seed finished", source=workdir,
                                       found=[r for r in runs if r["status"] == "failed"][:3],
                                       fix="read the errors above; `hazard runs` lists the fold runs"))
    result: dict[str, Any] = {
        "split": split, "folds": folds if split == "spatial" else n_slices, "seeds": seeds,
        "failed_folds": sum(r["status"] == "failed" for r in runs), "runs": runs,
        "bootstrap": {"replicates": replicates, "confidence": CONFIDENCE,
                      "unit": f"spatial block of {block_cells} x {block_cells} cells, all its slices"},
        "pooled_cells": [int(sum(len(p.presence) for p in seed_pools)) for seed_pools in pools.values()],
        "region": {"catalog": cube.catalog_path, "cells": [cube.grid.n_rows, cube.grid.n_cols],
                   "slices": cube.slice_labels},
    } | summarise([pooled(seed_pools) for seed_pools in pools.values()], replicates, progress)
    result |= {"config": {"model": model_config.to_dict(), "train": train_config.to_dict()}, "command": command,
               "commit": commit or "unknown", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
               "versions": package_versions(), "jobs": jobs, "elapsed_s": round(time.time() - started, 1)}
    export.write_json(result, workdir / RESULT_NAME)
    export.checked_text(cv_table(result), workdir / TABLE_NAME)
    return result


TABLE_METRICS = (("AUC", "auc", 3), ("AUC within slices", "auc_within_slices", 3), ("F1", "f1", 3),
                 ("ECE", "ece", 3), ("Σ hazard / Σ obs.", "hazard_total_ratio", 2), ("R (hazard)", "pearson_r", 3),
                 ("R pos.", "pearson_r_positive", 3))


def with_interval(entry: dict[str, float], digits: int) -> str:
    """``mean [low, high]`` with a true minus sign; "–" when undefined."""
    if not math.isfinite(entry["mean"]):
        return "–"
    text = f"{entry['mean']:.{digits}f} [{entry['low']:.{digits}f}, {entry['high']:.{digits}f}]"
    return text.replace("-", "−")


#: Metrics a verdict is given on, and whether higher is better (Σ hazard / Σ obs. has no direction).
VERDICT_METRICS = {"auc": True, "auc_within_slices": True, "f1": True, "ece": False, "pearson_r": True,
                   "pearson_r_positive": True}


def verdicts(result: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Per other source: the metrics where the model beats, ties or loses (the paired interval excludes 0 or not)."""
    out = {}
    for name, scores in result["differences"].items():
        sorted_: dict[str, list[str]] = {"beats": [], "ties": [], "loses": []}
        for key, higher_better in VERDICT_METRICS.items():
            low, high = scores[key]["low"], scores[key]["high"]
            if not (math.isfinite(low) and math.isfinite(high)):
                continue
            better, worse = (low > 0, high < 0) if higher_better else (high < 0, low > 0)
            sorted_["beats" if better else "loses" if worse else "ties"].append(key)
        out[name.removeprefix("model - ")] = sorted_
    return out


def verdict_lines(result: dict[str, Any]) -> list[str]:
    """One sentence per other source: where the model beats, ties or loses to it."""
    labels = {key: label for label, key, _ in TABLE_METRICS}
    lines = []
    for name, sorted_ in verdicts(result).items():
        parts = [f"{word} on {', '.join(labels[key] for key in keys)}" for word, keys in sorted_.items() if keys]
        lines.append((f"- against {name}: the model " + "; ".join(parts)).rstrip(".") + ".")
    return lines


def cv_table(result: dict[str, Any]) -> str:
    """Markdown tables: every source with intervals, then the paired differences of the model."""
    header = "| source | " + " | ".join(label for label, _, _ in TABLE_METRICS) + " |"
    rule = "|---|" + "---|" * len(TABLE_METRICS)
    lines = [header, rule]
    for name, scores in result["sources"].items():
        shown = f"**{name}**" if name == "model" else name
        lines.append(f"| {shown} | " + " | ".join(with_interval(scores[key], digits)
                                                   for _, key, digits in TABLE_METRICS) + " |")
    lines += ["", header.replace("| source |", "| difference |"), rule]
    for name, scores in result["differences"].items():
        lines.append(f"| {name} | " + " | ".join(with_interval(scores[key], digits)
                                                 for _, key, digits in TABLE_METRICS) + " |")
    failed = result["failed_folds"]
    lines += ["", "Where the paired 95 % interval of the difference excludes 0 (ECE: lower is better):",
              *verdict_lines(result)]
    lines += ["", f"{result['split']} cross-validation, {result['folds']} folds × {len(result['seeds'])} seeds "
              f"({failed} failed); mean over seeds of the out-of-fold scores, "
              f"{int(CONFIDENCE * 100)} % block-bootstrap intervals ({result['bootstrap']['replicates']} draws)."]
    return "\n".join(lines) + "\n"

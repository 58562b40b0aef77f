"""Coverage of the known truth by two interval rules over an ensemble's members (synthetic cases).

Usage (after training and predicting K member runs, e.g. ``hazard train WORK --config demo --members 3
--set bootstrap_blocks=true`` and ``hazard predict WORK --run ID`` for each member, or ``hazard
predict WORK --ensemble ID``)::

    .venv/bin/python benchmarks/interval_coverage.py WORK/runs/ID0 WORK/runs/ID1 WORK/runs/ID2
    .venv/bin/python benchmarks/interval_coverage.py WORK1/ensembles/ID-k5 WORK2/ensembles/ID-k5 --write

Prints, per quantity (susceptibility on every test cell; density given occurrence and hazard on
the positive test cells), the share of cells whose true value lies inside

- ``p05-p95``: the 5th-95th percentiles of the members' values (what ``hazardcore.ensemble`` stored
  before 2026-12-07);
- ``t``: the central 90 % of the Student-t predictive distribution of one more member,
  mean ± t(0.95, K − 1) · s · sqrt(1 + 1/K), on the raw scale and on the log (density, hazard) or
  logit (susceptibility) scale (:func:`hazardcore.intervals.predictive_percentiles` with λ = 1);

- ``t·λ``: the same with the members' spread times the calibrated λ of
  ``hazardcore/interval_inflation.json`` (what it stores now; λ = 1 without that file);

the multiple of the members' standard deviation (transformed scale) that would cover 90 %, the
λ that would (:func:`hazardcore.intervals.needed_inflation`), the mean bias of the members' mean
against the truth on that scale, and the median widths.

Given ensemble folders instead of runs, it prints one table per ensemble. ``--write`` writes the λ
the given members need, per quantity, to ``hazardcore/interval_inflation.json`` under their kind
(seeds only, or a block bootstrap; with the runs, their regions and the commit); several
ensembles of one kind (one per region) are pooled: λ is the 90 % quantile of all their cells'
ratios together (:func:`hazardcore.intervals.inflation_ratios`). Calibrate on synthetic regions,
then score the ensemble of another with ``hazard evaluate --ensemble``.

With K members the 5th-95th percentiles of K values span less than the members' range, so they
cannot cover 90 % of anything exchangeable with a member unless K is large.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hazardcore.atomic import write_text
from hazardcore.cli import source_commit
from hazardcore.ensemble import member_runs
from hazardcore.export import open_predictions
from hazardcore.intervals import (
    INFLATION_FILE,
    PERCENTILES,
    TRUTH_OF,
    ensemble_kind,
    inflation_ratios,
    needed_inflation,
    predictive_percentiles,
    spread_inflation,
    t_multiplier,
    to_scale,
)


def member_values(runs: list[Path], quantity: str) -> np.ndarray:
    """(K, slice, y, x) values of one quantity over the members' predictions."""
    members = [open_predictions(run / "predictions.nc") for run in runs]
    if quantity == "hazard":
        return np.stack([m["susceptibility"].values * m["density"].values for m in members]).astype("float64")
    return np.stack([m[quantity].values for m in members]).astype("float64")


def row(quantity: str, values: np.ndarray, truth: np.ndarray, cells: np.ndarray, kind: str) -> str:
    """One quantity's line of the table."""
    k = values.shape[0]
    ok = cells & np.isfinite(truth) & np.isfinite(values).all(axis=0)
    t = t_multiplier(95, k)
    inside = lambda low, high: float(np.mean((truth[ok] >= low[ok]) & (truth[ok] <= high[ok])))  # noqa: E731
    low, high = np.percentile(values, [5, 95], axis=0)
    mean, sd = values.mean(axis=0), values.std(axis=0, ddof=1)
    z = to_scale(values, quantity)
    z_mean, z_sd = z.mean(axis=0), z.std(axis=0, ddof=1)
    ends = (PERCENTILES[0], PERCENTILES[-1])
    z_low, z_high = predictive_percentiles(values, quantity, ends)
    l_low, l_high = predictive_percentiles(values, quantity, ends, inflation=spread_inflation(quantity, kind))
    z_truth = to_scale(truth, quantity)
    needed = np.quantile(np.abs(z_truth[ok] - z_mean[ok]) / np.maximum(z_sd[ok], 1e-9), 0.9)
    return (f"| {quantity} | {k} | {int(ok.sum())} | {inside(low, high):.3f} | "
            f"{inside(mean - t * sd, mean + t * sd):.3f} | {inside(z_low, z_high):.3f} | "
            f"{inside(l_low, l_high):.3f} (λ {spread_inflation(quantity, kind):.2f}) | {needed:.2f} (t: {t:.2f}) | "
            f"{needed_inflation(values, truth, ok, quantity):.2f} | {np.mean(z_truth[ok] - z_mean[ok]):+.3f} | "
            f"{np.median((high - low)[ok]):.3g} / {np.median((z_high - z_low)[ok]):.3g} |")


def runs_kind(runs: list[Path]) -> str:
    """What the member runs differ in (:data:`hazardcore.intervals.KINDS`), from the first one's configuration."""
    config = json.loads((runs[0] / "config.json").read_text(encoding="utf-8"))
    return ensemble_kind(config["train"].get("bootstrap_blocks", False))


def calibration(groups: list[list[Path]]) -> dict[str, Any]:
    """What ``--write`` stores for the groups' kind: λ per quantity pooled over the groups, and its source."""
    ratios: dict[str, list[np.ndarray]] = {quantity: [] for quantity in TRUTH_OF}
    regions = []
    for runs in groups:
        first = open_predictions(runs[0] / "predictions.nc")
        cells, truth = scored(first)
        for quantity in TRUTH_OF:
            ratios[quantity].append(inflation_ratios(member_values(runs, quantity), truth[quantity], cells[quantity],
                                                     quantity))
        workdir = runs[0].resolve().parents[1]
        prepared = json.loads((workdir / "prepare.json").read_text(encoding="utf-8")) if (
            workdir / "prepare.json").is_file() else {}
        regions.append({"workdir": os.path.relpath(workdir), "members": [run.name for run in runs],
                        "catalog": os.path.relpath(prepared["catalog"]) if prepared.get("catalog") else ""})
    pooled = {quantity: np.concatenate(parts) for quantity, parts in ratios.items()}
    names = ", ".join(region["workdir"] for region in regions)
    return {"inflation": {quantity: round(float(np.quantile(values, 0.9)), 3) for quantity, values in pooled.items()},
            "cells": {quantity: int(values.size) for quantity, values in pooled.items()},
            "regions": regions, "commit": source_commit()[:10], "date": datetime.date.today().isoformat(),
            "source": f"lambda makes the 90 % interval of {len(groups[0])} members ({runs_kind(groups[0])}) hold the "
                      f"truth in 90 % of the scored test cells of {names} together "
                      f"(benchmarks/interval_coverage.py --write, commit {source_commit()[:10]})"}


def scored(first: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The scored cells and the truth per quantity, from one member's predictions."""
    test = first["test"].values.astype(bool)
    positive = test & (first["presence"].values > 0)
    cells = {quantity: positive if positive_only else test for quantity, (_, positive_only) in TRUTH_OF.items()}
    return cells, {quantity: first[name].values for quantity, (name, _) in TRUTH_OF.items()}


def groups_of(sources: list[Path]) -> list[list[Path]]:
    """Member runs per ensemble: one group per ensemble folder given, or the run folders given as one group."""
    if all((source / "ensemble.json").is_file() for source in sources):
        return [member_runs(source) for source in sources]
    return [sources]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path,
                        help="member run folders of one ensemble, each predicted; or ensemble folders, predicted")
    parser.add_argument("--write", action="store_true", help=f"write the lambda these runs need to {INFLATION_FILE}")
    arguments = parser.parse_args()
    groups = groups_of(arguments.sources)
    for runs in groups:
        cells, truth = scored(open_predictions(runs[0] / "predictions.nc"))
        kind = runs_kind(runs)
        print(f"\n{os.path.relpath(runs[0].resolve().parents[1])}, {len(runs)} members ({kind}):\n")
        print("| quantity | K | cells | p05-p95 | t (raw) | t (log/logit) | t·λ (log/logit) | sd multiple for 90 % | "
              "λ for 90 % | bias (log/logit) | median width p05-p95 / t |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for quantity in TRUTH_OF:
            print(row(quantity, member_values(runs, quantity), truth[quantity], cells[quantity], kind))
    if arguments.write:
        kinds = {runs_kind(runs) for runs in groups}
        if len(kinds) > 1:
            raise SystemExit(f"--write pools ensembles of one kind; these are {', '.join(sorted(kinds))}")
        stored = json.loads(INFLATION_FILE.read_text(encoding="utf-8")) if INFLATION_FILE.is_file() else {}
        stored[kinds.pop()] = calibration(groups)
        write_text(json.dumps(stored, indent=2, ensure_ascii=False) + "\n", INFLATION_FILE)
        print(f"wrote {INFLATION_FILE}")


if __name__ == "__main__":
    main()

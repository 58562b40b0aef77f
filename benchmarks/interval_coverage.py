"""Coverage of the known truth by two interval rules over an ensemble's members (synthetic cases).

Usage (after training and predicting K member runs, e.g. ``hazard train WORK --config demo --members 3
--set bootstrap_blocks=true`` and ``hazard predict WORK --run ID`` for each member)::

    .venv/bin/python benchmarks/interval_coverage.py WORK/runs/ID0 WORK/runs/ID1 WORK/runs/ID2

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

``--write`` writes the λ these runs need, per quantity, to ``hazardcore/interval_inflation.json``
under their kind (seeds only, or a block bootstrap; with the runs, their region and the
commit): calibrate on one synthetic region, then score the ensemble of another with
``hazard evaluate --ensemble``.

With K members the 5th-95th percentiles of K values span less than the members' range, so they
cannot cover 90 % of anything exchangeable with a member unless K is large.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from hazardcore.atomic import write_text
from hazardcore.export import open_predictions
from hazardcore.intervals import (
    INFLATION_FILE,
    PERCENTILES,
    TRUTH_OF,
    ensemble_kind,
    needed_inflation,
    predictive_percentiles,
    spread_inflation,
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
    t = stats.t.ppf(0.95, k - 1) * np.sqrt(1 + 1 / k)
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


def commit() -> str:
    """The repository's commit (short), or "unknown" outside a git checkout."""
    done = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def runs_kind(runs: list[Path]) -> str:
    """What the member runs differ in (:data:`hazardcore.intervals.KINDS`), from the first one's configuration."""
    config = json.loads((runs[0] / "config.json").read_text(encoding="utf-8"))
    return ensemble_kind(config["train"].get("bootstrap_blocks", False))


def calibration(runs: list[Path], cells: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> dict[str, Any]:
    """What ``--write`` stores for the runs' kind: λ per quantity for these K runs, and where it comes from."""
    workdir = runs[0].resolve().parents[1]
    needed = {quantity: round(needed_inflation(member_values(runs, quantity), truth[quantity], cells[quantity],
                                               quantity), 3) for quantity in TRUTH_OF}
    prepared = json.loads((workdir / "prepare.json").read_text(encoding="utf-8")) if (
        workdir / "prepare.json").is_file() else {}
    return {"inflation": needed, "members": [run.name for run in runs], "workdir": os.path.relpath(workdir),
            "catalog": os.path.relpath(prepared["catalog"]) if prepared.get("catalog") else "", "commit": commit(),
            "date": datetime.date.today().isoformat(),
            "source": f"lambda makes the 90 % interval of {len(runs)} members ({runs_kind(runs)}) hold the truth in "
                      f"90 % of the scored test cells of {os.path.relpath(workdir)} "
                      f"(benchmarks/interval_coverage.py --write, commit {commit()})"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="member run folders, each predicted")
    parser.add_argument("--write", action="store_true", help=f"write the lambda these runs need to {INFLATION_FILE}")
    arguments = parser.parse_args()
    runs = arguments.runs
    first = open_predictions(runs[0] / "predictions.nc")
    test = first["test"].values.astype(bool)
    positive = test & (first["presence"].values > 0)
    cells = {quantity: positive if positive_only else test for quantity, (_, positive_only) in TRUTH_OF.items()}
    truth = {quantity: first[name].values for quantity, (name, _) in TRUTH_OF.items()}
    print("| quantity | K | cells | p05-p95 | t (raw) | t (log/logit) | t·λ (log/logit) | sd multiple for 90 % | "
          "λ for 90 % | bias (log/logit) | median width p05-p95 / t |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    kind = runs_kind(runs)
    for quantity in TRUTH_OF:
        print(row(quantity, member_values(runs, quantity), truth[quantity], cells[quantity], kind))
    if arguments.write:
        stored = json.loads(INFLATION_FILE.read_text(encoding="utf-8")) if INFLATION_FILE.is_file() else {}
        stored[kind] = calibration(runs, cells, truth)
        write_text(json.dumps(stored, indent=2, ensure_ascii=False) + "\n", INFLATION_FILE)
        print(f"wrote {INFLATION_FILE}")


if __name__ == "__main__":
    main()

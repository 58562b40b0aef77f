"""Cost of an ensemble's prediction against its members' single predictions; prints one table.

Issue 19's goal: predicting an ensemble of K members costs at most K × one member's prediction
plus 10 %. Every number below is measured in this process, one after the other, on the same
cores: each member's own ``predict_run`` (the distribution grid included, as the ensemble
asks), then ``predict_ensemble`` from scratch (the members' predictions invalidated by one extra
threshold, so all K are predicted again inside it) and its combining step alone.

Usage (after ``hazard train WORKDIR --config demo --members K``)::

    .venv/bin/python benchmarks/ensemble_predict.py WORKDIR ENSEMBLE_ID
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from hazardcore.ensemble import combine_members, find_ensemble, folder_kind, member_runs, predict_ensemble
from hazardcore.export import open_predictions
from hazardcore.intervals import SCORE_GRID
from hazardcore.pipeline import calibrate, predict_run
from hazardcore.runfolder import PREDICTIONS


def main() -> None:
    """Time the members, the ensemble and its combining step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("ensemble")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    folder = find_ensemble(args.workdir, args.ensemble)
    runs = member_runs(folder)
    singles = []
    for run in runs:
        started = time.perf_counter()
        predict_run(args.workdir, run, device=args.device, exceedance=SCORE_GRID)
        singles.append(time.perf_counter() - started)
    started = time.perf_counter()
    predict_ensemble(args.workdir, folder, device=args.device, exceedance=(0.5,))  # 0.5 is not on the grid
    ensemble = time.perf_counter() - started
    members = [open_predictions(run / PREDICTIONS) for run in runs]
    started = time.perf_counter()
    calibrate(combine_members(members, folder_kind(folder)), "platt")
    combining = time.perf_counter() - started
    mean_single = sum(singles) / len(singles)
    rows = [("members K", f"{len(runs)}"), ("one member's prediction, mean (s)", f"{mean_single:.1f}"),
            ("members' predictions, each (s)", ", ".join(f"{s:.1f}" for s in singles)),
            ("ensemble prediction from scratch (s)", f"{ensemble:.1f}"),
            ("combining and calibrating alone (s)", f"{combining:.2f}"),
            ("ensemble / (K x mean member)", f"{ensemble / (len(runs) * mean_single):.3f}"),
            ("goal", "<= 1.10")]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()

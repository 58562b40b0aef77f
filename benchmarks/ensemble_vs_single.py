"""Does an ensemble's mean score at least as well as one run? Paired block-bootstrap differences.

Usage (after ``hazard evaluate`` of the run and of the ensemble, on one working folder)::

    .venv/bin/python benchmarks/ensemble_vs_single.py WORK/ensembles/ID-k5 WORK/runs/ID [WORK/runs/ID2 ...]

Both are scored on the same test cells (the split is shared by the members and the run). The
test cells are resampled by blocks of 4 × 4 cells (1000 draws, one draw for all sources, as
``hazard cv`` does), and the table gives each source's AUC, R pos. and Σ hazard / Σ obs. with
their 95 % intervals, and the ensemble minus each run with its paired interval.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hazardcore.cv import CONFIDENCE, METRIC_NAMES, Pool, all_scores, bootstrap
from hazardcore.export import open_predictions
from hazardcore.splits import block_labels

SHOWN = {"auc": 3, "pearson_r_positive": 3, "hazard_total_ratio": 2}
BLOCK_CELLS = 4
REPLICATES = 1000


def pool_of(folders: dict[str, Path]) -> Pool:
    """The shared test cells with each folder's calibrated probability and density as a source."""
    predictions = {name: open_predictions(folder / "predictions.nc") for name, folder in folders.items()}
    first = next(iter(predictions.values()))
    test = first["test"].values.astype(bool)
    for name, ds in predictions.items():
        if not np.array_equal(ds["test"].values.astype(bool), test):
            raise SystemExit(f"{name} was tested on other cells: compare runs of one split")
    slice_index, rows, cols = np.nonzero(test)
    blocks = block_labels(test.shape[1], test.shape[2], BLOCK_CELLS)
    sources = {name: {"probability": ds["susceptibility"].values[test].astype("float64"),
                      "density": ds["density"].values[test].astype("float64"),
                      "threshold": np.full(int(test.sum()), np.nan)} for name, ds in predictions.items()}
    return Pool(slice_index, blocks[rows, cols], first["presence"].values[test].astype(bool),
                first["observed_density"].values[test].astype("float64"), sources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ensemble", type=Path)
    parser.add_argument("runs", nargs="+", type=Path)
    arguments = parser.parse_args()
    folders = {f"ensemble {arguments.ensemble.name}": arguments.ensemble,
               **{f"run {run.name}": run for run in arguments.runs}}
    pool = pool_of(folders)
    point = all_scores([pool])
    draws = bootstrap([pool], REPLICATES)
    tail = 100 * (1 - CONFIDENCE) / 2
    index = {key: METRIC_NAMES.index(key) for key in SHOWN}
    ensemble = next(iter(folders))
    print(f"{int(pool.presence.size)} test cell-slices, {int(pool.presence.sum())} positive; blocks of "
          f"{BLOCK_CELLS} x {BLOCK_CELLS} cells, {REPLICATES} draws, {CONFIDENCE:.0%} intervals\n")
    print("| source | " + " | ".join(SHOWN) + " |")
    print("|---|" + "---|" * len(SHOWN))
    for name in folders:
        cells = []
        for key, digits in SHOWN.items():
            low, high = np.nanpercentile(draws[name][:, index[key]], [tail, 100 - tail])
            cells.append(f"{point[name][index[key]]:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name in list(folders)[1:]:
        cells = []
        for key, digits in SHOWN.items():
            difference = draws[ensemble][:, index[key]] - draws[name][:, index[key]]
            low, high = np.nanpercentile(difference, [tail, 100 - tail])
            value = point[ensemble][index[key]] - point[name][index[key]]
            cells.append(f"{value:+.{digits + 1}f} [{low:+.{digits + 1}f}, {high:+.{digits + 1}f}]")
        print(f"| ensemble − {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

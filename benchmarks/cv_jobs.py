"""Wall time of a cross-validation with folds trained one at a time or several at once; prints one table.

Issue 16's goal: the default region's CV in the demo configuration (4 folds x 3 seeds) in
at most 30 minutes on 2 idle cores. ``hazard cv --jobs N`` trains N folds at once in worker
processes that share the threads (:func:`hazardcore.folds.run_folds`). For each ``--jobs``
value this script copies the prepared working folder without its runs (so nothing is reused)
and times ``cross_validate`` there, one value after the other on the same cores.

Usage (after ``hazard prepare``; a smaller ``--seeds`` gives a quicker comparison)::

    .venv/bin/python benchmarks/cv_jobs.py WORKDIR --folds 4 --seeds 1 --jobs 1 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from hazardcore.config import demo_configs
from hazardcore.cv import RESULT_NAME, TABLE_NAME, cross_validate
from hazardcore.runfolder import runs_folder


def fresh_copy(workdir: Path, into: Path) -> Path:
    """The prepared working folder copied without runs or CV results."""
    skipped = {runs_folder(workdir).name, RESULT_NAME, TABLE_NAME, "ensembles"}
    shutil.copytree(workdir, into, ignore=lambda folder, names: [n for n in names if n in skipped], symlinks=True)
    return into


def main() -> None:
    """Time one CV per --jobs value and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads in all")
    args = parser.parse_args()
    rows = []
    for jobs in args.jobs:
        model, config = demo_configs()
        config.param.update(device="cpu", num_threads=args.threads)
        with tempfile.TemporaryDirectory() as scratch:
            work = fresh_copy(args.workdir, Path(scratch) / "work")
            started = time.perf_counter()
            result = cross_validate(work, model, config, folds=args.folds, seeds=list(range(args.seeds)),
                                    replicates=200, jobs=jobs)
            seconds = time.perf_counter() - started
        trainings = len(result["runs"])
        rows.append((jobs, trainings, seconds, result["sources"]["model"]["auc"]["mean"]))
    print(f"| jobs | folds x seeds | wall (min) | min per fold | model AUC | ({args.threads} threads, "
          f"{os.cpu_count()} cores) |")
    print("|---|---|---|---|---|---|")
    for jobs, trainings, seconds, auc in rows:
        print(f"| {jobs} | {trainings} | {seconds / 60:.1f} | {seconds / 60 / trainings:.2f} | {auc:.4f} | |")


if __name__ == "__main__":
    main()

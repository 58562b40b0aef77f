"""Collect the demo ensembles' skill, interval coverage and cost into ``docs/results/ensemble.json``.

``bash docs/ensemble.sh`` trains the members of both kinds (members differing in their seeds,
and members also trained on a block bootstrap of their data: ``--set bootstrap_blocks=true``)
on a working folder of the default region, evaluates the ensembles of K = 3 and 5 members,
then runs this script, which reads for K = 1 (the single run, member 0) and each ensemble its
``metrics.json`` and the training and prediction times its members' ``status.json`` recorded;
``docs/results.py`` renders the README's table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from hazardcore.config import TrainConfig, config_hash, demo_configs
from hazardcore.ensemble import member_runs
from hazardcore.export import open_predictions
from hazardcore.intervals import KINDS, distribution_scores, ensemble_kind
from hazardcore.runfolder import METRICS, PREDICTIONS, ensembles_folder, run_path
from hazardcore.runstatus import read_status

RESULT = Path(__file__).resolve().parent / "results" / "ensemble.json"


def seconds(folder: Path, step: str) -> float:
    """How long a step of a run (or ensemble) folder took, from its ``status.json``."""
    start, end = window(folder, step)
    return (end - start).total_seconds()


def window(folder: Path, step: str) -> tuple[dt.datetime, dt.datetime]:
    """When a step of a run (or ensemble) folder started and ended."""
    status = read_status(folder)[step]
    return dt.datetime.fromisoformat(status.started), dt.datetime.fromisoformat(str(status.ended))


def prediction_seconds(folder: Path, runs: list[Path]) -> dict[str, float]:
    """Σ of the members' prediction times and the ensemble's own combining time.

    The ensemble's ``predict`` step predicts the members that had no prediction; those
    member times are taken out of it, so a member predicted earlier (and reused) counts once.
    """
    member = sum(seconds(run, "predict") for run in runs)
    if folder in runs:
        return {"members": member, "combine": 0.0}
    start, end = window(folder, "predict")
    inside = sum(seconds(run, "predict") for run in runs if start <= window(run, "predict")[0] <= end)
    return {"members": member, "combine": (end - start).total_seconds() - inside}


def single_id(bootstrap: bool) -> str:
    """Run id of member 0 of the demo configuration's ensembles of one kind."""
    model, train = demo_configs()
    return config_hash(model, TrainConfig.from_dict(train.to_dict() | {"bootstrap_blocks": bootstrap}))


def row(workdir: Path, members: int, bootstrap: bool = False) -> dict[str, Any]:
    """Skill, coverage and cost of the demo configuration's ensemble of ``members`` (1: the single run)."""
    single = run_path(workdir, single_id(bootstrap))
    folder = single if members == 1 else ensembles_folder(workdir) / f"{single.name}-k{members}"
    runs = [single] if members == 1 else member_runs(folder)
    metrics = json.loads((folder / METRICS).read_text(encoding="utf-8"))
    if members == 1:  # the single run's own law, on the grid its ensembles predicted it with
        distribution = distribution_scores(open_predictions(single / PREDICTIONS))
        metrics["uncertainty"] = {"observed_density": distribution} if distribution else {}
    return {"members": members, "kind": ensemble_kind(bootstrap), "folder": folder.name,
            "auc": metrics["susceptibility"]["auc"],
            "ece": metrics["susceptibility"]["ece"], "r_positive": metrics["density"]["pearson_r_positive"],
            "hazard_total_ratio": metrics["density"]["hazard_total_ratio"],
            "uncertainty": metrics.get("uncertainty", {}),
            "train_minutes": sum(seconds(run, "train") for run in runs) / 60,
            "predict_seconds": prediction_seconds(folder, runs)}


def main() -> None:
    """Write ``docs/results/ensemble.json`` from a working folder's demo runs and ensembles."""
    from hazardcore.cli import source_commit

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--members", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                        help="which ensembles: members differing in their seeds, or also a block bootstrap")
    parser.add_argument("--note", default="", help="how the machine was loaded while the members trained")
    args = parser.parse_args()
    kinds = [kind == KINDS[1] for kind in args.kinds]
    largest = {ensemble_kind(bootstrap): ensembles_folder(args.workdir) / f"{single_id(bootstrap)}-k{max(args.members)}"
               for bootstrap in kinds}
    result = {"rows": [row(args.workdir, k, bootstrap) for bootstrap in kinds for k in args.members],
              "commit": source_commit(),
              "command": " ".join(["python", *sys.argv[:sys.argv.index("--note")]] if "--note" in sys.argv
                                 else ["python", *sys.argv]), "cpus": os.cpu_count(),
              "date": dt.date.today().isoformat(), "note": args.note,
              "member_train_minutes": {kind: {run.name: seconds(run, "train") / 60 for run in member_runs(folder)}
                                       for kind, folder in largest.items()}}
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["rows"], indent=1))


if __name__ == "__main__":
    main()

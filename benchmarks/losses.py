"""Susceptibility loss and augmentation on the default region: validation AUC vs the oracle.

Trains only the susceptibility stage of the demo configuration for each variant (same
seed, same spatial split) and prints the best epoch's validation AUC beside the oracle's
on the same validation cells. This is how the demo configuration's loss was chosen; the
test cells are not touched.

Usage: ``python benchmarks/losses.py [--workdir WORKDIR]`` (without it the default region
is synthesised and prepared in a temporary folder).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hazardcore.config import demo_configs
from hazardcore.train import train

VARIANTS = {"focal Tversky": {"loss": "focal_tversky", "augment": False},
            "focal Tversky + D4": {"loss": "focal_tversky", "augment": True},
            "BCE": {"loss": "bce", "augment": False},
            "BCE + D4 (demo)": {"loss": "bce", "augment": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="a prepared default region (else made in a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or _prepared(Path(scratch))
        rows = []
        for name, values in VARIANTS.items():
            model_config, train_config = demo_configs()
            train_config.param.update(device="cpu", max_epochs_susceptibility=20, patience=6, **values)
            started = time.perf_counter()
            record = train(workdir, model_config, train_config, stage="susceptibility")["susceptibility"]
            rows.append((name, record["epoch"], record["val_auc"], record["oracle_auc"],
                         time.perf_counter() - started))
    print(f"{'variant':<20} | best epoch | val AUC | oracle AUC | gap   | time (s)")
    for name, epoch, auc, oracle, seconds in rows:
        print(f"{name:<20} | {epoch:>10} | {auc:.4f}  | {oracle:.4f}     | {oracle - auc:.3f} | {seconds:.0f}")


def _prepared(scratch: Path) -> Path:
    from hazardcore.prepare import prepare
    from hazardcore.synthetic import synthesize

    report = synthesize(scratch / "region")
    prepare(report.catalog_path, scratch / "work")
    return scratch / "work"


if __name__ == "__main__":
    main()

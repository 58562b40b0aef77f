"""The ``hazard`` command line: one subcommand per pipeline stage.

``hazard synth OUT`` writes the embedded default region; ``hazard prepare CATALOG --out
WORKDIR`` turns a catalog into predictors, targets and patch windows. Errors of bad input
are printed as one clear message (no traceback) and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hazardcore.errors import HazardcoreError


def _size(text: str) -> int | tuple[int, int]:
    """Parse ``32`` or ``196x220`` (rows x cols, km)."""
    parts = text.lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must be N or ROWSxCOLS in km, got {text!r}") from exc
    if len(values) not in (1, 2) or min(values) < 4:
        raise argparse.ArgumentTypeError(f"size must be N or ROWSxCOLS with every side >= 4 km, got {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def format_table(rows: Sequence[tuple[str, Any]]) -> str:
    """Two-column plain-text table."""
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)


def _cmd_synth(args: argparse.Namespace) -> int:
    from hazardcore.synthetic import synthesize

    report = synthesize(args.out, seed=args.seed, size_km=args.size_km, n_slices=args.slices,
                        crs=args.crs, progress=not args.quiet)
    rows = [("catalog", report.catalog_path),
            ("grid (cells)", f"{report.grid.n_rows} x {report.grid.n_cols}"),
            ("slices", ", ".join(report.slice_labels)),
            ("elevation span (m)", f"{report.elevation_span_m:.0f}"),
            ("mean / max slope (deg)", f"{report.mean_slope_deg:.1f} / {report.max_slope_deg:.1f}"),
            ("positive cell-slices", f"{100 * report.positive_fraction:.1f} %"),
            ("density p50 / p95 / max (%)",
             f"{report.density_p50_pct:.2f} / {report.density_p95_pct:.2f} / {report.density_max_pct:.1f}"),
            ("oracle AUC (true p vs presence)", f"{report.oracle_auc:.3f}"),
            ("oracle density R (positive cells)", f"{report.oracle_density_r:.3f}")]
    print(format_table(rows))
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from hazardcore.prepare import prepare

    summary = prepare(args.catalog, args.out, progress=not args.quiet)
    patches = summary["patches_per_slice"]
    rows = [("workdir", args.out), ("region (cells)", " x ".join(map(str, summary["region_cells"]))),
            ("pixel (m)", summary["pixel_size_m"]), ("slices", ", ".join(summary["slices"])),
            ("channels", ", ".join(summary["channels"])),
            ("patches per slice", f"{patches['base']} base + {patches['shifted']} shifted"),
            ("samples with valid cells", summary["samples_with_valid_cells"]),
            ("positive fraction per slice", ", ".join(f"{p:.3f}" for p in summary["positive_fraction"])),
            ("masked cells per slice", ", ".join(map(str, summary["masked_cells"]))),
            ("time (s)", summary["seconds"])]
    print(format_table(rows))
    return 0


STAGE_COLUMNS = ("epoch", "val_loss", "val_auc", "val_f1", "val_mae", "val_r", "val_r_positive",
                 "val_nonzero_positive", "oracle_auc", "oracle_r_positive")


def _cmd_train(args: argparse.Namespace) -> int:
    from hazardcore.config import ModelConfig, TrainConfig, demo_configs
    from hazardcore.train import train

    model_config, train_config = demo_configs() if args.config == "demo" else (ModelConfig(), TrainConfig())
    train_config.param.update(seed=args.seed, device=args.device)
    results = train(args.workdir, model_config, train_config, stage=args.stage, resume=args.resume,
                    progress=not args.quiet)
    print("best validation epoch per stage (spatial-block split)")
    print(format_table([("stage", "  ".join(f"{c:>10}" for c in STAGE_COLUMNS))] + [
        (stage, "  ".join(f"{record.get(c, float('nan')):>10.4g}" for c in STAGE_COLUMNS))
        for stage, record in results.items()]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hazard`` and its subcommands."""
    parser = argparse.ArgumentParser(prog="hazard", description="Space-time landslide hazard modelling.")
    sub = parser.add_subparsers(dest="command", required=True)
    synth = sub.add_parser("synth", help="write the embedded synthetic region with known truth",
                           description="Generate a synthetic mountain region (DEM, PGA, daily rain, "
                                       "multi-temporal inventory, truth layers) and its catalog.yaml.")
    synth.add_argument("out", type=Path, help="output folder (created; files are replaced atomically)")
    synth.add_argument("--seed", type=int, default=42, help="random seed; same seed gives identical files")
    synth.add_argument("--size-km", type=_size, default=32, help="region size: N (square) or ROWSxCOLS in km")
    synth.add_argument("--slices", type=int, default=8, choices=range(1, 9), metavar="1..8",
                       help="number of ~6-month time slices (default 8, as the Gorkha study)")
    synth.add_argument("--crs", default="EPSG:32645", help="projected CRS of the region (default UTM 45N)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(func=_cmd_synth)
    prep = sub.add_parser("prepare", help="build predictors, targets and patches from a catalog",
                          description="Read CATALOG, bring every layer onto its grid, compute the 13 "
                                      "predictor channels and per-slice targets, and store them with the "
                                      "patch windows in WORKDIR/prepared.zarr and WORKDIR/prepare.json.")
    prep.add_argument("catalog", type=Path, help="catalog YAML (e.g. OUT/catalog.yaml from `hazard synth`)")
    prep.add_argument("--out", type=Path, required=True, metavar="WORKDIR", help="working folder")
    prep.add_argument("--quiet", action="store_true", help="no progress bar")
    prep.set_defaults(func=_cmd_prepare)
    tr = sub.add_parser("train", help="train the susceptibility and density networks in stages",
                        description="Train on WORKDIR's prepared data: susceptibility, the density "
                                    "curriculum (log -> original scale -> all cells) and joint fine-tuning, "
                                    "with early stopping on a spatial-block validation split. The run goes "
                                    "to WORKDIR/runs/<config hash> (log.jsonl, checkpoints, model.pt).")
    tr.add_argument("workdir", type=Path, help="folder written by `hazard prepare`")
    tr.add_argument("--config", choices=["default", "demo"], default="default",
                    help="default = METHOD.md values (ResNet-18 U-Net, 128 px, up to 500 epochs); "
                         "demo = 64 px patches, narrow decoder, few epochs (minutes on a CPU)")
    tr.add_argument("--stage", choices=["all", "susceptibility", "density", "joint"], default="all",
                    help="stages to run; later stages start from earlier stages' best weights")
    tr.add_argument("--resume", action="store_true", help="continue an interrupted run where it stopped")
    tr.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="auto = CUDA (bf16, data on the GPU) when present, else CPU")
    tr.add_argument("--seed", type=int, default=0, help="seed of weights, batch order and split")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.set_defaults(func=_cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hazard`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except HazardcoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

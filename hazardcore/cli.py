"""The ``hazard`` command line: one subcommand per pipeline stage.

``hazard synth OUT`` writes the embedded default region; ``hazard prepare CATALOG --out
WORKDIR`` turns a catalog into predictors, targets and patch windows; ``hazard train``,
``hazard predict`` and ``hazard evaluate`` work on a run under ``WORKDIR/runs``; ``hazard
runs`` lists them with their status (``--verify`` checks their files' checksums); ``hazard
demo`` runs the pipeline on the embedded default.

Results go to stdout (``--json`` for ``runs`` and ``evaluate``); hints, warnings and errors go
to stderr through :mod:`logging` (``-v`` / ``-q``). Errors of bad input are printed as one
clear message (no traceback); the exit status says which kind (:data:`EXIT_STATUS`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hazardcore.errors import (
    CatalogError,
    ConfigError,
    CoverageError,
    CRSError,
    GridMismatchError,
    HazardcoreError,
    IntegrityError,
    InvalidValueError,
    InventoryError,
    UnitError,
    describe,
)
from hazardcore.runfolder import METRICS, PREDICTIONS, PRODUCTS, all_runs

if TYPE_CHECKING:
    from hazardcore.result import RunMetrics

log = logging.getLogger("hazardcore")

#: Exit status of ``hazard``: what went wrong, for scripts (also in ``hazard --help``).
EXIT_STATUS = {0: "success",
               1: "failure: a run not trained or unfinished, damaged files found by `runs --verify`, a failed fold, "
                  "the training extra missing, or an error of the program (with a traceback)",
               2: "usage error: an unknown option or command, a value out of bounds (options, --set), a missing "
                  "working folder",
               3: "data error: the catalog or an input file (missing, malformed, CRS, coverage, units, values) or "
                  "a file that fails its checksum"}
EXIT_FAILURE, EXIT_USAGE, EXIT_DATA = 1, 2, 3
#: Errors of the data a command was given (exit status 3); every other HazardcoreError is 1, ConfigError 2.
DATA_ERRORS = (CatalogError, CRSError, CoverageError, GridMismatchError, IntegrityError, InvalidValueError,
               InventoryError, UnitError)
#: The distributions of the ``train`` extra (``pip install 'hazardcore[train]'``).
TRAIN_EXTRA = ("torch", "torchvision", "segmentation_models_pytorch", "timm")


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

    if args.case == "langtang":
        from hazardcore.langtang_case import build_langtang

        report = build_langtang(args.out, seed=args.seed, real_dir=args.real_data, progress=not args.quiet)
    else:
        report = synthesize(args.out, seed=args.seed, size_km=args.size_km, n_slices=args.slices,
                            crs=args.crs, progress=not args.quiet, world=args.world)
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

    summary = prepare(args.catalog, args.out, progress=not args.quiet, chunks=args.chunks)
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


#: The scores ``hazard evaluate`` prints (a terminal's width of ``hazardcore.result``'s columns).
CLI_SUSCEPTIBILITY = ("auc", "f1", "iou", "ece")
CLI_DENSITY = ("hazard_total_ratio", "mae", "pearson_r", "mae_positive", "pearson_r_positive")
STAGE_COLUMNS = ("epoch", "val_loss", "val_auc", "val_f1", "val_mae_positive", "val_r_positive",
                 "val_mean_ratio_positive", "val_nonzero_positive", "oracle_auc", "oracle_r_positive")


def apply_overrides(model_config: Any, train_config: Any, items: list[str]) -> tuple[Any, Any]:
    """``KEY=VALUE`` settings (VALUE parsed as JSON, else a string) applied to the model or train config.

    Raises
    ------
    ConfigError
        For an item without ``=``, a key of neither config, or a value out of bounds.
    """
    model_values, train_values = model_config.to_dict(), train_config.to_dict()
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(describe("--set takes KEY=VALUE", found=item, fix="e.g. --set samples_per_epoch=2048"))
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        target = model_values if key in model_values else train_values if key in train_values else None
        if target is None:
            raise ConfigError(describe(f"--set: unknown setting {key!r}",
                                       expected=sorted({*model_values, *train_values})))
        target[key] = value
    return type(model_config).from_dict(model_values), type(train_config).from_dict(train_values)


def held_out_slice_argument(text: str) -> int | str:
    """``--test-slice``: an integer or ``all``."""
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a slice index or 'all', found {text!r}") from exc


FOLD_COLUMNS = ("positive_cells_observed", "positive_cells_predicted", "predicted_positive_cells", "auc", "ece",
                "brier_skill", "f1", "oracle_auc", "oracle_f1")


def fold_table(result: dict[str, Any]) -> str:
    """Leave-one-slice-out rows, one per held-out slice, and the summary line."""
    header = ("held out", "  ".join(f"{c[:12]:>12}" for c in FOLD_COLUMNS))
    rows = [(row["slice"], "  ".join(f"{row.get(c, float('nan')):>12.4g}" for c in FOLD_COLUMNS))
            for row in result["rows"]]
    summary = result["summary"]
    return format_table([header, *rows]) + (
        f"\npredicted positive cells within ±30 % of observed in {summary['count_within_30_percent']} of "
        f"{summary['folds']} folds; positive-weighted: " + ", ".join(
            f"{key} {value:.3f}" for key, value in summary["positive_weighted"].items()))


JOBS_HELP = ("folds trained at once, in worker processes that share the CPU threads (default 1; "
             "2 on a 2-core machine; keep 1 on a GPU)")


def _leave_one_slice_out(args: argparse.Namespace, model_config: Any, train_config: Any) -> int:
    from hazardcore.errors import ConfigError, describe
    from hazardcore.folds import RESULT_NAME, leave_one_slice_out

    if args.split != "temporal":
        raise ConfigError(describe("--test-slice all holds out every slice in turn: it needs --split temporal",
                                   found=f"--split {args.split}", fix="add --split temporal"))
    result = leave_one_slice_out(args.workdir, model_config, train_config, progress=not args.quiet, jobs=args.jobs)
    print(fold_table(result))
    print(format_table([("table", args.workdir / RESULT_NAME)]))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from hazardcore.config import ModelConfig, TrainConfig, demo_configs
    from hazardcore.distributed import is_main_process
    from hazardcore.train import train

    model_config, train_config = demo_configs() if args.config == "demo" else (ModelConfig(), TrainConfig())
    model_config, train_config = apply_overrides(model_config, train_config, args.set)
    train_config.param.update(seed=args.seed, device=args.device, split=args.split)
    if args.test_slice == "all":
        return _leave_one_slice_out(args, model_config, train_config)
    if args.test_slice is not None:
        train_config.param.update(test_slice=args.test_slice)
    if args.members > 1:
        return _train_ensemble(args, model_config, train_config)
    results = train(args.workdir, model_config, train_config, stage=args.stage, resume=args.resume,
                    progress=not args.quiet, distributed=args.distributed)
    if not is_main_process():
        return 0  # rank 0 prints the table
    print(f"best validation epoch per stage ({args.split} split; validation cells, not the test cells)")
    print(format_table([("stage", "  ".join(f"{c:>10}" for c in STAGE_COLUMNS))] + [
        (stage, "  ".join(f"{record.get(c, float('nan')):>10.4g}" for c in STAGE_COLUMNS))
        for stage, record in results.items()]))
    return 0


def _train_ensemble(args: argparse.Namespace, model_config: Any, train_config: Any) -> int:
    from hazardcore.ensemble import member_runs, train_ensemble

    folder = train_ensemble(args.workdir, model_config, train_config, args.members, progress=not args.quiet)
    print(format_table([("ensemble", folder)] + [(f"member {k}", run.name)
                                                 for k, run in enumerate(member_runs(folder))]))
    print(f"next: hazard evaluate {args.workdir} --ensemble {folder.name}")
    return 0


def source_commit() -> str:
    """The git commit of the hazardcore source when it runs from a checkout, else ``unknown``."""
    import subprocess

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                              text=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def _cmd_cv(args: argparse.Namespace) -> int:
    import shlex
    import sys

    from hazardcore.config import ModelConfig, TrainConfig, demo_configs
    from hazardcore.cv import RESULT_NAME, TABLE_NAME, cross_validate, cv_table

    model_config, train_config = demo_configs() if args.config == "demo" else (ModelConfig(), TrainConfig())
    model_config, train_config = apply_overrides(model_config, train_config, args.set)
    train_config.param.update(device=args.device)
    result = cross_validate(args.workdir, model_config, train_config, split=args.split, folds=args.folds,
                            seeds=list(range(args.seeds)), replicates=args.bootstrap, progress=not args.quiet,
                            command=shlex.join(["hazard", *sys.argv[1:]]), commit=source_commit(), jobs=args.jobs)
    print(cv_table(result))
    print(format_table([("summary", args.workdir / RESULT_NAME), ("table", args.workdir / TABLE_NAME),
                        ("seconds", result["elapsed_s"])]))
    return 1 if result["failed_folds"] else 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from hazardcore import extrapolation
    from hazardcore.pipeline import find_run, predict_run

    if args.period or args.scenario:
        return _forecast(args)
    if args.ensemble:
        from hazardcore.ensemble import find_ensemble, predict_ensemble

        run = find_ensemble(args.workdir, args.ensemble)
        predictions = predict_ensemble(args.workdir, run, device=args.device, stride_cells=args.stride,
                                       calibration=args.calibration, progress=not args.quiet,
                                       threshold_rule=args.threshold_rule, exceedance=args.exceedance)
    else:
        run = find_run(args.workdir, args.run, args.split)
        predictions = predict_run(args.workdir, run, device=args.device, stride_cells=args.stride,
                                  calibration=args.calibration, progress=not args.quiet,
                                  threshold_rule=args.threshold_rule, exceedance=args.exceedance)
    calibration = predictions.attrs["calibration"]
    print(format_table([("run", run), ("predictions", run / PREDICTIONS), ("calibration", calibration),
                        ("cells x slices", " x ".join(str(n) for n in predictions["susceptibility"].shape))]))
    for line in extrapolation.lines(extrapolation.of(predictions)):
        log.warning("outside the training range: %s", line)
    return 0


def _cmd_scenario(args: argparse.Namespace) -> int:
    """``hazard scenario CATALOG``: each forecast period's triggers (and a design storm's GEV fit)."""
    from hazardcore.prepare import describe_forecasts

    if args.add:
        from hazardcore.forecast import forecast_entry, scenario_catalog

        if not (args.start and args.end):
            raise ConfigError(describe("--add needs the period's dates", expected="--start YYYY-MM-DD --end YYYY-MM-DD",
                                       found=f"--start {args.start} --end {args.end}"))
        quake = None
        if args.quake:
            magnitude, x, y = args.quake
            quake = {"name": f"{args.add}-M{magnitude:g}", "date": args.quake_date or args.end,
                     "magnitude": magnitude, "x": x, "y": y}
        written, periods = scenario_catalog(args.catalog, forecast_entry(
            args.add, args.start, args.end, args.rain_from, args.factor, args.return_period, quake), args.out)
        print(f"wrote {written}; prepare it with `hazard prepare {written} --out WORKDIR`")
    else:
        periods = describe_forecasts(args.catalog)
    if not periods:
        print(f"{args.catalog} declares no forecast periods (`forecasts:`): see the README, "
              "'Forecast the next period'")
        return 0
    for label, entry in periods.items():
        rows: list[tuple[str, Any]] = [("period", f"{label}: {entry['start']} .. {entry['end']}")]
        rain = dict(entry["rain"])
        gev = rain.pop("gev", None)
        rows.append(("rain", json.dumps(rain)))
        if gev:
            rows.append(("GEV growth curve", f"c = {gev['shape_c']:.3f}, loc = {gev['loc']:.3f}, "
                                             f"scale = {gev['scale']:.3f} ({len(gev['years'])} years, "
                                             f"{gev['pixels']} pixels)"))
            rows.append(("goodness of fit", f"KS D = {gev['ks_statistic']:.3f}, p = {gev['ks_pvalue']:.3g}"))
            rows.append((f"{gev['return_period_years']:g}-year growth factor", round(gev["growth_factor"], 3)))
        rows += [("rain_max mean / largest (mm/day)",
                  f"{entry['rain_max_mean_mm_day']:.1f} / {entry['rain_max_largest_mm_day']:.1f}"),
                 ("rain_total mean (mm)", round(entry["rain_total_mean_mm"], 1))]
        if "earthquake" in entry["provenance"]:
            rows.append(("earthquake", json.dumps(entry["provenance"]["earthquake"])))
            rows.append(("largest PGA (m/s2)", round(entry.get("pga_largest_ms2", float("nan")), 3)))
        print(format_table(rows))
    return 0


def _forecast(args: argparse.Namespace) -> int:
    """``hazard predict --period LABEL`` / ``--scenario NAME``: the forecast maps of one unmapped period."""
    from hazardcore import extrapolation
    from hazardcore.cube import PreparedCube
    from hazardcore.forecast import forecast_run, summary
    from hazardcore.pipeline import find_run

    if args.ensemble:
        from hazardcore.ensemble import find_ensemble

        run = find_ensemble(args.workdir, args.ensemble)
    else:
        run = find_run(args.workdir, args.run, args.split)
    start = time.perf_counter()
    maps, path = forecast_run(args.workdir, run, args.scenario or args.period, scenario=bool(args.scenario),
                              ensemble=bool(args.ensemble), device=args.device, stride_cells=args.stride,
                              calibration=args.calibration, progress=not args.quiet,
                              threshold_rule=args.threshold_rule, exceedance=args.exceedance)
    totals = summary(maps, PreparedCube.open(args.workdir).grid.cell_area_m2 / 1e6)
    print(format_table([("run", run), ("forecast", path), ("products", path.with_suffix("")),
                        ("period", maps.attrs["period"]),
                        ("dates", f"{maps.attrs['period_start']} .. {maps.attrs['period_end']}"),
                        ("triggers", maps.attrs["provenance"]), ("metrics", maps.attrs["metrics"]),
                        *totals.items(), ("seconds", round(time.perf_counter() - start, 1))]))
    outside = json.loads(maps.attrs["extrapolation"])
    for line in extrapolation.lines({maps.attrs["period"]: outside} if outside else {}):
        log.warning("outside the training range: %s", line)
    return 0


def metrics_rows(metrics: RunMetrics) -> list[tuple[str, Any]]:
    """Model, baselines and oracle side by side, one row per source (the score columns of hazardcore.result)."""
    from hazardcore.result import SUSCEPTIBILITY_COLUMNS, sources_of

    columns = [("susceptibility", key) for key in SUSCEPTIBILITY_COLUMNS if key in CLI_SUSCEPTIBILITY] + [
        ("density", key) for key in CLI_DENSITY]
    header = ("source", "  ".join(f"{key:>18}" for _, key in columns))
    sources: dict[str, Any] = dict(sources_of(metrics))
    return [header] + [(name, "  ".join(f"{source.get(block, {}).get(key, float('nan')):>18.4f}"
                                        for block, key in columns)) for name, source in sources.items()]


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from hazardcore.pipeline import evaluate_run, find_run

    if args.ensemble:
        from hazardcore.ensemble import evaluate_ensemble, find_ensemble

        run = find_ensemble(args.workdir, args.ensemble)
        evaluation = evaluate_ensemble(args.workdir, run, reference=args.reference, progress=not args.quiet)
    else:
        run = find_run(args.workdir, args.run, args.split)
        evaluation = evaluate_run(args.workdir, run, reference=args.reference, progress=not args.quiet)
    metrics = evaluation.metrics
    if args.json:
        print(json_text({"run": run.name, "metrics": metrics, "files": {
            "metrics": run / METRICS, "report": evaluation.report, "products": run / PRODUCTS}}))
        return 0
    print(f"{metrics['split']} split: {metrics['test_cells']} test cell-slices "
          f"({metrics['positive_test_cells']} positive) in {', '.join(metrics['slices'])}; "
          f"leaked fraction {metrics['leaked_fraction']:.3f}")
    print(format_table(metrics_rows(metrics)))
    print(format_table([("metrics", run / METRICS), ("report", evaluation.report),
                        ("products", run / PRODUCTS)]))
    return 0


def importance_rows(result: dict[str, Any]) -> list[tuple[str, Any]]:
    """Per season, the channel groups by mean drop of AUC, with the 95 % range of the repeats."""
    from hazardcore.importance import GROUP_NAMES, SCORES

    rows: list[tuple[str, Any]] = [("season / feature", "  ".join(f"{key + ' drop [95 %]':>28}" for key in SCORES))]
    for season, block in result["seasons"].items():
        rows.append((f"{season} ({block['patches']} patches)", "  ".join(
            f"{'baseline ' + format(block['baseline'][key], '.3f'):>28}" for key in SCORES)))
        groups = [name for name in block["importance"] if name in GROUP_NAMES.values()]
        drop = {name: float(block["importance"][name]["auc"]["mean"]) for name in groups}
        for name in sorted(groups, key=lambda g: -drop[g] if math.isfinite(drop[g]) else math.inf):
            cells = [block["importance"][name][key] for key in SCORES]
            rows.append((f"  {name}", "  ".join(f"{c['mean']:>+10.3f} [{c['low']:+.3f}, {c['high']:+.3f}]"
                                                 for c in cells)))
    return rows


def effect_rows(result: dict[str, Any]) -> list[tuple[str, Any]]:
    """Partial dependence per season: each channel's 5th and 95th percentile and the mean predictions there."""
    rows: list[tuple[str, Any]] = [("season / channel", f"{'value 5 % -> 95 %':>26}  {'probability':>16}  "
                                                        f"{'density | occ. (%)':>18}")]
    for season, curves in result["effects"].items():
        rows.append((season, ""))
        for name, curve in curves.items():
            values, probability, density = curve["values"], curve["probability"], curve["density"]
            rows.append((f"  {name}", f"{values[0]:>11.4g} -> {values[-1]:<11.4g}  {probability[0]:>6.3f} -> "
                                      f"{probability[-1]:<6.3f}  {density[0]:>7.3f} -> {density[-1]:<7.3f}"))
    return rows


def _cmd_explain(args: argparse.Namespace) -> int:
    from hazardcore.importance import explain_run
    from hazardcore.pipeline import find_run
    from hazardcore.runfolder import IMPORTANCE

    run = find_run(args.workdir, args.run, args.split)
    result = explain_run(args.workdir, run, repeats=args.repeats, max_patches=args.max_patches, seed=args.seed,
                         device=args.device, per_channel=args.per_channel, progress=not args.quiet)
    print(format_table(importance_rows(result)))
    print(format_table(effect_rows(result)))
    print(f"written to {run / IMPORTANCE}" + (" (with every channel)" if args.per_channel else ""))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from hazardcore.pipeline import demo

    result = demo(args.out, seed=args.seed, size_km=args.size_km, progress=not args.quiet, case=args.case,
                  real_dir=args.real_data, world=args.world)
    print(format_table(metrics_rows(result.evaluation.metrics)))
    print(format_table([("region", result.region), ("workdir", result.workdir), ("run", result.run),
                        ("report", result.evaluation.report), ("products", result.run / PRODUCTS),
                        ("time (s)", f"{result.seconds:.0f}")]))
    if args.case == "default" and not args.no_forecast:
        from hazardcore.cube import PreparedCube
        from hazardcore.forecast import demo_forecast, summary

        start = time.perf_counter()
        maps, path, described = demo_forecast(result.region / "catalog.yaml", result.workdir, result.run,
                                              progress=not args.quiet)
        gev = described["rain"]["gev"]
        totals = summary(maps, PreparedCube.open(result.workdir).grid.cell_area_m2 / 1e6)
        print(format_table([("forecast", path), ("period", f"{maps.attrs['period']}: {maps.attrs['period_start']} .. "
                                                           f"{maps.attrs['period_end']}"),
                            ("rain", f"{described['rain']['period']}'s pattern, wettest day at the "
                                     f"{gev['return_period_years']:g}-year design rainfall (GEV c = "
                                     f"{gev['shape_c']:.3f}, KS D = {gev['ks_statistic']:.3f})"),
                            ("outside the training range", maps.attrs["outside_training_range"]),
                            ("forecast products", path.with_suffix("")),
                            ("report (with the forecast)", result.evaluation.report),
                            *totals.items(), ("time (s)", f"{time.perf_counter() - start:.0f}")]))
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from hazardcore.runstatus import run_split_protocol, summary, verify_run

    if not args.workdir.is_dir():
        raise ConfigError(describe("no such working folder", source=args.workdir,
                                   fix="give the folder written by `hazard prepare CATALOG --out WORKDIR`"))
    runs = all_runs(args.workdir)
    if args.json:
        return _runs_json(runs, args.verify)
    if not runs:
        log.info("no runs under %s: train one with `hazard train %s`", args.workdir / "runs", args.workdir)
        return 0
    print(format_table([(run.name, f"{run_split_protocol(run)} split; {summary(run)}") for run in runs]))
    if not args.verify:
        return 0
    damaged = 0
    for run in runs:
        outcome = verify_run(run)
        damaged += sum(error is not None for error in outcome.values())
        print(f"\n{run.name}: {len(outcome)} recorded files")
        print(format_table([(name, "ok" if error is None else error) for name, error in outcome.items()]))
    return 1 if damaged else 0


def _runs_json(runs: list[Path], verify: bool) -> int:
    """``hazard runs --json``: a list with, per run, its id, folder, split, summary and steps (and files)."""
    from hazardcore.runstatus import read_status, run_split_protocol, summary, verify_run

    records, damaged = [], 0
    for run in runs:
        steps = {step: dataclasses.asdict(status) for step, status in read_status(run).items()}
        record: dict[str, Any] = {"run": run.name, "path": str(run), "split": run_split_protocol(run),
                                  "summary": summary(run), "steps": steps}
        if verify:
            record["files"] = verify_run(run)
            damaged += sum(error is not None for error in record["files"].values())
        records.append(record)
    print(json_text(records))
    return EXIT_FAILURE if damaged else 0


def json_text(value: Any) -> str:
    """Strict JSON (NaN and infinities as ``null``, paths and dates as text) for ``--json``."""

    def strict(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, dict):
            return {str(key): strict(v) for key, v in item.items()}
        if isinstance(item, list | tuple):
            return [strict(v) for v in item]
        return item

    return json.dumps(strict(json.loads(json.dumps(value, default=str))), indent=2, allow_nan=False)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workdir", type=Path, help="folder written by `hazard prepare` holding runs/")
    parser.add_argument("--run", help="run id (folder name under WORKDIR/runs); default the newest finished run")
    parser.add_argument("--split", choices=["spatial", "random", "temporal", "forward"],
                        help="take the newest run trained with this split")


def _add_world_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", choices=["intensity", "physical"], default="intensity",
                        help="synthetic world of the default case: intensity = an intensity of the predictors with "
                             "exact truth (default); physical = slope-stability physics with hidden geology and "
                             "runout, truth by Monte Carlo (docs/synthetic.md)")


def _add_case_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--case", choices=["default", "langtang"], default="default",
                        help="default = the embedded synthetic region; langtang = the real Langtang tile of the "
                             "Gorkha study grid (real DEM, ShakeMap PGA, CHIRPS rain; landslides from the known "
                             "truth process; --size-km, --slices and --crs do not apply)")
    parser.add_argument("--real-data", type=Path, default=None, metavar="PATH",
                        help="folder gorkha_real of the real data (default: $HAZARDCORE_REAL_DATA, else "
                             "../shared/data/gorkha_real beside a source checkout)")


def add_verbosity(parser: argparse.ArgumentParser, default: Any = argparse.SUPPRESS) -> None:
    """``-v`` / ``-q`` (repeatable), before or after the subcommand.

    Subcommands take them with a suppressed default, so one given before the subcommand is
    not reset by the subcommand's parser. Subcommands must not define their own ``--quiet``.
    """
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="more messages on stderr: -v hazardcore's debug messages, -vv also the libraries'")
    parser.add_argument("-q", "--quiet", action="count", default=default,
                        help="no progress bars and only warnings and errors on stderr; -qq errors only")


def epilog() -> str:
    """The exit statuses, as ``hazard --help`` ends."""
    lines = [textwrap.fill(text, 100, initial_indent=f"  {code}  ", subsequent_indent="     ")
             for code, text in EXIT_STATUS.items()]
    return "exit status:\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hazard`` and its subcommands."""
    from hazardcore import __version__

    parser = argparse.ArgumentParser(prog="hazard", description="Space-time landslide hazard modelling.",
                                     epilog=epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hazard (hazardcore) {__version__}")
    add_verbosity(parser, default=0)
    sub = parser.add_subparsers(dest="command")
    synth = sub.add_parser("synth", help="write the embedded synthetic region with known truth",
                           description="Generate a synthetic mountain region (DEM, PGA, daily rain, "
                                       "multi-temporal inventory, truth layers) and its catalog.yaml.")
    synth.add_argument("out", type=Path, help="output folder (created; files are replaced atomically)")
    synth.add_argument("--seed", type=int, default=42, help="random seed; same seed gives identical files")
    synth.add_argument("--size-km", type=_size, default=32, help="region size: N (square) or ROWSxCOLS in km")
    synth.add_argument("--slices", type=int, default=8, choices=range(1, 9), metavar="1..8",
                       help="number of ~6-month time slices (default 8, as the Gorkha study)")
    synth.add_argument("--crs", default="EPSG:32645", help="projected CRS of the region (default UTM 45N)")
    _add_world_option(synth)
    _add_case_options(synth)
    synth.set_defaults(func=_cmd_synth)
    prep = sub.add_parser("prepare", help="build predictors, targets and patches from a catalog",
                          description="Read CATALOG, bring every layer onto its grid, compute the 16 "
                                      "predictor channels and per-slice targets, and store them with the "
                                      "patch windows in WORKDIR/prepared.zarr and WORKDIR/prepare.json.")
    prep.add_argument("catalog", type=Path, help="catalog YAML (e.g. OUT/catalog.yaml from `hazard synth`)")
    prep.add_argument("--out", type=Path, required=True, metavar="WORKDIR", help="working folder")
    prep.add_argument("--chunks", type=int, default=0, metavar="N",
                      help="compute the predictors in N x N-pixel tiles as Dask tasks (N a multiple of 128; e.g. "
                           "1024) so regions larger than memory prepare; runs on a dask.distributed cluster when "
                           "DASK_SCHEDULER_ADDRESS names one; default 0 = whole layers in memory")
    prep.set_defaults(func=_cmd_prepare)
    tr = sub.add_parser("train", help="train the susceptibility and density networks in stages",
                        description="Train on WORKDIR's prepared data: susceptibility, then the density "
                                    "given occurrence (likelihood on positive cells), each with early stopping "
                                    "on the split's validation side. The run goes "
                                    "to WORKDIR/runs/<config hash> (log.jsonl, checkpoints, model.pt).")
    tr.add_argument("workdir", type=Path, help="folder written by `hazard prepare`")
    tr.add_argument("--config", choices=["default", "demo"], default="default",
                    help="default = METHOD.md values (ResNet-18 U-Net, 128 px, up to 500 epochs); "
                         "demo = 64 px patches, narrow decoder, few epochs (minutes on a CPU)")
    tr.add_argument("--stage", default="all", metavar="STAGE",
                    help="all, or one stage of hazardcore.stages (susceptibility, density); later stages "
                         "start from earlier stages' best weights")
    tr.add_argument("--members", type=int, default=1, metavar="K",
                    help="train an ensemble of K members (seeds of weights, batch order and augmentation; one "
                         "split), each a resumable run, listed in WORKDIR/ensembles/<id>; rerunning resumes them. "
                         "--set bootstrap_blocks=true also trains each member on a block bootstrap of the training "
                         "data (the README's ensemble table compares both kinds)")
    tr.add_argument("--resume", action="store_true", help="continue an interrupted run where it stopped")
    tr.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                    help="auto = CUDA (bf16, data on the GPU) when present, else CPU")
    tr.add_argument("--seed", type=int, default=0, help="seed of weights, batch order and split")
    tr.add_argument("--split", choices=["spatial", "random", "temporal", "forward"], default="spatial",
                    help="held-out cells: spatial blocks (default), random windows (the original study's "
                         "protocol, leaky), one slice left out (temporal), or later slices (forward)")
    tr.add_argument("--test-slice", type=held_out_slice_argument,
                    help="temporal: the held-out slice index, or 'all' to hold out every slice in turn (trains, "
                         "predicts and evaluates one run per slice; writes WORKDIR/leave_one_slice_out.json); "
                         "forward: the first test slice (negative counts from the end; default -1)")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override one model or training setting of --config, e.g. --set samples_per_epoch=2048 "
                         "--set max_epochs_susceptibility=6 (repeatable; see hazardcore/config.py)")
    tr.add_argument("--distributed", action="store_true",
                    help="data-parallel training across the processes of a torchrun launch, e.g. "
                         "`torchrun --nproc_per_node 2 -m hazardcore.cli train WORKDIR --distributed` "
                         "(one process per GPU; gloo on the CPU); --config's batch_size is the global batch")
    tr.add_argument("--jobs", type=int, default=1, help="with --test-slice all: " + JOBS_HELP)
    tr.set_defaults(func=_cmd_train)
    cv = sub.add_parser("cv", help="cross-validate: every block (or slice) a test once, over seeds, with intervals",
                        description="Train, predict and evaluate one run per fold and seed (each resumable), "
                                    "score every source on each seed's pooled out-of-fold cells and write "
                                    "WORKDIR/cv.json and cv.md: means with 95 %% block-bootstrap intervals for the "
                                    "model, the baselines, the slice-base-rate reference and the oracle, and "
                                    "paired differences model - other. Exit status 1 when a fold failed.")
    cv.add_argument("workdir", type=Path, help="folder written by `hazard prepare`")
    cv.add_argument("--split", choices=["spatial", "temporal"], default="spatial",
                    help="spatial = K folds of the split's blocks; temporal = leave one slice out (every slice)")
    cv.add_argument("--folds", type=int, default=4, help="spatial folds (default 4)")
    cv.add_argument("--seeds", type=int, default=3, help="repetitions, seeds 0..S-1: blocks and weights (default 3)")
    cv.add_argument("--bootstrap", type=int, default=1000, help="block-bootstrap draws of the intervals")
    cv.add_argument("--config", choices=["default", "demo"], default="default", help="as for `hazard train`")
    cv.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="as for `hazard train`")
    cv.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    cv.add_argument("--jobs", type=int, default=1, help=JOBS_HELP)
    cv.set_defaults(func=_cmd_cv)
    sc = sub.add_parser("scenario", help="the triggers of a catalog's forecast periods and scenarios",
                        description="Build each period under `forecasts:` of a catalog as `hazard prepare` will "
                                    "(rain from a file, a past period x factor, or a design storm of a return "
                                    "period from a GEV of the record's annual maxima; an earthquake's PGA) and "
                                    "report it: the GEV's parameters and goodness of fit, rain and PGA summaries.")
    sc.add_argument("catalog", type=Path)
    sc.add_argument("--add", metavar="LABEL", help="write a copy of the catalog with this forecast period added "
                                                   "(catalog_LABEL.yaml beside it, or --out), then report it")
    sc.add_argument("--start", help="with --add: the period's start (YYYY-MM-DD)")
    sc.add_argument("--end", help="with --add: the period's end (YYYY-MM-DD)")
    sc.add_argument("--rain-from", metavar="PERIOD", help="with --add: the mapped period whose daily rain the "
                                                          "scenario scales (else the catalog's rainfall covers it)")
    rain = sc.add_mutually_exclusive_group()
    rain.add_argument("--factor", type=float, help="the past period's rain times this factor")
    rain.add_argument("--return-period", type=float, metavar="YEARS",
                      help="the past period's pattern with its wettest day at the design daily rainfall of this "
                           "return period (GEV of the record's annual maxima)")
    sc.add_argument("--quake", type=float, nargs=3, metavar=("M", "X", "Y"),
                    help="an earthquake of magnitude M at X, Y (grid CRS, metres): the synthetic world's median "
                         "ground motion")
    sc.add_argument("--quake-date", help="its date (default the period's end)")
    sc.add_argument("--out", type=Path, help="where --add writes the new catalog")
    sc.set_defaults(func=_cmd_scenario)
    pr = sub.add_parser("predict", help="predict every cell and slice with a trained run",
                        description="Slide overlapping windows over the grid, average each cell's outputs, "
                                    "calibrate probabilities on the validation cells and write "
                                    "runs/<id>/predictions.nc and calibration.json.")
    _add_run_options(pr)
    pr.add_argument("--ensemble", metavar="ID",
                    help="an ensemble (folder name under WORKDIR/ensembles, from `hazard train --members K`) "
                         "instead of a run: its members' mean and spread")
    forecast = pr.add_mutually_exclusive_group()
    forecast.add_argument("--period", metavar="LABEL",
                          help="write the forecast maps of this unmapped period (`forecasts:` in the catalog) to "
                               "runs/<id>/forecasts/LABEL.nc: susceptibility, density, hazard (an ensemble's "
                               "intervals too), marked as a forecast, no metrics")
    forecast.add_argument("--scenario", metavar="NAME",
                          help="as --period, for a forecast period whose rain or earthquake is a scenario")
    pr.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    pr.add_argument("--exceedance", type=float, nargs="+", default=[], metavar="PCT",
                    help="densities (%% of the cell, e.g. 1 5 10) whose exceedance probabilities to predict: "
                         "density_exceedance (given occurrence) and hazard_exceedance in predictions.nc")
    pr.add_argument("--stride", type=int, default=2, help="window stride in cells (divides the patch; default 2)")
    pr.add_argument("--calibration", choices=["platt", "isotonic", "none"], default="platt")
    pr.add_argument("--threshold-rule", choices=["expected_f1", "validation"], default="expected_f1",
                    help="decision threshold: per slice from its own probabilities (maximum expected F1, "
                         "label-free; default) or the one pooled threshold tuned on validation cells")
    pr.set_defaults(func=_cmd_predict)
    ev = sub.add_parser("evaluate", help="score a run on its test cells; write metrics, report, products",
                        description="Score the model, logistic and gradient-boosting baselines and (synthetic "
                                    "cases) the oracle on the run's test cells; write runs/<id>/metrics.json, "
                                    "report.html and products/ (COGs, CF NetCDF, manifest.json).")
    _add_run_options(ev)
    ev.add_argument("--ensemble", metavar="ID",
                    help="an ensemble (folder name under WORKDIR/ensembles, from `hazard train --members K`) "
                         "instead of a run: its members' mean and spread")
    ev.add_argument("--json", action="store_true",
                    help="print the run, its metrics (as metrics.json) and its files as one JSON object")
    ev.add_argument("--reference", type=Path,
                    help="folder of the original study's published maps, shown beside runs on its grid")
    ev.set_defaults(func=_cmd_evaluate)
    ex = sub.add_parser("explain", help="permutation importance of the predictor groups and channels, per season",
                        description="Permute each channel group (terrain, rain, ground motion, time since the "
                                    "earthquake) and each channel across a run's test patches and report the drop "
                                    "of the susceptibility AUC and of the density R on positive cells, over all "
                                    "slices, the co-seismic ones and the rain ones, with the 95 %% range over "
                                    "repeats; write runs/<id>/importance.json.")
    _add_run_options(ex)
    ex.add_argument("--repeats", type=int, default=5, help="permutations per feature (default 5)")
    ex.add_argument("--max-patches", type=int, default=400,
                    help="test patches used, a fixed random subset (default 400; 0 = all)")
    ex.add_argument("--seed", type=int, default=0, help="seed of the subset and the permutations")
    ex.add_argument("--per-channel", action="store_true", help="also permute each channel alone (5x the time)")
    ex.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ex.set_defaults(func=_cmd_explain)
    ru = sub.add_parser("runs", help="list the runs of a working folder with their status",
                        description="One line per run under WORKDIR/runs: id, split and the last step's status "
                                    "(running, finished, failed with its error, or interrupted). With --verify, "
                                    "check every checkpoint and product against the SHA-256 its manifest.json "
                                    "recorded (exit status 1 when a file is damaged).")
    ru.add_argument("workdir", type=Path, help="folder written by `hazard prepare` holding runs/")
    ru.add_argument("--verify", action="store_true", help="check the checksums of every recorded file")
    ru.add_argument("--json", action="store_true",
                    help="print a JSON list: per run its id, folder, split, summary, steps (and files with --verify)")
    ru.set_defaults(func=_cmd_runs)
    de = sub.add_parser("demo", help="synth -> prepare -> train -> predict -> evaluate on the embedded default",
                        description="The whole pipeline on the embedded synthetic default region with small "
                                    "settings (minutes on a laptop CPU); prints where the report is.")
    de.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default out/demo)")
    de.add_argument("--seed", type=int, default=42, help="seed of the synthetic region")
    de.add_argument("--size-km", type=_size, default=32, help="region size: N (square) or ROWSxCOLS in km")
    _add_world_option(de)
    _add_case_options(de)
    de.add_argument("--no-forecast", action="store_true",
                    help="stop after evaluate (default case: the demo ends with a forecast of the last mapped "
                         "period's dates a year later under a 100-year design storm)")
    de.set_defaults(func=_cmd_demo)
    for command in sub.choices.values():
        add_verbosity(command)
    return parser


class _Formatter(logging.Formatter):
    """``warning: ...`` / ``error: ...`` (info without a prefix; debug with the logger's name)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno == logging.INFO:
            return message
        if record.levelno == logging.DEBUG:
            return f"debug: {record.name}: {message}"
        return f"{record.levelname.lower()}: {message}"


def _warning_to_log(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    file: Any = None, line: str | None = None) -> None:
    """Python warnings as log records (hazardcore's own without their source line)."""
    where = "" if "hazardcore" in Path(filename).parts else f" ({category.__name__}, {Path(filename).name}:{lineno})"
    log.warning("%s%s", message, where)


@contextlib.contextmanager
def logging_to_stderr(verbose: int, quiet: int) -> Iterator[None]:
    """Log to stderr for the block: info by default, -v debug, -vv every library's debug, -q warnings, -qq errors.

    Python warnings are logged too. Levels, handlers and the warning hook are restored after
    the block (``main`` may run several times in one process, as in the tests).
    """
    if quiet:
        level = logging.WARNING if quiet == 1 else logging.ERROR
    else:
        level = logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    loggers = [log, logging.getLogger()] if verbose > 1 else [log]
    levels = [logger.level for logger in loggers]
    showwarning, warnings.showwarning = warnings.showwarning, _warning_to_log
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(level)
    try:
        yield
    finally:
        warnings.showwarning = showwarning
        for logger, before in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(before)


def exit_status(error: HazardcoreError) -> int:
    """2 for a usage error (ConfigError), 3 for a data error (:data:`DATA_ERRORS`), else 1."""
    if isinstance(error, ConfigError):
        return EXIT_USAGE
    return EXIT_DATA if isinstance(error, DATA_ERRORS) else EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hazard`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `hazard`: what it can do, not an error
        parser.print_help()
        return 0
    with logging_to_stderr(args.verbose, args.quiet):
        log.debug("hazard %s (python %s)", " ".join(sys.argv[1:] if argv is None else argv), sys.version.split()[0])
        try:
            return int(args.func(args))
        except HazardcoreError as exc:
            log.error("%s", exc)
            return exit_status(exc)
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.split(".")[0] not in TRAIN_EXTRA:
                raise
            log.error("`hazard %s` needs PyTorch (%s is not installed): pip install 'hazardcore[train]'",
                      args.command, exc.name)
            return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())

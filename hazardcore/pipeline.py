"""The pipeline's stages in order, as the CLI, notebooks and dashboard call them.

``synth → prepare → train → predict → evaluate``. A run lives in ``WORKDIR/runs/<run_id>``;
``predict`` adds ``calibration.json`` and ``predictions.nc`` to it, ``evaluate`` adds
``metrics.json``, ``report.html`` and ``products/`` (COGs, CF NetCDF, manifest).
:func:`fit_run` does train → predict → evaluate of one run with progress callbacks; the
demo, notebooks and the dashboard's training job call it.

PyTorch is imported only inside the functions that train or predict (``hazardcore[train]``),
so listing, evaluating and reading runs work without it.
"""

from __future__ import annotations

import importlib.metadata
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hazardcore import catalog, export
from hazardcore.baselines import cell_features, fit_baselines
from hazardcore.checkpoint import package_versions
from hazardcore.config import ModelConfig, TrainConfig, config_hash, demo_configs
from hazardcore.cube import PreparedCube
from hazardcore.errors import CatalogError, CheckpointError, HazardcoreError, describe
from hazardcore.evaluate import Decision, evaluate_sources, roc_inputs, usable
from hazardcore.extrapolation import trigger_ranges
from hazardcore.hazard import best_threshold, fit_calibration, hazard, slice_thresholds
from hazardcore.intervals import has_intervals, interval_scores
from hazardcore.predictors import ChannelScaling
from hazardcore.report import build_report, provenance
from hazardcore.result import RunMetrics
from hazardcore.runfolder import (
    CALIBRATION,
    CONFIG,
    METRICS,
    MODEL,
    PREDICTIONS,
    PRODUCTS,
    REPORT,
    SCORES,
    all_runs,
    forecast_files,
    read_config,
    run_path,
    runs_folder,
)
from hazardcore.runstatus import is_trained, recording, run_split_protocol, step_state, summary
from hazardcore.runstatus import verify_run as verify_run  # re-exported (it moved to runstatus)
from hazardcore.splits import SIDES, Split, leaked_fraction


def list_runs(workdir: str | Path) -> list[Path]:
    """Trained runs (status ``train: finished``, see :mod:`hazardcore.runstatus`), newest first."""
    runs = [run for run in all_runs(workdir) if is_trained(run)]
    return sorted(runs, key=lambda folder: (folder / MODEL).stat().st_mtime, reverse=True)


def require_trained(run: Path) -> Path:
    """Return ``run`` if its training finished.

    Raises
    ------
    CheckpointError
        Saying what the run's status is (running, failed, interrupted) and what to do.
    """
    if not is_trained(run):
        raise CheckpointError(describe("run is not trained: its model is missing or unfinished", source=run,
                                       found=summary(run), fix="wait for it, or resume / re-train it"))
    return run


def find_run(workdir: str | Path, run_id: str | None = None, split: str | None = None) -> Path:
    """The run named ``run_id``, else the newest finished run (trained with ``split`` if given).

    Raises
    ------
    CheckpointError
        When no finished run matches, saying how to train one.
    """
    runs = list_runs(workdir)
    if run_id is not None:
        named = run_path(workdir, run_id)
        runs = [require_trained(named)] if (named / CONFIG).is_file() else []
    if split is not None:
        runs = [run for run in runs if run_split_protocol(run) == split]
    if not runs:
        wanted = f"run {run_id}" if run_id else f"run trained with --split {split or 'any'}"
        raise CheckpointError(describe(f"no finished {wanted}", source=runs_folder(workdir),
                                       fix=f"train first: `hazard train {workdir} --split {split or 'spatial'}`"))
    return runs[0]


def side_masks(cube: PreparedCube, split: Split) -> dict[str, np.ndarray]:
    """(slice, row, col) masks of the valid cells of each side of the split; forecast periods are on none."""
    valid = cube.valid.astype(bool) & cube.labelled_mask[:, None, None]
    return {side: split.cell_mask(side, cube.windows, valid.shape, cube.patch_cells) & valid for side in SIDES}


def calibrate(predictions: xr.Dataset, method: str,
              threshold_rule: str = "expected_f1") -> tuple[xr.Dataset, dict[str, Any]]:
    """Fit the calibration on validation cells; add ``susceptibility``, ``hazard`` and ``decision_threshold``.

    Only the probability is calibrated: the density head is fitted by likelihood, so its
    mean is already the conditional mean. (A level factor Σ observed / Σ predicted over the
    positive validation cells was tried: on the default region's few hundred heavy-tailed
    positive validation cells it moved the test total from 0.92 to 0.65 of the observed,
    importing the validation sample's own deviation; the oracle's validation ratio is 1.21.)

    The decision threshold is one per slice (``threshold_rule``, see
    :func:`hazardcore.hazard.slice_thresholds`): by default each slice's label-free
    expected-F1 threshold over all its valid cells, since base rates differ tenfold between
    periods; the pooled validation threshold is recorded either way.
    """
    validation = predictions["validation"].values.astype(bool) & np.isfinite(predictions["logit"].values)
    presence = predictions["presence"].values[validation] > 0
    calibration = fit_calibration(predictions["logit"].values[validation], presence, method)
    probability = calibration.apply(predictions["logit"].values).astype("float32")
    threshold = best_threshold(presence, probability[validation])
    per_slice = slice_thresholds(probability, np.isfinite(probability), threshold_rule, threshold)
    dims = predictions["logit"].dims
    out = predictions.assign(
        susceptibility=(dims, probability, {"units": "1", "long_name": "calibrated probability of >= 1 new "
                                            f"landslide ({calibration.method}, fitted on validation cells)"}),
        hazard=(dims, hazard(probability, predictions["density"].values).astype("float32"),
                {"units": "%", "long_name": "expected new landslide area density (susceptibility x density)"}),
        decision_threshold=(dims[:1], per_slice.astype("float32"),
                            {"units": "1", "rule": threshold_rule,
                             "long_name": "susceptibility at or above which a cell is predicted to have new "
                                          "landslides in the slice"}))
    if "density_exceedance" in predictions:
        out["hazard_exceedance"] = (predictions["density_exceedance"].dims,
                                    (probability * predictions["density_exceedance"].values).astype("float32"),
                                    {"units": "1", "long_name": "probability that new landslides cover more than "
                                                                "the threshold in the slice (susceptibility x "
                                                                "exceedance given occurrence)"})
    record = calibration.to_dict() | {"threshold": threshold, "fitted_on": "validation cells",
                                      "validation_cells": int(validation.sum()), "threshold_rule": threshold_rule,
                                      "thresholds_per_slice": dict(zip(
                                          (str(v) for v in predictions[dims[0]].values),
                                          (float(v) for v in per_slice), strict=True))}
    return out, record


def predict_run(workdir: str | Path, run: Path | None = None, device: str = "auto", stride_cells: int = 2,
                calibration: str = "platt", batch_size: int = 64, progress: bool = False,
                threshold_rule: str = "expected_f1", exceedance: Sequence[float] = (),
                products: Sequence[float] | None = None) -> xr.Dataset:
    """Predict every cell and slice with a run's model; write ``predictions.nc`` and ``calibration.json``.

    ``exceedance`` names densities (% of the cell) whose exceedance probabilities to predict;
    none given, the catalog's ``exceedance_thresholds`` (kept in the prepared cube).
    ``products``: which of them become exceedance maps among the products (attribute
    ``exceedance_products``; default all).

    Returns
    -------
    xarray.Dataset
        See :func:`hazardcore.infer.prediction_dataset`, plus ``susceptibility`` (calibrated)
        and ``hazard``, and uint8 masks ``train`` / ``validation`` / ``test``; with
        ``exceedance``, ``density_exceedance`` (given occurrence) and ``hazard_exceedance``
        (threshold, slice, y, x).
    """
    run = require_trained(run) if run else find_run(workdir)
    with recording(run, "predict"):
        return compute_predictions(workdir, run, device, stride_cells, calibration, batch_size, progress,
                                   threshold_rule, exceedance, products)


def compute_predictions(workdir: str | Path, run: Path, device: str, stride_cells: int, calibration: str,
                        batch_size: int, progress: bool, threshold_rule: str = "expected_f1",
                        exceedance: Sequence[float] = (), products: Sequence[float] | None = None) -> xr.Dataset:
    """:func:`predict_run` of a trained run (its status recorded by the caller)."""
    from hazardcore.infer import check_checkpoint_matches, load_model, predict_cells, prediction_dataset
    from hazardcore.train import resolve_device

    cube = PreparedCube.open(workdir)
    exceedance = [float(x) for x in exceedance] or list(cube.exceedance_thresholds)
    products = exceedance if products is None else [float(x) for x in products]
    torch_device = resolve_device(device)
    model, checkpoint = load_model(run / MODEL, torch_device)
    check_checkpoint_matches(checkpoint, cube)
    train_config = TrainConfig.from_dict(checkpoint.train_config | {"device": device})
    cells = predict_cells(model, cube, ChannelScaling.from_dict(checkpoint.scaling), ModelConfig.from_dict(
        checkpoint.model_config).cell_px, torch_device, stride_cells, batch_size, progress, exceedance)
    split = trained_split(checkpoint.state, cube, train_config)
    masks = side_masks(cube, split)
    predictions = prediction_dataset(cube, cells, masks, exceedance)
    predictions, record = calibrate(predictions, calibration, threshold_rule)
    predictions = predictions.assign_attrs(run_id=run.name, split=train_config.split,
                                           calibration=json.dumps(record), stride_cells=stride_cells,
                                           split_definition=json.dumps(split.to_dict()),
                                           extrapolation=json.dumps(trigger_ranges(cube, masks["train"])),
                                           exceedance_products=json.dumps(products))
    export.write_json(record, run / CALIBRATION)
    export.write_run_netcdf(predictions, run / PREDICTIONS)
    return predictions


def split_of(cube: PreparedCube, train_config: TrainConfig) -> Split:
    """:func:`hazardcore.datasets.split_of`, imported on use (that module imports PyTorch)."""
    from hazardcore import datasets

    return datasets.split_of(cube, train_config)


def trained_split(state: dict[str, Any], cube: PreparedCube, train_config: TrainConfig) -> Split:
    """The split a model was trained with, as its checkpoint stored it.

    Rebuilding it from the configuration would give another split whenever the rule changed
    after training (e.g. the choice of validation slices); models of older versions, which
    stored none, get the rebuilt one.
    """
    return Split.from_dict(state["split"]) if "split" in state else split_of(cube, train_config)


def baseline_sources(cube: PreparedCube, train_cells: np.ndarray, validation_cells: np.ndarray, seed: int,
                     features: str = "summary") -> dict[str, dict[str, np.ndarray]]:
    """The ``BASELINE_NAMES`` baselines fitted on the training cells, predicted everywhere.

    The gradient boosting is tuned and early-stopped on ``validation_cells``, the cells the
    model is calibrated and thresholded on; ``features`` is the cell feature set
    (``TrainConfig.baseline_features``).
    """
    table, names = cell_features(cube, features=features)
    models = fit_baselines(table, cube.presence, cube.density, train_cells, seed=seed, feature_names=names,
                           validation_mask=validation_cells)
    return {name: model.predict(table) for name, model in models.items()}


def sources_of(predictions: xr.Dataset, baselines: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """Model, baselines and (when truth is known) the oracle as probability / density maps."""
    sources = {"model": {"probability": predictions["susceptibility"].values,
                         "density": predictions["density"].values}} | baselines
    if "true_probability" in predictions:
        sources["oracle"] = {"probability": predictions["true_probability"].values,
                             "density": predictions["true_density_given_occurrence"].values}
    return sources


@dataclass
class Evaluation:
    """What ``hazard evaluate`` produced."""

    metrics: RunMetrics
    report: Path
    products: dict[str, Path]


def evaluate_run(workdir: str | Path, run: Path | None = None, reference: Path | None = None,
                 progress: bool = False) -> Evaluation:
    """Score a run's predictions on its test cells; write metrics, report and products.

    Predicts first when the run has no finished prediction, or when its predictions were made
    on other periods or other labels than the prepared data's (a forecast period prepared, or
    a withheld inventory restored, since). ``reference`` is a folder of published maps
    (``../shared/reference``), shown beside ours when the grids match.
    """
    run = require_trained(run) if run else find_run(workdir)
    predicted = step_state(run, "predict") == "finished" and (run / PREDICTIONS).exists()
    predictions = export.open_predictions(run / PREDICTIONS) if predicted else None
    if predictions is None or not same_periods(predictions, PreparedCube.open(workdir)):
        predictions = predict_run(workdir, run, progress=progress)
    with recording(run, "evaluate"):
        return compute_evaluation(workdir, run, predictions, reference)


def same_periods(predictions: xr.Dataset, cube: PreparedCube) -> bool:
    """Whether predictions cover the prepared data's periods, labelled (mapped) as the data's are."""
    labels = [str(label) for label in predictions["slice"].values]
    labelled = (predictions["labelled"].values.astype(bool) if "labelled" in predictions.coords
                else np.ones(len(labels), dtype=bool))
    return labels == cube.slice_labels and bool(np.array_equal(labelled, cube.labelled_mask))


def compute_evaluation(workdir: str | Path, run: Path, predictions: xr.Dataset, reference: Path | None) -> Evaluation:
    """:func:`evaluate_run` on a run's predictions (its status recorded by the caller)."""
    cube = PreparedCube.open(workdir)
    config = TrainConfig.from_dict(read_config(run)["train"])
    stored = predictions.attrs.get("split_definition")
    split = Split.from_dict(json.loads(stored)) if stored else split_of(cube, config)
    masks = {side: predictions[side].values.astype(bool) for side in SIDES}
    sources = sources_of(predictions, baseline_sources(cube, masks["train"], masks["validation"], config.seed,
                                                       config.baseline_features))
    masks["test"] = usable(sources, masks["test"])  # the cells every source predicts: those scored
    predictions["test"] = (predictions["test"].dims, masks["test"].astype("uint8"), predictions["test"].attrs)
    observed = {"presence": predictions["presence"].values, "density": predictions["observed_density"].values}
    calibration = json.loads(predictions.attrs["calibration"])
    facts: RunMetrics = {"split": split.protocol, "run_id": run.name}
    metrics: RunMetrics = facts | evaluate_sources(
        sources, observed, masks["test"], masks["validation"], list(predictions["slice"].values),
        decision_of(predictions, calibration))
    metrics |= {"calibration": calibration, "leaked_fraction": leaked_fraction(
        split, cube.samples(), cube.windows, (cube.grid.n_rows, cube.grid.n_cols), cube.patch_cells),
        "density_units": "% of the cell", "split_config": split_config(config)}
    if has_intervals(predictions):  # an ensemble's: how often its intervals hold the truth
        metrics["uncertainty"] = interval_scores(predictions)
    scores = roc_inputs(sources, observed, masks["test"])
    reference_maps = reference_for(reference, cube, predictions)
    export.write_run_netcdf(scores_dataset(predictions, sources, masks["test"]), run / SCORES)
    export.write_json(metrics, run / METRICS)
    source = run_catalog(cube)
    about = run_provenance(cube, run, source)
    forecasts = [export.open_forecast(path) for path in forecast_files(run)]
    html = build_report(predictions, metrics, scores, reference_maps, title=f"Landslide hazard report: {about['case']}",
                        about=about, forecasts=forecasts)
    report = export.write_report(html, run / REPORT)
    products = export.write_products(predictions, run / PRODUCTS, manifest_of(run, metrics), input_files(cube, source),
                                     source)
    return Evaluation(metrics, report, products)


#: Packages whose versions the report names beside :func:`hazardcore.checkpoint.package_versions`.
REPORT_PACKAGES = ("xarray", "rioxarray", "rasterio", "scikit-learn", "matplotlib", "jinja2")


def run_provenance(cube: PreparedCube, run: Path, source: catalog.Catalog | None) -> dict[str, Any]:
    """The report's :func:`hazardcore.report.provenance` of ``run``: its case, the command line of this process,
    package versions, the catalog's data sources and licences, the method's reference."""
    versions = package_versions()
    for name in REPORT_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    case = source.case if source is not None else Path(cube.catalog_path).parent.name or "unknown case"
    command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    return provenance(case, run.name, command, versions, source, method=export.METHOD_REFERENCE)


def scores_dataset(predictions: xr.Dataset, sources: dict[str, Any], test: np.ndarray) -> xr.Dataset:
    """Each source's probability and density given occurrence, the observations and the scored cells.

    Variables ``{source}_probability`` / ``{source}_density`` (%), ``presence``,
    ``observed_density`` (%) and ``test`` (the cells ``metrics.json`` scores), on the
    predictions' (slice, y, x) grid with its CRS.
    """
    dims = predictions["presence"].dims  # presence is NaN in forecast periods: stored as 0, never a test cell
    variables = {f"{name}_{kind}": (dims, np.asarray(maps[kind], dtype="float32"))
                 for name, maps in sources.items() for kind in ("probability", "density")}
    variables |= {"presence": (dims, np.nan_to_num(predictions["presence"].values).astype("uint8")),
                  "observed_density": (dims, predictions["observed_density"].values.astype("float32")),
                  "test": (dims, test.astype("uint8"))}
    ds = xr.Dataset(variables, coords={name: predictions[name] for name in dims},
                    attrs={"sources": ", ".join(sources), "density_units": "% of the cell"})
    crs = predictions.rio.crs
    return ds.rio.write_crs(crs) if crs is not None else ds


def decision_of(predictions: xr.Dataset, calibration: dict[str, Any]) -> Decision:
    """The run's threshold rule: the model's thresholds as predicted, the same rule for the others.

    Every source's per-slice threshold is computed over the region's valid cells of the slice
    (label-free), as the model's ``decision_threshold`` in ``predictions.nc`` was.
    """
    rule = str(calibration.get("threshold_rule", "validation"))
    fixed: dict[str, float | np.ndarray] = {"model": float(calibration["threshold"])}
    if "decision_threshold" in predictions:
        fixed["model"] = predictions["decision_threshold"].values.astype("float64")
    return Decision(rule, np.isfinite(predictions["logit"].values), fixed)


def split_config(config: TrainConfig) -> dict[str, Any]:
    """The configuration entries that define the split."""
    names = ("split", "split_block_patches", "validation_fraction", "test_fraction", "test_slice", "seed",
             "temporal_validation", "validation_slice_count", "cv_folds", "cv_fold")
    return {name: getattr(config, name) for name in names}


def reference_for(folder: Path | None, cube: PreparedCube, predictions: xr.Dataset) -> xr.Dataset | None:
    """The published maps when given and on the run's grid (else ``None``)."""
    if folder is None:
        return None
    labels = list(predictions["slice"].values)
    try:
        maps = catalog.open_reference_maps(folder, labels)
    except CatalogError:
        return None  # band count differs from the run's slices: not the study's grid
    return maps if catalog.reference_on_grid(maps, cube.grid) else None


def run_catalog(cube: PreparedCube) -> catalog.Catalog | None:
    """The data catalog the cube was prepared from, None when it no longer loads."""
    try:
        return catalog.load_catalog(cube.catalog_path)
    except HazardcoreError:
        return None


def input_files(cube: PreparedCube, source: catalog.Catalog | None = None) -> list[Path]:
    """The raw files the prepared data came from (their checksums go in the manifest); ``source``: the cube's
    catalog when already loaded (:func:`run_catalog`)."""
    source = source if source is not None else run_catalog(cube)
    if source is None:
        return []
    entries = [entry for role in source.layers for entry in source.layer_list(role)]
    return [source.path, *sorted({entry.path for entry in entries})]


def manifest_of(run: Path, metrics: RunMetrics) -> dict[str, Any]:
    """Run id, configuration, versions, calibration and metrics of a product set."""
    return {"run_id": run.name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": read_config(run),
            "versions": package_versions(), "metrics": metrics}


#: (fraction done, 0 to 1; what is happening) → None. Raising in it stops the work (training stops after an epoch).
Progress = Callable[[float, str], None]
#: Share of :func:`fit_run`'s progress given to the training epochs (the rest: predict, evaluate).
TRAIN_SHARE = 0.85


def fit_run(workdir: str | Path, model_config: ModelConfig, train_config: TrainConfig,
            stages: Sequence[str] = ("all",), reference: Path | None = None, progress: bool = False,
            on_progress: Progress | None = None) -> tuple[Path, Evaluation]:
    """Train a run (each group of ``stages`` in turn), predict every cell and slice, and evaluate it.

    Parameters
    ----------
    workdir
        A prepared working folder.
    model_config, train_config
        The run's configuration (its hash names the run folder).
    stages
        ``hazard train --stage`` values run in order (``("all",)``: every stage).
    reference
        Folder of published maps shown beside the run's (see :func:`evaluate_run`).
    progress
        Progress bars on the terminal.
    on_progress
        Called with (fraction done, message) after every epoch and before predict and
        evaluate; an exception raised in it stops the work.

    Returns
    -------
    tuple
        The run folder and its :class:`Evaluation`.
    """
    from hazardcore.stages import epoch_offsets
    from hazardcore.train import train

    report = on_progress or (lambda fraction, message: None)
    offsets = epoch_offsets(train_config)

    def on_epoch(record: dict[str, Any]) -> None:
        done = offsets[record["stage"]] + int(record["epoch"]) + 1
        report(TRAIN_SHARE * done / offsets["total"], f"training {record['stage']}, epoch {record['epoch'] + 1}: "
                                                      f"validation loss {record['val_loss']:.4g}")

    for group in stages:
        train(workdir, model_config, train_config, stage=group, progress=progress, callbacks=[on_epoch])
    run = run_path(workdir, config_hash(model_config, train_config))
    report(TRAIN_SHARE, "predicting every cell and slice")
    predict_run(workdir, run, progress=progress)
    report(0.95, "evaluating on the test cells")
    return run, evaluate_run(workdir, run, reference=reference, progress=progress)


@dataclass
class DemoResult:
    """Where the demo put things, and its headline numbers."""

    region: Path
    workdir: Path
    run: Path
    evaluation: Evaluation
    seconds: float


def demo(out: str | Path, seed: int = 42, size_km: int | tuple[int, int] = 32, progress: bool = False,
         stages: Sequence[str] = ("all",), case: str = "default", real_dir: Path | None = None,
         world: str = "intensity") -> DemoResult:
    """synth → prepare → train (demo settings, spatial split) → predict → evaluate under ``out``.

    ``case="langtang"`` runs on the real Langtang tile (:mod:`hazardcore.langtang_case`; ``size_km``
    does not apply, ``real_dir`` is its real-data folder) and shows the published maps of the
    same cells beside the run's. ``world`` picks the synthetic world of the default case
    (``intensity`` or ``physical``, see :func:`hazardcore.synthetic.synthesize`).
    """
    from hazardcore.prepare import prepare
    from hazardcore.synthetic import synthesize

    started = time.perf_counter()
    out = Path(out)
    reference = None
    if case == "langtang":
        from hazardcore.langtang_case import FILES, build_langtang

        report = build_langtang(out / "region", seed=seed, real_dir=real_dir, progress=progress)
        reference = out / "region" / FILES["reference"] if (out / "region" / FILES["reference"]).is_dir() else None
    else:
        report = synthesize(out / "region", seed=seed, size_km=size_km, progress=progress, world=world)
    prepare(report.catalog_path, out / "work", progress=progress)
    run, evaluation = fit_run(out / "work", *demo_configs(), stages=stages, reference=reference, progress=progress)
    return DemoResult(out / "region", out / "work", run, evaluation, time.perf_counter() - started)

"""Seed ensembles: K members of one configuration combined into a distribution per cell and slice.

``hazard train WORKDIR --members K`` trains K normal, resumable runs that differ only in
``TrainConfig.member``, which seeds their weights, batch order, augmentation and dropout
(:func:`hazardcore.config.weights_seed`); ``seed`` and so the split are shared, and member 0 is
the single run of the same configuration. The ensemble folder
``WORKDIR/ensembles/<run id of member 0>-k<K>`` lists the members (``ensemble.json``) and,
once predicted and evaluated, holds the same files as a run (``predictions.nc``,
``metrics.json``, report, products), so every reader of a run reads it too.

Combination (METHOD.md §6, ensembles): the mean logit of the members is calibrated on the
shared validation cells like a single run's; the density given occurrence is the mixture's
conditional mean Σ p_k μ_k / Σ p_k; the spread of each member's calibrated susceptibility,
density and hazard is stored as the standard deviation across members (CF ``cell_methods:
realization: standard_deviation``) and the 5th / 50th / 95th percentiles of the Student-t
predictive distribution of one more member on the logit or log scale, the members' spread
widened by the factor λ calibrated for ensembles of its kind on another synthetic region
(:func:`hazardcore.intervals.predictive_percentiles`; each carries ``percentile`` and
``spread_inflation`` attributes, CF having no percentile method). These are intervals of the
*expected* values (the model's uncertainty), not of the landslide area a period will realise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from hazardcore import export
from hazardcore.config import ModelConfig, TrainConfig, config_hash
from hazardcore.cube import PreparedCube
from hazardcore.errors import CheckpointError, describe
from hazardcore.folds import trained_run
from hazardcore.intervals import (
    LOGIT_SCALE,
    PERCENTILES,
    SCORE_GRID,
    ensemble_kind,
    inflation_source,
    percentile_name,
    predictive_percentiles,
    spread_inflation,
)
from hazardcore.pipeline import Evaluation, calibrate, compute_evaluation, predict_run
from hazardcore.runfolder import (
    CALIBRATION,
    CONFIG,
    ENSEMBLE,
    PREDICTIONS,
    ensembles_folder,
    run_path,
    workdir_of,
)
from hazardcore.runstatus import is_trained, recording, step_state

#: The quantities whose spread across members is stored.
SPREAD_OF = {"susceptibility": "1", "density": "%", "hazard": "%"}


def member_configs(train_config: TrainConfig, members: int) -> list[TrainConfig]:
    """The training configurations of members 0..K-1 (``member`` set, everything else shared)."""
    if members < 1:
        raise CheckpointError(describe("an ensemble needs at least one member", found=members,
                                       fix="pass --members K with K >= 1 (3 to 5 for useful spreads)"))
    return [TrainConfig.from_dict(train_config.to_dict() | {"member": k}) for k in range(members)]


def ensemble_path(workdir: str | Path, model_config: ModelConfig, train_config: TrainConfig, members: int) -> Path:
    """``WORKDIR/ensembles/<member 0's run id>-k<K>``."""
    base = TrainConfig.from_dict(train_config.to_dict() | {"member": 0})
    return ensembles_folder(workdir) / f"{config_hash(model_config, base)}-k{members}"


def member_runs(folder: Path) -> list[Path]:
    """The member run folders an ensemble lists, in member order."""
    manifest = json.loads((Path(folder) / ENSEMBLE).read_text(encoding="utf-8"))
    return [run_path(workdir_of(folder), run_id) for run_id in manifest["members"]]


def train_ensemble(workdir: str | Path, model_config: ModelConfig, train_config: TrainConfig, members: int,
                   progress: bool = False) -> Path:
    """Train (or resume) every member and write the ensemble folder; returns it.

    The folder and its member list are written first, so an ensemble stopped part-way is
    listed and the same command resumes the unfinished members (a finished one is kept).
    """
    configs = member_configs(train_config, members)
    folder = ensemble_path(workdir, model_config, train_config, members)
    runs = [config_hash(model_config, config) for config in configs]
    folder.mkdir(parents=True, exist_ok=True)
    base = {"model": model_config.to_dict(), "train": configs[0].to_dict()}
    export.write_json(base, folder / CONFIG)
    export.write_json({"members": runs, "member_count": members}, folder / ENSEMBLE)
    for config in tqdm(configs, desc="ensemble", unit="member", disable=not progress):
        trained_run(workdir, model_config, config)
    return folder


def folder_kind(folder: Path) -> str:
    """What an ensemble folder's members differ in (:data:`hazardcore.intervals.KINDS`), from its configuration."""
    train = json.loads((Path(folder) / CONFIG).read_text(encoding="utf-8"))["train"]
    return ensemble_kind(bool(train.get("bootstrap_blocks", False)))


def find_ensemble(workdir: str | Path, ensemble_id: str) -> Path:
    """The ensemble folder named ``ensemble_id``, every member trained.

    Raises
    ------
    CheckpointError
        When there is no such ensemble, or a member is not trained (named, with the
        command that resumes it): a member is never silently dropped.
    """
    folder = ensembles_folder(workdir) / ensemble_id
    if not (folder / ENSEMBLE).is_file():
        known = sorted(path.parent.name for path in ensembles_folder(workdir).glob(f"*/{ENSEMBLE}"))
        raise CheckpointError(describe(f"no ensemble {ensemble_id}", source=ensembles_folder(workdir),
                                       found=", ".join(known) or "no ensembles",
                                       fix=f"train one: `hazard train {workdir} --members K`"))
    missing = [run.name for run in member_runs(folder) if not is_trained(run)]
    if missing:
        raise CheckpointError(describe("ensemble members are not trained", source=folder, found=", ".join(missing),
                                       fix="rerun the `hazard train ... --members K` command that made the "
                                           "ensemble: it resumes them"))
    return folder


def member_prediction(workdir: str | Path, run: Path, device: str, stride_cells: int, calibration: str,
                      batch_size: int, progress: bool, threshold_rule: str,
                      exceedance: Sequence[float] = (), slices: Sequence[str] | None = None) -> xr.Dataset:
    """A member's finished predictions as asked, predicted first when missing or made otherwise.

    ``slices``: the prepared data's periods; predictions of other periods (made before a
    forecast period was prepared) are predicted again.
    """
    if step_state(run, "predict") == "finished" and (run / PREDICTIONS).is_file():
        stored = export.open_predictions(run / PREDICTIONS)
        made = json.loads(stored.attrs["calibration"])
        thresholds = stored["threshold"].values.tolist() if "threshold" in stored.coords else []
        same_slices = slices is None or [str(v) for v in stored["slice"].values] == list(slices)
        if (int(stored.attrs.get("stride_cells", -1)) == stride_cells and made.get("method") == calibration
                and len(thresholds) == len(exceedance) and np.allclose(thresholds, exceedance) and same_slices):
            return stored
    return predict_run(workdir, run, device, stride_cells, calibration, batch_size, progress, threshold_rule,
                       exceedance, products=())  # a member's maps are the ensemble's inputs, not its products


def spread_variables(values: np.ndarray, units: str, name: str,
                     kind: str = "seeds") -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """Standard deviation across members (axis 0) of one quantity and its predictive distribution's percentiles.

    ``kind``: what the members differ in (:data:`hazardcore.intervals.KINDS`), which picks λ.
    """
    members = values.shape[0]
    std = np.std(values, axis=0, ddof=1 if members > 1 else 0)
    out: dict[str, tuple[np.ndarray, dict[str, Any]]] = {f"{name}_std": (std, {
        "units": units, "cell_methods": "realization: standard_deviation",
        "long_name": f"{name}: standard deviation across {members} ensemble members"})}
    scale = "logit" if name in LOGIT_SCALE else "log"
    inflation = spread_inflation(name, kind)
    percentiles = predictive_percentiles(values, name, inflation=inflation)
    for level, layer in zip(PERCENTILES, percentiles, strict=True):
        # CF-1.8 has no percentile cell method (and these are not the members' median or percentiles)
        out[percentile_name(name, level)] = (layer, {
            "units": units, "percentile": level, "spread_inflation": inflation,
            "spread_inflation_source": inflation_source(kind), "long_name": (
                f"{name}: {level}th percentile of the Student-t predictive distribution ({scale} scale) of one more "
                f"member, from {members} ensemble members, their spread times {inflation:g}")})
    return out


def combine_members(members: list[xr.Dataset], kind: str = "seeds") -> xr.Dataset:
    """The members' predictions as one uncalibrated prediction plus their spreads.

    ``kind``: what the members differ in (:data:`hazardcore.intervals.KINDS`).

    Returns
    -------
    xarray.Dataset
        Member 0's observations, truth, masks and grid with ``logit`` (members' mean),
        ``susceptibility_uncalibrated``, ``density`` (the mixture's mean given occurrence,
        %) and ``{susceptibility,density,hazard}_{std,p05,p50,p95}`` of the members'
        calibrated values; :func:`hazardcore.pipeline.calibrate` adds the rest.
    """
    logit = np.stack([ds["logit"].values.astype("float64") for ds in members])
    probability = np.stack([ds["susceptibility"].values.astype("float64") for ds in members])
    density = np.stack([ds["density"].values.astype("float64") for ds in members])
    weight = probability.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mixture = np.where(weight > 0, (probability * density).sum(axis=0) / weight, density.mean(axis=0))
    mean_logit = logit.mean(axis=0)
    dims = members[0]["logit"].dims
    out = members[0].drop_vars([name for name in ("susceptibility", "hazard", "decision_threshold",
                                                  "hazard_exceedance") if name in members[0]])
    out["logit"] = (dims, mean_logit.astype("float32"), {"units": "1", "long_name": "mean logit of landslide "
                                                         f"occurrence over windows and {len(members)} members"})
    out["susceptibility_uncalibrated"] = (dims, (1.0 / (1.0 + np.exp(-mean_logit))).astype("float32"),
                                          out["susceptibility_uncalibrated"].attrs)
    out["density"] = (dims, mixture.astype("float32"),
                      {"units": "%", "long_name": "predicted new landslide area density given occurrence "
                                                  f"(mean of the {len(members)} members' mixture)"})
    if "density_exceedance" in out:  # the mixture's P(density > x | occurrence)
        survival = np.stack([ds["density_exceedance"].values.astype("float64") for ds in members])
        with np.errstate(invalid="ignore", divide="ignore"):
            mixed = np.where(weight > 0, (probability[:, None] * survival).sum(axis=0) / weight, survival.mean(axis=0))
        out["density_exceedance"] = (out["density_exceedance"].dims, mixed.astype("float32"),
                                     out["density_exceedance"].attrs)
    quantities = {"susceptibility": probability, "density": density, "hazard": probability * density}
    for name, values in quantities.items():
        for variable, (layer, attrs) in spread_variables(values, SPREAD_OF[name], name, kind).items():
            out[variable] = (dims, layer.astype("float32"), attrs)
    return out


def predict_ensemble(workdir: str | Path, folder: Path, device: str = "auto", stride_cells: int = 2,
                     calibration: str = "platt", batch_size: int = 64, progress: bool = False,
                     threshold_rule: str = "expected_f1", exceedance: Sequence[float] = ()) -> xr.Dataset:
    """Predict with every member (reusing finished predictions), combine, calibrate; write ``predictions.nc``.

    ``exceedance``: densities (% of the cell) whose exceedance probabilities to predict (the
    members' mixture given occurrence, and times the ensemble's susceptibility), besides the
    grid :data:`hazardcore.intervals.SCORE_GRID` on which evaluation scores the distribution;
    none given, the catalog's ``exceedance_thresholds``. Those asked for (not the grid) become
    exceedance maps among the products (attribute ``exceedance_products``).

    Returns
    -------
    xarray.Dataset
        A run's predictions (:func:`hazardcore.pipeline.predict_run`) of the ensemble plus the
        spread variables of :func:`combine_members`; attribute ``members`` lists the run ids.
    """
    runs = member_runs(find_ensemble(workdir, folder.name))
    with recording(folder, "predict"):
        cube = PreparedCube.open(workdir)
        slices = cube.slice_labels
        asked = [float(x) for x in exceedance] or list(cube.exceedance_thresholds)
        exceedance = sorted({*SCORE_GRID, *asked})  # the grid scores the distribution
        members = [member_prediction(workdir, run, device, stride_cells, calibration, batch_size, progress,
                                     threshold_rule, exceedance, slices)
                   for run in tqdm(runs, desc="members", disable=not progress)]
        combined, record = calibrate(combine_members(members, folder_kind(folder)), calibration, threshold_rule)
        combined = combined.assign_attrs(run_id=folder.name, calibration=json.dumps(record),
                                         members=", ".join(run.name for run in runs),
                                         exceedance_products=json.dumps(asked))
        export.write_json(record, folder / CALIBRATION)
        export.write_run_netcdf(combined, folder / PREDICTIONS)
    return combined


def evaluate_ensemble(workdir: str | Path, folder: Path, reference: Path | None = None, device: str = "auto",
                      progress: bool = False) -> Evaluation:
    """Score the ensemble mean like a run (metrics, report, products), plus interval coverage.

    Predicts first when the ensemble has no finished prediction. ``metrics.json`` gets an
    ``uncertainty`` block (:func:`hazardcore.intervals.interval_scores`).
    """
    folder = find_ensemble(workdir, Path(folder).name)
    predicted = step_state(folder, "predict") == "finished" and (folder / PREDICTIONS).is_file()
    predictions = export.open_predictions(folder / PREDICTIONS) if predicted else predict_ensemble(
        workdir, folder, device=device, progress=progress)
    with recording(folder, "evaluate"):
        return compute_evaluation(workdir, folder, predictions, reference)

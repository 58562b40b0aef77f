"""Density given occurrence: each head (and the original curriculum) as an expectation and a tail.

For each variant, trains the demo configuration with the variant's settings on a prepared
working folder (same seed and split), predicts and evaluates it (``hazard predict`` /
``hazard evaluate``), and prints, on the split's test cells: Σ hazard / Σ observed density,
the mean density given occurrence over the mean observed one (positive cells), R against
the observations and against the true density (positive cells), the share of positives
predicted below 0.05 %, the susceptibility AUC, and the tail: the 95th percentile of the
density over the positive test cells, observed vs. the model's predictive distribution
(one draw per cell from the fitted law, pooled; none for MAE, which fits no law).

``--predictions NAME=PATH`` adds rows from existing ``predictions.nc`` files (e.g. a run of
an earlier version: the original study's curriculum), scored the same way. ``--direct``
skips the whole-grid prediction (for study-area-sized regions): every number then comes
from one forward pass over the base-lattice windows of the test side, with the Platt
calibration fitted on the validation windows.

Usage::

    python benchmarks/density_heads.py --workdir out/demo/work \\
        [--variant "gamma=density_head=gamma"] [--predictions "curriculum=old/predictions.nc"] [--direct]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from hazardcore import density_heads, metrics
from hazardcore.config import TrainConfig, config_hash, demo_configs
from hazardcore.cube import PreparedCube
from hazardcore.datasets import PatchDataset, load_tensors
from hazardcore.hazard import fit_calibration
from hazardcore.infer import load_model
from hazardcore.pipeline import evaluate_run, predict_run, split_of
from hazardcore.predictors import ChannelScaling
from hazardcore.result import LOW_DENSITY_PERCENT
from hazardcore.train import scale_batch_in_place, train

VARIANTS = {"gamma + offset (default)": {}, "gamma": {"density_offset": False},
            "lognormal + offset": {"density_head": "lognormal"}, "egpd + offset": {"density_head": "egpd"},
            "mae + offset (paper's loss, positives)": {"density_head": "mae"}}


def parse_settings(text: str) -> dict[str, Any]:
    """``KEY=VALUE,KEY=VALUE`` (values as JSON, else strings)."""
    out: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def summary(cells: dict[str, np.ndarray]) -> dict[str, float]:
    """Scores of per-cell test arrays: probability, density, observed, presence, truth, optional draws."""
    positive = cells["presence"] > 0
    hazard = cells["probability"] * cells["density"]
    observed, density = cells["observed"], cells["density"]
    out = {"Σhaz/Σobs": float(hazard.sum() / observed.sum()),
           "mean ratio+": float(density[positive].mean() / observed[positive].mean()),
           "R+": metrics.or_nan(metrics.pearson_r, observed[positive], density[positive]),
           "oracle R+": metrics.or_nan(metrics.pearson_r, observed[positive], cells["true_density"][positive]),
           "R truth+": metrics.or_nan(metrics.pearson_r, density[positive], cells["true_density"][positive]),
           "<0.05%": float(np.mean(density[positive] < LOW_DENSITY_PERCENT)),
           "AUC": metrics.or_nan(metrics.auc, positive, cells["probability"]),
           "q95 obs": float(np.quantile(observed[positive], 0.95)), "q95 pred": float("nan")}
    if "draws" in cells:  # pooled over the positive cells of the windows they were drawn on
        out["q95 pred"] = float(np.quantile(cells["draws"][cells["draws_presence"] > 0], 0.95))
    return out


def from_predictions(path: Path) -> dict[str, np.ndarray]:
    """Per-cell test arrays of a predictions.nc."""
    ds = xr.open_dataset(path)
    test = ds["test"].values.astype(bool) & np.isfinite(ds["hazard"].values)
    names = {"probability": "susceptibility", "density": "density", "observed": "observed_density",
             "presence": "presence", "true_density": "true_density_given_occurrence"}
    return {key: ds[name].values[test].astype("float64") for key, name in names.items()}


@torch.no_grad()
def direct(workdir: Path, run: Path, with_scores: bool) -> dict[str, np.ndarray]:
    """One forward pass over the test (and validation) base windows: parameters, draws, Platt."""
    cube = PreparedCube.open(workdir)
    model, checkpoint = load_model(run / "model.pt", torch.device("cpu"))
    cell_px, head = model.config.cell_px, model.config.density_head
    split = split_of(cube, TrainConfig.from_dict(checkpoint.train_config))
    sides = {}
    for side in ("test", "validation") if with_scores else ("test",):
        samples = split.samples(cube.samples(), side)
        batch = scale_batch_in_place(load_tensors(PatchDataset(cube, samples), cell_px),
                                     ChannelScaling.from_dict(checkpoint.scaling), cell_px)
        chunks = [batch["image"][i:i + 64] for i in range(0, len(batch["image"]), 64)]
        logit = torch.cat([model.susceptibility(chunk) for chunk in chunks])
        raw = torch.cat([model.density(chunk) for chunk in chunks])
        params = density_heads.parameters(head, raw, model.density.offset(logit))
        valid = batch["valid"].numpy()
        cells = {"logit": logit.numpy()[valid], "density": density_heads.mean(head, params).numpy()[valid],
                 "observed": batch["density"].numpy()[valid], "presence": batch["presence"].numpy()[valid],
                 "true_density": cube.truth_cells("expected_density_given_occurrence", samples)[valid]}
        if head != "mae":
            draws = density_heads.sample(head, params, torch.Generator().manual_seed(0))
            cells["draws"], cells["draws_presence"] = draws.numpy()[valid], cells["presence"]
        sides[side] = cells
    test = sides["test"]
    if with_scores:
        calibration = fit_calibration(sides["validation"]["logit"], sides["validation"]["presence"] > 0)
        test["probability"] = calibration.apply(test["logit"])
    return test


def run_variant(workdir: Path, settings: dict[str, Any], direct_only: bool) -> tuple[dict[str, float], int, float]:
    """Train, (predict, evaluate,) score one variant; returns scores, best density epoch, train seconds."""
    model_config, train_config = demo_configs()
    for key, value in settings.items():
        (model_config if key in model_config.param else train_config).param.update(**{key: value})
    started = time.perf_counter()
    results = train(workdir, model_config, train_config)
    seconds = time.perf_counter() - started
    run = workdir / "runs" / config_hash(model_config, train_config)
    cells = direct(workdir, run, with_scores=direct_only)
    if not direct_only:
        predict_run(workdir, run)
        evaluate_run(workdir, run)
        draws = {key: cells[key] for key in ("draws", "draws_presence") if key in cells}
        cells = from_predictions(run / "predictions.nc") | draws
    return summary(cells), int(results["density"]["epoch"]), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="a prepared working folder")
    parser.add_argument("--variant", action="append", default=[], help="NAME=KEY=VALUE,KEY=VALUE (repeatable)")
    parser.add_argument("--predictions", action="append", default=[], help="NAME=PATH of a predictions.nc")
    parser.add_argument("--direct", action="store_true", help="score base test windows, no whole-grid prediction")
    args = parser.parse_args()
    variants = {name: parse_settings(rest) for name, _, rest in (v.partition("=") for v in args.variant)} \
        or VARIANTS
    rows: list[tuple[str, dict[str, float], str, str]] = []
    for text in args.predictions:
        name, _, path = text.partition("=")
        rows.append((name, summary(from_predictions(Path(path))), "–", "–"))
    for name, settings in variants.items():
        scores, epoch, seconds = run_variant(args.workdir, settings, args.direct)
        rows.append((name, scores, str(epoch), f"{seconds:.0f}"))
    keys = list(rows[0][1])
    print(f"{'variant':<40} | best epoch | train s | " + " | ".join(f"{k:>10}" for k in keys))
    for name, scores, epoch, seconds in rows:
        print(f"{name:<40} | {epoch:>10} | {seconds:>7} | " + " | ".join(f"{scores[k]:>10.3f}" for k in keys))


if __name__ == "__main__":
    main()

"""Permutation importance and partial dependence of the predictors (METHOD.md §7: what drives the maps).

For a trained run, the test patches of its split are scored (AUC of the susceptibility over
their valid cells; Pearson R of the density given occurrence with the observed density over
their positive cells, ``r_positive``), then scored again with one feature's channels
permuted across the patches (the same permutation for every channel of a group, so a group
keeps its internal coherence and loses only its link to the outcome). The importance of a
feature is the drop of the score, repeated over ``repeats`` permutations: its mean and the
2.5–97.5 % range of the repeats. Features are the channel groups of
:data:`hazardcore.predictors.CHANNEL_TABLE` (terrain, rain, ground motion, time since the
earthquake) and each channel. Overall and per season: the co-seismic slices (shaking) and
the rain slices (post- and pre-monsoon), each permuted and scored within its own patches,
because what drives a period's map depends on its trigger.

The importance of the network's inputs is not that of the world's drivers: a channel the
truth does not use can matter to the network through a correlated one, and a permutation
creates patches that never occur (a steep slope with a river's TWI). On the synthetic
worlds the documented truth says which drivers should lead in each season (docs/synthetic.md).

The effect of a driver is drawn as its partial dependence: every test patch gets, in turn,
the 5th to 95th percentile of the channel's patch means (the channel shifted inside each
patch, its texture kept), and the mean predicted probability and density given occurrence
are recorded, per season.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from hazardcore import export
from hazardcore import metrics as scoring
from hazardcore.checkpoint import load_checkpoint
from hazardcore.config import ModelConfig, TrainConfig
from hazardcore.cube import PreparedCube
from hazardcore.datasets import PatchDataset, load_tensors
from hazardcore.infer import load_model
from hazardcore.pipeline import require_trained, trained_split
from hazardcore.predictors import CHANNEL_TABLE, GROUP_NAMES, ChannelScaling
from hazardcore.runfolder import IMPORTANCE, MODEL
from hazardcore.train import autocast, resolve_device, scale_batch_in_place, subset, to_device
from hazardcore.triggers import slice_seasons

Batch = dict[str, torch.Tensor]
#: Image batch (n, channels, h, w) → cell ``probability`` and ``density`` given occurrence (%), each (n, k, k).
Predict = Callable[[torch.Tensor], dict[str, np.ndarray]]
SCORES = ("auc", "r_positive")


@dataclass(frozen=True)
class Patches:
    """Scaled test patches and what is observed on their cells."""

    image: torch.Tensor  # (n, channels, h, w)
    valid: np.ndarray  # (n, k, k) bool
    presence: np.ndarray  # (n, k, k) bool
    density: np.ndarray  # (n, k, k) observed density, %
    season: np.ndarray  # (n,) co-seismic | post-monsoon | pre-monsoon

    def take(self, keep: np.ndarray) -> Patches:
        """The patches where ``keep`` is True."""
        index = torch.from_numpy(np.flatnonzero(keep))
        return Patches(self.image[index], self.valid[keep], self.presence[keep], self.density[keep], self.season[keep])


def features(channels: list[str], per_channel: bool = False) -> dict[str, list[int]]:
    """Channel indices of each group (named as in :data:`GROUP_NAMES`), and of each channel when asked."""
    groups = {name: [channels.index(c.name) for c in CHANNEL_TABLE if c.group == group and c.name in channels]
              for group, name in GROUP_NAMES.items()}
    singles = {name: [i] for i, name in enumerate(channels)} if per_channel else {}
    return {name: index for name, index in groups.items() if index} | singles


def skill(predicted: dict[str, np.ndarray], patches: Patches) -> dict[str, float]:
    """AUC of the probability on valid cells; R of the density given occurrence on positive valid cells."""
    cells = patches.valid
    positive = cells & patches.presence
    return {"auc": scoring.or_nan(scoring.auc, patches.presence[cells], predicted["probability"][cells]),
            "r_positive": scoring.or_nan(scoring.pearson_r, patches.density[positive], predicted["density"][positive])}


def permuted(image: torch.Tensor, channels: list[int], order: torch.Tensor) -> torch.Tensor:
    """A copy of ``image`` whose ``channels`` come from the patches in ``order`` (one permutation for all)."""
    out = image.clone()
    out[:, channels] = image[order][:, channels]
    return out


def interval(drops: list[float]) -> dict[str, float]:
    """Mean and 2.5–97.5 % range of the score drops over repeats (NaN drops left out)."""
    values = np.asarray([d for d in drops if np.isfinite(d)], dtype="float64")
    if values.size == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "repeats": 0}
    low, high = np.percentile(values, [2.5, 97.5])
    return {"mean": float(values.mean()), "low": float(low), "high": float(high), "repeats": int(values.size)}


def permutation_importance(predict: Predict, patches: Patches, feature_channels: dict[str, list[int]],
                           repeats: int = 5, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Baseline skill and, per feature, the drop of each score when its channels are permuted.

    Parameters
    ----------
    predict
        The model as a function of a scaled image batch.
    patches
        The patches scored (e.g. a run's test patches).
    feature_channels
        Feature name → channel indices permuted together (:func:`features`).
    repeats
        Permutations per feature.
    seed
        Seed of the permutations (the same for every feature).
    progress
        A progress bar over features.

    Returns
    -------
    dict
        ``baseline`` (score → value), ``patches``, ``cells``, ``positive_cells`` and
        ``importance``: feature → score → :func:`interval` of the drops.
    """
    base = skill(predict(patches.image), patches)
    out: dict[str, Any] = {"baseline": base, "patches": len(patches.valid), "cells": int(patches.valid.sum()),
                           "positive_cells": int((patches.valid & patches.presence).sum()), "importance": {}}
    for name, channels in tqdm(feature_channels.items(), desc="importance", unit="feature", disable=not progress):
        generator = torch.Generator().manual_seed(seed)
        drops: dict[str, list[float]] = {key: [] for key in SCORES}
        for _ in range(repeats):
            order = torch.randperm(len(patches.valid), generator=generator)
            scores = skill(predict(permuted(patches.image, channels, order)), patches)
            for key in SCORES:
                drops[key].append(base[key] - scores[key])
        out["importance"][name] = {key: interval(values) for key, values in drops.items()}
    return out


def by_season(predict: Predict, patches: Patches, feature_channels: dict[str, list[int]], repeats: int,
              seed: int, progress: bool = False) -> dict[str, Any]:
    """:func:`permutation_importance` over all patches, the co-seismic ones and the rain ones."""
    subsets = {"all": np.ones(len(patches.season), dtype=bool), "co-seismic": patches.season == "co-seismic",
               "rain": patches.season != "co-seismic"}
    return {name: permutation_importance(predict, patches.take(keep), feature_channels, repeats, seed, progress)
            for name, keep in subsets.items() if keep.sum() >= 2}


def model_predictor(run: Path, device: torch.device, batch_size: int = 64) -> tuple[Predict, ModelConfig, Any]:
    """A run's model as a :data:`Predict` function, its configuration and its checkpoint."""
    model, checkpoint = load_model(run / MODEL, device)

    @torch.inference_mode()
    def predict(image: torch.Tensor) -> dict[str, np.ndarray]:
        parts: dict[str, list[np.ndarray]] = {"probability": [], "density": []}
        for start in range(0, len(image), batch_size):
            batch = to_device({"image": image[start:start + batch_size]}, device)["image"]
            with autocast(device):
                out = model(batch)
            parts["probability"].append(torch.sigmoid(out["logit"].float()).cpu().numpy())
            parts["density"].append(out["density"].float().cpu().numpy())
        return {key: np.concatenate(values) for key, values in parts.items()}

    return predict, ModelConfig.from_dict(checkpoint.model_config), checkpoint


def held_out_patches(workdir: str | Path, run: Path, model_config: ModelConfig, checkpoint: Any, max_patches: int,
                 seed: int) -> Patches:
    """A run's test patches (at most ``max_patches``, a fixed random subset), scaled as in training."""
    cube = PreparedCube.open(workdir)
    train_config = TrainConfig.from_dict(checkpoint.train_config)
    state = load_checkpoint(run / MODEL).state
    split = trained_split(state, cube, train_config)
    samples = subset(split.samples(cube.samples(), "test"), max_patches, seed)
    batch = load_tensors(PatchDataset(cube, samples), model_config.cell_px)
    scale_batch_in_place(batch, ChannelScaling.from_dict(checkpoint.scaling), model_config.cell_px)
    seasons = slice_seasons(cube.monsoons)
    return Patches(batch["image"], batch["valid"].numpy().astype(bool), batch["presence"].numpy() > 0,
                   batch["density"].numpy().astype("float64"), seasons[samples[:, 0]])


def explain_run(workdir: str | Path, run: Path, repeats: int = 5, max_patches: int = 400, seed: int = 0,
                device: str = "auto", per_channel: bool = False, progress: bool = False) -> dict[str, Any]:
    """Permutation importance of a trained run on its test patches; written to the run's ``importance.json``.

    Parameters
    ----------
    workdir, run
        The prepared working folder and the trained run.
    repeats
        Permutations per feature.
    max_patches
        Test patches used (a fixed random subset; 0: all): the cost is (features + 1) ×
        repeats forward passes over them.
    seed
        Seed of the subset and the permutations.
    device
        ``auto``, ``cpu`` or ``cuda``.
    per_channel
        Also permute each channel alone (16 more features: five times the cost).
    progress
        Progress bars.

    Returns
    -------
    dict
        The run id, the settings, :func:`by_season`'s results (``seasons``) and the partial
        dependence of :data:`EFFECT_CHANNELS` (``effects``, :func:`effects`).
    """
    run = require_trained(run)
    predict, model_config, checkpoint = model_predictor(run, resolve_device(device))
    patches = held_out_patches(workdir, run, model_config, checkpoint, max_patches, seed)
    channels = list(checkpoint.channels)
    scaling = ChannelScaling.from_dict(checkpoint.scaling)
    result = {"run_id": run.name, "repeats": repeats, "max_patches": max_patches, "seed": seed,
              "per_channel": per_channel, "effects": effects(predict, patches, channels, scaling),
              "scores": {"auc": "AUC of the susceptibility on valid cells",
                         "r_positive": "R of the density given occurrence on positive valid cells"},
              "seasons": by_season(predict, patches, features(channels, per_channel), repeats, seed, progress)}
    export.write_json(result, run / IMPORTANCE)
    return result


def ranking(result: dict[str, Any], season: str, score: str, groups_only: bool = True) -> list[str]:
    """Features of a season ordered by their mean drop of ``score`` (largest first)."""
    importance = result["seasons"][season]["importance"]
    names = [name for name in importance if not groups_only or name in GROUP_NAMES.values()]
    return sorted(names, key=lambda name: -np.nan_to_num(importance[name][score]["mean"], nan=-np.inf))


#: Channels whose effect is drawn by default: the truth's documented drivers (docs/synthetic.md).
EFFECT_CHANNELS = ("slope", "distance_to_river", "rain_max", "pga_max", "monsoons")


def shifted(image: torch.Tensor, channel: int, target: float, pixels: torch.Tensor) -> torch.Tensor:
    """A copy of ``image`` whose ``channel`` has the mean ``target`` over each patch's valid ``pixels``.

    The channel is shifted, not replaced, so its texture inside a patch (the steep and the
    gentle pixels of a cell) is kept; invalid pixels stay 0.
    """
    out = image.clone()
    counts = pixels.sum(dim=(1, 2)).clamp(min=1)
    means = (image[:, channel] * pixels).sum(dim=(1, 2)) / counts
    out[:, channel] = (image[:, channel] + (target - means)[:, None, None]) * pixels
    return out


def partial_dependence(predict: Predict, patches: Patches, channel: int, scaling: ChannelScaling,
                       quantiles: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)) -> dict[str, list[float]]:
    """Mean predicted probability and density given occurrence with one channel set to each of its quantiles.

    The quantiles are those of the channel's per-patch means over the patches (in the
    channel's own unit, ``values``); every patch gets each value in turn, its other channels
    unchanged, and the predictions are averaged over the valid cells.
    """
    size = patches.image.shape[-1] // patches.valid.shape[-1]
    pixels = torch.from_numpy(np.repeat(np.repeat(patches.valid, size, axis=1), size, axis=2)).float()
    counts = pixels.sum(dim=(1, 2)).clamp(min=1)
    means = ((patches.image[:, channel] * pixels).sum(dim=(1, 2)) / counts).numpy()
    scaled = np.quantile(means, quantiles)
    out: dict[str, list[float]] = {"quantiles": list(quantiles), "values": [], "probability": [], "density": []}
    for target in scaled:
        predicted = predict(shifted(patches.image, channel, float(target), pixels))
        out["values"].append(float(target * scaling.std[channel] + scaling.mean[channel]))
        out["probability"].append(float(predicted["probability"][patches.valid].mean()))
        out["density"].append(float(predicted["density"][patches.valid].mean()))
    return out


def effects(predict: Predict, patches: Patches, channels: list[str], scaling: ChannelScaling,
            names: tuple[str, ...] = EFFECT_CHANNELS) -> dict[str, dict[str, Any]]:
    """:func:`partial_dependence` of each named channel, over all patches, the co-seismic and the rain ones."""
    subsets = {"all": np.ones(len(patches.season), dtype=bool), "co-seismic": patches.season == "co-seismic",
               "rain": patches.season != "co-seismic"}
    return {season: {name: partial_dependence(predict, patches.take(keep), channels.index(name), scaling)
                     for name in names if name in channels}
            for season, keep in subsets.items() if keep.sum() >= 2}

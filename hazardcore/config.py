"""Typed configuration with documented bounds (param), serialisable to JSON.

Each class renders as widgets in the dashboard (``pn.Param``) and round-trips through
``to_dict`` / ``from_dict``. Defaults are METHOD.md's values; :func:`demo_config` gives
the small settings the CPU demo uses. A run is named by a short hash of its configuration.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

import numpy as np
import param

from hazardcore.errors import ConfigError, describe
from hazardcore.predictors import CHANNELS

T = TypeVar("T", bound="Config")
SMP_ARCHITECTURES = ["Unet", "UnetPlusPlus", "FPN", "Linknet", "MAnet", "PAN", "DeepLabV3Plus", "UPerNet"]


class Config(param.Parameterized):
    """Base: plain-dict round trip with clear errors for unknown keys or bad values."""

    def to_dict(self) -> dict[str, Any]:
        """Parameter values as plain JSON types."""
        return {name: value for name, value in self.param.values().items() if name != "name"}

    @classmethod
    def from_dict(cls: type[T], values: dict[str, Any]) -> T:
        """Build from a dict, refusing unknown keys and out-of-bounds values.

        Raises
        ------
        ConfigError
            Naming the key and the allowed values.
        """
        known = set(cls.param) - {"name"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(describe(f"unknown {cls.__name__} keys", expected=sorted(known), found=unknown))
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigError(describe(f"invalid {cls.__name__} value", found=str(exc))) from exc


class ModelConfig(Config):
    """The two networks (METHOD.md §5)."""

    architecture: param.Selector = param.Selector(default="Unet", objects=SMP_ARCHITECTURES,
                                  doc="segmentation-models-pytorch architecture of the susceptibility net")
    encoder_name = param.String(default="resnet18", doc="smp encoder, e.g. resnet18, resnet34, resnet50")
    encoder_depth = param.Integer(default=5, bounds=(3, 5), doc="encoder stages (each halves the size)")
    decoder_channels = param.List(default=[256, 128, 64, 32, 16], item_type=int,
                                  doc="decoder widths, one per encoder stage")
    in_channels = param.Integer(default=len(CHANNELS), bounds=(1, None), doc="predictor channels")
    patch_cells = param.Integer(default=4, bounds=(1, None), doc="cells along a patch edge")
    cell_px = param.Integer(default=32, bounds=(4, 64),
                            doc="pixels along a cell edge seen by the nets (32 = 31.25 m; 16 halves it)")
    trigger_response: param.Selector = param.Selector(
        default="structured", objects=["structured", "network"],
        doc="susceptibility's response to the period's triggers: 'structured' = a Poisson rate of co-seismic and "
            "rain-triggered failures whose spatial terms come from terrain and PGA and whose temporal terms are "
            "monotone, bounded functions of rain, monsoons since the earthquake (a decaying legacy), the "
            "earthquake indicator and the slice's length (hazardcore/trigger_response.py); 'network' = every "
            "channel into the U-Net, as in the original study")
    density_conv_channels = param.Integer(default=32, bounds=(1, None), doc="conv block width")
    density_hidden = param.List(default=[512, 256, 128, 64, 32, 16], item_type=int,
                                doc="widths of the six dense blocks")
    density_dropout = param.Number(default=0.2, bounds=(0.0, 0.9), doc="dropout in dense blocks")
    density_offset = param.Boolean(default=True, doc="scale the density given occurrence by the count factor "
                                                     "Λ/(1 − e^(−Λ)) of the susceptibility net's probability "
                                                     "(learned from every cell); the head learns the size term")
    density_head: param.Selector = param.Selector(
        default="egpd", objects=["egpd", "gamma", "lognormal", "mae"],
        doc="distribution of the density given occurrence, fitted by likelihood on positive cells (its mean "
            "is the hazard's density): extended GPD (heavy tail), Gamma, log-normal; 'mae' is the original "
            "study's loss, whose optimum is the median")


class TrainConfig(Config):
    """Staged training (METHOD.md §6)."""

    seed = param.Integer(default=0, doc="random seed (split, weights, batch order, dropout)")
    member = param.Integer(default=0, bounds=(0, None),
                           doc="ensemble member (`hazard train --members K`): seeds the weights, batch order, "
                               "augmentation and dropout apart from `seed`, which keeps the split of every member")
    bootstrap_blocks = param.Boolean(default=False,
                                     doc="train on a resample of the training blocks drawn with replacement "
                                         "(seeded by `seed` and `member`): an ensemble's members then also differ "
                                         "by the data they saw, so their spread includes the estimation error")
    batch_size = param.Integer(default=16, bounds=(1, None), doc="patches per step")
    learning_rate = param.Number(default=1e-3, bounds=(0.0, 1.0), inclusive_bounds=(False, True),
                                 doc="Adam's initial learning rate (susceptibility)")
    learning_rate_density = param.Number(default=5e-4, bounds=(0.0, 1.0), inclusive_bounds=(False, True),
                                         doc="Adam's initial learning rate (density given occurrence)")
    decay_rate = param.Number(default=0.96, bounds=(0.0, 1.0), inclusive_bounds=(False, True),
                              doc="learning rate × decay_rate every decay_steps steps")
    decay_steps = param.Integer(default=1000, bounds=(1, None))
    max_epochs_susceptibility = param.Integer(default=500, bounds=(1, None))
    max_epochs_density = param.Integer(default=200, bounds=(1, None),
                                       doc="density-given-occurrence stage (positive cells only)")
    patience = param.Integer(default=10, bounds=(1, None), doc="epochs without validation improvement "
                                                               "(susceptibility)")
    weight_average_decay = param.Number(default=0.99, bounds=(0.0, 0.9999),
                                        doc="decay of the moving average of the weights that each epoch is scored "
                                            "and kept with (0 = the live weights)")
    patience_density = param.Integer(default=20, bounds=(1, None),
                                     doc="epochs without improvement of the validation likelihood (density)")
    augment = param.Boolean(default=True, doc="random 90° rotations and reflections of training patches, "
                                              "aspect channels turned with them")
    loss: param.Selector = param.Selector(default="focal_tversky", objects=["focal_tversky", "bce"])
    tversky_alpha = param.Number(default=0.3, bounds=(0.0, 1.0), doc="weight of false positives")
    tversky_beta = param.Number(default=0.7, bounds=(0.0, 1.0), doc="weight of false negatives")
    tversky_gamma = param.Number(default=1.0, bounds=(0.1, 10.0), doc="focal exponent 1/γ")
    split_block_patches = param.Integer(default=2, bounds=(1, None),
                                        doc="spatial split: block edge in base-lattice patches")
    split: param.Selector = param.Selector(default="spatial", objects=["spatial", "random", "temporal", "forward"],
                                           doc="evaluation protocol: spatial blocks, random windows (the "
                                               "original study's, leaky), leave one slice out, or forward in time")
    validation_fraction = param.Number(default=0.15, bounds=(0.05, 0.5),
                                       doc="share of blocks (or base windows) held out for early stopping, "
                                           "calibration and the threshold")
    test_fraction = param.Number(default=0.25, bounds=(0.05, 0.5),
                                 doc="share of blocks (or base windows) held out for the reported metrics")
    cv_folds = param.Integer(default=0, bounds=(0, None),
                             doc="spatial cross-validation (`hazard cv`): the blocks are dealt into this many folds "
                                 "and fold cv_fold is the test (0 = one random block draw of test_fraction)")
    cv_fold = param.Integer(default=0, bounds=(0, None), doc="spatial cross-validation: the test fold's index")
    baseline_features: param.Selector = param.Selector(
        default="summary", objects=["summary", "quantiles"],
        doc="cell features of the tabular baselines: mean and std of each channel, or also within-cell quantiles "
            "and threshold fractions (p90 slope, share of pixels steeper than 40°, ...)")
    test_slice = param.Integer(default=-1, doc="temporal: the held-out slice; forward: the first test slice "
                                               "(negative counts from the last)")
    temporal_validation: param.Selector = param.Selector(
        default="slices", objects=["slices", "blocks"],
        doc="temporal / forward: validate (early stopping, calibration, threshold) on whole training slices "
            "nearest in time to the test, which see a change of period like the test's, or on spatial blocks "
            "of every training slice")
    validation_slice_count = param.Integer(default=2, bounds=(1, None),
                                           doc="temporal / forward with temporal_validation=slices: training "
                                               "slices held out for validation (2 = a pre- and a post-monsoon)")
    samples_per_epoch = param.Integer(default=0, bounds=(0, None),
                                      doc="training patches drawn per epoch, a fresh random subset each epoch "
                                          "(0 = all; caps epoch time on large regions)")
    validation_samples = param.Integer(default=0, bounds=(0, None),
                                       doc="validation patches scored after each epoch, one fixed random subset "
                                           "(0 = all; calibration and the threshold still use every validation cell)")
    device: param.Selector = param.Selector(default="auto", objects=["auto", "cpu", "cuda"])
    num_threads = param.Integer(default=0, bounds=(0, None), doc="CPU threads (0 = torch default)")


def weights_seed(config: TrainConfig) -> int:
    """The seed of a member's weights, batch order, augmentation and dropout (``seed`` itself for member 0)."""
    if config.member == 0:
        return int(config.seed)
    return int(np.random.SeedSequence([config.seed, config.member]).generate_state(1)[0] % 1_000_003)


def bootstrap_seed(config: TrainConfig) -> int:
    """The seed of a member's block resample (``bootstrap_blocks``): apart from its weights' seed."""
    return int(np.random.SeedSequence([config.seed, config.member, 1]).generate_state(1)[0])


def demo_configs() -> tuple[ModelConfig, TrainConfig]:
    """Small settings that train all stages on the default region in minutes on 2 CPU cores.

    Patches are seen at 64 px (16 px per cell, 2 × 2 average pooling of the 31.25 m
    lattice), the decoder is 4 stages of narrow widths, and each stage runs few epochs.
    The susceptibility loss is BCE: on the default region it ranks held-out cells better
    than focal Tversky at this short training (validation AUC 0.861 vs 0.806, oracle
    0.877; benchmarks/RESULTS.md), and its probabilities need less calibration.
    """
    model = ModelConfig(encoder_depth=4, decoder_channels=[64, 32, 16, 8], cell_px=16,
                        density_conv_channels=16, density_hidden=[128, 64, 64, 32, 32, 16], density_dropout=0.0)
    train = TrainConfig(batch_size=16, learning_rate=2e-3, decay_steps=200, max_epochs_susceptibility=12,
                        max_epochs_density=60, patience=4, patience_density=10, loss="bce")
    return model, train


#: Settings of where and how fast a run computes, not of what it computes: outside a run's identity,
#: so a model trained on a GPU is the same run (and resumes) on a CPU.
EXECUTION_SETTINGS = ("device", "num_threads")
#: Settings added after runs existed, left out of a run's identity at this value, so those runs keep their ids.
LATER_DEFAULTS = {"member": 0, "bootstrap_blocks": False}


def config_hash(*configs: Config) -> str:
    """Short stable hash of configurations (names a run folder), execution settings left out."""
    text = json.dumps([{key: value for key, value in c.to_dict().items()
                        if key not in EXECUTION_SETTINGS and LATER_DEFAULTS.get(key, None) != value}
                       for c in configs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]

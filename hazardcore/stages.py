"""The training stages as data (METHOD.md §6): what each one optimises, on which samples, by which loss.

A :class:`Stage` names the part of the model it trains, its forward pass, its objective
(loss and predictions on a batch), which training patches it sees, and the settings of
:class:`~hazardcore.config.TrainConfig` that hold its epoch limit, learning rate and
patience. :mod:`hazardcore.train` runs any registered stage the same way; a new stage is
one more :class:`Stage` in :data:`REGISTRY` (and its settings in the configuration).

* ``susceptibility``: the U-Net on presence (focal Tversky or BCE) over every valid cell;
* ``density``: the density-given-occurrence head on **positive** cells only, by the
  likelihood of its distribution, with the frozen susceptibility net's logit as its
  occurrence offset (``density_offset``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from hazardcore.config import ModelConfig, TrainConfig
from hazardcore.density_heads import expected_density, head_loss, occurrence_offset
from hazardcore.errors import ConfigError, describe
from hazardcore.losses import susceptibility_loss
from hazardcore.models import HazardModel

Batch = dict[str, torch.Tensor]
#: (stage's module, possibly wrapped for data-parallel training; image batch; the whole model) → float outputs
Forward = Callable[[torch.nn.Module, torch.Tensor, HazardModel], Batch]
#: (outputs, batch, training settings, model settings) → (loss, predictions keyed by name)
Objective = Callable[[Batch, Batch, TrainConfig, ModelConfig], tuple[torch.Tensor, Batch]]


@dataclass(frozen=True)
class Stage:
    """One training stage.

    Attributes
    ----------
    name
        Its name in logs, checkpoints and ``hazard train --stage``.
    module
        The part of the model it optimises (the rest stays as it is).
    forward
        Its forward pass on an image batch.
    objective
        Its loss and predictions (probability, or density in %) from the forward's outputs.
    positive_patches_only
        Train only on patches holding a positive valid cell.
    max_epochs_setting, learning_rate_setting, patience_setting
        The :class:`~hazardcore.config.TrainConfig` settings of its epoch limit, initial
        learning rate and early-stopping patience.
    """

    name: str
    module: Callable[[HazardModel], torch.nn.Module]
    forward: Forward
    objective: Objective
    positive_patches_only: bool
    max_epochs_setting: str
    learning_rate_setting: str
    patience_setting: str

    def max_epochs(self, config: TrainConfig) -> int:
        """Epoch limit of the stage."""
        return int(getattr(config, self.max_epochs_setting))

    def learning_rate(self, config: TrainConfig) -> float:
        """Initial learning rate of the stage."""
        return float(getattr(config, self.learning_rate_setting))

    def patience(self, config: TrainConfig) -> int:
        """Epochs without validation improvement before the stage stops."""
        return int(getattr(config, self.patience_setting))


def susceptibility_forward(module: torch.nn.Module, image: torch.Tensor, model: HazardModel) -> Batch:
    """Cell logits of the susceptibility net."""
    return {"logit": module(image).float()}


def susceptibility_objective(out: Batch, batch: Batch, config: TrainConfig,
                             model_config: ModelConfig) -> tuple[torch.Tensor, Batch]:
    """Presence loss over valid cells, and the probability."""
    logit = out["logit"]
    loss = susceptibility_loss(logit, batch["presence"], batch["valid"], config)
    return loss, {"probability": torch.sigmoid(logit)}


def density_forward(module: torch.nn.Module, image: torch.Tensor, model: HazardModel) -> Batch:
    """Raw density-head outputs and the frozen susceptibility logit of its occurrence offset.

    The logit comes from the trained (frozen, eval-mode) susceptibility net; zeros, unused,
    without ``density_offset``.
    """
    out = module(image)
    logit = frozen_logit(model, image) if model.config.density_offset else torch.zeros_like(out[..., 0])
    return {"raw": out.float(), "logit": logit}


@torch.no_grad()
def frozen_logit(model: HazardModel, image: torch.Tensor) -> torch.Tensor:
    """Cell logits of the trained susceptibility net in eval mode, without gradients."""
    model.susceptibility.eval()
    return model.susceptibility(image).float()


def density_objective(out: Batch, batch: Batch, config: TrainConfig,
                      model_config: ModelConfig) -> tuple[torch.Tensor, Batch]:
    """Likelihood of the density given occurrence on positive valid cells, and its mean (%)."""
    head = model_config.density_head
    offset = occurrence_offset(out["logit"]) if model_config.density_offset else None
    positive = batch["valid"].bool() & (batch["presence"] > 0)
    loss = head_loss(head, out["raw"], batch["density"], positive, offset)
    return loss, {"density": expected_density(head, out["raw"], offset)}


SUSCEPTIBILITY = Stage("susceptibility", lambda model: model.susceptibility, susceptibility_forward,
                       susceptibility_objective, positive_patches_only=False,
                       max_epochs_setting="max_epochs_susceptibility", learning_rate_setting="learning_rate",
                       patience_setting="patience")
DENSITY = Stage("density", lambda model: model.density, density_forward, density_objective,
                positive_patches_only=True, max_epochs_setting="max_epochs_density",
                learning_rate_setting="learning_rate_density", patience_setting="patience_density")

#: Every stage by name, in training order (later stages start from the earlier ones' best weights).
REGISTRY: dict[str, Stage] = {stage.name: stage for stage in (SUSCEPTIBILITY, DENSITY)}
STAGES = tuple(REGISTRY)
#: The values of ``hazard train --stage``: one stage, or all.
STAGE_GROUPS = {**{name: (name,) for name in STAGES}, "all": STAGES}


def stage(name: str) -> Stage:
    """The registered stage called ``name``.

    Raises
    ------
    ConfigError
        For a name that is not registered.
    """
    if name not in REGISTRY:
        raise ConfigError(describe("unknown training stage", expected=list(STAGES), found=name))
    return REGISTRY[name]


def stages_to_run(group: str) -> tuple[str, ...]:
    """Stage names of a ``hazard train --stage`` value."""
    if group not in STAGE_GROUPS:
        raise ConfigError(describe("unknown training stage", expected=sorted(STAGE_GROUPS), found=group))
    return STAGE_GROUPS[group]


def epoch_offsets(config: TrainConfig) -> dict[str, int]:
    """Epochs planned before each stage starts, and ``total`` (for progress bars: epoch limits)."""
    offsets, done = {}, 0
    for name in STAGES:
        offsets[name] = done
        done += REGISTRY[name].max_epochs(config)
    return offsets | {"total": done}


def stage_outputs(module: torch.nn.Module, name: str, image: torch.Tensor, model: HazardModel) -> Batch:
    """Forward of a stage's module (possibly wrapped for data-parallel training) as float outputs."""
    return stage(name).forward(module, image, model)


def stage_loss(model: HazardModel, name: str, batch: Batch, config: TrainConfig) -> tuple[torch.Tensor, Batch]:
    """Loss of a stage on a batch, and the predictions (probability / density on the % scale)."""
    current = stage(name)
    out = current.forward(current.module(model), batch["image"], model)
    return current.objective(out, batch, config, model.config)


def stage_samples(data: Batch, name: str) -> Batch:
    """The patches a stage trains on: those with a valid cell (and a positive one, when it asks).

    Raises
    ------
    ConfigError
        When no training patch qualifies.
    """
    positive_only = stage(name).positive_patches_only
    keep = data["valid"].flatten(1).any(dim=1)
    if positive_only:
        keep &= ((data["presence"] > 0) & data["valid"]).flatten(1).any(dim=1)
    if not keep.any():
        raise ConfigError(describe(f"stage {name} has no training patch" + (
            " with a positive cell" if positive_only else ""),
            found=f"{len(keep)} training patches", fix="use a larger region or smaller held-out fractions "
                                                         "(validation_fraction, test_fraction)"))
    return {key: value[keep] for key, value in data.items()}

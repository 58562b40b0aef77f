"""Losses over 1 km cells (METHOD.md §5): focal Tversky, binary cross-entropy, masked MAE,
and the likelihoods of the density-given-occurrence heads (:mod:`hazardcore.density_heads`).

Inputs are per-cell tensors of one shape, (B, patch_cells, patch_cells), with a boolean
``valid`` of the same shape: cells outside the study area or without data are left out
of every sum and count (their predicted and target values never matter). A batch without
any counted cell gives a zero loss that is still part of the graph (zero gradients),
never NaN.
"""

from __future__ import annotations

import torch
from torch.nn import functional

from hazardcore.config import TrainConfig
from hazardcore.errors import ConfigError, describe

SUSCEPTIBILITY_LOSSES = ("focal_tversky", "bce")


def _select(valid: torch.Tensor, *tensors: torch.Tensor) -> list[torch.Tensor]:
    """The valid entries (1-D) of tensors of ``valid``'s shape, as float."""
    keep = valid.bool()
    for tensor in tensors:
        if tensor.shape != keep.shape:
            raise ValueError(f"loss inputs must share valid's shape {tuple(keep.shape)}, "
                             f"got {tuple(tensor.shape)}")
    return [tensor[keep].float() for tensor in tensors]


def _mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of a 1-D tensor; 0 (with grad) when it is empty."""
    return values.sum() / max(values.numel(), 1)


def focal_tversky_loss(probability: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                       alpha: float = 0.3, beta: float = 0.7, gamma: float = 1.0,
                       eps: float = 1e-7) -> torch.Tensor:
    """Focal Tversky loss over the valid cells of a whole batch.

    ``TI = (Σpg + ε) / (Σpg + α Σp(1−g) + β Σ(1−p)g + ε)`` and ``FTL = (1 − TI)^(1/γ)``.

    Parameters
    ----------
    probability
        Predicted cell probabilities in [0, 1] (sigmoid of the logits, not logits: the
        Tversky index is defined on soft memberships; :func:`susceptibility_loss` applies
        the sigmoid).
    target
        0/1 labels (landslide presence).
    valid
        Boolean mask of the cells that count.
    alpha, beta
        Weights of false positives and false negatives.
    gamma
        Focal parameter; the exponent is 1/γ (γ > 1 emphasises poorly classified batches).
    eps
        Smoothing term; with no valid cell TI = ε/ε = 1 and the loss is 0.

    Returns
    -------
    torch.Tensor
        Scalar loss in [0, 1].
    """
    p, g = _select(valid, probability, target)
    true_pos = (p * g).sum()
    false_pos = (p * (1 - g)).sum()
    false_neg = ((1 - p) * g).sum()
    tversky = (true_pos + eps) / (true_pos + alpha * false_pos + beta * false_neg + eps)
    miss = (1 - tversky).clamp_min(0.0)
    # (·)^(1/γ) has an infinite slope at 0 when γ > 1: evaluate it off 0, return exactly 0 there.
    return torch.where(miss > 0, miss.clamp_min(eps) ** (1.0 / gamma), miss)


def bce_loss(logit: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy with logits over valid cells (0 when none).

    Parameters
    ----------
    logit
        Predicted cell logits.
    target
        0/1 labels.
    valid
        Boolean mask of the cells that count.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    z, g = _select(valid, logit, target)
    return _mean(functional.binary_cross_entropy_with_logits(z, g, reduction="none"))


def masked_mae(predicted: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error over valid cells (and an optional extra mask).

    Parameters
    ----------
    predicted, target
        Predicted and observed values (e.g. density in %).
    valid
        Boolean mask of the cells that count.
    mask
        Optional further boolean selection (e.g. ``target > 0`` for positives only).

    Returns
    -------
    torch.Tensor
        Scalar mean |predicted − target|; 0 (with grad) when no cell counts.
    """
    keep = valid.bool() if mask is None else valid.bool() & mask.bool()
    p, t = _select(keep, predicted, target)
    return _mean((p - t).abs())


def susceptibility_loss(output_logit: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
                        train_config: TrainConfig) -> torch.Tensor:
    """The susceptibility loss chosen by ``train_config.loss``.

    Parameters
    ----------
    output_logit
        Predicted cell logits.
    target
        0/1 labels.
    valid
        Boolean mask of the cells that count.
    train_config
        ``loss`` ("focal_tversky" on sigmoid(logit) with ``tversky_alpha``, ``tversky_beta``,
        ``tversky_gamma``; or "bce").

    Returns
    -------
    torch.Tensor
        Scalar loss.

    Raises
    ------
    ConfigError
        For an unknown loss name.
    """
    if train_config.loss == "focal_tversky":
        return focal_tversky_loss(torch.sigmoid(output_logit), target, valid,
                                  alpha=train_config.tversky_alpha, beta=train_config.tversky_beta,
                                  gamma=train_config.tversky_gamma)
    if train_config.loss == "bce":
        return bce_loss(output_logit, target, valid)
    raise ConfigError(describe("unknown susceptibility loss", expected=list(SUSCEPTIBILITY_LOSSES),
                               found=train_config.loss))

"""A structured response of landslide occurrence to a period's triggers (METHOD.md §6).

A network that sees rain, the monsoon count and the earthquake as image channels extrapolates
them without constraint: a period with heavier rain than any in training, or a fourth monsoon
after three, is answered by ReLUs and batch norm fitted elsewhere. Here occurrence is a
Poisson rate of two processes, whose spatial parts come from terrain and shaking only and whose
temporal parts are monotone, bounded functions of the period's covariates:

    log Λ_quake = s_quake(x) + f_quake(earthquake in slice)
    log Λ_rain  = s_rain(x) + f_max(rain max) + f_span(rain span) + f_total(rain total)
                  + f_days(slice days) + softplus(s_legacy(x) − f_monsoons(monsoons))
    Λ = Λ_quake + Λ_rain,  P(≥ 1 landslide) = 1 − e^(−Λ),  logit = ln(e^Λ − 1)

Every ``f`` is increasing and saturating (:class:`MonotoneCurve`), so the response to more
rain never falls and never explodes outside the training range, and the earthquake's legacy
on rain-triggered failures (``softplus(s_legacy − f_monsoons)``) can only decay as monsoons
pass. ``s_quake``, ``s_rain`` and ``s_legacy`` are per-cell outputs of a segmentation network
on the static channels (terrain, PGA).

The covariates are the cell means of the scaled image channels: the scaling is affine with a
positive factor, so monotone in the scaled value is monotone in the physical one.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from hazardcore.predictors import CHANNELS, STATIC_CHANNELS

SPATIAL_TERMS = ("quake", "rain", "legacy")
RAIN_TERMS = ("rain_max", "rain_span95", "rain_total", "slice_days")
COVARIATES = (*RAIN_TERMS, "monsoons", "earthquake_in_slice")
STATIC_INDEX = tuple(CHANNELS.index(name) for name in STATIC_CHANNELS)
COVARIATE_INDEX = tuple(CHANNELS.index(name) for name in COVARIATES)
INITIAL_LOG_RATE = math.log(0.1)  # a tenth of the cells with landslides: near the inventories' base rate


def inverse_softplus(value: float) -> float:
    """x such that softplus(x) = value (> 0)."""
    return value + math.log(-math.expm1(-value))


class MonotoneCurve(nn.Module):
    """An increasing, bounded function of one scalar: Σ_j softplus(w_j) · tanh(softplus(a_j) · (z − c_j)).

    Parameters
    ----------
    n_knots
        Number of tanh steps; their centres start evenly over [−2, 2] (standardised units).
    """

    def __init__(self, n_knots: int = 4) -> None:
        super().__init__()
        self.centre = nn.Parameter(torch.linspace(-2.0, 2.0, n_knots))
        self.raw_slope = nn.Parameter(torch.full((n_knots,), inverse_softplus(1.0)))
        self.raw_weight = nn.Parameter(torch.full((n_knots,), inverse_softplus(0.1)))

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        """f(value), same shape as ``value``."""
        steps = torch.tanh(functional.softplus(self.raw_slope) * (value[..., None] - self.centre))
        return (functional.softplus(self.raw_weight) * steps).sum(dim=-1)

    def bound(self) -> torch.Tensor:
        """sup |f|: the most the term can add to or take from a log rate."""
        return functional.softplus(self.raw_weight).sum()


def cell_means(image: torch.Tensor, cell_px: int) -> torch.Tensor:
    """Mean of each channel over each cell: (B, C, P, P) → (B, C, n, n)."""
    return functional.avg_pool2d(image, kernel_size=cell_px, stride=cell_px)


def logit_of_rate(log_rate: torch.Tensor) -> torch.Tensor:
    """ln(e^Λ − 1), the logit of P(N ≥ 1) = 1 − e^(−Λ), from ln Λ, stable for small and large Λ."""
    rate = torch.exp(log_rate.clamp(max=30.0))
    small = log_rate + torch.log1p(rate / 2 + rate**2 / 6)  # ln(Λ (1 + Λ/2 + Λ²/6 + …)), Λ < 1e-2
    large = rate + torch.log(-torch.expm1(-rate.clamp(min=1e-2)))
    return torch.where(rate < 1e-2, small, large)


class TriggerResponse(nn.Module):
    """The period's part of the log rate, from the spatial terms and the cells' covariates."""

    def __init__(self, n_knots: int = 4) -> None:
        super().__init__()
        self.curves = nn.ModuleDict({name: MonotoneCurve(n_knots) for name in COVARIATES})
        self.bias = nn.Parameter(torch.full((2,), INITIAL_LOG_RATE))

    def log_rates(self, spatial: torch.Tensor, covariates: torch.Tensor) -> dict[str, torch.Tensor]:
        """ln Λ of each process per cell.

        Parameters
        ----------
        spatial
            (B, 3, n, n): ``s_quake``, ``s_rain``, ``s_legacy``.
        covariates
            (B, len(COVARIATES), n, n) cell means of the scaled covariate channels.

        Returns
        -------
        dict of str to Tensor
            ``quake`` and ``rain`` (B, n, n).
        """
        z = {name: covariates[:, i] for i, name in enumerate(COVARIATES)}
        rain = sum((self.curves[name](z[name]) for name in RAIN_TERMS), torch.zeros_like(spatial[:, 1]))
        legacy = functional.softplus(spatial[:, 2] - self.curves["monsoons"](z["monsoons"]))
        return {"quake": self.bias[0] + spatial[:, 0] + self.curves["earthquake_in_slice"](z["earthquake_in_slice"]),
                "rain": self.bias[1] + spatial[:, 1] + rain + legacy}

    def forward(self, spatial: torch.Tensor, covariates: torch.Tensor) -> torch.Tensor:
        """Per-cell logit of occurrence (B, n, n)."""
        rates = self.log_rates(spatial, covariates)
        return logit_of_rate(torch.logaddexp(rates["quake"], rates["rain"]))

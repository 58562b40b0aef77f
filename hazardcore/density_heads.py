"""Distributions of the landslide area density given occurrence (METHOD.md §1, §5).

The density head predicts, per 1 km cell, the parameters of a distribution of the new
landslide area density (% of the cell) *given that landslides occur*. Hazard needs its
**mean** (hazard = P(occurrence) × E[density | occurrence] is then the expected density),
so every head is trained by maximum likelihood on positive cells and its mean is derived
analytically from the fitted parameters:

==========  =====================================  ===================================  ============================
head        raw outputs → parameters               negative log-likelihood of y > 0      mean
==========  =====================================  ===================================  ============================
lognormal   μ = a, σ = softplus(b)                 ln y + ln σ + ½ln 2π + ½((ln y − μ)/σ)²  exp(μ + σ²/2)
gamma       m = exp(a), k = softplus(b)            −k ln(k/m) − (k−1) ln y + k y/m + ln Γ(k)   m
egpd        σ = softplus(a), ξ ∈ (0.01, 0.9),       −ln f, f = κ/σ h(y/σ) H(y/σ)^(κ−1)     σ/ξ (κ B(κ, 1−ξ) − 1)
            κ = softplus(c)
mae         d = softplus(a)                        |y − d| (the paper's loss)             d (a median, not a mean)
==========  =====================================  ===================================  ============================

The extended generalised Pareto distribution (eGPD, Naveau et al. 2016, model i) is the
GPD ``H(z) = 1 − (1 + ξz)^(−1/ξ)`` raised to a power κ: its lower tail behaves like
``y^κ`` and its upper tail is the GPD's, so one law covers the small and the extreme
densities. Its mean follows from ``X = σ/ξ((1 − V)^(−ξ) − 1)`` with ``V ~ Beta(κ, 1)``:
``E[(1 − V)^(−ξ)] = κ B(κ, 1 − ξ)``, finite for ξ < 1.

MAE (the original study's density loss) is kept for comparison: its optimum is the
conditional *median*, which for the heavy-tailed size law is half to three quarters of the
mean, so its hazard is biased low.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional

from hazardcore.errors import ConfigError, describe

DENSITY_HEADS = ("egpd", "gamma", "lognormal", "mae")
N_PARAMETERS = {"gamma": 2, "lognormal": 2, "egpd": 3, "mae": 1}
MIN_POSITIVE = 1e-3  # floor of the softplus outputs (scale, shape): keeps likelihoods finite
MAX_LOG_MEAN = math.log(100.0)  # a density given occurrence cannot exceed 100 % of the cell
XI_RANGE = (0.01, 0.9)
MAX_SIGMA_LOGNORMAL = 2.5


def check_head(head: str) -> None:
    """Refuse an unknown head name.

    Raises
    ------
    ConfigError
        Naming the known heads.
    """
    if head not in DENSITY_HEADS:
        raise ConfigError(describe("unknown density head", expected=list(DENSITY_HEADS), found=head,
                                   fix="set ModelConfig.density_head (hazard train --set density_head=gamma)"))


def _positive(raw: torch.Tensor) -> torch.Tensor:
    return functional.softplus(raw) + MIN_POSITIVE


def parameters(head: str, raw: torch.Tensor, log_offset: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Distribution parameters of a head from its raw outputs (..., n_parameters), float32.

    ``log_offset`` (..., optional) scales the distribution by ``exp(log_offset)``: every head
    is a scale family, so its mean is multiplied by that factor (see :func:`occurrence_offset`).
    """
    check_head(head)
    raw = raw.float()
    offset = torch.zeros_like(raw[..., 0]) if log_offset is None else log_offset.float()
    if head == "gamma":
        return {"log_mean": (raw[..., 0] + offset).clamp(max=MAX_LOG_MEAN), "shape": _positive(raw[..., 1])}
    if head == "lognormal":
        return {"mu": raw[..., 0] + offset, "sigma": _positive(raw[..., 1]).clamp(max=MAX_SIGMA_LOGNORMAL)}
    if head == "egpd":
        low, high = XI_RANGE
        return {"scale": _positive(raw[..., 0]) * offset.exp(), "xi": low + (high - low) * torch.sigmoid(raw[..., 1]),
                "kappa": _positive(raw[..., 2])}
    return {"median": (_positive(raw[..., 0]) - MIN_POSITIVE) * offset.exp()}


def occurrence_offset(logit: torch.Tensor) -> torch.Tensor:
    """``ln(Λ / (1 − e^(−Λ)))`` with ``Λ = −ln(1 − σ(logit))``: the count part of the density given occurrence.

    If landslides arrive as a Poisson count of rate Λ with independent sizes, the density
    given at least one is ``E[N | N ≥ 1] · size = Λ / (1 − e^(−Λ)) · size``, and
    ``P(N ≥ 1) = 1 − e^(−Λ)``. With Λ from the occurrence network (trained on every cell),
    the density head only has to learn the size term from the positive cells. The factor
    is 1 for rare occurrence and grows like Λ where occurrence is near certain.
    """
    probability = torch.sigmoid(logit.float()).clamp(1e-6, 1 - 1e-6)
    rate = -torch.log1p(-probability)
    return torch.log(rate / probability)


def mean(head: str, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """E[density | occurrence] (%) of the fitted distribution (the median for ``mae``), ≤ 100."""
    if head == "gamma":
        value = params["log_mean"].exp()
    elif head == "lognormal":
        value = (params["mu"] + 0.5 * params["sigma"] ** 2).clamp(max=MAX_LOG_MEAN).exp()
    elif head == "egpd":
        scale, xi, kappa = params["scale"], params["xi"], params["kappa"]
        log_beta = torch.lgamma(kappa) + torch.lgamma(1 - xi) - torch.lgamma(kappa + 1 - xi)
        value = scale / xi * (kappa * log_beta.exp() - 1)
    else:
        value = params["median"]
    return value.clamp(max=100.0)


def expected_density(head: str, raw: torch.Tensor, log_offset: torch.Tensor | None = None) -> torch.Tensor:
    """E[density | occurrence] (%) of raw head outputs (..., n_parameters) and an optional log offset."""
    return mean(head, parameters(head, raw, log_offset))


def survival(head: str, params: dict[str, torch.Tensor], threshold: float) -> torch.Tensor:
    """P(density > ``threshold`` % | occurrence) per cell of the fitted distribution.

    gamma: the regularised upper incomplete gamma Q(k, k x / m); lognormal: ½ erfc((ln x − μ)
    / (σ √2)); eGPD: 1 − H(x/σ)^κ; ``mae`` (a point, not a distribution): 1 where the
    median exceeds x, else 0.
    """
    if threshold <= 0:
        raise ConfigError(describe("an exceedance threshold must be a positive density", found=threshold,
                                   expected="% of the cell, > 0 (e.g. 1, 5, 10)", fix="pass positive thresholds"))
    if head == "gamma":
        shape = params["shape"].double()
        return torch.special.gammaincc(shape, threshold * shape / params["log_mean"].double().exp()).float()
    if head == "lognormal":
        z = (math.log(threshold) - params["mu"]) / (params["sigma"] * math.sqrt(2.0))
        return 0.5 * torch.special.erfc(z)
    if head == "egpd":
        log_tail = -torch.log1p(params["xi"] * threshold / params["scale"]) / params["xi"]  # ln(1 − H(x/σ))
        return -torch.expm1(params["kappa"] * torch.log1p(-log_tail.exp().clamp(max=1 - 1e-12)))
    return (params["median"] > threshold).float()


def sample(head: str, params: dict[str, torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """One draw of the density given occurrence (%) per cell from the fitted distribution.

    Raises
    ------
    ConfigError
        For the ``mae`` head, which fits a point (the median), not a distribution.
    """
    if head == "gamma":
        rate = params["shape"] / params["log_mean"].exp()
        return torch._standard_gamma(params["shape"].double(), generator=generator).float() / rate
    if head == "lognormal":
        z = torch.randn(params["mu"].shape, generator=generator)
        return (params["mu"] + params["sigma"] * z).exp()
    if head == "egpd":
        v = torch.rand(params["scale"].shape, generator=generator) ** (1 / params["kappa"])
        return params["scale"] / params["xi"] * ((1 - v).clamp_min(1e-12) ** -params["xi"] - 1)
    raise ConfigError(describe("the mae head has no predictive distribution to sample", found=head,
                               fix="use a likelihood head (gamma, lognormal, egpd)"))


def negative_log_likelihood(head: str, params: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """Per-cell −ln f(y) of positive densities ``y`` (%; the ``mae`` head gives |y − d|)."""
    y = y.float().clamp_min(1e-6)
    if head == "gamma":
        k, log_m = params["shape"], params["log_mean"]
        return -k * (k.log() - log_m) - (k - 1) * y.log() + k * y * (-log_m).exp() + torch.lgamma(k)
    if head == "lognormal":
        mu, sigma = params["mu"], params["sigma"]
        z = (y.log() - mu) / sigma
        return y.log() + sigma.log() + 0.5 * math.log(2 * math.pi) + 0.5 * z**2
    if head == "egpd":
        scale, xi, kappa = params["scale"], params["xi"], params["kappa"]
        log_tail = -torch.log1p(xi * y / scale) / xi  # ln(1 − H(y/σ))
        log_cdf = torch.log(-torch.expm1(log_tail).clamp(max=-1e-12))  # ln H(y/σ), finite as y → 0
        return -(kappa.log() - scale.log() + (1 + xi) * log_tail + (kappa - 1) * log_cdf)
    return (y - params["median"]).abs()


def head_loss(head: str, raw: torch.Tensor, target: torch.Tensor, keep: torch.Tensor,
              log_offset: torch.Tensor | None = None) -> torch.Tensor:
    """Mean per-cell loss of a head over the cells where ``keep`` is True (0 with grad when none).

    Parameters
    ----------
    head
        One of :data:`DENSITY_HEADS`.
    raw
        Raw head outputs (B, n, n, n_parameters).
    target
        Observed density (%), (B, n, n).
    keep
        Boolean (B, n, n): the valid positive cells.
    log_offset
        Optional (B, n, n) log scale of the distribution (:func:`occurrence_offset`).

    Returns
    -------
    torch.Tensor
        Scalar mean negative log-likelihood (or MAE).
    """
    keep = keep.bool()
    params = parameters(head, raw[keep], None if log_offset is None else log_offset[keep])
    values = negative_log_likelihood(head, params, target[keep])
    return values.sum() / max(values.numel(), 1)

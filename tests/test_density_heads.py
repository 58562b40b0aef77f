"""Density-given-occurrence heads against scipy's distributions on known parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from hazardcore import density_heads
from hazardcore.errors import ConfigError

Y = torch.tensor([0.02, 0.3, 1.0, 4.5, 27.0], dtype=torch.float64)


def as_tensors(**values: float) -> dict[str, torch.Tensor]:
    return {name: torch.full_like(Y, value) for name, value in values.items()}


def egpd_logpdf(y: np.ndarray, scale: float, xi: float, kappa: float) -> np.ndarray:
    """ln f of the eGPD (Naveau et al. 2016, model i) from scipy's GPD: κ h(y) H(y)^(κ−1)."""
    gpd = stats.genpareto(c=xi, scale=scale)
    return np.log(kappa) + gpd.logpdf(y) + (kappa - 1) * gpd.logcdf(y)


def test_gamma_likelihood_and_mean_match_scipy() -> None:
    params = {"log_mean": torch.full_like(Y, math.log(2.5)), "shape": torch.full_like(Y, 0.7)}
    expected = -stats.gamma(a=0.7, scale=2.5 / 0.7).logpdf(Y.numpy())
    got = density_heads.negative_log_likelihood("gamma", params, Y).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert density_heads.mean("gamma", params)[0].item() == pytest.approx(2.5)


def test_lognormal_likelihood_and_mean_match_scipy() -> None:
    params = as_tensors(mu=-0.4, sigma=1.3)
    law = stats.lognorm(s=1.3, scale=math.exp(-0.4))
    np.testing.assert_allclose(density_heads.negative_log_likelihood("lognormal", params, Y).numpy(),
                               -law.logpdf(Y.numpy()), rtol=1e-5)
    assert density_heads.mean("lognormal", params)[0].item() == pytest.approx(law.mean(), rel=1e-6)


@pytest.mark.parametrize(("scale", "xi", "kappa"), [(0.8, 0.35, 0.6), (2.0, 0.1, 1.0), (0.3, 0.7, 2.5)])
def test_egpd_likelihood_and_mean_match_scipy(scale: float, xi: float, kappa: float) -> None:
    params = as_tensors(scale=scale, xi=xi, kappa=kappa)
    np.testing.assert_allclose(density_heads.negative_log_likelihood("egpd", params, Y).numpy(),
                               -egpd_logpdf(Y.numpy(), scale, xi, kappa), rtol=1e-5)
    numeric_mean, _ = integrate.quad(lambda y: y * math.exp(egpd_logpdf(np.array(y), scale, xi, kappa)), 0,
                                     np.inf, limit=500)
    assert density_heads.mean("egpd", params)[0].item() == pytest.approx(numeric_mean, rel=1e-6)


def test_mae_head_is_the_absolute_error() -> None:
    params = {"median": torch.full_like(Y, 1.5)}
    assert density_heads.negative_log_likelihood("mae", params, Y).tolist() == pytest.approx(
        (Y - 1.5).abs().tolist())


@pytest.mark.parametrize("head", density_heads.DENSITY_HEADS)
def test_raw_outputs_give_valid_parameters_and_a_finite_loss(head: str) -> None:
    k = density_heads.N_PARAMETERS[head]
    raw = torch.linspace(-30, 30, 8 * k).reshape(2, 2, 2, k).requires_grad_()
    target = torch.tensor([[[0.01, 3.0], [80.0, 0.0]], [[0.5, 1.0], [2.0, 0.0]]])
    keep = target > 0
    loss = density_heads.head_loss(head, raw, target, keep)
    loss.backward()
    assert torch.isfinite(loss) and raw.grad is not None and torch.isfinite(raw.grad).all()
    assert (raw.grad[~keep] == 0).all()  # cells without landslides do not train the head
    mean = density_heads.expected_density(head, raw.detach())
    assert torch.isfinite(mean).all() and (mean >= 0).all() and (mean <= 100).all()


def fitted_mean(head: str, sample: torch.Tensor, steps: int = 1500) -> float:
    """Mean of one distribution fitted by the head's loss to ``sample`` (Adam on the raw outputs)."""
    raw = torch.zeros(density_heads.N_PARAMETERS[head], requires_grad=True)
    optimiser = torch.optim.Adam([raw], lr=0.05)
    keep = torch.ones_like(sample, dtype=torch.bool)
    for _ in range(steps):
        optimiser.zero_grad()
        density_heads.head_loss(head, raw.expand(len(sample), -1), sample, keep).backward()
        optimiser.step()
    return float(density_heads.expected_density(head, raw.detach()))


def test_a_maximum_likelihood_fit_recovers_the_sample_mean_and_mae_the_median() -> None:
    """The point of the heads: their fitted mean is the mean, MAE's optimum is the median."""
    sample = torch.from_numpy(stats.lognorm(s=1.4, scale=0.6).rvs(2000, random_state=1)).float()
    assert fitted_mean("gamma", sample) == pytest.approx(sample.mean().item(), rel=0.01)  # exact for Gamma MLE
    assert fitted_mean("lognormal", sample) == pytest.approx(sample.mean().item(), rel=0.05)
    median = fitted_mean("mae", sample)
    assert median == pytest.approx(sample.median().item(), rel=0.05) and median < 0.5 * sample.mean().item()


def test_an_egpd_fit_to_egpd_data_recovers_its_mean() -> None:
    scale, xi, kappa = 0.6, 0.25, 0.8
    v = np.random.default_rng(2).uniform(size=20_000) ** (1 / kappa)
    sample = torch.from_numpy(scale / xi * ((1 - v) ** -xi - 1)).float()
    true_mean = density_heads.mean("egpd", {name: torch.tensor(value, dtype=torch.float64) for name, value in
                                            {"scale": scale, "xi": xi, "kappa": kappa}.items()}).item()
    assert fitted_mean("egpd", sample, steps=2500) == pytest.approx(true_mean, rel=0.05)


def test_an_unknown_head_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown density head"):
        density_heads.parameters("weibull", torch.zeros(1, 2))


#: One law per likelihood head, with the parameters the sampling tests draw from.
LAWS = [("gamma", {"log_mean": math.log(1.7), "shape": 0.6}), ("lognormal", {"mu": -0.3, "sigma": 0.9}),
        ("egpd", {"scale": 0.6, "xi": 0.2, "kappa": 0.8})]


@pytest.mark.parametrize(("head", "params"), LAWS)
def test_draws_follow_the_fitted_law(head: str, params: dict[str, float]) -> None:
    tensors = {name: torch.full((200_000,), value) for name, value in params.items()}
    draws = density_heads.sample(head, tensors, torch.Generator().manual_seed(3))
    assert (draws >= 0).all() and draws.median() > 0
    assert draws.mean().item() == pytest.approx(density_heads.mean(head, tensors)[0].item(), rel=0.02)


@pytest.mark.parametrize(("head", "params"), LAWS)
def test_exceedance_probabilities_match_the_draws_of_the_same_law(head: str, params: dict[str, float]) -> None:
    """P(density > x | occurrence) of the closed forms against the share of 200,000 draws above x."""
    tensors = {name: torch.full((200_000,), value) for name, value in params.items()}
    draws = density_heads.sample(head, tensors, torch.Generator().manual_seed(4))
    one = {name: value[:1] for name, value in tensors.items()}
    levels = [0.1, 1.0, 5.0, 10.0]
    survival = [density_heads.survival(head, one, x).item() for x in levels]
    for x, value in zip(levels, survival, strict=True):
        assert value == pytest.approx((draws > x).float().mean().item(), abs=0.004)
    assert survival == sorted(survival, reverse=True) and survival[0] < 1.0


def test_a_median_head_exceeds_a_threshold_all_or_nothing_and_thresholds_must_be_positive() -> None:
    median = {"median": torch.tensor([0.5, 3.0])}
    assert density_heads.survival("mae", median, 1.0).tolist() == [0.0, 1.0]
    with pytest.raises(ConfigError, match="positive density"):
        density_heads.survival("gamma", {"log_mean": torch.zeros(1), "shape": torch.ones(1)}, 0.0)


def test_the_occurrence_offset_is_the_poisson_count_factor() -> None:
    """E[N | N ≥ 1] = Λ / (1 − e^(−Λ)) for N ~ Poisson(Λ), with P(N ≥ 1) = σ(logit)."""
    rates = np.array([0.01, 0.5, 2.0, 6.0])
    probability = 1 - np.exp(-rates)
    logit = torch.tensor(np.log(probability / (1 - probability)))
    counts = stats.poisson(rates[:, None]).pmf(np.arange(1, 80)[None, :])
    conditional_mean = (counts * np.arange(1, 80)).sum(axis=1) / probability
    np.testing.assert_allclose(density_heads.occurrence_offset(logit).exp().numpy(), conditional_mean, rtol=1e-4)

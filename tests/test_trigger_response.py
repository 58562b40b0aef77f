"""The structured trigger response: monotone and bounded in the period's covariates (issue: when)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hazardcore.config import demo_configs
from hazardcore.errors import ConfigError
from hazardcore.models import StructuredSusceptibilityNet, build_model
from hazardcore.predictors import CHANNELS
from hazardcore.trigger_response import MonotoneCurve, TriggerResponse, logit_of_rate


def randomised(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter drawn at random (a trained net is not at its initial values)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 1.5)
    return module


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_monotone_curve_is_increasing_and_bounded(seed: int) -> None:
    curve = randomised(MonotoneCurve(6), seed)
    z = torch.linspace(-1000.0, 1000.0, 20001)
    values = curve(z).detach()
    assert (torch.diff(values) >= -1e-6).all()
    bound = float(curve.bound().detach())
    assert values.abs().max() <= bound + 1e-5 and values[-1] - values[0] > 0.5 * bound


def test_logit_of_rate_matches_float64_reference() -> None:
    log_rate = torch.linspace(-25.0, 3.5, 400)
    expected = torch.log(torch.expm1(torch.exp(log_rate.double())))
    torch.testing.assert_close(logit_of_rate(log_rate).double(), expected, rtol=1e-5, atol=1e-5)


def image_with(base: torch.Tensor, channel: str, value: float) -> torch.Tensor:
    image = base.clone()
    image[:, CHANNELS.index(channel)] = value
    return image


@pytest.mark.parametrize("seed", [3, 4])
def test_structured_net_is_monotone_in_rain_and_decays_with_monsoons(seed: int) -> None:
    """More rain never lowers occurrence; more monsoons since the earthquake never raise it; far outside the
    training range (50 standard deviations) the logit moves by no more than the curves' bounds."""
    model, _ = demo_configs()
    torch.manual_seed(seed)
    net = randomised(StructuredSusceptibilityNet(model), seed).eval()
    base = torch.randn(3, len(CHANNELS), 64, 64)
    with torch.no_grad():
        for channel, sign in (("rain_max", 1), ("rain_total", 1), ("rain_span95", 1), ("slice_days", 1),
                              ("earthquake_in_slice", 1), ("monsoons", -1)):
            logits = torch.stack([net(image_with(base, channel, v)) for v in np.linspace(-3, 50, 12)])
            steps = torch.diff(logits, dim=0) * sign
            assert (steps >= -1e-4).all(), channel
        rain = [net(image_with(base, "rain_max", v)) for v in (3.0, 50.0)]
        bound = float(net.response.curves["rain_max"].bound().detach())
        assert (rain[1] - rain[0]).abs().max() <= bound * 1.01 + 1e-4  # Λ_rain ≤ e^bound Λ_rain and Λ ≥ Λ_rain


def test_structured_net_needs_every_channel_and_is_the_default() -> None:
    model, _ = demo_configs()
    assert model.trigger_response == "structured"
    assert isinstance(build_model(model, "susceptibility"), StructuredSusceptibilityNet)
    model.in_channels = 13
    with pytest.raises(ConfigError, match="every predictor channel"):
        StructuredSusceptibilityNet(model)


def test_quake_term_switches_off_without_an_earthquake() -> None:
    """A large earthquake curve separates the two cases: the quake process' rate falls by e^(2·bound) at most."""
    response = TriggerResponse()
    spatial = torch.zeros(1, 3, 2, 2)
    covariates = torch.zeros(1, 6, 2, 2)
    with torch.no_grad():
        response.curves["earthquake_in_slice"].raw_weight.fill_(5.0)
        response.curves["earthquake_in_slice"].centre.zero_()
        on = response.log_rates(spatial, covariates + torch.tensor([0, 0, 0, 0, 0, 3.0])[None, :, None, None])
        off = response.log_rates(spatial, covariates + torch.tensor([0, 0, 0, 0, 0, -3.0])[None, :, None, None])
    drop = (on["quake"] - off["quake"]).max().item()
    bound = 2 * response.curves["earthquake_in_slice"].bound().item()
    assert 0.9 * bound < drop <= bound
    torch.testing.assert_close(on["rain"], off["rain"])

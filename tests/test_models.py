"""The networks: shapes, per-cell reduction by hand, cell locality, a training step, config checks."""

from collections.abc import Callable

import pytest
import torch
from torch import nn

from hazardcore.config import ModelConfig, demo_configs
from hazardcore.density_heads import head_loss
from hazardcore.errors import CheckpointError, ConfigError
from hazardcore.losses import focal_tversky_loss
from hazardcore.models import (
    MODEL_KINDS,
    DensityNet,
    HazardModel,
    SusceptibilityNet,
    build_model,
    check_input,
    patch_to_cells,
)
from hazardcore.predictors import CHANNELS


def demo_model_config(**changes: object) -> ModelConfig:
    config = demo_configs()[0]
    config.param.update(**changes)
    return config


class FixedPixels(nn.Module):
    """Stands in for the smp model: returns known per-pixel logits (1, 1, P, P)."""

    def __init__(self, pixels: torch.Tensor) -> None:
        super().__init__()
        self.pixels = pixels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.pixels.expand(image.shape[0], 1, *self.pixels.shape[-2:])


@pytest.mark.parametrize("make_config", [ModelConfig, lambda: demo_configs()[0]], ids=["default", "demo"])
def test_hazard_model_shapes(make_config: Callable[[], ModelConfig]) -> None:
    torch.manual_seed(0)
    config = make_config()
    size = config.patch_cells * config.cell_px
    model = build_model(config).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 16, size, size))
    assert set(out) == {"logit", "probability", "density", "hazard"}
    for value in out.values():
        assert value.shape == (2, 4, 4)
    assert (out["density"] >= 0).all()
    torch.testing.assert_close(out["probability"], torch.sigmoid(out["logit"]))
    torch.testing.assert_close(out["hazard"], out["probability"] * out["density"])


def test_cell_logit_is_block_mean_of_pixel_logits() -> None:
    config = demo_model_config()  # 4 × 4 cells of 16 px: P = 64
    net = SusceptibilityNet(config)
    # a ramp: pixel (r, c) holds 64 r + c, so block (i, j) holds rows 16i..16i+15, cols 16j..16j+15
    ramp = torch.arange(64 * 64, dtype=torch.float32).reshape(1, 1, 64, 64)
    net.net = FixedPixels(ramp)
    logits = net(torch.zeros(3, 16, 64, 64))
    assert logits.shape == (3, 4, 4)
    for i in range(4):
        for j in range(4):
            by_hand = 64 * (16 * i + 7.5) + (16 * j + 7.5)  # mean row 16i + 7.5, mean col 16j + 7.5
            assert logits[1, i, j].item() == pytest.approx(by_hand)
    # a constant per block comes back exactly
    constants = torch.arange(16, dtype=torch.float32).reshape(4, 4) - 8.0
    net.net = FixedPixels(constants.repeat_interleave(16, 0).repeat_interleave(16, 1)[None, None])
    torch.testing.assert_close(net(torch.zeros(1, 16, 64, 64))[0], constants)


def test_patch_to_cells_order() -> None:
    image = torch.randn(2, 3, 8, 8)
    cells = patch_to_cells(image, 4)
    assert cells.shape == (8, 3, 4, 4)
    torch.testing.assert_close(cells[4 + 2 * 1 + 1], image[1, :, 4:8, 4:8])  # patch 1, cell (1, 1)
    torch.testing.assert_close(cells[1], image[0, :, 0:4, 4:8])  # patch 0, cell (0, 1)


def test_density_cell_depends_only_on_its_own_pixels() -> None:
    torch.manual_seed(1)
    net = DensityNet(demo_model_config()).eval()
    image = torch.randn(2, 16, 64, 64)
    changed = image.clone()
    changed[1, :, 16:32, 32:48] += 3.0  # patch 1, cell (1, 2)
    with torch.no_grad():
        before, after = net(image), net(changed)
    differs = ((before - after).abs() > 0).any(dim=-1)  # any of the head's parameters
    expected = torch.zeros(2, 4, 4, dtype=torch.bool)
    expected[1, 1, 2] = True
    assert torch.equal(differs, expected)


def _train_steps(model: nn.Module, loss_of: Callable[[nn.Module], torch.Tensor], steps: int) -> list[float]:
    """Adam steps on one fixed batch; each loss is measured with the same dropout masks."""
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        torch.manual_seed(123)
        loss = loss_of(model)
        losses.append(loss.item())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    torch.manual_seed(123)
    losses.append(loss_of(model).item())
    return losses


def test_training_steps_lower_both_losses() -> None:
    torch.manual_seed(0)
    config = demo_model_config()
    image = torch.randn(4, 16, 64, 64)
    presence = (torch.rand(4, 4, 4) < 0.3).float()
    density = presence * torch.rand(4, 4, 4) * 5.0
    valid = torch.rand(4, 4, 4) < 0.9
    model = HazardModel(config).train()
    susceptibility = _train_steps(model.susceptibility, lambda m: focal_tversky_loss(
        torch.sigmoid(m(image)), presence, valid), steps=3)
    assert susceptibility[-1] < susceptibility[0]
    density_losses = _train_steps(model.density, lambda m: head_loss(config.density_head, m(image), density,
                                                                     valid & (presence > 0)), steps=3)
    assert density_losses[-1] < density_losses[0]


@pytest.mark.parametrize("architecture", ["UnetPlusPlus", "FPN", "DeepLabV3Plus"])
def test_other_architectures_and_encoder_from_config(architecture: str) -> None:
    config = ModelConfig(architecture=architecture, encoder_name="resnet34", patch_cells=2, cell_px=16)
    net = build_model(config, "susceptibility").eval()
    with torch.no_grad():
        assert net(torch.randn(1, 16, 32, 32)).shape == (1, 2, 2)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="one width per encoder stage"):
        SusceptibilityNet(ModelConfig(encoder_depth=5, decoder_channels=[32, 16]))
    with pytest.raises(ConfigError, match="divisible"):
        SusceptibilityNet(ModelConfig(cell_px=12, patch_cells=2))
    with pytest.raises(ConfigError, match="unknown model kind") as info:
        build_model(ModelConfig(), "timing")
    assert all(kind in str(info.value) for kind in MODEL_KINDS)
    with pytest.raises(ConfigError, match="density_hidden"):
        DensityNet(ModelConfig(density_hidden=[]))


def test_depth_shorter_than_decoder_list_uses_leading_widths() -> None:
    net = SusceptibilityNet(ModelConfig(encoder_depth=3, patch_cells=1, cell_px=16))
    assert net(torch.randn(2, 16, 16, 16)).shape == (2, 1, 1)


def test_check_input_explains_mismatch() -> None:
    config = demo_model_config()
    check_input(config, list(CHANNELS), (8, 16, 64, 64))
    with pytest.raises(CheckpointError, match="16 channels") as info:
        check_input(config, list(CHANNELS[:12]), (12, 64, 64))
    assert "fix:" in str(info.value)
    with pytest.raises(CheckpointError, match="patch_cells=4, cell_px=16") as info:
        check_input(config, list(CHANNELS), (8, 16, 128, 128))
    assert "(8, 16, 128, 128)" in str(info.value) and "fix:" in str(info.value)
    with pytest.raises(CheckpointError):
        build_model(config, "density")(torch.zeros(1, 16, 128, 128))

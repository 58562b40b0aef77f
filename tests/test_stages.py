"""The stage registry: settings, sample filters and objectives of each stage, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_train import tiny_configs

from hazardcore.config import TrainConfig, demo_configs
from hazardcore.errors import ConfigError
from hazardcore.models import HazardModel, build_model
from hazardcore.stages import REGISTRY, STAGE_GROUPS, STAGES, epoch_offsets, stage, stage_loss, stage_samples
from hazardcore.train import train


def test_each_stage_reads_its_own_settings() -> None:
    config = TrainConfig(max_epochs_susceptibility=7, max_epochs_density=11, learning_rate=0.01,
                         learning_rate_density=0.002, patience=3, patience_density=5)
    found = {name: (s.max_epochs(config), s.learning_rate(config), s.patience(config)) for name, s in REGISTRY.items()}
    assert found == {"susceptibility": (7, 0.01, 3), "density": (11, 0.002, 5)}
    assert epoch_offsets(config) == {"susceptibility": 0, "density": 7, "total": 18}
    assert epoch_offsets(demo_configs()[1]) == {"susceptibility": 0, "density": 12, "total": 72}


def test_the_groups_are_each_stage_and_all_in_training_order() -> None:
    assert STAGES == ("susceptibility", "density")
    assert STAGE_GROUPS == {"susceptibility": ("susceptibility",), "density": ("density",), "all": STAGES}


def patches() -> dict[str, torch.Tensor]:
    """Three 2×2-cell patches: a valid positive cell; a positive cell that is invalid; no positive cell."""
    presence = torch.tensor([[[1, 0], [0, 0]], [[0, 1], [0, 0]], [[0, 0], [0, 0]]], dtype=torch.float32)
    valid = torch.tensor([[[1, 1], [1, 1]], [[1, 0], [1, 1]], [[1, 1], [0, 0]]], dtype=torch.bool)
    return {"presence": presence, "valid": valid, "density": presence * 3.0, "image": torch.arange(3.0)}


def test_density_trains_only_on_patches_with_a_valid_positive_cell() -> None:
    assert stage_samples(patches(), "density")["image"].tolist() == [0.0]
    assert stage_samples(patches(), "susceptibility")["image"].tolist() == [0.0, 1.0, 2.0]
    none = patches() | {"valid": torch.zeros(3, 2, 2, dtype=torch.bool)}
    with pytest.raises(ConfigError, match="stage susceptibility has no training patch"):
        stage_samples(none, "susceptibility")


def test_density_loss_ignores_negative_cells_and_susceptibility_loss_does_not() -> None:
    model_config, train_config = tiny_configs()
    torch.manual_seed(0)
    model = build_model(model_config, "hazard")
    assert isinstance(model, HazardModel)
    model.eval()
    size = 4 * model_config.cell_px
    presence = torch.zeros(2, 4, 4)
    presence[0, 1, 2] = 1.0
    batch = {"image": torch.randn(2, model_config.in_channels, size, size), "presence": presence,
             "valid": torch.ones(2, 4, 4, dtype=torch.bool), "density": presence * 2.5}
    flipped = batch | {"presence": torch.ones(2, 4, 4), "density": torch.where(presence > 0, 2.5, 7.0)}
    density_loss = stage_loss(model, "density", batch, train_config)[0]
    with torch.no_grad():
        assert float(stage_loss(model, "density", flipped, train_config)[0]) != pytest.approx(float(density_loss))
        negatives_changed = batch | {"density": torch.where(presence > 0, 2.5, 9.0)}
        assert float(stage_loss(model, "density", negatives_changed, train_config)[0]) == pytest.approx(
            float(density_loss))
        assert float(stage_loss(model, "susceptibility", flipped, train_config)[0]) != pytest.approx(
            float(stage_loss(model, "susceptibility", batch, train_config)[0]))


def test_an_unknown_stage_is_refused_before_any_data_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown training stage") as caught:
        train(tmp_path / "no-such-workdir", *tiny_configs(), stage="occurrence")
    assert "susceptibility" in str(caught.value) and "occurrence" in str(caught.value)
    with pytest.raises(ConfigError, match="unknown training stage"):
        stage("joint")

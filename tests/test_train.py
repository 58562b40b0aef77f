"""Staged training on the tiny hand-made region: resume, determinism, log, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hazardcore.checkpoint import load_checkpoint
from hazardcore.config import ModelConfig, TrainConfig
from hazardcore.errors import CheckpointError
from hazardcore.models import build_model, check_input
from hazardcore.stages import STAGES
from hazardcore.train import train


def tiny_configs(**train_values: object) -> tuple[ModelConfig, TrainConfig]:
    model = ModelConfig(cell_px=8, encoder_depth=3, decoder_channels=[16, 8, 4], density_conv_channels=4,
                        density_hidden=[16, 8])
    values = {"batch_size": 4, "max_epochs_susceptibility": 3, "max_epochs_density": 1,
              "patience": 10, "split": "random", "device": "cpu", "num_threads": 1} | train_values
    return model, TrainConfig(**values)


class SimulatedKillError(Exception):
    """Stands for a kill after an epoch."""


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).weights


def run_dir(workdir: Path) -> Path:
    (folder,) = (workdir / "runs").iterdir()
    return folder


def test_resume_equals_uninterrupted_and_is_deterministic(tiny_workdir: Path, tmp_path: Path) -> None:
    import shutil

    model, config = tiny_configs()
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    for folder in (straight, stopped):
        shutil.copytree(tiny_workdir, folder)
    train(straight, model, config, stage="susceptibility")

    def stop_after_two(record: dict[str, object]) -> None:
        if record["epoch"] == 1:
            raise SimulatedKillError

    with pytest.raises(SimulatedKillError):
        train(stopped, model, config, stage="susceptibility", callbacks=[stop_after_two])
    assert load_checkpoint(run_dir(stopped) / "checkpoints" / "susceptibility_last.pt").state["epoch"] == 2
    train(stopped, model, config, stage="susceptibility", resume=True)
    a = weights(run_dir(straight) / "checkpoints" / "susceptibility_last.pt")
    b = weights(run_dir(stopped) / "checkpoints" / "susceptibility_last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (run_dir(stopped) / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]
    straight_log = [json.loads(line) for line in (run_dir(straight) / "log.jsonl").read_text().splitlines()]
    assert [r["train_loss"] for r in log] == [r["train_loss"] for r in straight_log]


def test_all_stages_log_and_final_checkpoint(tiny_workdir: Path, tmp_path: Path) -> None:
    import shutil

    workdir = tmp_path / "work"
    shutil.copytree(tiny_workdir, workdir)
    model_config, config = tiny_configs(max_epochs_susceptibility=1)
    results = train(workdir, model_config, config, stage="all")
    assert list(results) == list(STAGES)
    log = [json.loads(line) for line in (run_dir(workdir) / "log.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in log] == list(STAGES)
    assert {"train_loss", "val_loss", "val_auc", "val_f1", "patches_per_s"} <= set(log[0])
    assert log[1]["stage"] == "density" and log[1]["val_loss"] >= 0  # no positive validation cell: loss 0
    final = load_checkpoint(run_dir(workdir) / "model.pt")
    assert final.channels[0] == "slope" and len(final.channels) == 16 and len(final.scaling["mean"]) == 16
    assert final.slices == ["2015-co", "2015-post", "2016-pre"] and "torch" in final.versions
    rebuilt = build_model(ModelConfig.from_dict(final.model_config))
    rebuilt.load_state_dict(final.weights)
    assert final.state["split"]["protocol"] == "random" and final.state["split"]["test_windows"]


def test_mismatched_data_is_a_clear_error() -> None:
    model, _ = tiny_configs()
    with pytest.raises(CheckpointError, match="channels"):
        check_input(model, ["slope"] * 12, (12, 32, 32))
    with pytest.raises(CheckpointError):
        check_input(model, ["slope"] * 13, (13, 64, 64))


def test_corrupted_checkpoint_is_named(tmp_path: Path) -> None:
    from hazardcore.errors import IntegrityError
    from hazardcore.integrity import checked_path

    path = tmp_path / "model.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(IntegrityError, match=r"model\.pt: no checksum recorded"):
        load_checkpoint(path)
    with checked_path(path) as tmp:  # recorded, intact, but not a checkpoint
        tmp.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"model\.pt: checkpoint cannot be read"):
        load_checkpoint(path)


def test_samples_per_epoch_caps_steps_and_validation_is_a_fixed_subset(tiny_workdir: Path) -> None:
    from hazardcore.train import load_training_data, train_epoch

    model_config, capped = tiny_configs(samples_per_epoch=6, validation_samples=2)
    data = load_training_data(tiny_workdir, model_config, capped)
    full = load_training_data(tiny_workdir, model_config, tiny_configs()[1])
    assert len(data.validation["image"]) == 2 < len(full.validation["image"])
    rows = [int(torch.nonzero((full.validation["image"] == image).flatten(1).all(1))[0]) for image in
            data.validation["image"]]
    assert rows == sorted(set(rows))  # distinct validation patches, in their original order
    assert len(data.train["image"]) == len(full.train["image"]) > 6
    model = build_model(model_config)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    train_epoch(model, "susceptibility", data.train, capped, 0, optimizer, scheduler, torch.device("cpu"))
    assert scheduler.last_epoch == 2  # 6 patches in batches of 4
    train_epoch(model, "susceptibility", full.train, tiny_configs()[1], 0, optimizer, scheduler,
                torch.device("cpu"))
    assert scheduler.last_epoch == 2 + -(-len(full.train["image"]) // 4)


def test_a_run_is_named_by_what_it_computes_not_where() -> None:
    """A model trained on a GPU resumes on a CPU under the same id; a change of learning rate is a new run."""
    from hazardcore.config import ModelConfig, TrainConfig, config_hash

    model = ModelConfig()
    here = config_hash(model, TrainConfig(device="cpu", num_threads=2))
    assert here == config_hash(model, TrainConfig(device="cuda", num_threads=0))
    assert here != config_hash(model, TrainConfig(device="cpu", num_threads=2, learning_rate=5e-4))
    assert here != config_hash(ModelConfig(cell_px=16), TrainConfig(device="cpu"))

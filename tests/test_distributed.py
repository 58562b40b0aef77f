"""Data-parallel training (hazardcore.distributed): two gloo processes on the CPU train as one.

Both tests launch ``torchrun --standalone --nproc_per_node 2`` in a subprocess (2 CPU
processes, gloo) and compare with one process:

- per step (marked slow): this file's ``__main__`` block computes, under DDP, the gradient of every stage's
  loss on probe batches whose global size splits evenly, unevenly and leaves one rank empty;
  it must equal the single-process gradient to float rounding (batch norm over the global
  batch, the loss on the gathered outputs, DDP's average);
- end to end: ``hazard train --distributed`` (the CLI, the susceptibility stage of a tiny
  configuration on the tiny region) must give the single-process run's log and weights. Longer
  runs drift apart by rounding alone, since Adam's first steps amplify gradients that are zero
  up to rounding (two single-process runs with 1 and 2 threads already differ by ~3e-3 after
  the density stage), which is why the density stage is checked per step.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hazardcore.checkpoint import load_checkpoint
from hazardcore.cli import main
from hazardcore.config import ModelConfig, TrainConfig
from hazardcore.distributed import Ranks
from hazardcore.models import HazardModel, build_model
from hazardcore.stages import STAGES, stage_loss

# Max |DDP - single| of any weight or statistic after the susceptibility stage (4 Adam steps of at
# most lr = 1e-3 each): measured 4e-5; batch norm per shard instead of over the global batch gives
# 8e-3 (weights) and 0.9 (running statistics).
WEIGHT_TOLERANCE = 4e-4
PROBE_SIZES = (4, 3, 1)  # global batches: even shards, uneven shards, one rank empty
TINY_SETTINGS = {"cell_px": 8, "encoder_depth": 3, "decoder_channels": [16, 8, 4], "density_conv_channels": 4,
                 "density_hidden": [16, 8], "density_dropout": 0.0, "batch_size": 4,
                 "max_epochs_susceptibility": 2, "patience": 10, "num_threads": 1}


def tiny_configs() -> tuple[ModelConfig, TrainConfig]:
    """TINY_SETTINGS as configurations (focal Tversky, augmentation on, no dropout)."""
    model_keys = set(ModelConfig.param) - {"name"}
    model = ModelConfig(**{k: v for k, v in TINY_SETTINGS.items() if k in model_keys})
    train = TrainConfig(split="random", device="cpu",
                        **{k: v for k, v in TINY_SETTINGS.items() if k not in model_keys})
    return model, train


def probe_batch(n: int, cell_px: int = 8) -> dict[str, torch.Tensor]:
    """A seeded batch of ``n`` patches with some positive and some invalid cells."""
    generator = torch.Generator().manual_seed(n)
    density = torch.rand((n, 4, 4), generator=generator) * 3 * (torch.rand((n, 4, 4), generator=generator) > 0.6)
    return {"image": torch.randn((n, 16, 4 * cell_px, 4 * cell_px), generator=generator),
            "presence": (density > 0).float(), "density": density,
            "valid": torch.rand((n, 4, 4), generator=generator) > 0.1}


@functools.cache
def built_model() -> HazardModel:
    model_config, config = tiny_configs()
    torch.manual_seed(config.seed)
    model = build_model(model_config)
    assert isinstance(model, HazardModel)
    return model


def initial_model() -> HazardModel:
    """A fresh copy of the tiny model as ``train`` builds it (seeded), in training mode."""
    return copy.deepcopy(built_model()).train()


def single_process_gradients(stage: str, n: int) -> dict[str, torch.Tensor]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank; also 10x faster than contended threads on 2 shared cores
    try:
        model = initial_model()
        loss, _ = stage_loss(model, stage, probe_batch(n), tiny_configs()[1])
        loss.backward()
    finally:
        torch.set_num_threads(threads)
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def distributed_gradients(out: Path) -> None:
    """One rank of the per-step comparison: DDP gradients of every stage's loss, saved by rank 0."""
    import torch.distributed as dist

    from hazardcore.distributed import synchronise_batch_norm
    from hazardcore.stages import REGISTRY, stage_outputs

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), dist.get_rank(), torch.device("cpu"))
    results = {}
    for stage in STAGES:
        for n in PROBE_SIZES:
            model = synchronise_batch_norm(initial_model(), ranks.device)
            module = ranks.wrap(REGISTRY[stage].module(model))
            batch = probe_batch(n)
            outputs = ranks.gather(stage_outputs(module, stage, ranks.shard(batch)["image"], model))
            loss, _ = REGISTRY[stage].objective(outputs, batch, tiny_configs()[1], model.config)
            loss.backward()
            results[f"{stage}/{n}"] = {name: p.grad.clone() for name, p in model.named_parameters()
                                       if p.grad is not None}
    if ranks.is_main:
        torch.save(results, out)
    dist.destroy_process_group()


def torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``torchrun --standalone --nproc_per_node 2 ARGS`` (2 single-threaded CPU processes)."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def run_folder(workdir: Path) -> Path:
    (folder,) = (workdir / "runs").iterdir()
    return folder


def log_records(workdir: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run_folder(workdir) / "log.jsonl").read_text().splitlines()]


def test_shard_and_gather_are_identity_in_one_process() -> None:
    ranks = Ranks(0, 1, 0, torch.device("cpu"))
    batch = {"image": torch.arange(10.0).reshape(5, 2)}
    assert ranks.shard(batch) is batch and ranks.gather(batch) is batch
    assert ranks.broadcast({"a": 1}) == {"a": 1} and type(ranks.wrap(torch.nn.Linear(2, 2))) is torch.nn.Linear


def test_distributed_outside_torchrun_is_a_clear_error(tiny_workdir: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR"):
        monkeypatch.delenv(name, raising=False)
    assert main(["train", str(tiny_workdir), "--distributed", "--device", "cpu", "--quiet"]) == 2
    assert "torchrun" in capsys.readouterr().err


@pytest.mark.slow  # ~30 s: a second torchrun launch; the end-to-end test below runs by default
def test_ddp_gradient_is_the_global_batch_gradient(tmp_path: Path) -> None:
    torchrun(__file__, "gradients", str(tmp_path / "gradients.pt"))
    parallel = torch.load(tmp_path / "gradients.pt")
    assert sorted(parallel) == sorted(f"{stage}/{n}" for stage in STAGES for n in PROBE_SIZES)
    for key, gradients in parallel.items():
        expected = single_process_gradients(*key.split("/")[:1], int(key.split("/")[1]))
        assert gradients.keys() == expected.keys(), key
        scale = max(float(g.abs().max()) for g in expected.values())
        worst = max(float((gradients[k] - expected[k]).abs().max()) for k in expected)
        # float32 rounding of the reduction order: the trigger response's scalars sum their gradient over every
        # cell of the batch (measured 1.6e-5 of the scale); a wrong DDP average is off by a factor, not by 1e-4
        assert scale > 0 and worst <= 1e-4 * scale, (key, worst, scale)


def test_hazard_train_distributed_equals_one_process(tiny_workdir: Path, tmp_path: Path) -> None:
    single, parallel = tmp_path / "single", tmp_path / "parallel"
    for folder in (single, parallel):
        shutil.copytree(tiny_workdir, folder)
    settings = [arg for key, value in TINY_SETTINGS.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    options = ["--stage", "susceptibility", "--split", "random", "--device", "cpu", "--quiet", *settings]
    started = time.perf_counter()
    done = torchrun("-m", "hazardcore.cli", "train", str(parallel), "--distributed", *options)
    seconds = time.perf_counter() - started
    assert done.stdout.count("best validation epoch per stage") == 1  # rank 0 alone prints
    assert main(["train", str(single), *options]) == 0

    assert [r["epoch"] for r in log_records(parallel)] == [0, 1]  # one writer: no repeated lines
    for left, right in zip(log_records(single), log_records(parallel), strict=True):
        assert right["train_loss"] == pytest.approx(left["train_loss"], rel=1e-5)
        assert right["val_loss"] == pytest.approx(left["val_loss"], rel=1e-5)
    differences = {}
    for name in ("susceptibility_last", "susceptibility_best"):
        a = load_checkpoint(run_folder(single) / "checkpoints" / f"{name}.pt").weights
        b = load_checkpoint(run_folder(parallel) / "checkpoints" / f"{name}.pt").weights
        assert a.keys() == b.keys()
        differences |= {f"{name}:{k}": float((a[k].double() - b[k].double()).abs().max()) for k in a}
    worst = max(differences, key=differences.__getitem__)
    assert differences[worst] < WEIGHT_TOLERANCE, (worst, differences[worst])
    trained = load_checkpoint(run_folder(single) / "checkpoints" / "susceptibility_last.pt").weights
    moved = max(float((p.detach().double() - trained[k].double()).abs().max())
                for k, p in initial_model().named_parameters())
    assert moved > 5 * WEIGHT_TOLERANCE  # training moved the weights well beyond the tolerance
    print(f"\n2 gloo processes: {seconds:.1f} s; max weight difference {differences[worst]:.1e} ({worst}); "
          f"weights moved up to {moved:.1e}")


if __name__ == "__main__":  # one rank of the torchrun launch of test_ddp_gradient_is_the_global_batch_gradient
    if sys.argv[1] == "gradients":
        distributed_gradients(Path(sys.argv[2]))

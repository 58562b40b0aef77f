"""Training throughput and the time of a full staged run; prints one table.

Throughput is patches/s of forward + backward + optimiser step of the whole hazard model
(susceptibility + density nets, both stages' work) on batches of real patches of the
default region, for the default (128 px) and demo (64 px) configurations, on the CPU and,
when one is present, on CUDA (bf16 autocast, channels-last, data resident on the GPU).
The full run is ``train(..., stage="all")`` with the demo configuration on the default region.

Usage: ``python benchmarks/train.py [--workdir WORKDIR] [--steps 5] [--skip-full-run]``
(without ``--workdir`` the default region is synthesised and prepared in a temporary folder).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from hazardcore.config import ModelConfig, TrainConfig, demo_configs
from hazardcore.cube import PreparedCube
from hazardcore.datasets import PatchDataset, load_tensors
from hazardcore.models import HazardModel, build_model
from hazardcore.train import autocast, both_stages_loss, to_device, train


def default_workdir(scratch: Path) -> Path:
    """Synthesise and prepare the default region."""
    from hazardcore.prepare import prepare
    from hazardcore.synthetic import synthesize

    report = synthesize(scratch / "region")
    prepare(report.catalog_path, scratch / "work")
    return scratch / "work"


def throughput(workdir: Path, model_config: ModelConfig, device: torch.device, steps: int,
               batch_size: int) -> float:
    """Patches per second of training steps of both stages (susceptibility and density losses summed)."""
    cube = PreparedCube.open(workdir)
    samples = cube.samples()[: batch_size * 4]
    data = to_device(load_tensors(PatchDataset(cube, samples), model_config.cell_px), device)
    torch.manual_seed(0)
    model = build_model(model_config)
    assert isinstance(model, HazardModel)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    config = TrainConfig()

    n_batches = max(1, len(samples) // batch_size)

    def step(i: int) -> None:
        start = (i % n_batches) * batch_size
        batch = {key: value[start:start + batch_size] for key, value in data.items()}
        with autocast(device):
            loss = both_stages_loss(model, batch, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step(0)  # warm-up (allocations, kernel selection)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for i in range(steps):
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - started)


def full_run(workdir: Path, device: str) -> float:
    """Seconds of a complete `all` run with the demo configuration (on a copy of the workdir)."""
    model_config, train_config = demo_configs()
    train_config.device = device
    copy = Path(tempfile.mkdtemp(prefix="hazard-train-bench-"))
    shutil.copytree(workdir, copy / "work")
    started = time.perf_counter()
    train(copy / "work", model_config, train_config, stage="all")
    seconds = time.perf_counter() - started
    shutil.rmtree(copy)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None, help="a prepared default region")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--skip-full-run", action="store_true")
    args = parser.parse_args()
    workdir = args.workdir or default_workdir(Path(tempfile.mkdtemp(prefix="hazard-bench-")))
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        batch = 16 if device.type == "cpu" else 256
        for name, model_config in (("default 128 px", ModelConfig()), ("demo 64 px", demo_configs()[0])):
            steps = args.steps if device.type == "cpu" else 50
            rate = throughput(workdir, model_config, device, steps, batch)
            rows.append([device.type, name, str(batch), f"{rate:.1f} patches/s"])
        if not args.skip_full_run:
            rows.append([device.type, "demo, all stages", "16", f"{full_run(workdir, device.type):.1f} s"])
    header = ["device", "configuration", "batch", "result"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()

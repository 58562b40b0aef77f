"""Prepare, train epoch and whole-area prediction on the default and the study-area region; one table.

For each prepared work folder given (``--workdir LABEL=WORKDIR``, each holding a trained run) and
each device (the CPU, and CUDA when present), every step runs in a fresh child process so that its
peak host memory (RSS) is its own; device memory is ``torch.cuda.max_memory_allocated``:

- ``prepare``: ``hazardcore.prepare.prepare`` of the work folder's catalog into a scratch folder
  (CPU only: preparation does not use the GPU);
- ``train epoch``: training steps of both stages (susceptibility and density losses summed;
  forward + backward + Adam) of the run's model
  configuration over the training patches, resident on the device. On the CPU an epoch over a
  study-area region takes longer than a benchmark should, so ``--cpu-train-patches`` patches are
  timed and the epoch time over all training patches is extrapolated from their throughput (the
  note says so); on CUDA the whole epoch is timed;
- ``predict``: :func:`hazardcore.infer.predict_cells`, every cell of every slice (4 windows per cell,
  streamed one row of windows at a time), with the run's model;
- ``predict, reference-style``: the original notebooks' way, one ``model(window)`` call per window,
  each window cut from the whole scaled image of its slice; the image of one slice is built
  once (timed, counted once per slice) and the window calls are timed over
  ``--reference-windows`` windows and extrapolated to the same number of windows as
  ``predict`` (ratio in the note).

``--steps`` runs a subset (e.g. ``--steps predict,predict_reference``).

Usage::

    .venv/bin/python benchmarks/scale.py --workdir "default 32x32=out/demo/work" \\
        --workdir "study 196x220=out/study/work" [--run-split spatial]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def child(step: str, args: list[str]) -> dict[str, Any]:
    """Run ``step`` in a fresh interpreter; return its JSON result with seconds and peak memory."""
    out = subprocess.run([sys.executable, __file__, "--child", step, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"step {step} {args} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_child(step: str, args: list[str]) -> None:
    """Body of a child: run one step, print one JSON line (imports are not timed)."""
    import torch

    import hazardcore.infer
    import hazardcore.prepare
    import hazardcore.train  # noqa: F401

    result = STEPS[step](*args)
    result["peak_host_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if torch.cuda.is_available():
        result["peak_device_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def step_prepare(workdir: str, scratch: str) -> dict[str, Any]:
    from hazardcore.prepare import prepare

    catalog = json.loads((Path(workdir) / "prepare.json").read_text())["catalog"]
    start = time.perf_counter()
    summary = prepare(catalog, scratch)
    seconds = time.perf_counter() - start
    n = int(summary["samples_with_valid_cells"])
    return {"seconds": seconds, "items": n, "unit": "patches"}


def run_of(workdir: str, split: str) -> Path:
    from hazardcore.pipeline import find_run

    return find_run(workdir, None, split)


def step_train_epoch(workdir: str, split: str, device_name: str, max_patches: str) -> dict[str, Any]:
    """Joint-stage steps over the training patches (all on CUDA, ``max_patches`` on the CPU)."""
    import torch

    from hazardcore.config import ModelConfig, TrainConfig
    from hazardcore.infer import load_model
    from hazardcore.train import autocast, both_stages_loss, load_training_data, to_device

    device = torch.device(device_name)
    model, checkpoint = load_model(run_of(workdir, split) / "model.pt", device)
    model_config = ModelConfig.from_dict(checkpoint.model_config)
    train_config = TrainConfig.from_dict(checkpoint.train_config | {"device": device_name})
    data = load_training_data(workdir, model_config, train_config).train
    n_total = len(data["image"])
    n = n_total if device.type == "cuda" else min(n_total, int(max_patches))
    data = to_device({key: value[:n] for key, value in data.items()}, device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def epoch(n_patches: int) -> None:
        for start in range(0, n_patches, train_config.batch_size):
            batch = {key: value[start:start + train_config.batch_size] for key, value in data.items()}
            with autocast(device):
                loss = both_stages_loss(model, batch, train_config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    epoch(min(n, 4 * train_config.batch_size))  # warm-up (cuDNN autotuning, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    epoch(n)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"seconds": seconds * n_total / n, "items": n_total, "unit": "patches", "timed": n,
            "batch": train_config.batch_size}


def step_predict(workdir: str, split: str, device_name: str) -> dict[str, Any]:
    """Whole-area prediction of every slice (:func:`hazardcore.infer.predict_cells`)."""
    import torch

    from hazardcore.config import ModelConfig
    from hazardcore.cube import PreparedCube
    from hazardcore.infer import load_model, predict_cells, window_origins
    from hazardcore.predictors import ChannelScaling

    device = torch.device(device_name)
    model, checkpoint = load_model(run_of(workdir, split) / "model.pt", device)
    cube = PreparedCube.open(workdir)
    cell_px = ModelConfig.from_dict(checkpoint.model_config).cell_px
    start = time.perf_counter()
    cells = predict_cells(model, cube, ChannelScaling.from_dict(checkpoint.scaling), cell_px, device, 2,
                          512 if device.type == "cuda" else 64)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    n_slices, n_rows, n_cols = cube.valid.shape
    n_windows = n_slices * len(window_origins(n_rows, cube.patch_cells, 2)) * len(
        window_origins(n_cols, cube.patch_cells, 2))
    return {"seconds": seconds, "items": n_windows, "unit": "windows",
            "finite_cells": int(np.isfinite(cells["logit"]).sum())}


def step_predict_reference(workdir: str, split: str, device_name: str, n_windows: str) -> dict[str, Any]:
    """One model call per window, each cut from the whole scaled image of its slice (as the notebooks)."""
    import torch

    from hazardcore.config import ModelConfig
    from hazardcore.cube import PreparedCube
    from hazardcore.datasets import pool_image
    from hazardcore.infer import load_model, window_origins
    from hazardcore.predictors import ChannelScaling

    device = torch.device(device_name)
    model, checkpoint = load_model(run_of(workdir, split) / "model.pt", device)
    cube = PreparedCube.open(workdir)
    cell_px = ModelConfig.from_dict(checkpoint.model_config).cell_px
    scaling = ChannelScaling.from_dict(checkpoint.scaling)
    n_slices, n_rows, n_cols = cube.valid.shape
    rows = window_origins(n_rows, cube.patch_cells, 2)
    cols = window_origins(n_cols, cube.patch_cells, 2)
    total = n_slices * len(rows) * len(cols)
    ppc, size = cube.grid.pixels_per_cell, cube.patch_cells * cell_px
    start = time.perf_counter()
    image = pool_image(cube.block_image(0, slice(0, n_rows * ppc), slice(0, n_cols * ppc)), ppc // cell_px)
    image = np.nan_to_num((image - scaling.mean[:, None, None]) / scaling.std[:, None, None]).astype("float32")
    image_seconds = time.perf_counter() - start
    start = time.perf_counter()
    done = 0
    with torch.inference_mode():
        for row in rows[rows >= 0]:
            for col in cols[cols >= 0]:
                window = image[:, row * cell_px:row * cell_px + size, col * cell_px:col * cell_px + size]
                if window.shape[1:] != (size, size):
                    continue
                model(torch.from_numpy(np.ascontiguousarray(window))[None].to(device))
                done += 1
                if done == int(n_windows):
                    break
            if done == int(n_windows):
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"seconds": image_seconds * n_slices + seconds * total / done, "items": total, "unit": "windows",
            "timed": done, "image_seconds": image_seconds}


STEPS = {"prepare": step_prepare, "train_epoch": step_train_epoch, "predict": step_predict,
         "predict_reference": step_predict_reference}


def table_row(step: str, region: str, device: str, measured: dict[str, Any], note: str = "") -> list[str]:
    rate = measured["items"] / measured["seconds"]
    device_mb = f"{measured['peak_device_mb']:.0f}" if "peak_device_mb" in measured else "-"
    return [step, region, device, f"{measured['seconds']:.1f}", f"{rate:,.0f} {measured['unit']}/s",
            f"{measured['peak_host_mb']:.0f}", device_mb, note]


def print_table(rows: list[list[str]]) -> None:
    header = ["step", "region", "device", "seconds", "throughput", "peak host MB", "peak device MB", "note"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


def device_rows(args: argparse.Namespace, steps: set[str], label: str, workdir: str, device: str) -> list[list[str]]:
    """Table rows of the train epoch and prediction steps of one work folder on one device."""
    rows = []
    if "train_epoch" in steps:
        epoch = child("train_epoch", [workdir, args.run_split, device, str(args.cpu_train_patches)])
        note = (f"extrapolated from {epoch['timed']} patches" if epoch["timed"] < epoch["items"] else "") + (
            f", batch {epoch['batch']}")
        rows.append(table_row("train epoch", label, device, epoch, note.lstrip(", ")))
    ours = child("predict", [workdir, args.run_split, device]) if "predict" in steps else None
    reference = child("predict_reference", [workdir, args.run_split, device, str(args.reference_windows)]) \
        if "predict_reference" in steps else None
    if ours:
        ratio = f"{reference['seconds'] / ours['seconds']:.1f}x faster than reference-style" if reference else ""
        rows.append(table_row("predict", label, device, ours, ratio))
    if reference:
        rows.append(table_row("predict, reference-style", label, device, reference,
                              f"one call per window, extrapolated from {reference['timed']}; slice image "
                              f"{reference['image_seconds']:.1f} s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", action="append", default=[], metavar="LABEL=WORKDIR",
                        help="a prepared work folder with a trained run (repeatable)")
    parser.add_argument("--run-split", default="spatial", help="take each work folder's newest run of this split")
    parser.add_argument("--cpu-train-patches", type=int, default=256, help="patches timed per CPU train epoch")
    parser.add_argument("--reference-windows", type=int, default=200, help="windows timed reference-style")
    parser.add_argument("--skip-prepare", action="store_true", help="same as leaving prepare out of --steps")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child[0], args.child[1:])
        return
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    steps = set(args.steps.split(",")) - ({"prepare"} if args.skip_prepare else set())
    for item in args.workdir:
        label, _, workdir = item.partition("=")
        if "prepare" in steps:
            with tempfile.TemporaryDirectory(prefix="hazard-scale-") as scratch:
                rows.append(table_row("prepare", label, "cpu", child("prepare", [workdir, scratch])))
        for device in devices:
            rows += device_rows(args, steps, label, workdir, device)
    print_table(rows)


if __name__ == "__main__":
    main()

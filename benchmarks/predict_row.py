"""Where one row of prediction windows spends its time: strip assembly, fp32 and bf16 forward passes.

Times ``--rows`` rows of windows from the middle of a prepared work folder with its newest
trained run (the same strips :func:`hazardcore.infer.predict_cells` builds), and prints one
table: seconds per row for reading and scaling the strip, for the model's forward passes in
fp32 (the CPU path), and in bf16 autocast with channels-last (what the CPU could do where it
has bf16 instructions), with the largest logit difference between the two.

Usage::

    .venv/bin/python benchmarks/predict_row.py --workdir /tmp/bench/196x220/work [--rows 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from hazardcore.config import ModelConfig
from hazardcore.cube import PreparedCube
from hazardcore.infer import load_model, strip_canvases, strip_windows, window_origins
from hazardcore.pipeline import find_run
from hazardcore.predictors import ChannelScaling


def forward(model: torch.nn.Module, windows: torch.Tensor, batch_size: int, bf16: bool) -> tuple[float, torch.Tensor]:
    """Seconds of the forward passes over ``windows`` and the logits."""
    logits = []
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for first in range(0, len(windows), batch_size):
            logits.append(model(windows[first:first + batch_size])["logit"].float())
    return time.perf_counter() - start, torch.cat(logits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    cube = PreparedCube.open(args.workdir)
    model, checkpoint = load_model(find_run(args.workdir) / "model.pt", torch.device("cpu"))
    scaling, cell_px = ChannelScaling.from_dict(checkpoint.scaling), ModelConfig.from_dict(
        checkpoint.model_config).cell_px
    patch = cube.patch_cells
    rows, cols = window_origins(cube.grid.n_rows, patch, 2), window_origins(cube.grid.n_cols, patch, 2)
    lead, size = patch - 2, patch * cell_px
    width = int(cols[-1]) + lead + patch
    totals = {"strip assembly": 0.0, "forward fp32": 0.0, "forward bf16 channels-last": 0.0}
    difference, n_windows = 0.0, 0
    for row in rows[len(rows) // 2:len(rows) // 2 + args.rows]:
        start = time.perf_counter()
        strips = strip_canvases(cube, scaling, int(row), cell_px, lead, width)
        totals["strip assembly"] += time.perf_counter() - start
        windows = strip_windows(strips, size, 2 * cell_px)
        n_windows = len(windows)
        seconds, fp32 = forward(model, windows, args.batch_size, bf16=False)
        totals["forward fp32"] += seconds
        seconds, bf16 = forward(model, windows.contiguous(memory_format=torch.channels_last), args.batch_size, True)
        totals["forward bf16 channels-last"] += seconds
        difference = max(difference, float((fp32 - bf16).abs().max()))
    threads = torch.get_num_threads()
    print(f"{args.rows} rows of {n_windows} windows ({len(rows)} rows in the region), {threads} threads")
    print("part                       | seconds per row")
    for name, seconds in totals.items():
        print(f"{name:<26} | {seconds / args.rows:.2f}")
    print(f"largest |logit fp32 - logit bf16|: {difference:.4f}")


if __name__ == "__main__":
    main()

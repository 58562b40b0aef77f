"""Benchmark of the prepare stage; prints one table (time, peak memory, speed-up).

Rows:
- synth and prepare of the default region (32 × 32 km, 8 slices) and, unless
  ``--skip-study-area``, of a study-area-sized region (196 × 220 km, 8 slices, 31.25 m);
- patch assembly of every (slice, window) sample of the default region, ours (windows read
  from the stored cube into a preallocated array) against a reference-style assembly as the
  original notebooks did it: for every patch, re-read every whole predictor raster and grow
  the output arrays by ``np.concatenate``.

Each measured step runs in a fresh child process so that its peak RSS is its own.

Usage: ``python benchmarks/prepare.py [--out DIR] [--skip-study-area] [--reference-slices N]``
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
    """Run ``step`` in a fresh interpreter; return its seconds, peak RSS and result."""
    cmd = [sys.executable, __file__, "--child", step, *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_child(step: str, args: list[str]) -> None:
    """Body of a child process: run one step and print a JSON line (imports not timed)."""
    import hazardcore.datasets
    import hazardcore.prepare  # noqa: F401

    start = time.perf_counter()
    result = STEPS[step](*args)
    seconds = time.perf_counter() - start
    if isinstance(result, dict) and "seconds" in result:
        seconds = result.pop("seconds")  # the step timed its core itself (no checksum)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "result": result}))


def step_synth(out: str, size: str) -> dict[str, Any]:
    from hazardcore.synthetic import synthesize

    rows, _, cols = size.partition("x")
    report = synthesize(out, seed=42, size_km=(int(rows), int(cols or rows)))
    return {"positive_fraction": report.positive_fraction, "oracle_auc": report.oracle_auc}


def step_prepare(catalog: str, workdir: str) -> dict[str, Any]:
    from hazardcore.prepare import prepare

    summary = prepare(catalog, workdir)
    return {"samples": summary["samples_with_valid_cells"], "patches": summary["patches_per_slice"]}


def step_ours(workdir: str, n_slices: str, mode: str) -> dict[str, Any]:
    """Read every patch through PatchDataset; ``materialise`` also copies them into one array."""
    from hazardcore.datasets import PatchDataset

    start = time.perf_counter()
    dataset = PatchDataset(workdir)
    dataset.sample_index = dataset.sample_index[dataset.sample_index[:, 0] < int(n_slices)]
    shape = (len(dataset) if mode == "materialise" else 1, len(dataset.cube.channels), 128, 128)
    images = np.zeros(shape, dtype="float32")
    checksum = 0.0
    for i in range(len(dataset)):
        image = dataset[i]["image"].numpy()
        if mode == "materialise":
            images[i] = image
        else:
            images[0] += image  # touch every value, keep nothing
    seconds = time.perf_counter() - start
    checksum = float(images.sum(dtype="float64"))
    return {"patches": len(dataset), "checksum": checksum, "seconds": seconds}


def export_rasters(workdir: str, folder: str) -> None:
    """Write the cube as one plain GeoTIFF per channel (and per slice), as GIS users had them."""
    import rasterio

    from hazardcore.cube import PreparedCube

    cube = PreparedCube.open(workdir)
    profile = {"driver": "GTiff", "dtype": "float32", "count": 1, "crs": cube.grid.crs,
               "transform": cube.grid.transform("30m")}
    layers = {f"static_{i}": cube.static[i] for i in range(cube.static.shape[0])}
    for s in range(len(cube.slice_labels)):
        layers |= {f"dynamic_{s}_{i}": cube.dynamic[s, i] for i in range(cube.dynamic.shape[1])}
    for name, values in layers.items():
        with rasterio.open(Path(folder) / f"{name}.tif", "w", height=values.shape[0],
                           width=values.shape[1], **profile) as dst:
            dst.write(values, 1)
    np.save(Path(folder) / "density.npy", cube.density)


def step_reference(workdir: str, folder: str, n_slices: str) -> dict[str, Any]:
    """Reference-style assembly: whole-raster reads per patch, arrays grown by concatenation."""
    import rasterio

    from hazardcore.datasets import PatchDataset

    start = time.perf_counter()
    dataset = PatchDataset(workdir)
    samples = dataset.sample_index[dataset.sample_index[:, 0] < int(n_slices)]
    monsoons, windows = dataset.cube.monsoons, dataset.cube.windows
    x_all = np.empty((0, 13, 128, 128), dtype="float32")  # the original study's 13 channels
    y_all = np.empty((0, 4, 4), dtype="float32")
    names = [f"static_{i}" for i in range(8)] + ["dynamic_{s}_0", "dynamic_{s}_1", "static_8", "static_9"]
    for s, w in samples:
        _, row, col = windows[w]
        channels = []
        for name in names:
            with rasterio.open(Path(folder) / f"{name.format(s=s)}.tif") as src:
                whole = src.read(1)
            channels.append(whole[row * 32:row * 32 + 128, col * 32:col * 32 + 128])
        channels.append(np.full((128, 128), monsoons[s], dtype="float32"))
        density = np.load(Path(folder) / "density.npy")[s, row:row + 4, col:col + 4]
        x_all = np.concatenate([x_all, np.nan_to_num(np.stack(channels))[None]])
        y_all = np.concatenate([y_all, np.nan_to_num(density)[None]])
    seconds = time.perf_counter() - start
    return {"patches": len(samples), "checksum": float(x_all.sum(dtype="float64")), "seconds": seconds}


STEPS = {"synth": step_synth, "prepare": step_prepare, "ours": step_ours, "reference": step_reference,
         "export": lambda w, f: export_rasters(w, f)}


def row(name: str, region: str, measured: dict[str, Any], note: str = "") -> list[str]:
    return [name, region, f"{measured['seconds']:.2f}", f"{measured['peak_mb']:.0f}", note]


def print_table(rows: list[list[str]]) -> None:
    header = ["step", "region", "seconds", "peak RSS (MB)", "note"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--skip-study-area", action="store_true", help="only the default region")
    parser.add_argument("--reference-slices", type=int, default=8, help="slices in the patch-assembly race")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child[0], args.child[1:])
        return
    scratch = args.out or Path(tempfile.mkdtemp(prefix="hazard-bench-"))
    rows = []
    regions = [("default 32x32 km", "32")]
    if not args.skip_study_area:
        regions.append(("study area 196x220 km", "196x220"))
    for label, size in regions:
        folder = scratch / size
        synth = child("synth", [str(folder / "region"), size])
        rows.append(row("synth", label, synth))
        prep = child("prepare", [str(folder / "region" / "catalog.yaml"), str(folder / "work")])
        rows.append(row("prepare", label, prep, f"{prep['result']['samples']} samples"))
    work = str(scratch / "32" / "work")
    rasters = scratch / "32" / "rasters"
    rasters.mkdir(exist_ok=True)
    child("export", [work, str(rasters)])
    n = str(args.reference_slices)
    reference = child("reference", [work, str(rasters), n])
    for mode, what in (("iterate", "read every patch once"), ("materialise", "into one array")):
        ours = child("ours", [work, n, mode])
        same = np.isclose(ours["result"]["checksum"], reference["result"]["checksum"], rtol=1e-4)
        assert same, "the two assemblies must produce the same patches"
        ratio = reference["seconds"] / ours["seconds"]
        rows.append(row(f"patch assembly, ours ({what})", "default 32x32 km", ours,
                        f"{ours['result']['patches']} patches; reference-style is {ratio:.0f}x slower"))
    rows.append(row("patch assembly, reference-style", "default 32x32 km", reference,
                    "whole-raster reads per patch, np.concatenate growth"))
    print_table(rows)


if __name__ == "__main__":
    main()

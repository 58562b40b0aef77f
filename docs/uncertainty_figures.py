"""Draw the README's pictures of uncertainty and explanation from result files.

Usage: ``python docs/uncertainty_figures.py ENSEMBLE_DIR [--slice 2015-post]`` where
ENSEMBLE_DIR is ``WORKDIR/ensembles/<id>`` after ``hazard evaluate --ensemble``. Writes
``docs/img/uncertainty.png`` (one slice's ensemble hazard, the width of its 5–95 % interval
(Student-t predictive interval, the members' spread times the calibrated λ), and the cell with
the widest interval's hazard over the periods with its interval band, beside the truth and the
observed density) and ``docs/img/importance.png``
(the permutation importance of ``docs/results/importance.json`` per season, 95 % ranges).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from hazardcore.export import open_predictions
from hazardcore.runfolder import PREDICTIONS

DOCS = Path(__file__).resolve().parent
IMAGES = DOCS / "img"


def north_up(values: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A (y, x) plane with north at the top."""
    return values[::-1] if y.size > 1 and y[0] < y[-1] else values


def draw_uncertainty(folder: Path, slice_label: str, out: Path) -> None:
    """Hazard, interval width and one cell's hazard over time with its band."""
    ds = open_predictions(folder / PREDICTIONS)
    k = list(ds["slice"].values).index(slice_label)
    y = ds["y"].values
    hazard = north_up(ds["hazard"].values[k], y)
    width = north_up(ds["hazard_p95"].values[k] - ds["hazard_p05"].values[k], y)
    positive = hazard[np.isfinite(hazard) & (hazard > 0)]
    floor = max(float(np.percentile(positive, 2)), 1e-4)
    norm = LogNorm(floor, float(np.percentile(positive, 99.5)))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    km = abs(float(y[1] - y[0])) / 1000.0
    extent = (0, hazard.shape[1] * km, 0, hazard.shape[0] * km)
    for ax, plane, title in ((axes[0], hazard, f"hazard, ensemble mean · {slice_label}"),
                             (axes[1], width, "width of its 5–95 % predictive interval")):
        image = ax.imshow(np.maximum(plane, floor), norm=norm, cmap="inferno_r", extent=extent,
                          interpolation="nearest")  # one scale: the width reads against the hazard
        ax.set_title(title)
        ax.set_xlabel("easting (km)")
        fig.colorbar(image, ax=ax, label="% of the cell", shrink=0.85)
    axes[0].set_ylabel("northing (km)")
    spread = ds["hazard_p95"].values - ds["hazard_p05"].values
    row, col = np.unravel_index(np.nanargmax(np.nanmean(spread, axis=0)), spread.shape[1:])
    labels = [str(v) for v in ds["slice"].values]
    steps = np.arange(len(labels))
    at = {name: ds[name].values[:, row, col] for name in ("hazard", "hazard_p05", "hazard_p95", "observed_density")}
    axes[2].fill_between(steps, at["hazard_p05"], at["hazard_p95"], color="tab:orange", alpha=0.3,
                         label="5–95 % predictive interval")
    axes[2].plot(steps, at["hazard"], "o-", color="tab:orange", label="hazard (ensemble)")
    if "true_hazard" in ds:
        axes[2].plot(steps, ds["true_hazard"].values[:, row, col], "s--", color="black", label="truth")
    axes[2].plot(steps, at["observed_density"], "x", color="tab:blue", label="observed density")
    axes[2].set_xticks(steps, labels, rotation=45, ha="right")
    axes[2].set_ylabel("% of the cell (linear below 0.01)")
    axes[2].set_yscale("symlog", linthresh=0.01)
    axes[2].set_ylim(bottom=0)
    axes[2].set_title(f"widest interval: cell row {row}, col {col}")
    axes[2].legend(fontsize=8)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def draw_importance(result_path: Path, out: Path) -> None:
    """AUC drop per group and season with the 95 % range of the permutations."""
    result = json.loads(result_path.read_text(encoding="utf-8"))
    seasons = result["seasons"]
    fig, axes = plt.subplots(1, len(seasons), figsize=(5 * len(seasons), 3.6), sharex=True, constrained_layout=True)
    for ax, (season, block) in zip(np.atleast_1d(axes), seasons.items(), strict=True):
        groups = sorted(block["importance"], key=lambda g: block["importance"][g]["auc"]["mean"])
        means = np.array([block["importance"][g]["auc"]["mean"] for g in groups])
        low = means - np.array([block["importance"][g]["auc"]["low"] for g in groups])
        high = np.array([block["importance"][g]["auc"]["high"] for g in groups]) - means
        ax.barh(groups, means, xerr=[low, high], color="tab:green", capsize=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_title(f"{season} slices ({block['patches']} test patches)")
        ax.set_xlabel("drop of AUC when permuted")
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main() -> None:
    """Write both pictures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ensemble", type=Path)
    parser.add_argument("--slice", default="2015-post")
    args = parser.parse_args()
    IMAGES.mkdir(exist_ok=True)
    draw_uncertainty(args.ensemble, args.slice, IMAGES / "uncertainty.png")
    draw_importance(DOCS / "results" / "importance.json", IMAGES / "importance.png")


if __name__ == "__main__":
    main()

"""Coverage of the known truth by two interval rules over an ensemble's members (synthetic cases).

Usage (after training and predicting K member runs, e.g. ``hazard train WORK --config demo --members 3
--set bootstrap_blocks=true`` and ``hazard predict WORK --run ID`` for each member)::

    .venv/bin/python benchmarks/interval_coverage.py WORK/runs/ID0 WORK/runs/ID1 WORK/runs/ID2

Prints, per quantity (susceptibility on every test cell; density given occurrence and hazard on
the positive test cells), the share of cells whose true value lies inside

- ``p05-p95``: the 5th-95th percentiles of the members' values (what ``hazardcore.ensemble`` stored
  before 2026-12-07);
- ``t``: the central 90 % of the Student-t predictive distribution of one more member,
  mean ± t(0.95, K − 1) · s · sqrt(1 + 1/K), on the raw scale and on the log (density, hazard) or
  logit (susceptibility) scale (:func:`hazardcore.intervals.predictive_percentiles`, what it stores now);

the multiple of the members' standard deviation (transformed scale) that would cover 90 %, the
mean bias of the members' mean against the truth on that scale, and the median widths.
With K members the 5th-95th percentiles of K values span less than the members' range, so they
cannot cover 90 % of anything exchangeable with a member unless K is large.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import stats

from hazardcore.export import open_predictions
from hazardcore.intervals import PERCENTILES, TRUTH_OF, predictive_percentiles, to_scale


def member_values(runs: list[Path], quantity: str) -> np.ndarray:
    """(K, slice, y, x) values of one quantity over the members' predictions."""
    members = [open_predictions(run / "predictions.nc") for run in runs]
    if quantity == "hazard":
        return np.stack([m["susceptibility"].values * m["density"].values for m in members]).astype("float64")
    return np.stack([m[quantity].values for m in members]).astype("float64")


def row(quantity: str, values: np.ndarray, truth: np.ndarray, cells: np.ndarray) -> str:
    """One quantity's line of the table."""
    k = values.shape[0]
    ok = cells & np.isfinite(truth) & np.isfinite(values).all(axis=0)
    t = stats.t.ppf(0.95, k - 1) * np.sqrt(1 + 1 / k)
    inside = lambda low, high: float(np.mean((truth[ok] >= low[ok]) & (truth[ok] <= high[ok])))  # noqa: E731
    low, high = np.percentile(values, [5, 95], axis=0)
    mean, sd = values.mean(axis=0), values.std(axis=0, ddof=1)
    z = to_scale(values, quantity)
    z_mean, z_sd = z.mean(axis=0), z.std(axis=0, ddof=1)
    z_low, z_high = predictive_percentiles(values, quantity, (PERCENTILES[0], PERCENTILES[-1]))
    z_truth = to_scale(truth, quantity)
    needed = np.quantile(np.abs(z_truth[ok] - z_mean[ok]) / np.maximum(z_sd[ok], 1e-9), 0.9)
    return (f"| {quantity} | {k} | {int(ok.sum())} | {inside(low, high):.3f} | "
            f"{inside(mean - t * sd, mean + t * sd):.3f} | {inside(z_low, z_high):.3f} | {needed:.2f} (t: {t:.2f}) | "
            f"{np.mean(z_truth[ok] - z_mean[ok]):+.3f} | "
            f"{np.median((high - low)[ok]):.3g} / {np.median((z_high - z_low)[ok]):.3g} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="member run folders, each predicted")
    runs = parser.parse_args().runs
    first = open_predictions(runs[0] / "predictions.nc")
    test = first["test"].values.astype(bool)
    positive = test & (first["presence"].values > 0)
    print("| quantity | K | cells | p05-p95 | t (raw) | t (log/logit) | sd multiple for 90 % | bias (log/logit) | "
          "median width p05-p95 / t |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for quantity, (truth, positive_only) in TRUTH_OF.items():
        print(row(quantity, member_values(runs, quantity), first[truth].values, positive if positive_only else test))


if __name__ == "__main__":
    main()

"""Draw the README's picture of a forecast ("Forecast the next period").

Usage: ``python docs/forecast_figure.py WORKDIR RUN_ID LABEL [--reference PERIOD] [--out docs/img/forecast.png]``
after ``hazard demo`` (which ends with the forecast ``next-year-100y``) or ``hazard predict WORKDIR
--run RUN_ID --period LABEL``. Panels: the period's maximum daily rain (the scenario), the forecast
hazard, its difference to the run's prediction of a reference period (default: the last mapped
one) and the forecast susceptibility with the cells at or above the period's decision threshold.
The title gives the period's triggers and the regional totals.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from hazardcore.cube import PreparedCube
from hazardcore.export import open_predictions
from hazardcore.forecast import forecast_path, summary
from hazardcore.predictors import DYNAMIC_CHANNELS
from hazardcore.runfolder import PREDICTIONS


def draw(workdir: Path, run_id: str, label: str, reference: str | None, out: Path) -> dict[str, float]:
    """Render the four panels to ``out``; return the forecast's regional totals."""
    cube = PreparedCube.open(workdir)
    run = workdir / "runs" / run_id
    with xr.open_dataset(forecast_path(run, label)) as stored:
        maps = stored.load()
    predictions = open_predictions(run / PREDICTIONS)
    mapped = [str(s) for s, flag in zip(predictions["slice"].values, predictions["labelled"].values, strict=True)
              if flag]
    reference = reference or mapped[-1]
    k = cube.slice_labels.index(label)
    grid = cube.grid
    extent = (0.0, grid.n_cols * grid.cell_size_m / 1000, 0.0, grid.n_rows * grid.cell_size_m / 1000)
    rain = np.asarray(cube.dynamic[k, DYNAMIC_CHANNELS.index("rain_max")])
    hazard = maps["hazard"].values
    before = predictions["hazard"].sel(slice=reference).values
    totals = summary(maps, grid.cell_area_m2 / 1e6)
    fig, axes = plt.subplots(1, 4, figsize=(20, 5.2), constrained_layout=True)
    panels = [(rain, "Blues", "max daily rain (mm/day)", f"{label}: rain scenario"),
              (hazard, "magma_r", "hazard (% of the cell)", "forecast hazard"),
              (hazard - before, "RdBu_r", "hazard difference (% of the cell)", f"forecast − {reference} (predicted)"),
              (maps["susceptibility"].values, "viridis", "probability of >= 1 new landslide",
               "forecast susceptibility (+: at or above the threshold)")]
    for ax, (values, cmap, unit, title) in zip(axes, panels, strict=True):
        limit = float(np.nanmax(np.abs(values))) if cmap == "RdBu_r" else None
        image = ax.imshow(values, cmap=cmap, extent=extent, interpolation="nearest",
                          vmin=-limit if limit else None, vmax=limit)
        fig.colorbar(image, ax=ax, label=unit, shrink=0.85)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("km")
    threshold = float(maps.attrs["decision_threshold"])
    rows, cols = np.nonzero(maps["susceptibility"].values >= threshold)
    size = grid.cell_size_m / 1000
    axes[3].scatter((cols + 0.5) * size, extent[3] - (rows + 0.5) * size, marker="+", c="white", s=12)
    rain_of = json.loads(maps.attrs["provenance"]).get("rain", {})
    if rain_of.get("kind") == "return_period":
        years = rain_of["return_period_years"]
        rain_text = f"{rain_of['period']}'s pattern, wettest day at the {years:g}-year design rain"
    elif rain_of.get("kind") == "scaled":
        rain_text = f"{rain_of['period']} x {rain_of['factor']:g}"
    else:
        rain_text = str(rain_of.get("path", "the catalog's record"))
    fig.suptitle(f"Forecast {label} ({maps.attrs['period_start']} .. {maps.attrs['period_end']}), run {run_id}; "
                 f"rain: {rain_text}\nexpected landslide area {totals['expected_landslide_area_km2']:.2f} km², "
                 f"{totals['cells_at_or_above_threshold']} of {totals['cells']} cells at or above the threshold; "
                 f"outside the training range: {maps.attrs['outside_training_range']}", fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    return totals


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("run_id")
    parser.add_argument("label")
    parser.add_argument("--reference", help="the period to compare with (default: the last mapped one)")
    parser.add_argument("--out", type=Path, default=Path("docs/img/forecast.png"))
    args = parser.parse_args()
    print(json.dumps(draw(args.workdir, args.run_id, args.label, args.reference, args.out), indent=1))


if __name__ == "__main__":
    main()

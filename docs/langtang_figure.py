"""Draw the README's picture of the Langtang real-terrain case.

Usage: ``python docs/langtang_figure.py CASE_DIR WORKDIR [--out docs/img/langtang_case.png]``
where CASE_DIR holds ``catalog.yaml`` from ``hazard synth --case langtang CASE_DIR`` and
WORKDIR the cube from ``hazard prepare CASE_DIR/catalog.yaml --out WORKDIR``. Panels: the real
AW3D30 terrain with the NASA catalogue's landslide events, the ShakeMap PGA and its GEM spread
proxy, the CHIRPS maximum daily rain of the first monsoon, the known probability and the
drawn new landslide density of the co-seismic slice, and the published hazard of those cells.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LightSource

from hazardcore.catalog import load_catalog, open_event_points, open_reference_maps
from hazardcore.cube import PreparedCube
from hazardcore.predictors import DYNAMIC_CHANNELS, STATIC_CHANNELS

CREDITS = ("DEM (c) JAXA AW3D30; PGA: USGS ShakeMap Atlas us20002926, GEM OpenQuake (CC BY-NC-SA 4.0); "
           "rain: CHIRPS v2.0; events: NASA GLC; published maps: Dahal et al. 2024 (MIT)")


def panel(ax: plt.Axes, fig: plt.Figure, values: np.ndarray, extent: tuple[float, ...], title: str,
          label: str, cmap: str) -> None:
    """One map with its colour bar (clipped at the 99th percentile, so that a few cells do not wash it out)."""
    colours = plt.get_cmap(cmap).copy()
    colours.set_bad("lightgrey")  # NaN: no value (e.g. outside the published study area)
    image = ax.imshow(values, cmap=colours, extent=extent, interpolation="nearest",
                      vmax=float(np.nanpercentile(values, 99)))
    fig.colorbar(image, ax=ax, label=label, shrink=0.8)
    ax.set_title(title, fontsize=10)


def draw(case: Path, workdir: Path, out: Path) -> None:
    """Render the eight-panel figure to ``out``."""
    catalog = load_catalog(case / "catalog.yaml")
    cube = PreparedCube.open(workdir)
    grid = cube.grid
    extent = (0.0, grid.n_cols * 1.0, 0.0, grid.n_rows * 1.0)  # km from the tile's lower-left corner
    static = {name: np.asarray(cube.static[STATIC_CHANNELS.index(name)])
              for name in ("elevation", "pga_max", "pga_std")}
    rain = np.asarray(cube.dynamic[1, DYNAMIC_CHANNELS.index("rain_max")])
    fig, axes = plt.subplots(2, 4, figsize=(19, 8.4), constrained_layout=True)
    shade = LightSource(azdeg=315, altdeg=45).hillshade(static["elevation"], dx=grid.pixel_size_m,
                                                        dy=grid.pixel_size_m)
    axes[0, 0].imshow(shade, cmap="gray", extent=extent)
    terrain = axes[0, 0].imshow(static["elevation"], cmap="terrain", alpha=0.5, extent=extent)
    fig.colorbar(terrain, ax=axes[0, 0], label="elevation (m)", shrink=0.8)
    events = open_event_points(catalog.layer("landslide_events"))
    inside = events[events["inside_grid"]]
    axes[0, 0].scatter((inside["x"] - grid.x_min) / 1000, (inside["y"] - grid.bounds[1]) / 1000, c="red", s=25,
                       marker="^", label=f"NASA GLC events ({len(inside)})")
    axes[0, 0].legend(loc="lower left", fontsize=8)
    axes[0, 0].set_title("AW3D30 terrain (real), 25 x 29 km", fontsize=10)
    panel(axes[0, 1], fig, static["pga_max"], extent, "PGA, USGS ShakeMap (mainshock)", "m/s²", "magma")
    panel(axes[0, 2], fig, static["pga_std"], extent, "PGA spread (GEM 7-GMPE proxy)", "m/s²", "viridis")
    panel(axes[0, 3], fig, rain, extent, f"max daily rain {cube.slice_labels[1]} (CHIRPS, nearest)", "mm/day",
          "Blues")
    truth = cube.truth["p_occurrence"][0]
    panel(axes[1, 0], fig, truth, extent, f"known P(new landslide) {cube.slice_labels[0]}", "probability", "YlOrRd")
    density = np.where(cube.valid[0], cube.density[0], np.nan)
    panel(axes[1, 1], fig, density, extent, f"drawn new landslide density {cube.slice_labels[0]}", "% of cell",
          "YlOrRd")
    later = np.nanmean(np.where(cube.valid[1:], cube.density[1:], np.nan), axis=0)
    panel(axes[1, 2], fig, later, extent, "mean drawn density, later slices", "% of cell", "YlOrRd")
    reference = case / str(catalog.raw.get("reference_maps", "reference"))
    if reference.is_dir():
        published = open_reference_maps(reference, cube.slice_labels)["hazard"].values[0]
        inside = int(np.isfinite(published).sum())
        panel(axes[1, 3], fig, published, extent, f"published hazard {cube.slice_labels[0]}\n(Dahal et al.; "
              f"{inside} of {published.size} cells in their study area)", "% of cell", "YlOrRd")
    else:
        axes[1, 3].set_axis_off()
    for ax in axes.flat:
        ax.set_xlabel("km east")
        ax.set_ylabel("km north")
    fig.suptitle("Langtang real-terrain case: real DEM and triggers, landslides from the known truth process")
    fig.text(0.5, -0.01, CREDITS, ha="center", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    """Parse the arguments and draw."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/img/langtang_case.png"))
    args = parser.parse_args()
    draw(args.case, args.workdir, args.out)


if __name__ == "__main__":
    main()

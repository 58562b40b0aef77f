"""Draw the README's picture of a synthetic region: hillshade, streams and one slice's density.

Usage: ``python docs/figures.py REGION_DIR WORKDIR [--slice 0] [--out docs/img/synthetic_region.png]``
where REGION_DIR holds ``catalog.yaml`` (from ``hazard synth``) and WORKDIR the prepared cube.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LightSource, LogNorm

from hazardcore.catalog import load_catalog
from hazardcore.cube import PreparedCube
from hazardcore.predictors import CHANNELS


def draw(region: Path, workdir: Path, slice_index: int, out: Path) -> None:
    """Render the two-panel figure to ``out``."""
    catalog = load_catalog(region / "catalog.yaml")
    cube = PreparedCube.open(workdir)
    grid = cube.grid
    elevation = np.asarray(cube.static[CHANNELS.index("elevation")])
    distance = np.asarray(cube.static[CHANNELS.index("distance_to_river")])
    km = grid.cell_size_m / 1000.0
    extent = (0, grid.n_cols * km, 0, grid.n_rows * km)
    shade = LightSource(azdeg=315, altdeg=45).hillshade(elevation, vert_exag=1.0, dx=grid.pixel_size_m,
                                                        dy=grid.pixel_size_m)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.4), constrained_layout=True)
    axes[0].imshow(shade, cmap="gray", extent=extent)
    terrain = axes[0].imshow(elevation, cmap="terrain", alpha=0.45, extent=extent)
    axes[0].imshow(np.where(distance == 0, 1.0, np.nan), cmap="winter", extent=extent, interpolation="none")
    fig.colorbar(terrain, ax=axes[0], label="elevation (m)", shrink=0.8)
    axes[0].set_title(f"{catalog.case}: hillshade, elevation and streams")
    density = np.where(cube.valid[slice_index] & (cube.density[slice_index] > 0),
                       cube.density[slice_index], np.nan)
    axes[1].imshow(shade, cmap="gray", extent=extent)
    im = axes[1].imshow(density, cmap="inferno_r", norm=LogNorm(vmin=0.01, vmax=max(np.nanmax(density), 1.0)),
                        extent=extent, interpolation="none", alpha=0.85)
    fig.colorbar(im, ax=axes[1], label="new landslide area density (% of cell)", shrink=0.8)
    label = cube.slice_labels[slice_index]
    positive = float(np.nanmean(cube.presence[slice_index][cube.valid[slice_index]]))
    axes[1].set_title(f"slice {label}: {100 * positive:.0f} % of cells with new landslides")
    for ax in axes:
        ax.set_xlabel("km east")
        ax.set_ylabel("km north")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("region", type=Path)
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--slice", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "img" / "synthetic_region.png")
    args = parser.parse_args()
    draw(args.region, args.workdir, args.slice, args.out)
    print(args.out)


if __name__ == "__main__":
    main()

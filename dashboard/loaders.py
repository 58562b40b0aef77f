"""Readers of a root folder's working folders and runs, cached with ``pn.cache``.

Every reader goes through :mod:`hazardcore` (``pipeline.list_runs``, ``export.open_predictions``,
``cube.PreparedCube``, ``terrain.hillshade``, ...). Cached readers take the file's
modification stamp as an argument, so that a run predicted again, or a cube prepared
again, is read again; the cache is shared by the sessions of one server process.
Folders are scanned without following symbolic links, and the callers check that every
path lies inside the root (:func:`dashboard.state.DashboardState.resolve`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import rioxarray  # noqa: F401  # registers .rio
import xarray as xr
from rasterio.enums import Resampling

from hazardcore import catalog, export, terrain
from hazardcore.config import config_hash, demo_configs
from hazardcore.cube import CUBE_NAME, PreparedCube
from hazardcore.errors import HazardcoreError
from hazardcore.integrity import read_verified
from hazardcore.pipeline import list_runs
from hazardcore.predictors import CHANNEL_UNITS, CHANNELS, DYNAMIC_CHANNELS, PERIOD_CHANNELS, STATIC_CHANNELS
from hazardcore.runfolder import (
    CALIBRATION,
    CHECKPOINTS,
    CONFIG,
    ENSEMBLE,
    ENSEMBLES,
    IMPORTANCE,
    LOG,
    METRICS,
    MODEL,
    PREDICTIONS,
    PRODUCTS,
    RUNS,
    all_ensembles,
    all_runs,
    run_path,
    workdir_of,
)
from hazardcore.runstatus import is_trained, run_split_protocol, step_state, summary

#: Folders never searched for working folders (run contents, products, caches).
SKIP_FOLDERS = {RUNS, ENSEMBLES, CHECKPOINTS, PRODUCTS, "region", "__pycache__", "node_modules"}
#: How deep below the root working folders are searched for.
MAX_DEPTH = 4
#: Longest side (pixels) of the hillshade drawn under the 1 km maps; larger DEMs are averaged down first.
HILLSHADE_MAX_PIXELS = 2048


def stamp(path: Path) -> int:
    """Modification time (ns) of a file, -1 when it does not exist (a cache key)."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def find_workdirs(root: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Working folders (holding ``prepared.zarr`` or ``runs/``) at most ``max_depth`` below ``root``."""
    found, stack = [], [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        if (folder / CUBE_NAME).is_dir() or (folder / RUNS).is_dir():
            found.append(folder)
        if depth >= max_depth:
            continue
        try:
            children = [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
        except OSError:
            continue
        stack += [(child, depth + 1) for child in children
                  if child.name not in SKIP_FOLDERS and child.suffix != ".zarr" and not child.name.startswith(".")]
    return sorted(found)


def find_runs(root: Path) -> list[Path]:
    """Trained runs (``WORKDIR/runs/<id>`` whose training finished) under ``root``, newest first, then the
    predicted ensembles (``WORKDIR/ensembles/<id>``, shown like runs with their intervals)."""
    workdirs = find_workdirs(root)
    runs = [run for workdir in workdirs for run in list_runs(workdir)]
    ensembles = [folder for workdir in workdirs for folder in all_ensembles(workdir)
                 if step_state(folder, "predict") == "finished" and (folder / PREDICTIONS).is_file()]
    return (sorted(runs, key=lambda run: stamp(run / MODEL), reverse=True)
            + sorted(ensembles, key=lambda folder: stamp(folder / PREDICTIONS), reverse=True))


def unfinished_runs(root: Path) -> dict[Path, str]:
    """Run folders under ``root`` whose training did not finish → their status line."""
    return {run: summary(run) for workdir in find_workdirs(root) for run in all_runs(workdir)
            if not is_trained(run)}


def run_label(run: Path, root: Path) -> str:
    """How a run is named in the chooser: id, working folder, split, and whether it is evaluated."""
    workdir = workdir_of(run)
    where = "." if workdir == root else str(workdir.relative_to(root))
    try:
        split = run_split_protocol(run)
    except (OSError, KeyError, ValueError):
        split = "?"
    kind = "ensemble, " if (run / ENSEMBLE).is_file() else ""
    return f"{run.name} ({kind}{where}, {split} split{run_state(run, ensemble=bool(kind))})"


def run_state(run: Path, ensemble: bool = False) -> str:
    """What the chooser adds to a run's label: "" when evaluated, else what it lacks (", not evaluated")."""
    training = step_state(run, "train")
    if training == "running":
        return ", being trained"
    if not ensemble and not is_trained(run):
        return ", model missing" if training == "finished" else f", training {training}"
    if step_state(run, "predict") == "finished" and not (run / PREDICTIONS).is_file():
        return ", predictions missing"
    return "" if step_state(run, "evaluate") == "finished" and (run / METRICS).is_file() else ", not evaluated"


@pn.cache(max_items=4)
def _predictions(path: str, modified: int) -> xr.Dataset:
    return export.open_predictions(path)


def predictions(run: Path) -> xr.Dataset | None:
    """A run's ``predictions.nc`` (checked against its checksum), or None until ``predict`` finished."""
    path = run / PREDICTIONS
    finished = step_state(run, "predict") == "finished" and path.exists()
    return _predictions(str(path), stamp(path)) if finished else None


@pn.cache(max_items=16)
def _json(path: str, modified: int) -> dict[str, Any]:
    return dict(json.loads(Path(path).read_text(encoding="utf-8")))


@pn.cache(max_items=16)
def _verified_json(path: str, modified: int) -> dict[str, Any]:
    return dict(json.loads(read_verified(path, fix="evaluate again: `hazard evaluate WORKDIR --run RUN_ID`")))


def metrics(run: Path) -> dict[str, Any] | None:
    """A run's ``metrics.json`` (checked against its checksum), or None until ``evaluate`` finished."""
    path = run / METRICS
    finished = step_state(run, "evaluate") == "finished" and path.exists()
    return _verified_json(str(path), stamp(path)) if finished else None


@pn.cache(max_items=16)
def _importance(path: str, modified: int) -> dict[str, Any]:
    return dict(json.loads(read_verified(path, fix="explain again: `hazard explain WORKDIR --run RUN_ID`")))


def importance(run: Path) -> dict[str, Any] | None:
    """A run's ``importance.json`` (written by ``hazard explain``, checked against its checksum), or None."""
    path = run / IMPORTANCE
    return _importance(str(path), stamp(path)) if path.exists() else None


def run_config(run: Path) -> dict[str, Any]:
    """A run's ``config.json`` ({"model": ..., "train": ...}); empty when missing."""
    path = run / CONFIG
    return _json(str(path), stamp(path)) if path.exists() else {}


def log_records(path: Path) -> pd.DataFrame:
    """The epochs of a ``log.jsonl`` with a running ``step`` column; empty (with columns) when none.

    A line being written while we read (no final newline yet) is skipped.
    """
    columns = ["step", "stage", "epoch", "train_loss", "val_loss"]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return pd.DataFrame(columns=columns)
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=columns[1:])
    frame.insert(0, "step", np.arange(len(frame)))
    return frame


def cube_stamp(workdir: Path) -> int:
    """Modification stamp of a prepared cube (its ``prepare.json`` summary, else the Zarr root)."""
    summary = workdir / "prepare.json"
    return stamp(summary) if summary.exists() else stamp(workdir / CUBE_NAME / "zarr.json")


@pn.cache(max_items=2)
def _cube(workdir: str, modified: int) -> PreparedCube:
    return PreparedCube.open(workdir)


def cube(workdir: Path) -> PreparedCube:
    """The prepared cube of a working folder (``hazardcore.cube.PreparedCube.open``).

    Raises
    ------
    HazardcoreError
        If the folder holds no prepared cube.
    """
    return _cube(str(workdir), cube_stamp(workdir))


@pn.cache(max_items=3)
def _channel(workdir: str, modified: int, channel: str, slice_index: int) -> xr.DataArray:
    prepared = _cube(workdir, modified)
    if channel in STATIC_CHANNELS:
        values = np.asarray(prepared.static[STATIC_CHANNELS.index(channel)], dtype="float32")
    elif channel in DYNAMIC_CHANNELS:
        values = np.asarray(prepared.dynamic[slice_index, DYNAMIC_CHANNELS.index(channel)], dtype="float32")
    else:  # a period covariate: one number per slice
        values = np.full(prepared.grid.shape("30m"), prepared.period[slice_index, PERIOD_CHANNELS.index(channel)],
                         dtype="float32")
    return xr.DataArray(values, dims=("y", "x"), coords=prepared.grid.coords("30m"), name=channel,
                        attrs={"units": CHANNEL_UNITS.get(channel, ""), "long_name": channel.replace("_", " ")})


def channel_plane(workdir: Path, channel: str, slice_index: int) -> xr.DataArray:
    """One predictor channel of one slice on the 31.25 m lattice (NaN = nodata), with units.

    Static channels are the same in every slice (the slice is ignored for them).

    Raises
    ------
    HazardcoreError
        If ``channel`` is not one of ``hazardcore.predictors.CHANNELS``.
    """
    if channel not in CHANNELS:
        raise HazardcoreError(f"unknown predictor channel {channel!r}; expected one of {list(CHANNELS)}")
    dynamic = channel not in STATIC_CHANNELS
    return _channel(str(workdir), cube_stamp(workdir), channel, int(slice_index) if dynamic else -1)


@pn.cache(max_items=2)
def _hillshade(workdir: str, modified: int, max_pixels: int) -> xr.DataArray:
    elevation = _channel(workdir, modified, "elevation", -1)
    factor = max(1, math.ceil(max(elevation.shape) / max_pixels))
    if factor > 1:
        elevation = elevation.coarsen(y=factor, x=factor, boundary="trim").mean()
    return terrain.hillshade(elevation)


def hillshade(workdir: Path, max_pixels: int = HILLSHADE_MAX_PIXELS) -> xr.DataArray:
    """Hillshade (``hazardcore.terrain.hillshade``) of a working folder's DEM, averaged down to ≤ ``max_pixels``."""
    return _hillshade(str(workdir), cube_stamp(workdir), max_pixels)


#: The CRS web map tiles are drawn in (GeoViews plots over a basemap in Web Mercator).
WEB_MERCATOR = "EPSG:3857"


@pn.cache(max_items=2)
def _web_hillshade(workdir: str, modified: int, max_pixels: int, crs: str) -> xr.DataArray:
    shade = _hillshade(workdir, modified, max_pixels)
    grid = shade.rio.set_spatial_dims(x_dim="x", y_dim="y").rio.write_crs(crs).rio.write_nodata(np.nan)
    return grid.rio.reproject(WEB_MERCATOR, resampling=Resampling.bilinear).rename("hillshade")


def web_hillshade(workdir: Path, crs: str, max_pixels: int = HILLSHADE_MAX_PIXELS) -> xr.DataArray:
    """The hillshade of :func:`hillshade` reprojected (bilinear) from the grid's ``crs`` to Web Mercator.

    Over a web basemap GeoViews draws in Web Mercator; a plain image in those coordinates sits
    on the tiles without being projected again on every redraw (NaN outside the region).
    """
    return _web_hillshade(str(workdir), cube_stamp(workdir), max_pixels, str(crs))


def cell_predictors(workdir: Path, row: int, col: int) -> pd.DataFrame:
    """Mean of each channel over one cell's pixels, per slice (rows: channels, columns: slices).

    Uses ``PreparedCube.block_image`` (nodata pixels read as 0 there; such cells are
    invalid for the model, see the ``valid`` mask).
    """
    prepared = cube(workdir)
    ppc = prepared.grid.pixels_per_cell
    rows, cols = slice(row * ppc, (row + 1) * ppc), slice(col * ppc, (col + 1) * ppc)
    means = {label: prepared.block_image(k, rows, cols).mean(axis=(1, 2))
             for k, label in enumerate(prepared.slice_labels)}
    frame = pd.DataFrame(means, index=list(prepared.channels))
    frame.insert(0, "units", [CHANNEL_UNITS.get(name, "") for name in frame.index])
    return frame


@pn.cache(max_items=2)
def _reference(folder: str, labels: tuple[str, ...], workdir: str, modified: int) -> xr.Dataset | None:
    try:
        maps = catalog.open_reference_maps(folder, list(labels))
    except HazardcoreError:
        return None  # missing files, or band count differs from the run's slices: not the study's grid
    return maps if catalog.reference_on_grid(maps, _cube(workdir, modified).grid) else None


def reference_maps(folder: Path | None, workdir: Path, labels: list[str]) -> xr.Dataset | None:
    """The published maps (``catalog.open_reference_maps``) when they lie on this run's grid, else None."""
    if folder is None or not folder.is_dir():
        return None
    return _reference(str(folder), tuple(labels), str(workdir), cube_stamp(workdir))


def demo_progress(out: Path) -> float:
    """How far ``hazardcore.pipeline.demo(out)`` has got, from the files it has written (0 to 1)."""
    work = out / "work"
    model_config, train_config = demo_configs()
    run = run_path(work, config_hash(model_config, train_config))
    if (run / METRICS).exists():
        return 0.98
    if (run / PREDICTIONS).exists():
        return 0.93
    if not (work / "prepare.json").exists():
        return 0.05 if (out / "region" / "catalog.yaml").exists() else 0.01
    from hazardcore.stages import epoch_offsets  # PyTorch: only while a demo trains

    return 0.15 + 0.75 * min(1.0, len(log_records(run / LOG)) / epoch_offsets(train_config)["total"])


def calibration(run: Path) -> dict[str, Any]:
    """A run's ``calibration.json`` (how its probabilities were recalibrated); empty when missing."""
    path = run / CALIBRATION
    return _json(str(path), stamp(path)) if path.exists() else {}


@pn.cache(max_items=4)
def _catalog(path: str, modified: int) -> catalog.Catalog | None:
    try:
        return catalog.load_catalog(path)
    except HazardcoreError:
        return None


def workdir_catalog(root: Path, workdir: Path | None) -> catalog.Catalog | None:
    """The data catalog a working folder was prepared from (``prepare.json``'s ``catalog``), when it lies
    inside ``root`` (nothing outside the root is read) and loads; else None.

    A root moved or copied elsewhere still records the old path: then the catalog of the same
    name in the folder of the same name beside the working folder (``ROOT/region/catalog.yaml``).
    """
    if workdir is None:
        return None
    summary_path = workdir / "prepare.json"
    try:
        path = Path(json.loads(summary_path.read_text(encoding="utf-8"))["catalog"])
    except (OSError, KeyError, TypeError, ValueError):
        return None
    path = path if path.is_absolute() else workdir / path
    inside = root.resolve()
    if not path.resolve().is_relative_to(inside):  # the root was moved or copied: the catalog beside the workdir
        path = workdir.parent / path.parent.name / path.name
    if not path.is_file() or not path.resolve().is_relative_to(inside):
        return None
    return _catalog(str(path.resolve()), stamp(path))

"""Whole-grid prediction of every slice with overlapping windows (METHOD.md §1).

Windows of ``patch_cells`` cells slide over the grid with a stride of ``stride_cells`` in
both directions (stride 2 for 4-cell patches: the base lattice, the diagonally shifted
lattice of training and the two half-shifted ones). Window origins start ``patch_cells −
stride_cells`` cells before the grid, and pixels outside it are zero (the scaled mean, as
invalid cells are in training), so every cell, edge cells included, lies in exactly
``(patch_cells / stride_cells)²`` windows. Each cell's logits and densities are averaged
over them; the probability is the sigmoid of the mean logit.

Work streams one row of windows at a time (all slices together, one batch), so memory is
bounded by a strip of the region, never all patches. This module alone turns network
outputs back into coordinates: :func:`prediction_dataset` builds the (slice, y, x) Dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import torch
import xarray as xr
from tqdm.auto import tqdm

from hazardcore.checkpoint import Checkpoint, load_checkpoint
from hazardcore.config import ModelConfig
from hazardcore.cube import PreparedCube
from hazardcore.datasets import pool_image, valid_pixels
from hazardcore.errors import CheckpointError, ConfigError, describe
from hazardcore.models import HazardModel, build_model, check_input
from hazardcore.predictors import ChannelScaling
from hazardcore.train import autocast, to_device

TRUTH_NAMES = {"p_occurrence": "true_probability",
               "expected_density_given_occurrence": "true_density_given_occurrence"}


def load_model(path: str | Path, device: torch.device) -> tuple[HazardModel, Checkpoint]:
    """A trained hazard model (eval mode, on ``device``) and its checkpoint.

    Raises
    ------
    CheckpointError
        If the file is not a checkpoint of a combined hazard model.
    """
    checkpoint = load_checkpoint(path)
    if checkpoint.kind != "hazard":
        raise CheckpointError(describe("checkpoint is not a combined hazard model", source=path,
                                       expected="kind 'hazard'", found=checkpoint.kind))
    model = build_model(ModelConfig.from_dict(checkpoint.model_config), "hazard")
    assert isinstance(model, HazardModel)
    model.load_state_dict(checkpoint.weights)
    return model.to(device).eval(), checkpoint


def window_origins(n_cells: int, patch_cells: int, stride_cells: int) -> np.ndarray:
    """Window origins along one axis so that every cell lies in ``patch / stride`` windows.

    Raises
    ------
    ConfigError
        If the stride does not divide the patch.
    """
    if stride_cells < 1 or patch_cells % stride_cells:
        raise ConfigError(describe("prediction stride must divide the patch", expected=f"a divisor of {patch_cells}",
                                   found=stride_cells))
    return np.arange(-(patch_cells - stride_cells), n_cells, stride_cells)


def strip_canvases(cube: PreparedCube, scaling: ChannelScaling, row: int, cell_px: int, lead: int,
                   width_cells: int) -> np.ndarray:
    """(slice, 16, patch·cell_px, width·cell_px) scaled images of the cell rows ``row … row + patch``.

    The static channels of the strip are read once for all slices (on a study-area cube,
    which stays on disk, re-reading them per slice made strip assembly 20 % slower).
    """
    patch, ppc = cube.patch_cells, cube.grid.pixels_per_cell
    top, bottom = max(row, 0), min(row + patch, cube.grid.n_rows)
    blocks = cube.block_images(slice(top * ppc, bottom * ppc), slice(0, cube.grid.n_cols * ppc))
    return np.stack([strip_canvas(block, cube, scaling, s, row, cell_px, lead, width_cells)
                     for s, block in enumerate(blocks)])


def strip_canvas(block: np.ndarray, cube: PreparedCube, scaling: ChannelScaling, slice_index: int, row: int,
                 cell_px: int, lead: int, width_cells: int) -> np.ndarray:
    """Scaled (16, patch·cell_px, width·cell_px) image of the cell rows ``row … row + patch``.

    ``block`` is the slice's unscaled image of those rows inside the grid (all columns, at the
    cube's resolution). Column ``lead`` of the canvas is the grid's first column; cells outside
    the grid and invalid cells are 0.
    """
    patch, ppc = cube.patch_cells, cube.grid.pixels_per_cell
    n_rows, n_cols = cube.grid.n_rows, cube.grid.n_cols
    top, bottom = max(row, 0), min(row + patch, n_rows)
    canvas = np.zeros((len(cube.channels), patch * cell_px, width_cells * cell_px), dtype="float32")
    image = pool_image(block, ppc // cell_px)
    image = (image - scaling.mean[:, None, None]) / scaling.std[:, None, None]
    image *= valid_pixels(cube.valid[slice_index, top:bottom], cell_px)[None]
    canvas[:, (top - row) * cell_px:(bottom - row) * cell_px, lead * cell_px:(lead + n_cols) * cell_px] = image
    return canvas


def strip_windows(strips: np.ndarray, size_px: int, stride_px: int) -> torch.Tensor:
    """The (slice × column, channels, size, size) windows of (slice, channels, size, width) strips.

    Windows start every ``stride_px`` pixels along the strip, slice-major.
    """
    n_channels = strips.shape[1]
    windows = torch.from_numpy(strips).unfold(3, size_px, stride_px)
    return windows.permute(0, 3, 1, 2, 4).reshape(-1, n_channels, size_px, size_px)


def run_windows(model: HazardModel, windows: torch.Tensor, device: torch.device,
                batch_size: int, thresholds: Sequence[float] = ()) -> dict[str, np.ndarray]:
    """``logit``, ``density`` and one ``exceedance_<k>`` per threshold (n, patch, patch) of scaled windows."""
    keys = ["logit", "density", *(exceedance_key(k) for k in range(len(thresholds)))]
    outputs: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    for start in range(0, len(windows), batch_size):
        batch = to_device({"image": windows[start:start + batch_size]}, device)["image"]
        with autocast(device):
            out = model(batch, thresholds) if thresholds else model(batch)
        for k in range(len(thresholds)):
            out[exceedance_key(k)] = out["exceedance"][..., k]
        for key, values in outputs.items():
            values.append(out[key].float().cpu().numpy())
    return {key: np.concatenate(values) for key, values in outputs.items()}


def exceedance_key(k: int) -> str:
    """The window output of the ``k``-th exceedance threshold."""
    return f"exceedance_{k}"


@torch.inference_mode()
def predict_cells(model: HazardModel, cube: PreparedCube, scaling: ChannelScaling, cell_px: int,
                  device: torch.device, stride_cells: int = 2, batch_size: int = 64,
                  progress: bool = False, thresholds: Sequence[float] = ()) -> dict[str, np.ndarray]:
    """Mean logit, mean density (and exceedance probabilities) and window count of every cell and slice.

    Parameters
    ----------
    model
        Trained model in eval mode on ``device``.
    cube
        The prepared data.
    scaling
        Channel standardisation fitted on the training split (from the checkpoint).
    cell_px
        Pixels per cell the model sees (``ModelConfig.cell_px``).
    device
        Torch device (bf16 autocast on CUDA).
    stride_cells
        Window stride in cells; must divide ``cube.patch_cells``.
    batch_size
        Windows per forward pass.
    progress
        Show a progress bar over window rows.
    thresholds
        Densities (% of the cell) whose exceedance probability given occurrence to predict.

    Returns
    -------
    dict of str to numpy.ndarray
        ``logit`` and ``density`` (slice, row, col) float32, NaN on invalid cells;
        ``exceedance`` (threshold, slice, row, col) when ``thresholds`` are given;
        ``windows`` (row, col) int16, the number of windows averaged per cell.
    """
    n_slices, n_rows, n_cols = cube.valid.shape
    patch = cube.patch_cells
    rows, cols = window_origins(n_rows, patch, stride_cells), window_origins(n_cols, patch, stride_cells)
    lead = patch - stride_cells
    width = int(cols[-1]) + lead + patch
    keys = ("logit", "density", *(exceedance_key(k) for k in range(len(thresholds))))
    sums = {key: np.zeros((n_slices, n_rows, n_cols), dtype="float64") for key in keys}
    counts = np.zeros((n_rows, n_cols), dtype="int16")
    for row in tqdm(rows, desc="predict", unit="row", disable=not progress):
        strips = strip_canvases(cube, scaling, int(row), cell_px, lead, width)
        out = run_windows(model, strip_windows(strips, patch * cell_px, stride_cells * cell_px), device, batch_size,
                          thresholds)
        top, bottom = max(int(row), 0), min(int(row) + patch, n_rows)
        for key, values in out.items():
            strip = strip_sum(values.reshape(n_slices, len(cols), patch, patch), cols, lead, width, stride_cells)
            sums[key][:, top:bottom] += strip[:, top - row:bottom - row, lead:lead + n_cols]
        ones = np.ones((1, len(cols), patch, patch))
        counts[top:bottom] += strip_sum(ones, cols, lead, width, stride_cells)[0, top - row:bottom - row,
                                                                               lead:lead + n_cols].astype("int16")
    valid = cube.valid.astype(bool)
    means = {key: np.where(valid, value / counts, np.nan).astype("float32") for key, value in sums.items()}
    if thresholds:
        means["exceedance"] = np.stack([means.pop(exceedance_key(k)) for k in range(len(thresholds))])
    return means | {"windows": counts}


def strip_sum(values: np.ndarray, cols: np.ndarray, lead: int, width: int, stride_cells: int) -> np.ndarray:
    """Sum per-window cell outputs (s, n_windows, patch, patch) into a (s, patch, width) strip."""
    n_slices, _, patch, _ = values.shape
    strip = np.zeros((n_slices, patch, width), dtype="float64")
    for j in range(len(cols)):
        start = j * stride_cells
        strip[:, :, start:start + patch] += values[:, j]
    return strip


def slice_coordinates(cube: PreparedCube) -> dict[str, tuple[str, np.ndarray]]:
    """``slice_start`` / ``slice_end`` (NaT for cubes without recorded dates), ``monsoons`` and ``labelled``."""
    dates = cube.slice_dates or [("NaT", "NaT")] * len(cube.slice_labels)
    return {name: ("slice", pd.to_datetime([pair[i] for pair in dates]).values.astype("datetime64[ns]"))
            for i, name in enumerate(("slice_start", "slice_end"))} | {
        "monsoons": ("slice", np.asarray(cube.monsoons, dtype="float32")),
        "labelled": ("slice", cube.labelled_mask.astype("uint8"))}  # 0: a forecast period (no inventory)


def prediction_dataset(cube: PreparedCube, cells: dict[str, np.ndarray],
                       masks: dict[str, np.ndarray] | None = None, thresholds: Sequence[float] = ()) -> xr.Dataset:
    """The (slice, y, x) Dataset of predictions, observations and truth on the 1 km grid.

    Parameters
    ----------
    cube
        The prepared data (observations, truth, grid, slices).
    cells
        Output of :func:`predict_cells`.
    masks
        Extra (slice, row, col) bool masks to store as uint8 (e.g. the split's ``test``).
    thresholds
        The densities (% of the cell) of ``cells["exceedance"]``, when predicted.

    Returns
    -------
    xarray.Dataset
        ``logit``, ``susceptibility_uncalibrated`` (sigmoid of the mean logit), ``density``
        (given occurrence, %), ``observed_density`` (%), ``presence`` (0/1), truth layers
        when known (``true_probability``, ``true_density_given_occurrence``,
        ``true_hazard``), uint8 ``valid`` and the masks, int16 ``windows``; CRS set.
    """
    valid = cube.valid.astype(bool)
    observed = valid & cube.labelled_mask[:, None, None]  # a forecast period has no observations
    dims = ("slice", "y", "x")
    variables = {
        "logit": (cells["logit"], "1", "mean logit of landslide occurrence over windows"),
        "susceptibility_uncalibrated": (1.0 / (1.0 + np.exp(-cells["logit"])), "1",
                                        "probability of >= 1 new landslide (uncalibrated)"),
        "density": (cells["density"], "%", "predicted new landslide area density given occurrence"),
        "observed_density": (np.where(observed, cube.density, np.nan), "%", "observed new landslide area density"),
        "presence": (np.where(observed, cube.presence, np.nan), "1", "observed new landslides present (0/1)")}
    for name, label in TRUTH_NAMES.items():
        if name in cube.truth:
            variables[label] = (np.where(valid, cube.truth[name], np.nan), "%" if "density" in label else "1",
                                f"known truth: {name.replace('_', ' ')}")
    data_vars: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, str]]] = {
        name: (dims, values.astype("float32"), {"units": units, "long_name": long_name})
        for name, (values, units, long_name) in variables.items()}
    if {"true_probability", "true_density_given_occurrence"} <= set(data_vars):
        true_hazard = data_vars["true_probability"][1] * data_vars["true_density_given_occurrence"][1]
        data_vars["true_hazard"] = (dims, true_hazard, {"units": "%", "long_name": "known truth: expected density"})
    for name, mask in {"valid": valid, **(masks or {})}.items():
        data_vars[name] = (dims, mask.astype("uint8"), {"long_name": f"{name} cell (1) or not (0)"})
    data_vars["windows"] = (("y", "x"), cells["windows"], {"long_name": "prediction windows averaged per cell"})
    coords = {"slice": cube.slice_labels, **slice_coordinates(cube), **cube.grid.coords("1km")}
    if "exceedance" in cells:
        data_vars["density_exceedance"] = (("threshold", *dims), cells["exceedance"], {
            "units": "1", "long_name": "probability that the new landslide area density exceeds the threshold, "
                                       "given occurrence"})
        coords["threshold"] = ("threshold", np.asarray(thresholds, dtype="float32"),
                               {"units": "%", "long_name": "new landslide area density threshold (% of the cell)"})
    return xr.Dataset(data_vars, coords=coords).rio.write_crs(cube.grid.crs).rio.write_transform(
        cube.grid.transform("1km"))


def check_checkpoint_matches(checkpoint: Checkpoint, cube: PreparedCube) -> None:
    """Refuse to predict data whose channels or slices differ from the model's.

    Raises
    ------
    CheckpointError
        Naming the checkpoint's and the data's channels.
    """
    model_config = ModelConfig.from_dict(checkpoint.model_config)
    size = cube.patch_cells * model_config.cell_px
    check_input(model_config, cube.channels, (len(cube.channels), size, size))
    if list(checkpoint.channels) != list(cube.channels):
        raise CheckpointError(describe("the model was trained on other predictor channels",
                                       expected=list(checkpoint.channels), found=list(cube.channels),
                                       fix="predict with data prepared by the same version"))

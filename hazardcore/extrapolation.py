"""Which periods a model is asked to extrapolate to: triggers outside the range it was trained on.

A network of ReLUs extrapolates a channel without constraint, so a prediction for a period
whose rain, time since the earthquake or earthquake indicator lies outside every training
cell's says so. For every slice and trigger channel (:data:`TRIGGER_CHANNELS`: the rain
fields and the period covariates; and the PGA channels of a forecast period with an
earthquake of its own) the slice's valid cells are compared with the training cells of all
slices: the share of cells outside the training cells' [min, max], and how far
the slice's mean lies beyond that range (in the channel's units; 0 inside). ``hazard
predict`` stores the result in ``predictions.nc`` (attribute ``extrapolation``) and the
report and the command line show it.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import xarray as xr

from hazardcore.cube import PreparedCube
from hazardcore.predictors import CHANNEL_UNITS, DYNAMIC_CHANNELS, PERIOD_CHANNELS, PGA_CHANNELS

#: The channels that change from period to period (the model's triggers).
TRIGGER_CHANNELS = (*DYNAMIC_CHANNELS, *PERIOD_CHANNELS)
ATTRIBUTE = "extrapolation"


def cell_means(cube: PreparedCube, slice_index: int) -> dict[str, np.ndarray]:
    """Each trigger channel of a slice as (row, col) cell means (period channels: one value everywhere)."""
    ppc, rows, cols = cube.grid.pixels_per_cell, cube.grid.n_rows, cube.grid.n_cols
    fields = np.asarray(cube.dynamic[slice_index], dtype="float64")[:, :rows * ppc, :cols * ppc]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN cell is NaN
        pooled = np.nanmean(fields.reshape(len(DYNAMIC_CHANNELS), rows, ppc, cols, ppc), axis=(2, 4))
    means = dict(zip(DYNAMIC_CHANNELS, pooled, strict=True))
    means |= {name: np.full((rows, cols), float(value)) for name, value in
              zip(PERIOD_CHANNELS, np.asarray(cube.period[slice_index]), strict=True)}
    return means


def pooled(cube: PreparedCube, layers: np.ndarray) -> np.ndarray:
    """(channel, y, x) pixel layers as (channel, row, col) cell means (an all-NaN cell is NaN)."""
    ppc, rows, cols = cube.grid.pixels_per_cell, cube.grid.n_rows, cube.grid.n_cols
    fields = np.asarray(layers, dtype="float64")[:, :rows * ppc, :cols * ppc]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.nanmean(fields.reshape(len(fields), rows, ppc, cols, ppc), axis=(2, 4)))


def own_quake_means(cube: PreparedCube) -> dict[int, dict[str, np.ndarray]]:
    """The PGA channels' cell means of the forecast periods with an earthquake of their own, by slice index."""
    if cube.pga_of_slice is None or cube.pga_event is None:
        return {}
    return {k: dict(zip(PGA_CHANNELS, pooled(cube, cube.pga_event[int(layer)]), strict=True))
            for k, layer in enumerate(cube.pga_of_slice) if layer >= 0}


def trigger_ranges(cube: PreparedCube, train: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per slice, the trigger channels whose valid cells leave the training cells' range.

    Parameters
    ----------
    cube
        The prepared data.
    train
        (slice, row, col) bool: the cells the model was trained on.

    Returns
    -------
    dict
        Slice label → channel → ``units``, ``slice_mean``, ``train_min``, ``train_max``,
        ``cells_outside`` (share of the slice's valid cells outside [min, max]) and
        ``mean_beyond`` (how far the slice mean lies outside, channel units; 0 inside); only
        channels with cells outside are listed, only slices with such channels.
    """
    valid = cube.valid.astype(bool)
    values = [cell_means(cube, k) for k in range(len(cube.slice_labels))]
    out: dict[str, dict[str, Any]] = {}
    for name in TRIGGER_CHANNELS:
        trained = np.concatenate([values[k][name][train[k] & valid[k]] for k in range(len(values))])
        trained = trained[np.isfinite(trained)]
        if trained.size == 0:
            continue
        low, high = float(trained.min()), float(trained.max())
        for k, label in enumerate(cube.slice_labels):
            cells = values[k][name][valid[k]]
            cells = cells[np.isfinite(cells)]
            outside = float(np.mean((cells < low) | (cells > high))) if cells.size else 0.0
            if outside > 0:
                mean = float(cells.mean())
                out.setdefault(label, {})[name] = {
                    "units": CHANNEL_UNITS[name], "slice_mean": mean, "train_min": low, "train_max": high,
                    "cells_outside": outside, "mean_beyond": max(mean - high, low - mean, 0.0)}
    quakes = own_quake_means(cube)
    if quakes:  # a forecast period's own earthquake: its PGA against the training cells' (static) PGA
        static = dict(zip(PGA_CHANNELS, pooled(cube, np.asarray(cube.static[-len(PGA_CHANNELS):])), strict=True))
        trained_cells = train.any(axis=0) & valid.any(axis=0)
        for name in PGA_CHANNELS:
            trained = static[name][trained_cells]
            trained = trained[np.isfinite(trained)]
            if trained.size == 0:
                continue
            low, high = float(trained.min()), float(trained.max())
            for k, means in quakes.items():
                cells = means[name][valid[k]]
                cells = cells[np.isfinite(cells)]
                outside = float(np.mean((cells < low) | (cells > high))) if cells.size else 0.0
                if outside > 0:
                    mean = float(cells.mean())
                    out.setdefault(cube.slice_labels[k], {})[name] = {
                        "units": CHANNEL_UNITS[name], "slice_mean": mean, "train_min": low, "train_max": high,
                        "cells_outside": outside, "mean_beyond": max(mean - high, low - mean, 0.0)}
    return out


def of(predictions: xr.Dataset) -> dict[str, dict[str, Any]]:
    """The extrapolation record a prediction carries (empty when none was recorded)."""
    return dict(json.loads(predictions.attrs.get(ATTRIBUTE, "{}")))


def lines(record: dict[str, dict[str, Any]]) -> list[str]:
    """One sentence per slice and channel outside the training range (for the report and the CLI)."""
    return [f"{label}: {name} mean {entry['slice_mean']:.4g} {entry['units']} against training cells "
            f"{entry['train_min']:.4g}–{entry['train_max']:.4g}; {100 * entry['cells_outside']:.0f} % of its cells "
            "outside" for label, channels in record.items() for name, entry in channels.items()]

"""The 16 predictor channels of METHOD.md §3 and §6, in one fixed, named order.

Static channels (terrain and PGA) are stored once; rainfall channels per slice; the period
channels (monsoons since the earthquake, an earthquake in the slice, the slice's length) are
one number per slice, broadcast over the image only when a patch is assembled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xarray as xr

TERRAIN_CHANNELS = ("slope", "elevation", "northness", "eastness", "profile_curvature",
                    "planar_curvature", "twi", "distance_to_river")
RAIN_CHANNELS = ("rain_max", "rain_span95", "rain_total")
PGA_CHANNELS = ("pga_max", "pga_std")
PERIOD_CHANNELS = ("monsoons", "earthquake_in_slice", "slice_days")
CHANNELS: tuple[str, ...] = (*TERRAIN_CHANNELS, *RAIN_CHANNELS, *PGA_CHANNELS, *PERIOD_CHANNELS)
STATIC_CHANNELS: tuple[str, ...] = (*TERRAIN_CHANNELS, *PGA_CHANNELS)
DYNAMIC_CHANNELS: tuple[str, ...] = RAIN_CHANNELS
TRIGGER_CHANNELS: tuple[str, ...] = (*RAIN_CHANNELS, *PERIOD_CHANNELS)  # what changes from slice to slice
CHANNEL_UNITS = {"slope": "degree", "elevation": "m", "northness": "1", "eastness": "1",
                 "profile_curvature": "1/m", "planar_curvature": "1/m", "twi": "1",
                 "distance_to_river": "m", "rain_max": "mm/day", "rain_span95": "mm/day", "rain_total": "mm",
                 "pga_max": "m/s2", "pga_std": "m/s2", "monsoons": "count", "earthquake_in_slice": "1",
                 "slice_days": "day"}


def static_layers(terrain: xr.Dataset, pga_max: xr.DataArray,
                  pga_std: xr.DataArray) -> list[xr.DataArray]:
    """The static channels in ``STATIC_CHANNELS`` order, checked to share one lattice.

    Parameters
    ----------
    terrain
        The terrain channels (variables named as ``TERRAIN_CHANNELS``) on the 30 m lattice.
    pga_max, pga_std
        PGA statistics (m/s²) on the same lattice.

    Returns
    -------
    list of xarray.DataArray
        One float32 layer per static channel (no copy is stacked: a study-area layer is
        176 MB, so layers are streamed to the store one by one).

    Raises
    ------
    ValueError
        If the layers' coordinates differ (exact alignment is required).
    """
    layers = [terrain[name] for name in TERRAIN_CHANNELS] + [pga_max, pga_std]
    xr.align(*layers, join="exact")
    return [layer.astype("float32", copy=False).rename(name)
            for layer, name in zip(layers, STATIC_CHANNELS, strict=True)]


def assemble_image(static: np.ndarray, dynamic: np.ndarray, period: np.ndarray) -> np.ndarray:
    """Assemble a (16, h, w) image in ``CHANNELS`` order from stored blocks.

    Parameters
    ----------
    static
        (10, h, w) block in ``STATIC_CHANNELS`` order.
    dynamic
        (3, h, w) block in ``DYNAMIC_CHANNELS`` order for one slice.
    period
        The slice's ``PERIOD_CHANNELS`` values (3,).

    Returns
    -------
    numpy.ndarray
        float32 image.
    """
    n_terrain, n_rain, n_pga = len(TERRAIN_CHANNELS), len(RAIN_CHANNELS), len(PGA_CHANNELS)
    image = np.empty((len(CHANNELS), *static.shape[1:]), dtype="float32")
    image[:n_terrain] = static[:n_terrain]
    image[n_terrain:n_terrain + n_rain] = dynamic
    image[n_terrain + n_rain:n_terrain + n_rain + n_pga] = static[n_terrain:]
    image[n_terrain + n_rain + n_pga:] = np.asarray(period, dtype="float32")[:, None, None]
    return image


def cells_all_finite(layer_30m: np.ndarray, pixels_per_cell: int) -> np.ndarray:
    """Return, per cell, whether every pixel of a (..., y, x) layer is finite.

    Parameters
    ----------
    layer_30m
        Array whose last two axes are the pixel lattice; leading axes (e.g. channels) are
        all required finite.
    pixels_per_cell
        Pixels along a cell edge.

    Returns
    -------
    numpy.ndarray
        (rows, cols) boolean array on the cell lattice.
    """
    n_y, n_x = layer_30m.shape[-2:]
    rows, cols = n_y // pixels_per_cell, n_x // pixels_per_cell
    finite = np.isfinite(layer_30m).reshape(-1, n_y, n_x).all(axis=0)
    return finite.reshape(rows, pixels_per_cell, cols, pixels_per_cell).all(axis=(1, 3))


@dataclass(frozen=True)
class ChannelScaling:
    """Per-channel standardisation fitted on training pixels only (stored with the model)."""

    mean: np.ndarray
    std: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        """Plain lists for JSON."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, values: dict[str, list[float]]) -> ChannelScaling:
        """Inverse of :meth:`to_dict`."""
        return cls(np.asarray(values["mean"], dtype="float64"), np.asarray(values["std"], dtype="float64"))


def fit_scaling(images: Iterable[tuple[np.ndarray, np.ndarray]]) -> ChannelScaling:
    """Mean and standard deviation per channel over the valid pixels of training images.

    Parameters
    ----------
    images
        Pairs of (C, h, w) image and (h, w) boolean mask of pixels in valid cells.

    Returns
    -------
    ChannelScaling
        Constant channels get std 1 so that scaling never divides by zero.
    """
    total = total_sq = None
    count = 0
    for image, valid_px in images:
        pixels = image[:, valid_px].astype("float64")
        total = pixels.sum(axis=1) if total is None else total + pixels.sum(axis=1)
        total_sq = (pixels**2).sum(axis=1) if total_sq is None else total_sq + (pixels**2).sum(axis=1)
        count += pixels.shape[1]
    if total is None or total_sq is None or count == 0:
        raise ValueError("no valid training pixels to fit the channel scaling on")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return ChannelScaling(mean=mean, std=np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0))

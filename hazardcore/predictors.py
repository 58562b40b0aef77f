"""The predictor channels of METHOD.md §3 and §6 (names, units, order: :data:`CHANNEL_TABLE`), and the image.

Static channels (terrain and PGA) are stored once; rainfall channels per slice; the period
channels (monsoons since the earthquake, an earthquake in the slice, the slice's length) are
one number per slice, broadcast over the image only when a patch is assembled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import xarray as xr


@dataclass(frozen=True)
class Channel:
    """One predictor channel: its name, group, unit and what it is."""

    name: str
    group: str  # terrain | rain | pga | period
    units: str
    long_name: str


#: Every predictor channel, in the order of the image a network sees (METHOD.md §3 and §6).
#: A new channel is one row here and the function that computes it (terrain, triggers).
CHANNEL_TABLE: tuple[Channel, ...] = (
    Channel("slope", "terrain", "degree", "slope angle (Horn 3x3)"),
    Channel("elevation", "terrain", "m", "elevation"),
    Channel("northness", "terrain", "1", "northness: cosine of the aspect"),
    Channel("eastness", "terrain", "1", "eastness: sine of the aspect"),
    Channel("profile_curvature", "terrain", "1/m", "profile curvature (Zevenbergen-Thorne), positive convex"),
    Channel("planar_curvature", "terrain", "1/m",
            "planar (contour) curvature (Zevenbergen-Thorne), positive convex"),
    Channel("twi", "terrain", "1", "topographic wetness index ln(a / tan(slope))"),
    Channel("distance_to_river", "terrain", "m", "Euclidean distance to the nearest stream pixel"),
    Channel("rain_max", "rain", "mm/day", "maximum daily rainfall in the slice"),
    Channel("rain_span95", "rain", "mm/day", "97.5th - 2.5th percentile of daily rainfall"),
    Channel("rain_total", "rain", "mm", "cumulative rainfall in the slice"),
    Channel("pga_max", "pga", "m/s2", "largest peak ground acceleration over the events"),
    Channel("pga_std", "pga", "m/s2", "spread of peak ground acceleration over the events"),
    Channel("monsoons", "period", "count", "monsoons since the earthquake"),
    Channel("earthquake_in_slice", "period", "1", "1 when an earthquake of the catalog falls in the slice"),
    Channel("slice_days", "period", "day", "length of the slice"),
)


#: What each channel group is called in explanations (hazardcore.importance, the dashboard).
GROUP_NAMES = {"terrain": "terrain", "rain": "rain", "pga": "ground motion", "period": "time since the earthquake"}


def channel_names(group: str) -> tuple[str, ...]:
    """Names of a group's channels, in image order."""
    return tuple(channel.name for channel in CHANNEL_TABLE if channel.group == group)


TERRAIN_CHANNELS = channel_names("terrain")
RAIN_CHANNELS = channel_names("rain")
PGA_CHANNELS = channel_names("pga")
PERIOD_CHANNELS = channel_names("period")
CHANNELS: tuple[str, ...] = tuple(channel.name for channel in CHANNEL_TABLE)
STATIC_CHANNELS: tuple[str, ...] = (*TERRAIN_CHANNELS, *PGA_CHANNELS)
DYNAMIC_CHANNELS: tuple[str, ...] = RAIN_CHANNELS
TRIGGER_CHANNELS: tuple[str, ...] = (*RAIN_CHANNELS, *PERIOD_CHANNELS)  # what changes from slice to slice
CHANNEL_UNITS = {channel.name: channel.units for channel in CHANNEL_TABLE}
CHANNEL_LONG_NAMES = {channel.name: channel.long_name for channel in CHANNEL_TABLE}


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

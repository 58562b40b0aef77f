"""Physically consistent rotations and reflections of training batches (the dihedral group D4).

Landslide physics is local and has no preferred map orientation, so a patch turned by 90°
or mirrored is another valid sample — provided the orientation-dependent channels turn with
it. Of the 16 channels only the aspect components do: with north up, a vertical flip
(rows reversed) negates ``northness``, a horizontal flip negates ``eastness``, and a
transpose (rows ↔ columns) maps (northness, eastness) to (−eastness, −northness). Slope,
elevation, curvatures, TWI, distances and triggers are invariant. Targets and masks
(B, 4, 4) move with the image. Images are already standardised, so the aspect channels are
unscaled, turned and rescaled, and pixels of invalid cells stay 0. Every element of D4 is a composition of an optional
transpose, an optional row flip and an optional column flip (8 elements).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Batch = dict[str, torch.Tensor]
SPATIAL_KEYS = ("image", "presence", "density", "valid")
D4 = tuple((transpose, flip_rows, flip_cols) for transpose in (False, True) for flip_rows in (False, True)
           for flip_cols in (False, True))


def transform_batch(batch: Batch, element: tuple[bool, bool, bool], channels: Sequence[str],
                    mean: Sequence[float], std: Sequence[float]) -> Batch:
    """Apply one D4 element (transpose, flip rows, flip cols) to a batch and its aspect channels.

    Parameters
    ----------
    batch
        Standardised ``image`` (B, C, P, P) and the (B, n, n) ``presence`` / ``density`` /
        ``valid``; other keys pass unchanged.
    element
        Which of transpose, row flip and column flip to apply (in that order).
    channels
        Channel names of ``image`` (``northness`` and ``eastness`` are turned when present).
    mean, std
        Per-channel standardisation of ``image`` (:class:`hazardcore.predictors.ChannelScaling`).

    Returns
    -------
    dict of str to Tensor
        A new batch; the input is not modified.
    """
    transpose, flip_rows, flip_cols = element
    out = dict(batch)
    for key in SPATIAL_KEYS:
        value = out[key]
        if transpose:
            value = value.transpose(-2, -1)
        if flip_rows:
            value = value.flip(-2)
        if flip_cols:
            value = value.flip(-1)
        out[key] = value
    names = list(channels)
    if "northness" in names and "eastness" in names:
        out["image"] = turn_aspect(out["image"], out["valid"], element, names.index("northness"),
                                   names.index("eastness"), mean, std)
    return out


def turn_aspect(image: torch.Tensor, valid: torch.Tensor, element: tuple[bool, bool, bool], north_index: int,
                east_index: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Turn the standardised (northness, eastness) channels as :func:`transform_batch` turned the pixels."""
    north = image[:, north_index] * std[north_index] + mean[north_index]
    east = image[:, east_index] * std[east_index] + mean[east_index]
    transpose, flip_rows, flip_cols = element
    if transpose:
        north, east = -east, -north
    if flip_rows:
        north = -north
    if flip_cols:
        east = -east
    cell_px = image.shape[-1] // valid.shape[-1]
    keep = valid.repeat_interleave(cell_px, dim=-2).repeat_interleave(cell_px, dim=-1).to(image.dtype)
    image = image.clone()
    image[:, north_index] = (north - mean[north_index]) / std[north_index] * keep
    image[:, east_index] = (east - mean[east_index]) / std[east_index] * keep
    return image


def random_element(generator: torch.Generator) -> tuple[bool, bool, bool]:
    """One of the 8 D4 elements, drawn from ``generator`` (reproducible batch by batch)."""
    return D4[int(torch.randint(len(D4), (1,), generator=generator))]

"""D4 augmentation: turning a patch equals computing the channels on the turned terrain."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from hazardcore.augment import D4, transform_batch
from hazardcore.terrain import eastness, northness, slope

CHANNELS = ["slope", "northness", "eastness"]


def dem(values: np.ndarray, pixel_m: float = 30.0) -> xr.DataArray:
    n = values.shape[0]
    return xr.DataArray(values, dims=("y", "x"), coords={"y": 3_000_000.0 - pixel_m * (np.arange(n) + 0.5),
                                                         "x": 400_000.0 + pixel_m * (np.arange(n) + 0.5)})


def turn(values: np.ndarray, element: tuple[bool, bool, bool]) -> np.ndarray:
    transpose, flip_rows, flip_cols = element
    out = values.T if transpose else values
    out = out[::-1] if flip_rows else out
    return np.ascontiguousarray(out[:, ::-1] if flip_cols else out)


def channels_of(z: np.ndarray) -> np.ndarray:
    surface = dem(z)
    return np.stack([f(surface).values for f in (slope, northness, eastness)])


@pytest.mark.parametrize("element", D4, ids=str)
def test_turned_channels_equal_channels_of_the_turned_terrain(element: tuple[bool, bool, bool]) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] * 30.0
    z = 1500 + 80 * np.sin(xx / 170 + 0.3) * np.cos(yy / 230) + 0.2 * xx - 0.35 * yy + rng.normal(0, 0.5, xx.shape)
    original = channels_of(z)
    mean, std = [10.0, 0.1, -0.2], [5.0, 0.7, 0.6]
    scaled = (original - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    batch = {"image": torch.from_numpy(scaled[None].astype("float32")), "valid": torch.ones(1, 4, 4, dtype=torch.bool),
             "presence": torch.zeros(1, 4, 4), "density": torch.zeros(1, 4, 4)}
    turned = transform_batch(batch, element, CHANNELS, mean, std)["image"][0].numpy()
    expected = (channels_of(turn(z, element)) - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    inner = (slice(None), slice(2, -2), slice(2, -2))  # the DEM border is padded, not turned
    np.testing.assert_allclose(turned[inner], expected[inner], atol=2e-4)


def test_targets_move_with_the_image_and_invalid_pixels_stay_zero() -> None:
    image = torch.randn(2, 3, 16, 16)
    valid = torch.ones(2, 4, 4, dtype=torch.bool)
    valid[:, 0, 3] = False  # top-right cell invalid
    image = image * valid.repeat_interleave(4, -2).repeat_interleave(4, -1)[:, None]
    presence = torch.zeros(2, 4, 4)
    presence[:, 0, 0] = 1.0  # top-left cell positive
    batch = {"image": image, "valid": valid, "presence": presence, "density": presence * 5, "slice": torch.ones(2)}
    element = (True, False, True)  # transpose, then mirror columns: top-left -> top-right
    out = transform_batch(batch, element, CHANNELS, [0.0, 0.3, -0.1], [1.0, 0.5, 0.5])
    assert out["presence"][0, 0, 3] == 1 and out["presence"].sum() == 2 and out["density"][0, 0, 3] == 5
    assert not out["valid"][0, 3, 3] and out["valid"].sum() == valid.sum()
    keep = out["valid"].repeat_interleave(4, -2).repeat_interleave(4, -1)[:, None]
    assert (out["image"] * ~keep == 0).all()  # aspect rescaling does not leak into invalid cells
    assert torch.equal(out["image"][:, 0], image[:, 0].transpose(-2, -1).flip(-1))  # slope only moves
    assert torch.equal(batch["image"], image) and out["slice"] is batch["slice"]  # input untouched
    assert len(set(D4)) == 8

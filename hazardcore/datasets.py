"""The one boundary between the prepared cube (Zarr, xarray-readable) and torch.

A sample is ``dict[str, Tensor]`` with fixed keys: ``image`` (16, 128, 128) float32 in
``predictors.CHANNELS`` order, ``presence``, ``density`` (%), ``valid`` (4, 4), and the
``slice`` and ``window`` indices it came from. Pixels of invalid cells are zero in the image
(their cells are masked from every loss by ``valid``). Patches are read on demand from
the stored cube; nothing holds all patches at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from hazardcore.config import TrainConfig
from hazardcore.cube import PreparedCube
from hazardcore.errors import HazardcoreError, describe
from hazardcore.patches import window_cells
from hazardcore.splits import Split, make_split, on_slices
from hazardcore.triggers import slice_seasons

SAMPLE_KEYS = ("image", "presence", "density", "valid", "slice", "window")


class PatchDataset(Dataset[dict[str, torch.Tensor]]):
    """Torch dataset of 4 × 4-cell patches read from a prepared cube.

    Parameters
    ----------
    cube
        An opened cube or the working folder.
    samples
        (n, 2) array of (slice, window) pairs; default every pair with a valid cell.
    """

    def __init__(self, cube: PreparedCube | str | Path, samples: np.ndarray | None = None) -> None:
        self.cube = cube if isinstance(cube, PreparedCube) else PreparedCube.open(cube)
        self.sample_index = self.cube.samples() if samples is None else np.asarray(samples, dtype="int64")
        self._targets = {name: window_cells(getattr(self.cube, name), self.cube.windows,
                                            self.cube.patch_cells)
                         for name in ("presence", "density", "valid")}

    def __len__(self) -> int:
        return len(self.sample_index)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        slice_index, window = (int(v) for v in self.sample_index[index])
        return {"image": torch.from_numpy(self.cube.image(slice_index, window))} | self.targets(index)

    def targets(self, index: int) -> dict[str, torch.Tensor]:
        """Every entry of sample ``index`` but its image (no pixel is read)."""
        slice_index, window = (int(v) for v in self.sample_index[index])
        valid = self._targets["valid"][slice_index, window].astype(bool)
        return {
            "presence": torch.from_numpy(np.where(valid, self._targets["presence"][slice_index, window],
                                                  0.0).astype("float32")),
            "density": torch.from_numpy(np.where(valid, self._targets["density"][slice_index, window],
                                                 0.0).astype("float32")),
            "valid": torch.from_numpy(valid),
            "slice": torch.tensor(slice_index, dtype=torch.int64),
            "window": torch.tensor(window, dtype=torch.int64),
        }


def valid_pixels(valid_cells: np.ndarray, cell_px: int) -> np.ndarray:
    """Expand a (…, 4, 4) cell mask to the (…, 4·cell_px, 4·cell_px) pixels it covers."""
    return np.repeat(np.repeat(valid_cells, cell_px, axis=-2), cell_px, axis=-1)


def pool_image(image: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool a (C, h, w) image by ``factor`` (1 returns it unchanged)."""
    if factor == 1:
        return image
    c, h, w = image.shape
    return image.reshape(c, h // factor, factor, w // factor, factor).mean(axis=(2, 4))


def load_tensors(dataset: PatchDataset, cell_px: int, progress: bool = False) -> dict[str, torch.Tensor]:
    """Stack every sample of ``dataset`` into one batch dict, pooled to ``cell_px`` per cell.

    Keys: ``image`` (N, 16, 4·cell_px, 4·cell_px) float32, ``presence``, ``density``,
    ``valid`` (N, 4, 4), ``slice`` and ``window`` (N,). Used to keep training data resident
    (in memory, or on the GPU) instead of re-reading it every epoch.

    Images are cut from strips: the samples are grouped by their windows' first row, and each
    strip of rows is read once for every slice (static channels once for all), so every
    stored chunk is decompressed about once instead of once per window, slice and overlap
    (on the study-area cube, 14 ms per patch read alone). The images equal ``dataset[i]``'s.
    """
    cube = dataset.cube
    ppc = cube.grid.pixels_per_cell
    factor = ppc // cell_px
    if factor < 1 or ppc % cell_px:
        raise HazardcoreError(describe("cell_px must divide the prepared pixels per cell",
                                       expected=f"a divisor of {ppc}", found=cell_px))
    n = len(dataset)
    size_px = cube.patch_cells * ppc
    out = {"image": torch.empty((n, len(cube.channels), cube.patch_cells * cell_px, cube.patch_cells * cell_px),
                                dtype=torch.float32)}
    slices, windows = dataset.sample_index[:, 0], dataset.sample_index[:, 1]
    first_rows, first_cols = cube.windows[windows, 1], cube.windows[windows, 2]
    for row in tqdm(np.unique(first_rows), desc="load patches", unit="strip", disable=not progress):
        members = np.flatnonzero(first_rows == row)
        left = int(first_cols[members].min())
        cols = slice(left * ppc, (int(first_cols[members].max()) + cube.patch_cells) * ppc)
        for slice_index, block in enumerate(cube.block_images(slice(row * ppc, row * ppc + size_px), cols)):
            for i in members[slices[members] == slice_index]:
                start = (int(first_cols[i]) - left) * ppc
                out["image"][i] = torch.from_numpy(pool_image(block[:, :, start:start + size_px], factor))
    columns = [dataset.targets(i) for i in range(n)]
    return out | {key: torch.stack([column[key] for column in columns]) if n else torch.empty(0)
                  for key in SAMPLE_KEYS if key != "image"}


def split_of(cube: PreparedCube, train_config: TrainConfig) -> Split:
    """The split of a run on this cube, rebuilt from its configuration (deterministic).

    The seasons of the slices (from their monsoon counts) guide the temporal protocols' choice
    of validation slices (:func:`hazardcore.splits.validation_slices`).
    """
    labelled = np.flatnonzero(cube.labelled_mask)  # forecast periods are on no side
    split = make_split(cube.windows, cube.grid.n_rows, cube.grid.n_cols, len(labelled), train_config,
                       cube.patch_cells, slice_seasons(np.asarray(cube.monsoons)[labelled]))
    return on_slices(split, labelled, len(cube.slice_labels))

"""The one boundary between the prepared cube (Zarr, xarray-readable) and torch.

A sample is ``dict[str, Tensor]`` with fixed keys: ``image`` (16, 128, 128) float32 in
``predictors.CHANNELS`` order, ``presence``, ``density`` (%), ``valid`` (4, 4), and the
``slice`` and ``window`` indices it came from. Pixels of invalid cells are zero in the image
(their cells are masked from every loss by ``valid``). Patches are read on demand from
the stored cube; nothing holds all patches at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from hazardcore.config import TrainConfig
from hazardcore.errors import HazardcoreError, describe
from hazardcore.grid import GridSpec
from hazardcore.patches import window_cells
from hazardcore.predictors import CHANNELS, assemble_image
from hazardcore.splits import Split, make_split
from hazardcore.triggers import slice_seasons

CUBE_NAME = "prepared.zarr"
IN_MEMORY_BUDGET_BYTES = 2 * 1024**3
SAMPLE_KEYS = ("image", "presence", "density", "valid", "slice", "window")


@dataclass
class PreparedCube:
    """Read access to a prepared working folder."""

    path: Path
    grid: GridSpec
    slice_labels: list[str]
    channels: list[str]
    static: zarr.Array | np.ndarray
    dynamic: zarr.Array | np.ndarray
    monsoons: np.ndarray
    period: np.ndarray  # (slice, 3) in PERIOD_CHANNELS order
    density: np.ndarray
    presence: np.ndarray
    valid: np.ndarray
    windows: np.ndarray
    patch_cells: int
    truth: dict[str, np.ndarray]
    slice_dates: list[tuple[str, str]]  # ISO (start, end) per slice; empty for cubes of older versions
    catalog_path: str  # the catalog the cube was prepared from

    @classmethod
    def open(cls, workdir: str | Path, memory_budget_bytes: int = IN_MEMORY_BUDGET_BYTES) -> PreparedCube:
        """Open ``WORKDIR/prepared.zarr`` written by ``hazard prepare``.

        Parameters
        ----------
        workdir
            The working folder.
        memory_budget_bytes
            The predictor arrays are read into memory when together they fit this budget
            (a window is then a numpy view, ~50× faster than a Zarr read); larger cubes stay
            on disk and each window reads only the chunks it touches. 0 forces lazy reads.

        Raises
        ------
        HazardcoreError
            If the folder holds no prepared cube.
        """
        path = Path(workdir) / CUBE_NAME
        if not (path / "zarr.json").exists():
            raise HazardcoreError(describe("no prepared data", source=path,
                                           fix="run `hazard prepare CATALOG --out WORKDIR` first"))
        group = zarr.open_group(str(path), mode="r")
        attrs: dict[str, Any] = dict(group.attrs)
        if list(attrs.get("channels", [])) != list(CHANNELS) or "period" not in group:
            raise HazardcoreError(describe(
                "the prepared data was written by an older version (other predictor channels)", source=path,
                expected=list(CHANNELS), found=list(attrs.get("channels", [])),
                fix="run `hazard prepare CATALOG --out WORKDIR` again"))

        def array(name: str) -> zarr.Array:
            item = group[name]
            assert isinstance(item, zarr.Array)
            return item

        def loaded(name: str) -> np.ndarray:
            return np.asarray(array(name)[...])

        static: zarr.Array | np.ndarray = array("static")
        dynamic: zarr.Array | np.ndarray = array("dynamic")
        if static.nbytes + dynamic.nbytes <= memory_budget_bytes:
            static, dynamic = loaded("static"), loaded("dynamic")
        return cls(path=path, grid=GridSpec(**attrs["grid"]), slice_labels=list(attrs["slices"]),
                   channels=list(attrs["channels"]), static=static, dynamic=dynamic,
                   monsoons=loaded("monsoons"), period=loaded("period"), density=loaded("density"),
                   presence=loaded("presence"),
                   valid=loaded("valid"), windows=loaded("windows"), patch_cells=int(attrs["patch_cells"]),
                   truth={name.removeprefix("truth_"): loaded(name) for name in group.array_keys()
                          if name.startswith("truth_")},
                   slice_dates=[(str(a), str(b)) for a, b in attrs.get("slice_dates", [])],
                   catalog_path=str(attrs.get("catalog", "")))

    def window_pixels(self, window: int) -> tuple[slice, slice]:
        """Pixel slices (rows, cols) of a window."""
        _, row, col = self.windows[window]
        ppc, size = self.grid.pixels_per_cell, self.patch_cells * self.grid.pixels_per_cell
        return slice(row * ppc, row * ppc + size), slice(col * ppc, col * ppc + size)

    def image(self, slice_index: int, window: int) -> np.ndarray:
        """The (16, h, w) float32 image of a window in a slice, NaN replaced by 0."""
        return self.block_image(slice_index, *self.window_pixels(window))

    def block_image(self, slice_index: int, rows: slice, cols: slice) -> np.ndarray:
        """The (16, h, w) float32 image of any pixel block of a slice, NaN replaced by 0."""
        return self._assemble(np.asarray(self.static[:, rows, cols]), slice_index, rows, cols)

    def block_images(self, rows: slice, cols: slice) -> Iterator[np.ndarray]:
        """:meth:`block_image` of every slice in turn, the static channels read once for all."""
        static = np.asarray(self.static[:, rows, cols])
        for slice_index in range(len(self.slice_labels)):
            yield self._assemble(static, slice_index, rows, cols)

    def _assemble(self, static: np.ndarray, slice_index: int, rows: slice, cols: slice) -> np.ndarray:
        image = assemble_image(static, np.asarray(self.dynamic[slice_index, :, rows, cols]),
                               self.period[slice_index])
        image[~np.isfinite(image)] = 0.0  # in place: nan_to_num's copy doubled the read time
        return image

    def truth_cells(self, name: str, samples: np.ndarray) -> np.ndarray:
        """A truth layer (e.g. ``p_occurrence``) gathered as (n, 4, 4) blocks of ``samples``."""
        blocks = window_cells(self.truth[name], self.windows, self.patch_cells)
        return blocks[samples[:, 0], samples[:, 1]]

    def samples(self) -> np.ndarray:
        """(slice, window) pairs with at least one valid cell, slice-major."""
        counts = window_cells(self.valid, self.windows, self.patch_cells).sum(axis=(-1, -2))
        slice_idx, window_idx = np.nonzero(counts)
        return np.stack([slice_idx, window_idx], axis=1).astype("int64")


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
    return make_split(cube.windows, cube.grid.n_rows, cube.grid.n_cols, len(cube.slice_labels), train_config,
                      cube.patch_cells, slice_seasons(cube.monsoons))

"""The prepared cube (``WORKDIR/prepared.zarr``): its name, its writer and its reader.

``hazard prepare`` (:mod:`hazardcore.prepare`) streams the arrays through
:class:`CubeWriter`; everything downstream (datasets, training, prediction, baselines,
the dashboard) opens it with :meth:`PreparedCube.open`. The group is Zarr v3 with named
dimensions and consolidated metadata, so ``xarray.open_zarr`` reads it without warnings, and
every gridded array names the ``spatial_ref`` grid mapping (CF attributes and WKT of the grid's
CRS), so ``xarray.open_zarr(...).rio.crs`` is the grid's CRS. Arrays: ``static`` (channel, y, x) and
``dynamic`` (slice, channel, y, x) predictors at pixel resolution, ``period`` (slice, 3),
``monsoons``, ``density`` (%), ``presence`` and ``valid`` per (slice, 1 km cell),
``windows`` (patch corners in cells), ``truth_*`` layers of synthetic regions, and the
coordinates; attributes: grid, channels (in :data:`hazardcore.predictors.CHANNELS` order),
slice labels and dates, patch size, catalog.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from pyproj import CRS

from hazardcore.errors import HazardcoreError, describe
from hazardcore.grid import GridSpec
from hazardcore.integrity import tree_records, verify_tree
from hazardcore.patches import window_cells
from hazardcore.predictors import CHANNELS, PGA_CHANNELS, assemble_image

CUBE_NAME = "prepared.zarr"
REPREPARE = "run `hazard prepare CATALOG --out WORKDIR` again"
CHECKSUMS = "checksums"  # the empty array whose attributes record the cube's files
#: The 0-d array holding the CF grid mapping of the cube's CRS (as rioxarray writes it).
GRID_MAPPING = "spatial_ref"
#: The (y, x) dimension pairs of the two lattices: pixels (30 m) and 1 km cells.
SPATIAL_DIMS = (("y", "x"), ("y_1km", "x_1km"))


def recorded_checksums(path: Path) -> dict[str, Any]:
    """The file records of a cube's ``checksums`` array (``{}`` when it has none or they cannot be read)."""
    try:
        meta = json.loads((path / CHECKSUMS / "zarr.json").read_text(encoding="utf-8"))
        files = meta["attributes"]["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return files if isinstance(files, dict) else {}


def grid_mapping_attrs(crs: str) -> dict[str, Any]:
    """CF grid-mapping attributes of ``crs`` with its WKT as ``crs_wkt`` and ``spatial_ref`` (where rioxarray
    and GDAL look for it)."""
    attrs = CRS.from_user_input(crs).to_cf()
    return {**attrs, "spatial_ref": attrs["crs_wkt"]}


def spatial_attrs(dims: Sequence[str]) -> dict[str, str]:
    """The ``grid_mapping``/``coordinates`` attributes of an array over a lattice of the cube (else ``{}``):
    ``xarray.open_zarr`` then makes ``spatial_ref`` a coordinate, where rioxarray finds the CRS."""
    gridded = any(y in dims and x in dims for y, x in SPATIAL_DIMS)
    return {"grid_mapping": GRID_MAPPING, "coordinates": GRID_MAPPING} if gridded else {}


IN_MEMORY_BUDGET_BYTES = 2 * 1024**3


class CubeWriter:
    """Stream arrays of the prepared cube into a Zarr v3 group, one block at a time.

    Parameters
    ----------
    folder
        The (temporary) folder of the group, from :func:`atomic_dir`.
    attrs
        Group attributes (grid, channel names, slice labels, units). Its ``grid`` (a
        :meth:`GridSpec.to_dict`) gives the CRS of the ``spatial_ref`` grid mapping.
    """

    def __init__(self, folder: Path, attrs: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.group = zarr.open_group(str(folder), mode="w", zarr_format=3)
        self.group.attrs.update(attrs)
        crs = attrs.get("grid", {}).get("crs")
        if crs:
            self.write(GRID_MAPPING, np.array(0, dtype="int32"), [], grid_mapping_attrs(str(crs)))

    def create(self, name: str, shape: tuple[int, ...], dims: Sequence[str], dtype: str,
               chunks: tuple[int, ...] | None = None, fill_value: Any = None) -> zarr.Array:
        """Create an empty array with named dimensions (readable by ``xarray.open_zarr``)."""
        array = self.group.create_array(name, shape=shape, dtype=dtype, chunks=chunks or shape,
                                        dimension_names=list(dims), fill_value=fill_value)
        array.attrs.update(spatial_attrs(dims))
        return array

    def write(self, name: str, values: np.ndarray, dims: Sequence[str],
              attrs: dict[str, Any] | None = None) -> None:
        """Write a whole small array (coordinates, targets, windows)."""
        dtype = np.dtypes.StringDType() if values.dtype.kind in "UO" else values.dtype
        chunks: tuple[int, ...] = tuple(int(n) for n in values.shape) or (1,)
        array = self.group.create_array(name, shape=values.shape, dtype=dtype,
                                        chunks=chunks if values.shape else "auto", dimension_names=list(dims))
        array[...] = values.astype(dtype) if values.dtype.kind in "UO" else values
        array.attrs.update({**(attrs or {}), **spatial_attrs(dims)})

    def seal(self) -> None:
        """Record the size and SHA-256 of every file of the cube (chunks and metadata).

        Call it once every array is written, before the folder is renamed into place. It first
        consolidates the group's metadata into its ``zarr.json`` (one read opens the cube; xarray
        warns on opening an unconsolidated store). The records are the attributes of an empty
        array ``checksums`` (a file beside the Zarr arrays would not be a Zarr node, and Zarr
        warns about it whenever the group is listed), written after the consolidation, so the
        records cover the consolidated ``zarr.json`` and the consolidated view leaves the
        bookkeeping array out; :meth:`PreparedCube.open` refuses a cube that no longer matches them.
        """
        with warnings.catch_warnings():  # zarr: consolidated metadata is not (yet) part of the v3 spec; xarray reads it
            warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
            zarr.consolidate_metadata(str(self.folder))
        records = tree_records(self.folder, skip=CHECKSUMS)
        array = self.group.create_array(CHECKSUMS, shape=(0,), dtype="uint8", dimension_names=[CHECKSUMS])
        array.attrs.update({"files": records, "covers": "every file of the cube but this array's"})



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
    labelled: np.ndarray | None = None  # (slice,) bool: False for forecast periods (no inventory); None = all
    pga_event: np.ndarray | None = None  # (k, 2, y, x) PGA channels of forecast periods with their own earthquake
    pga_of_slice: np.ndarray | None = None  # (slice,) index into pga_event, -1 for the static PGA
    forecasts: dict[str, Any] | None = None  # each forecast period's provenance (catalog, scenario)
    exceedance_thresholds: tuple[float, ...] = ()  # the catalog's densities (%) whose exceedance maps to write

    @property
    def labelled_mask(self) -> np.ndarray:
        """(slice,) bool: which slices have an inventory (targets); forecast periods never do."""
        if self.labelled is None:
            return np.ones(len(self.slice_labels), dtype=bool)
        return np.asarray(self.labelled, dtype=bool)

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
        IntegrityError
            If a file of the cube is missing, truncated, corrupted or not recorded in its
            ``checksums`` (every file is hashed on opening: about a second per GB).
        """
        path = Path(workdir) / CUBE_NAME
        if not (path / "zarr.json").exists():
            raise HazardcoreError(describe("no prepared data", source=path,
                                           fix="run `hazard prepare CATALOG --out WORKDIR` first"))
        verify_tree(path, recorded_checksums(path), CHECKSUMS, path / CHECKSUMS / "zarr.json", REPREPARE)
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
                   catalog_path=str(attrs.get("catalog", "")),
                   labelled=loaded("labelled").astype(bool) if "labelled" in group else None,
                   pga_event=loaded("pga_event") if "pga_event" in group else None,
                   pga_of_slice=loaded("pga_of_slice") if "pga_of_slice" in group else None,
                   forecasts=json.loads(str(attrs.get("forecasts", "{}"))) or None,
                   exceedance_thresholds=tuple(float(x) for x in attrs.get("exceedance_thresholds", [])))

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
        if self.pga_of_slice is not None and self.pga_event is not None and self.pga_of_slice[slice_index] >= 0:
            static = static.copy()  # a forecast period's own earthquake replaces the static PGA channels
            static[-len(PGA_CHANNELS):] = self.pga_event[int(self.pga_of_slice[slice_index]), :, rows, cols]
        image = assemble_image(static, np.asarray(self.dynamic[slice_index, :, rows, cols]),
                               self.period[slice_index])
        image[~np.isfinite(image)] = 0.0  # in place: nan_to_num's copy doubled the read time
        return image

    def truth_cells(self, name: str, samples: np.ndarray) -> np.ndarray:
        """A truth layer (e.g. ``p_occurrence``) gathered as (n, 4, 4) blocks of ``samples``."""
        blocks = window_cells(self.truth[name], self.windows, self.patch_cells)
        return blocks[samples[:, 0], samples[:, 1]]

    def samples(self) -> np.ndarray:
        """(slice, window) pairs of the labelled slices with at least one valid cell, slice-major.

        Forecast periods (``labelled`` False) are never samples: training never sees them.
        """
        valid = self.valid & self.labelled_mask[:, None, None]
        counts = window_cells(valid, self.windows, self.patch_cells).sum(axis=(-1, -2))
        slice_idx, window_idx = np.nonzero(counts)
        return np.stack([slice_idx, window_idx], axis=1).astype("int64")

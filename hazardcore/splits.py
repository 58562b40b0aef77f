"""Train / validation / test splits of patch windows without leakage (METHOD.md §7).

Three sides: **train** (gradient steps), **validation** (early stopping, probability
calibration and the decision threshold) and **test** (the reported numbers). Keeping test
apart from validation means no number in ``metrics.json`` comes from cells that chose an
epoch, a calibration or a threshold.

Protocols
---------
``spatial``
    Square blocks of the base patch lattice go to test, validation or train. A window (base
    or shifted) belongs to a side only when every one of its cells lies in that side's
    blocks; shifted windows straddling a block border are dropped, so no validation or test
    cell's pixels appear in any training patch. Validation and test use base windows only,
    so each of their cells is scored once per slice.
``random``
    The original study's protocol, for comparison: base windows drawn at random for test
    and validation, every other window (both lattices) trains. Shifted training windows
    overlap test cells; :func:`leaked_fraction` measures how many.
``temporal`` / ``forward``
    Whole slices are held out for test (one slice, or every slice from a given one on).
    Validation is, by default, whole training slices too: ``validation_slice_count`` slices
    near the test in time and of its season, never the last training slice of a season
    (:func:`validation_slices`), held out of training, so that early stopping and calibration
    see a change of period like the test's (a spatial
    block draw on the training slices, ``temporal_validation="blocks"``, cannot detect
    temporal over-fitting or a shift of base rate).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from hazardcore.config import TrainConfig
from hazardcore.errors import ConfigError, describe
from hazardcore.patches import window_cells

SIDES = ("train", "validation", "test")
PROTOCOLS = ("spatial", "random", "temporal", "forward")


@dataclass(frozen=True)
class Split:
    """Which (slice, window) samples each side owns; ``None`` means all windows / slices."""

    protocol: str
    train_windows: np.ndarray | None
    validation_windows: np.ndarray | None
    test_windows: np.ndarray | None
    train_slices: np.ndarray | None = None
    validation_slices: np.ndarray | None = None
    test_slices: np.ndarray | None = None

    def windows(self, side: str) -> np.ndarray | None:
        """Window indices of a side (``None`` = every window)."""
        return {"train": self.train_windows, "validation": self.validation_windows,
                "test": self.test_windows}[_side(side)]

    def slices(self, side: str) -> np.ndarray | None:
        """Slice indices of a side (``None`` = every slice)."""
        return {"train": self.train_slices, "validation": self.validation_slices,
                "test": self.test_slices}[_side(side)]

    def samples(self, samples: np.ndarray, side: str) -> np.ndarray:
        """Keep the (slice, window) pairs of one side."""
        windows, slices = self.windows(side), self.slices(side)
        keep = np.ones(len(samples), dtype=bool)
        if windows is not None:
            keep &= np.isin(samples[:, 1], windows)
        if slices is not None:
            keep &= np.isin(samples[:, 0], slices)
        return samples[keep]

    def cell_mask(self, side: str, windows: np.ndarray, shape: tuple[int, int, int],
                  patch_cells: int = 4) -> np.ndarray:
        """(slice, row, col) bool: the cells a side's windows cover in its slices.

        With ``windows is None`` for the side (temporal test), every cell of its slices.
        """
        n_slices, n_rows, n_cols = shape
        own, slices = self.windows(side), self.slices(side)
        cells = np.zeros((n_rows, n_cols), dtype=bool)
        if own is None:
            cells[:] = True
        offsets = np.arange(patch_cells)
        for _, row, col in windows[own] if own is not None else ():
            cells[row + offsets[:, None], col + offsets[None, :]] = True
        in_slice = np.zeros(n_slices, dtype=bool)
        in_slice[slices if slices is not None else slice(None)] = True
        return in_slice[:, None, None] & cells[None]

    def to_dict(self) -> dict[str, object]:
        """JSON-able description (stored in the run's model checkpoint)."""
        return {"protocol": self.protocol} | {
            f"{side}_{kind}": None if values is None else [int(v) for v in values]
            for side in SIDES for kind, values in (("windows", self.windows(side)), ("slices", self.slices(side)))}

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Split:
        """The split :meth:`to_dict` described."""
        def array(key: str) -> np.ndarray | None:
            return None if stored.get(key) is None else np.asarray(stored[key], dtype="int64")

        return cls(str(stored["protocol"]), *(array(f"{side}_windows") for side in SIDES),
                   *(array(f"{side}_slices") for side in SIDES))


def on_slices(split: Split, slices: np.ndarray, n_slices: int) -> Split:
    """A split made over a subset of the slices (``slices``: their indices among ``n_slices``), in full indices.

    Used to split only the labelled slices of a cube holding forecast periods: slice index ``k``
    of the subset becomes ``slices[k]``, and a side over every slice becomes a side over the
    subset's slices (the forecast periods are on no side).
    """
    slices = np.asarray(slices, dtype="int64")
    if len(slices) == n_slices:
        return split

    def mapped(values: np.ndarray | None) -> np.ndarray:
        return slices.copy() if values is None else slices[np.asarray(values, dtype="int64")]

    return Split(split.protocol, split.train_windows, split.validation_windows, split.test_windows,
                 *(mapped(split.slices(side)) for side in SIDES))


def _side(side: str) -> str:
    if side not in SIDES:
        raise ConfigError(describe("unknown split side", expected=list(SIDES), found=side))
    return side


def block_labels(n_rows: int, n_cols: int, block_cells: int) -> np.ndarray:
    """Block index of every cell for square blocks of ``block_cells``."""
    rows = np.arange(n_rows)[:, None] // block_cells
    cols = np.arange(n_cols)[None, :] // block_cells
    n_block_cols = -(-n_cols // block_cells)
    return (rows * n_block_cols + cols).astype("int64")


def block_bootstrap(samples: np.ndarray, windows: np.ndarray, n_rows: int, n_cols: int, block_cells: int,
                    seed: int, patch_cells: int = 4) -> np.ndarray:
    """Resample (slice, window) samples by spatial block, with replacement.

    Each window belongs to the block of its centre cell; the blocks that own samples are drawn
    with replacement as many times as there are, and every sample of a block drawn ``m`` times
    appears ``m`` times (all its slices together, so a block's history stays whole). The
    resample has about as many samples as the input; about 37 % of the blocks are left out.

    Parameters
    ----------
    samples
        (n, 2) (slice, window) pairs of the training side.
    windows
        (m, 3) windows (lattice, row, col).
    n_rows, n_cols, block_cells
        Grid shape in cells and block edge in cells (the spatial split's blocks).
    seed
        Seed of the draw.
    patch_cells
        Window edge in cells.

    Returns
    -------
    numpy.ndarray
        The resampled pairs, grouped by block in the order drawn (the training epochs shuffle them).
    """
    if len(samples) == 0:
        return samples
    centre = windows[samples[:, 1], 1:] + patch_cells // 2
    labels = block_labels(n_rows, n_cols, block_cells)
    block = labels[np.minimum(centre[:, 0], n_rows - 1), np.minimum(centre[:, 1], n_cols - 1)]
    owners = np.unique(block)
    drawn = np.random.default_rng(seed).choice(owners, size=owners.size, replace=True)
    return np.concatenate([samples[block == b] for b in drawn])


def draw_blocks(n_rows: int, n_cols: int, block_cells: int, fractions: tuple[float, ...],
                seed: int) -> list[np.ndarray]:
    """Assign random blocks to held-out sides; returns one (rows, cols) cell mask per fraction.

    Each held-out side gets at least one block and at least one block stays for training.

    Raises
    ------
    ConfigError
        If the grid has too few blocks for every side.
    """
    labels = block_labels(n_rows, n_cols, block_cells)
    n_blocks = int(labels.max()) + 1
    counts = [max(1, round(fraction * n_blocks)) for fraction in fractions]
    if sum(counts) >= n_blocks:
        raise ConfigError(describe(
            "the spatial split has too few blocks for every side",
            expected=f"more than {sum(counts)} blocks (train + {len(counts)} held-out sides)",
            found=f"{n_blocks} blocks of {block_cells} x {block_cells} cells on a {n_rows} x {n_cols} grid",
            fix="lower split_block_patches or the held-out fractions"))
    order = np.random.default_rng(seed).permutation(n_blocks)
    bounds = np.cumsum([0, *counts])
    return [np.isin(labels, order[a:b]) for a, b in itertools.pairwise(bounds)]


def deal_blocks(n_rows: int, n_cols: int, block_cells: int, folds: int, fold: int, validation_fraction: float,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-validation's block assignment: (validation, test) cell masks of one fold.

    The blocks are shuffled by ``seed`` and dealt into ``folds`` groups of (nearly) equal size;
    fold ``fold``'s group is the test, so over the folds every block is a test block exactly
    once. Validation is ``validation_fraction`` of all blocks (at least one), drawn by ``seed``
    and ``fold`` among the other folds' blocks; the rest train.

    Raises
    ------
    ConfigError
        If ``fold`` is not below ``folds`` or the grid has too few blocks for the folds.
    """
    labels = block_labels(n_rows, n_cols, block_cells)
    n_blocks = int(labels.max()) + 1
    n_validation = max(1, round(validation_fraction * n_blocks))
    if not 0 <= fold < folds:
        raise ConfigError(describe("cross-validation fold out of range", expected=f"0..{folds - 1}", found=fold))
    if n_blocks < folds or n_blocks - -(-n_blocks // folds) - n_validation < 1:
        raise ConfigError(describe(
            "too few blocks for the cross-validation folds",
            expected=f"at least one test block per fold, {n_validation} validation and one training block",
            found=f"{n_blocks} blocks of {block_cells} x {block_cells} cells for {folds} folds",
            fix="use fewer folds or lower split_block_patches"))
    groups = np.array_split(np.random.default_rng(seed).permutation(n_blocks), folds)
    rest = np.random.default_rng([seed, fold]).permutation(np.concatenate(groups[:fold] + groups[fold + 1:]))
    return np.isin(labels, rest[:n_validation]), np.isin(labels, groups[fold])


def _windows_inside(cells: np.ndarray, windows: np.ndarray, patch_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Per window: every cell inside ``cells``; any cell inside ``cells``."""
    inside = window_cells(cells, windows, patch_cells).reshape(len(windows), -1)
    return np.asarray(inside.all(axis=1)), np.asarray(inside.any(axis=1))


def spatial_split(windows: np.ndarray, n_rows: int, n_cols: int, patch_cells: int = 4,
                  block_patches: int = 2, validation_fraction: float = 0.15, test_fraction: float = 0.25,
                  seed: int = 0, folds: int = 0, fold: int = 0) -> Split:
    """Hold out random blocks of ``block_patches`` × ``block_patches`` base patches.

    Parameters
    ----------
    windows
        (n, 3) windows (lattice, row, col) from :func:`hazardcore.patches.patch_windows`.
    n_rows, n_cols
        Grid shape in cells.
    patch_cells
        Window edge in cells.
    block_patches
        Block edge in base patches (blocks align with the base lattice).
    validation_fraction, test_fraction
        Shares of blocks held out for validation and for test (each at least one block).
    seed
        Seed of the block draw.
    folds, fold
        Cross-validation (``folds`` > 0): the test is fold ``fold`` of the blocks dealt into
        ``folds`` groups (:func:`deal_blocks`) instead of a draw of ``test_fraction``.

    Returns
    -------
    Split

    Raises
    ------
    ConfigError
        If the grid holds too few blocks.
    """
    block_cells = block_patches * patch_cells
    validation_cells, test_cells = (
        deal_blocks(n_rows, n_cols, block_cells, folds, fold, validation_fraction, seed) if folds > 0
        else draw_blocks(n_rows, n_cols, block_cells, (validation_fraction, test_fraction), seed))
    base = windows[:, 0] == 0
    all_validation, _ = _windows_inside(validation_cells, windows, patch_cells)
    all_test, _ = _windows_inside(test_cells, windows, patch_cells)
    _, touches_held_out = _windows_inside(validation_cells | test_cells, windows, patch_cells)
    return Split("spatial", train_windows=np.flatnonzero(~touches_held_out),
                 validation_windows=np.flatnonzero(all_validation & base),
                 test_windows=np.flatnonzero(all_test & base))


def random_split(windows: np.ndarray, validation_fraction: float = 0.15, test_fraction: float = 0.25,
                 seed: int = 0) -> Split:
    """The original study's protocol: base windows drawn at random for validation and test.

    Training takes every other window of both lattices, so shifted training windows overlap
    validation and test cells (the leak :func:`leaked_fraction` measures).
    """
    base = np.random.default_rng(seed).permutation(np.flatnonzero(windows[:, 0] == 0))
    n_val = max(1, round(validation_fraction * len(base)))
    n_test = max(1, round(test_fraction * len(base)))
    validation, test = np.sort(base[:n_val]), np.sort(base[n_val:n_val + n_test])
    return Split("random", train_windows=np.setdiff1d(np.arange(len(windows)), np.concatenate([validation, test])),
                 validation_windows=validation, test_windows=test)


def nearest_slices(training_slices: np.ndarray, held_out: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` training slices nearest in time to the held-out ones (earlier first on a tie), sorted."""
    return np.sort(_by_distance(training_slices, held_out)[:count])


def _by_distance(training_slices: np.ndarray, held_out: np.ndarray) -> np.ndarray:
    """Training slices ordered by distance in time to the held-out ones, earlier first on a tie."""
    distance = np.abs(training_slices[:, None] - held_out[None, :]).min(axis=1)
    after = training_slices > held_out.min()
    return training_slices[np.lexsort((training_slices, after, distance))]


def validation_slices(training_slices: np.ndarray, held_out: np.ndarray, count: int,
                      seasons: np.ndarray | None = None) -> np.ndarray:
    """Training slices to hold out for validation: like the test, near it, never a kind's last.

    Without ``seasons`` these are the :func:`nearest_slices`. With a season per slice (e.g.
    :func:`hazardcore.triggers.slice_seasons`: co-seismic, post- or pre-monsoon), the first
    ``max(1, count // 2)`` picks are the nearest slices of a held-out slice's season, the rest the
    nearest of any season, and a slice is never taken when it is the last training slice of its
    season: holding out the only co-seismic slice would leave the earthquake unlearnt. When every
    training slice is the last of its season (few slices), the nearest slices are taken.

    Parameters
    ----------
    training_slices, held_out
        Slice indices outside and inside the test.
    count
        Number of validation slices wanted (fewer when the rule above leaves fewer).
    seasons
        Season of every slice of the data (indexed by slice), or ``None``.

    Returns
    -------
    numpy.ndarray
        The chosen slice indices, sorted.
    """
    if seasons is None:
        return nearest_slices(training_slices, held_out, count)
    order = [int(k) for k in _by_distance(training_slices, held_out)]
    left = {season: int(np.sum(seasons[training_slices] == season)) for season in set(seasons[training_slices])}
    test_seasons = set(seasons[held_out])
    chosen: list[int] = []
    for like_test_only, wanted in ((True, max(1, count // 2)), (False, count)):
        for k in order:
            if len(chosen) >= wanted:
                break
            if k in chosen or left[seasons[k]] < 2 or (like_test_only and seasons[k] not in test_seasons):
                continue
            chosen.append(k)
            left[seasons[k]] -= 1
    if not chosen:  # every training slice is the last of its season: the nearest, as without seasons
        return nearest_slices(training_slices, held_out, count)
    return np.sort(np.asarray(chosen, dtype=training_slices.dtype))


def temporal_split(windows: np.ndarray, n_rows: int, n_cols: int, n_slices: int, test_slices: list[int],
                   patch_cells: int = 4, block_patches: int = 2, validation_fraction: float = 0.15,
                   seed: int = 0, protocol: str = "temporal", validation_slice_count: int = 0,
                   seasons: np.ndarray | None = None) -> Split:
    """Hold out whole slices for test: leave-one-out (``[k]``) or forward (``range(k, n)``).

    With ``validation_slice_count`` > 0, validation is every cell of whole training slices
    (:func:`validation_slices`: of the test's season and near it when ``seasons`` is given,
    otherwise the nearest), scored once per slice on the base lattice, and training takes every
    window of the other slices. With 0, validation is a
    block draw (as in :func:`spatial_split`) on the training slices. Test is every cell of
    the held-out slices.

    Raises
    ------
    ConfigError
        If no slice is left for one of the sides or an index is out of range.
    """
    held_out = np.asarray(sorted(set(test_slices)), dtype="int64")
    if held_out.size == 0 or held_out.size >= n_slices or held_out.min() < 0 or held_out.max() >= n_slices:
        raise ConfigError(describe("temporal split needs slices on both sides",
                                   expected=f"held-out indices in 0..{n_slices - 1}, not all of them",
                                   found=test_slices))
    training_slices = np.setdiff1d(np.arange(n_slices), held_out)
    if validation_slice_count > 0:
        if training_slices.size <= validation_slice_count:
            raise ConfigError(describe(
                "too few training slices to hold whole slices out for validation",
                expected=f"more than {validation_slice_count} slices outside the test",
                found=f"{training_slices.size} ({[int(k) for k in training_slices]})",
                fix="hold out fewer slices, lower validation_slice_count, or set temporal_validation=blocks"))
        validation = validation_slices(training_slices, held_out, validation_slice_count, seasons)
        return Split(protocol, train_windows=None, validation_windows=np.flatnonzero(windows[:, 0] == 0),
                     test_windows=None, train_slices=np.setdiff1d(training_slices, validation),
                     validation_slices=validation, test_slices=held_out)
    (validation_cells,) = draw_blocks(n_rows, n_cols, block_patches * patch_cells, (validation_fraction,), seed)
    all_validation, touches_validation = _windows_inside(validation_cells, windows, patch_cells)
    return Split(protocol, train_windows=np.flatnonzero(~touches_validation),
                 validation_windows=np.flatnonzero(all_validation & (windows[:, 0] == 0)), test_windows=None,
                 train_slices=training_slices, validation_slices=training_slices, test_slices=held_out)


def forward_split(windows: np.ndarray, n_rows: int, n_cols: int, n_slices: int, first_test_slice: int,
                  patch_cells: int = 4, block_patches: int = 2, validation_fraction: float = 0.15,
                  seed: int = 0, validation_slice_count: int = 0, seasons: np.ndarray | None = None) -> Split:
    """Train on slices before ``first_test_slice``; test on it and every later one."""
    return temporal_split(windows, n_rows, n_cols, n_slices, list(range(first_test_slice, n_slices)),
                          patch_cells, block_patches, validation_fraction, seed, "forward", validation_slice_count,
                          seasons)


def make_split(windows: np.ndarray, n_rows: int, n_cols: int, n_slices: int, config: TrainConfig,
               patch_cells: int = 4, seasons: np.ndarray | None = None) -> Split:
    """The split a training configuration asks for (deterministic in its seed).

    ``seasons`` (one per slice) guides the choice of validation slices of the temporal
    protocols (:func:`validation_slices`).

    Raises
    ------
    ConfigError
        For an unknown protocol or a held-out slice outside the data.
    """
    blocks, fraction, seed = config.split_block_patches, config.validation_fraction, config.seed
    if config.split == "spatial":
        return spatial_split(windows, n_rows, n_cols, patch_cells, blocks, fraction, config.test_fraction, seed,
                             config.cv_folds, config.cv_fold)
    if config.split == "random":
        return random_split(windows, config.validation_fraction, config.test_fraction, config.seed)
    slice_index = config.test_slice % n_slices if -n_slices <= config.test_slice < n_slices else -1
    if slice_index < 0:
        raise ConfigError(describe("test_slice outside the data's slices", expected=f"-{n_slices}..{n_slices - 1}",
                                   found=config.test_slice))
    count = config.validation_slice_count if config.temporal_validation == "slices" else 0
    if config.split == "temporal":
        return temporal_split(windows, n_rows, n_cols, n_slices, [slice_index], patch_cells, blocks, fraction, seed,
                              validation_slice_count=count, seasons=seasons)
    if config.split == "forward":
        return forward_split(windows, n_rows, n_cols, n_slices, slice_index, patch_cells, blocks, fraction, seed,
                             validation_slice_count=count, seasons=seasons)
    raise ConfigError(describe("unknown split protocol", expected=list(PROTOCOLS), found=config.split))


def leaked_fraction(split: Split, samples: np.ndarray, windows: np.ndarray, shape: tuple[int, int],
                    patch_cells: int = 4, side: str = "test") -> float:
    """Share of a held-out side's cell-slices that also lie inside a training patch of that slice."""
    n_slices = int(samples[:, 0].max()) + 1
    seen = np.zeros((n_slices, *shape), dtype=bool)
    scored = np.zeros_like(seen)
    offsets = np.arange(patch_cells)
    for name, grid in (("train", seen), (side, scored)):
        for slice_index, window in split.samples(samples, name):
            _, row, col = windows[window]
            grid[slice_index, row + offsets[:, None], col + offsets[None, :]] = True
    return float((seen & scored).sum() / max(scored.sum(), 1))

"""Splits: the leakage each protocol promises (none, or measured)."""

import json

import numpy as np
import pytest

from hazardcore.config import TrainConfig
from hazardcore.errors import ConfigError
from hazardcore.patches import patch_windows
from hazardcore.splits import (
    Split,
    forward_split,
    leaked_fraction,
    make_split,
    nearest_slices,
    random_split,
    spatial_split,
    temporal_split,
    validation_slices,
)

ROWS, COLS, N_SLICES = 32, 32, 4
WINDOWS = patch_windows(ROWS, COLS)
SAMPLES = np.array([(s, w) for s in range(N_SLICES) for w in range(len(WINDOWS))])
SHAPE = (N_SLICES, ROWS, COLS)


def pixels_seen_in_training(split) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(slice, row, col): cells whose pixels lie in a training patch, built from the samples alone."""
    seen = np.zeros(SHAPE, dtype=bool)
    for s, w in split.samples(SAMPLES, "train"):
        _, row, col = WINDOWS[w]
        seen[s, row:row + 4, col:col + 4] = True
    return seen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spatial_split_never_shows_held_out_pixels_to_training(seed: int) -> None:
    split = spatial_split(WINDOWS, ROWS, COLS, block_patches=2, validation_fraction=0.15, test_fraction=0.25,
                          seed=seed)
    seen = pixels_seen_in_training(split)
    test = split.cell_mask("test", WINDOWS, SHAPE)
    validation = split.cell_mask("validation", WINDOWS, SHAPE)
    assert not (seen & test).any() and not (seen & validation).any() and not (test & validation).any()
    assert test[0].sum() == 4 * 64 and validation[0].sum() == 2 * 64  # 4 and 2 of 16 blocks of 8 x 8 cells
    assert leaked_fraction(split, SAMPLES, WINDOWS, (ROWS, COLS)) == 0.0
    assert leaked_fraction(split, SAMPLES, WINDOWS, (ROWS, COLS), side="validation") == 0.0
    # shifted windows straddling a block border are dropped, not given to any side
    sides = [split.windows(side) for side in ("train", "validation", "test")]
    assert sum(len(w) for w in sides if w is not None) < len(WINDOWS)
    assert all((WINDOWS[w, 0] == 0).all() for w in sides[1:] if w is not None)  # held-out: base lattice only


@pytest.mark.parametrize("seed", [0, 5])
def test_cross_validation_tests_every_cell_exactly_once_without_leakage(seed: int) -> None:
    folds = 4
    tested = np.zeros(SHAPE, dtype=int)
    for fold in range(folds):
        config = TrainConfig(split="spatial", cv_folds=folds, cv_fold=fold, seed=seed)
        split = make_split(WINDOWS, ROWS, COLS, N_SLICES, config)
        test = split.cell_mask("test", WINDOWS, SHAPE)
        validation = split.cell_mask("validation", WINDOWS, SHAPE)
        seen = pixels_seen_in_training(split)
        assert not (seen & test).any() and not (seen & validation).any() and not (test & validation).any()
        assert test[0].sum() == 4 * 64 and validation[0].sum() == 2 * 64  # 16 blocks: 4 per fold, 2 validate
        tested += test
    assert (tested == 1).all()  # every block is a test block exactly once
    assert not np.array_equal(split_test_of(seed + 1, folds), split_test_of(seed, folds))  # seeds repeat the CV
    with pytest.raises(ConfigError, match="fold out of range"):
        make_split(WINDOWS, ROWS, COLS, N_SLICES, TrainConfig(cv_folds=4, cv_fold=4))
    with pytest.raises(ConfigError, match="too few blocks"):
        make_split(WINDOWS, ROWS, COLS, N_SLICES, TrainConfig(cv_folds=17, cv_fold=0))


def split_test_of(seed: int, folds: int) -> np.ndarray:
    config = TrainConfig(cv_folds=folds, cv_fold=0, seed=seed)
    return make_split(WINDOWS, ROWS, COLS, N_SLICES, config).cell_mask("test", WINDOWS, SHAPE)


def test_a_split_round_trips_through_its_stored_form() -> None:
    for config in (TrainConfig(split="spatial", seed=3), TrainConfig(split="temporal", test_slice=2),
                   TrainConfig(split="forward", test_slice=2, validation_slice_count=1)):
        split = make_split(WINDOWS, ROWS, COLS, N_SLICES, config)
        again = Split.from_dict(json.loads(json.dumps(split.to_dict())))
        assert again.to_dict() == split.to_dict()
        for side in ("train", "validation", "test"):
            np.testing.assert_array_equal(again.samples(SAMPLES, side), split.samples(SAMPLES, side))


def test_random_split_leaks_and_the_leak_is_measured() -> None:
    split = random_split(WINDOWS, validation_fraction=0.15, test_fraction=0.25, seed=0)
    assert split.test_windows is not None and (WINDOWS[split.test_windows, 0] == 0).all()
    assert len(split.test_windows) == 16 and len(np.intersect1d(split.test_windows, split.validation_windows)) == 0
    leak = leaked_fraction(split, SAMPLES, WINDOWS, (ROWS, COLS))
    seen = pixels_seen_in_training(split)
    test = split.cell_mask("test", WINDOWS, SHAPE)
    assert leak == pytest.approx((seen & test).sum() / test.sum())
    assert 0.5 < leak <= 1.0  # shifted training windows cover most test cells


def test_temporal_splits_keep_test_slices_out_of_training() -> None:
    loo = temporal_split(WINDOWS, ROWS, COLS, N_SLICES, [2])
    assert set(loo.samples(SAMPLES, "test")[:, 0]) == {2}
    assert 2 not in set(loo.samples(SAMPLES, "train")[:, 0]) | set(loo.samples(SAMPLES, "validation")[:, 0])
    test = loo.cell_mask("test", WINDOWS, SHAPE)
    assert test[2].all() and not test[[0, 1, 3]].any()
    assert not (pixels_seen_in_training(loo) & test).any()
    assert not (pixels_seen_in_training(loo) & loo.cell_mask("validation", WINDOWS, SHAPE)).any()
    forward = forward_split(WINDOWS, ROWS, COLS, N_SLICES, 3)
    assert set(forward.samples(SAMPLES, "train")[:, 0]) == {0, 1, 2}
    assert set(forward.samples(SAMPLES, "test")[:, 0]) == {3}
    with pytest.raises(ConfigError, match="both sides"):
        temporal_split(WINDOWS, ROWS, COLS, N_SLICES, [0, 1, 2, 3])


def test_temporal_validation_holds_out_the_nearest_whole_slices() -> None:
    """Validation sees a change of period: whole slices nearest the test, none of them trained on."""
    assert list(nearest_slices(np.array([0, 1, 2, 3, 4, 5, 6]), np.array([7]), 2)) == [5, 6]
    assert list(nearest_slices(np.array([0, 1, 2, 4, 5, 6, 7]), np.array([3]), 2)) == [2, 4]  # tie: earlier first
    assert list(nearest_slices(np.array([1, 2, 3, 4, 5, 6, 7]), np.array([0]), 2)) == [1, 2]
    assert list(nearest_slices(np.array([0, 1, 2, 3, 4, 5]), np.array([6, 7]), 2)) == [4, 5]
    loo = make_split(WINDOWS, ROWS, COLS, N_SLICES, TrainConfig(split="temporal", test_slice=-1,
                                                                  validation_slice_count=1))
    assert list(loo.slices("validation")) == [2] and list(loo.slices("train")) == [0, 1]
    validation = loo.cell_mask("validation", WINDOWS, SHAPE)
    assert validation[2].all() and not validation[[0, 1, 3]].any()  # every cell of slice 2, once
    assert set(loo.samples(SAMPLES, "train")[:, 0]) == {0, 1}
    assert len(loo.samples(SAMPLES, "train")) == 2 * len(WINDOWS)  # both lattices of the training slices
    forward = make_split(WINDOWS, ROWS, COLS, N_SLICES, TrainConfig(split="forward", test_slice=2,
                                                                      validation_slice_count=1))
    assert list(forward.slices("validation")) == [1] and list(forward.slices("train")) == [0]


SEASONS = np.array(["co-seismic"] + ["post-monsoon", "pre-monsoon"] * 3 + ["post-monsoon"])  # the default region


def validation_of(held_out: list[int], count: int = 2) -> list[int]:
    training = np.setdiff1d(np.arange(len(SEASONS)), held_out)
    return [int(k) for k in validation_slices(training, np.array(held_out), count, SEASONS)]


def test_validation_slices_share_the_test_season_and_never_take_a_season_from_training() -> None:
    """The nearest slices would take the only co-seismic slice out of training, or validate a
    pre-monsoon test on post-monsoon slices only; the seasonal rule does neither."""
    assert validation_of([1]) == [2, 3]  # nearest would be [0, 2]: no earthquake left to learn
    assert validation_of([4]) == [2, 3]  # nearest would be [3, 5]: both post-monsoon
    assert validation_of([7]) == [5, 6]  # the README's temporal run: unchanged
    assert validation_of([0]) == [1, 2]  # no co-seismic slice but the test's: the nearest
    assert validation_of([6, 7], 1) == [5]  # forward: the nearest slice of a held-out season
    for held_out in ([k] for k in range(len(SEASONS))):
        chosen = validation_of(held_out, 3)
        training = set(range(len(SEASONS))) - set(held_out) - set(chosen)
        assert {SEASONS[k] for k in training} >= {SEASONS[k] for k in chosen}  # each kind still trained on
        assert any(SEASONS[k] == SEASONS[held_out[0]] for k in chosen) or held_out == [0]
    assert validation_of([1], 1) == [3]
    three = np.array(["co-seismic", "post-monsoon", "pre-monsoon"])  # each slice the only one of its season
    assert list(validation_slices(np.array([1, 2]), np.array([0]), 1, three)) == [1]  # never empty
    training = np.array([0, 2, 3])
    assert list(validation_slices(training, np.array([1]), 2, None)) == list(nearest_slices(training, np.array([1]), 2))


def test_make_split_follows_the_configuration_and_is_deterministic() -> None:
    for protocol, expected_test_slices in (("spatial", None), ("random", None), ("temporal", [3]),
                                           ("forward", [1, 2, 3])):
        config = TrainConfig(split=protocol, test_slice=-1 if protocol == "temporal" else 1, seed=5,
                             temporal_validation="blocks" if protocol == "forward" else "slices")
        split = make_split(WINDOWS, ROWS, COLS, N_SLICES, config)
        again = make_split(WINDOWS, ROWS, COLS, N_SLICES, config)
        assert split.protocol == protocol and split.to_dict() == again.to_dict()
        found = split.test_slices
        assert (found is None and expected_test_slices is None) or list(found) == expected_test_slices
    with pytest.raises(ConfigError, match="test_slice"):
        make_split(WINDOWS, ROWS, COLS, N_SLICES, TrainConfig(split="temporal", test_slice=9))
    with pytest.raises(ConfigError, match="too few training slices"):  # forward from slice 1 leaves only slice 0
        make_split(WINDOWS, ROWS, COLS, N_SLICES, TrainConfig(split="forward", test_slice=1))
    with pytest.raises(ConfigError, match="too few blocks"):
        spatial_split(WINDOWS, 8, 8, block_patches=2)


def test_block_bootstrap_draws_whole_blocks_with_replacement() -> None:
    from hazardcore.splits import block_bootstrap, block_labels

    block_cells = 8
    split = spatial_split(WINDOWS, ROWS, COLS, seed=3)
    train = split.samples(SAMPLES, "train")
    labels = block_labels(ROWS, COLS, block_cells)

    def block_of(pairs: np.ndarray) -> np.ndarray:
        centre = WINDOWS[pairs[:, 1], 1:] + 2
        return labels[centre[:, 0], centre[:, 1]]

    owners, per_block = np.unique(block_of(train), return_counts=True)
    left_out = []
    for seed in range(40):
        drawn = block_bootstrap(train, WINDOWS, ROWS, COLS, block_cells, seed)
        assert {tuple(p) for p in drawn} <= {tuple(p) for p in train}
        blocks, counts = np.unique(block_of(drawn), return_counts=True)
        multiplicity = counts / per_block[np.searchsorted(owners, blocks)]
        assert np.all(multiplicity == np.round(multiplicity)) and multiplicity.min() >= 1  # whole blocks only
        assert multiplicity.sum() == owners.size  # as many draws as blocks
        left_out.append(1 - blocks.size / owners.size)
    assert abs(np.mean(left_out) - (1 - 1 / owners.size) ** owners.size) < 0.05  # about e^-1 left out
    again = block_bootstrap(train, WINDOWS, ROWS, COLS, block_cells, 0)
    np.testing.assert_array_equal(again, block_bootstrap(train, WINDOWS, ROWS, COLS, block_cells, 0))
    assert not np.array_equal(again, block_bootstrap(train, WINDOWS, ROWS, COLS, block_cells, 1))

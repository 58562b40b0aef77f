"""Baselines: cell features against a hand computation; fitted models on a known synthetic link."""

import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from hazardcore import baselines, metrics
from hazardcore.baselines import cell_features, fit_baselines
from hazardcore.datasets import PreparedCube
from hazardcore.errors import CheckpointError, GridMismatchError, InvalidValueError
from hazardcore.grid import GridSpec
from hazardcore.predictors import DYNAMIC_CHANNELS, STATIC_CHANNELS

PPC = 4


@pytest.fixture
def fake_cube() -> SimpleNamespace:
    """A 3 × 4-cell cube of 4 × 4 pixels per cell, 2 slices, with NaN pixels (one cell all NaN)."""
    rng = np.random.default_rng(0)
    static = rng.normal(size=(10, 12, 16)).astype("float32") * 5 + 100
    static[0, 0, 0] = static[3, 5, 9] = static[9, 11, 15] = np.nan
    static[2, 4:8, 8:12] = np.nan  # cell (1, 2) of channel 2 has no finite pixel
    dynamic = rng.gamma(2.0, 10.0, size=(2, 3, 12, 16)).astype("float32")
    dynamic[1, 0, 7, 3] = np.nan
    grid = GridSpec(crs="EPSG:32645", x_min=0.0, y_max=0.0, n_rows=3, n_cols=4, pixels_per_cell=PPC)
    period = np.array([[0.0, 1.0, 75.0], [1.0, 0.0, 153.0]], "float32")  # monsoons, earthquake, days
    return SimpleNamespace(grid=grid, static=static, dynamic=dynamic, monsoons=period[:, 0], period=period)


def hand_features(cube: SimpleNamespace, slice_index: int, row: int, col: int) -> np.ndarray:
    """The 29 features of one cell, by np.nanmean / np.nanstd of its pixel block."""
    block = (slice(row * PPC, (row + 1) * PPC), slice(col * PPC, (col + 1) * PPC))
    values: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-NaN cell
        for pixels in [*cube.static[(slice(None), *block)], *cube.dynamic[(slice_index, slice(None), *block)]]:
            values += [np.nanmean(pixels.astype("float64")), np.nanstd(pixels.astype("float64"))]
    return np.array([*values, *cube.period[slice_index]])


def test_cell_features_match_hand_computation(fake_cube: SimpleNamespace) -> None:
    features, _ = cell_features(fake_cube)
    assert features.shape == (2, 3, 4, 29) and features.dtype == np.float32
    for s in range(2):
        for r in range(3):
            for c in range(4):
                np.testing.assert_allclose(features[s, r, c], hand_features(fake_cube, s, r, c), rtol=1e-5)
    assert np.isnan(features[:, 1, 2, 4:6]).all()  # channel 2 mean and std of the all-NaN cell
    assert np.isfinite(np.delete(features[:, 1, 2], [4, 5], axis=-1)).all()


def test_feature_names_and_order(fake_cube: SimpleNamespace) -> None:
    _, names = cell_features(fake_cube)
    assert len(names) == 29 and len(set(names)) == 29
    assert names[:4] == ["slope_mean", "slope_std", "elevation_mean", "elevation_std"]
    assert names[2 * len(STATIC_CHANNELS):] == ["rain_max_mean", "rain_max_std", "rain_span95_mean",
                                               "rain_span95_std", "rain_total_mean", "rain_total_std",
                                               "monsoons", "earthquake_in_slice", "slice_days"]
    assert {f"{c}_{s}" for c in (*STATIC_CHANNELS, *DYNAMIC_CHANNELS) for s in ("mean", "std")} < set(names)


def test_static_broadcast_and_dynamic_per_slice(fake_cube: SimpleNamespace) -> None:
    features, _ = cell_features(fake_cube)
    n_static = 2 * len(STATIC_CHANNELS)
    np.testing.assert_array_equal(features[0, ..., :n_static], features[1, ..., :n_static])
    assert not np.allclose(features[0, ..., n_static:n_static + 4], features[1, ..., n_static:n_static + 4])
    np.testing.assert_array_equal(features[..., -3], np.broadcast_to([[[0.0]], [[1.0]]], (2, 3, 4)))
    np.testing.assert_array_equal(features[..., -1], np.broadcast_to([[[75.0]], [[153.0]]], (2, 3, 4)))


@pytest.mark.parametrize("block_rows", [1, 2, 3, 50])
def test_block_rows_do_not_change_features(fake_cube: SimpleNamespace, block_rows: int) -> None:
    expected, _ = cell_features(fake_cube)
    np.testing.assert_array_equal(cell_features(fake_cube, block_rows=block_rows)[0], expected)


def test_cell_features_reject_mismatched_cube(fake_cube: SimpleNamespace) -> None:
    fake_cube.static = fake_cube.static[:, :8]
    with pytest.raises(GridMismatchError, match="static predictors do not match the grid"):
        cell_features(fake_cube)


def synthetic_problem(seed: int = 0) -> dict[str, np.ndarray]:
    """4,000 cells (2 slices × 40 × 50): presence a logistic link of feature 0, density of feature 1."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(2, 40, 50, 29)).astype("float32")
    presence = rng.random((2, 40, 50)) < 1.0 / (1.0 + np.exp(-(3.0 * features[..., 0] - 1.0)))
    density = np.where(presence, np.exp(1.0 + 0.8 * features[..., 1] + 0.2 * rng.normal(size=presence.shape)), 0.0)
    train = rng.random((2, 40, 50)) < 0.7
    return {"features": features, "presence": presence, "density": density.astype("float32"), "train": train}


@pytest.fixture(scope="module")
def problem() -> dict[str, np.ndarray]:
    return synthetic_problem()


@pytest.fixture(scope="module")
def fitted(problem: dict[str, np.ndarray]) -> dict[str, baselines.BaselineModel]:
    return fit_baselines(problem["features"], problem["presence"], problem["density"], problem["train"], seed=0)


@pytest.mark.parametrize("name", baselines.BASELINE_NAMES)
def test_baselines_learn_a_known_link(problem: dict[str, np.ndarray],
                                      fitted: dict[str, baselines.BaselineModel], name: str) -> None:
    model = fitted[name]
    assert model.name == name and model.feature_names == list(baselines.CELL_FEATURE_NAMES)
    predicted = model.predict(problem["features"])
    assert predicted["probability"].shape == predicted["density"].shape == (2, 40, 50)
    test = ~problem["train"]
    assert metrics.auc(problem["presence"][test], predicted["probability"][test]) > 0.8
    assert np.all((predicted["probability"] >= 0) & (predicted["probability"] <= 1))
    assert np.all(predicted["density"] >= 0)
    positive = test & problem["presence"]
    assert metrics.pearson_r(problem["density"][positive], predicted["density"][positive]) > 0.5


@pytest.mark.parametrize("name", baselines.BASELINE_NAMES)
def test_shuffled_labels_give_chance_auc(problem: dict[str, np.ndarray], name: str) -> None:
    rng = np.random.default_rng(1)
    shuffled = rng.permutation(problem["presence"].ravel()).reshape(problem["presence"].shape)
    model = fit_baselines(problem["features"], shuffled, problem["density"], problem["train"])[name]
    test = ~problem["train"]
    assert abs(metrics.auc(shuffled[test], model.predict(problem["features"])["probability"][test]) - 0.5) < 0.05


def test_non_finite_features_skipped_in_fit_and_nan_in_predict(problem: dict[str, np.ndarray],
                                                               fitted: dict[str, baselines.BaselineModel]) -> None:
    features = problem["features"].copy()
    features[0, 3, 4, 7] = np.nan
    features[1, 10, :, 2] = np.inf
    models = fit_baselines(features, problem["presence"], problem["density"], problem["train"])
    bad = ~np.isfinite(features).all(axis=-1)
    for model in models.values():
        predicted = model.predict(features)
        for values in predicted.values():
            assert np.isnan(values[bad]).all() and np.isfinite(values[~bad]).all()
    single = fitted["gbm"].predict(features[0, 3, 4])  # one row, shape () out
    assert single["probability"].shape == () and np.isnan(single["probability"])


def test_predict_rejects_wrong_width(fitted: dict[str, baselines.BaselineModel]) -> None:
    with pytest.raises(CheckpointError, match="features of another width"):
        fitted["logistic"].predict(np.zeros((5, 24), "float32"))


def test_errors_for_one_class_or_too_few_positives(problem: dict[str, np.ndarray]) -> None:
    args = problem["features"], problem["presence"], problem["density"]
    with pytest.raises(InvalidValueError, match="both a positive and a negative"):
        fit_baselines(*args, problem["train"] & ~problem["presence"])
    with pytest.raises(InvalidValueError, match="both a positive and a negative"):
        fit_baselines(*args, problem["train"] & problem["presence"])
    one_positive = problem["train"] & ~problem["presence"]
    one_positive.flat[np.flatnonzero(problem["presence"])[0]] = True
    with pytest.raises(InvalidValueError, match="at least 2 positive"):
        fit_baselines(*args, one_positive)


def test_gbm_is_deterministic_for_a_seed(problem: dict[str, np.ndarray],
                                         fitted: dict[str, baselines.BaselineModel]) -> None:
    again = fit_baselines(problem["features"], problem["presence"], problem["density"], problem["train"], seed=0)
    for name in baselines.BASELINE_NAMES:
        for key, values in again[name].predict(problem["features"]).items():
            np.testing.assert_array_equal(values, fitted[name].predict(problem["features"])[key])


def test_cell_features_on_prepared_region(tiny_workdir: Path) -> None:
    cube = PreparedCube.open(tiny_workdir)
    features, names = cell_features(cube, block_rows=3)
    assert features.shape == (3, 8, 8, 29) and names == list(baselines.CELL_FEATURE_NAMES)
    assert np.isfinite(features[cube.valid]).all()
    lazy = PreparedCube.open(tiny_workdir, memory_budget_bytes=0)  # Zarr arrays read in bands
    assert not isinstance(lazy.static, np.ndarray)
    np.testing.assert_array_equal(cell_features(lazy)[0], features)


@pytest.mark.parametrize("name", baselines.BASELINE_NAMES)
def test_smearing_makes_the_density_a_mean_not_a_geometric_mean(name: str) -> None:
    """With log-scale noise σ = 1 a back-transformed log prediction is ~exp(σ²/2) = 1.65 × too low in the mean."""
    rng = np.random.default_rng(4)
    features = rng.normal(size=(1, 100, 100, 29)).astype("float32")
    presence = rng.random((1, 100, 100)) < 0.5
    density = np.where(presence, np.exp(0.5 + 0.5 * features[..., 1] + rng.normal(size=presence.shape)), 0.0)
    train = rng.random((1, 100, 100)) < 0.6
    model = fit_baselines(features, presence, density, train, seed=0)[name]
    test = ~train & presence
    predicted = model.predict(features)["density"][test]
    without_factor = (predicted + 1.0) / model.smearing - 1.0
    observed = density[test]
    assert predicted.mean() / observed.mean() == pytest.approx(1.0, abs=0.12)
    assert without_factor.mean() / observed.mean() < 0.8

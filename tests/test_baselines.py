"""Baselines: cell features against a hand computation; fitted models on a known synthetic link; the
gradient-boosting search against a brute force; the hurdle's Gamma GLM on data with a known mean."""

import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from hazardcore import baselines, metrics
from hazardcore.baselines import cell_features, fit_baselines
from hazardcore.cube import PreparedCube
from hazardcore.errors import CheckpointError, ConfigError, GridMismatchError, InvalidValueError
from hazardcore.grid import GridSpec
from hazardcore.pipeline import baseline_sources
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


@pytest.mark.parametrize("features", baselines.FEATURE_SETS)
@pytest.mark.parametrize("block_rows", [1, 2, 3, 50])
def test_block_rows_do_not_change_features(fake_cube: SimpleNamespace, block_rows: int, features: str) -> None:
    expected, _ = cell_features(fake_cube, features=features)
    np.testing.assert_array_equal(cell_features(fake_cube, block_rows=block_rows, features=features)[0], expected)


def test_cell_features_reject_mismatched_cube(fake_cube: SimpleNamespace) -> None:
    fake_cube.static = fake_cube.static[:, :8]
    with pytest.raises(GridMismatchError, match="static predictors do not match the grid"):
        cell_features(fake_cube)


def hand_quantile_features(cube: SimpleNamespace, row: int, col: int) -> np.ndarray:
    """The 32 quantile-set extras of one cell: np.nanpercentile per static channel, then the two fractions."""
    block = (slice(row * PPC, (row + 1) * PPC), slice(col * PPC, (col + 1) * PPC))
    values: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-NaN cell
        for pixels in cube.static[(slice(None), *block)].astype("float64"):
            values += list(np.nanpercentile(pixels, [10, 50, 90]))
    slope = cube.static[(STATIC_CHANNELS.index("slope"), *block)]
    river = cube.static[(STATIC_CHANNELS.index("distance_to_river"), *block)]
    values += [np.sum(slope > 40.0) / np.isfinite(slope).sum(), np.sum(river <= 150.0) / np.isfinite(river).sum()]
    return np.array(values)


def test_quantile_features_match_hand_computation(fake_cube: SimpleNamespace) -> None:
    summary, _ = cell_features(fake_cube)
    features, names = cell_features(fake_cube, features="quantiles")
    assert features.shape == (2, 3, 4, 61) and names == baselines.feature_names("quantiles")
    np.testing.assert_array_equal(features[..., :29], summary)  # the summary columns first, unchanged
    for r in range(3):
        for c in range(4):
            for s in range(2):  # static: the same in every slice
                np.testing.assert_allclose(features[s, r, c, 29:], hand_quantile_features(fake_cube, r, c), rtol=1e-6)
    channel_2 = [names.index(f"{STATIC_CHANNELS[2]}_p{q}") for q in (10, 50, 90)]
    assert names[29:32] == ["slope_p10", "slope_p50", "slope_p90"] and channel_2 == [35, 36, 37]
    assert np.isnan(features[:, 1, 2, channel_2]).all() and np.isfinite(features[:, 1, 2, 38:]).all()


def test_threshold_fractions_of_cells_with_known_pixels(fake_cube: SimpleNamespace) -> None:
    """40° exactly is not steeper than 40°; 150 m exactly is within 150 m; NaN pixels are not counted."""
    slope = [40.0] * 5 + [40.01] * 3 + [10.0] * 4 + [89.0] * 2 + [np.nan] * 2  # 5 steeper of 14 finite
    river = [150.0] * 4 + [150.5] * 4 + [0.0] * 2 + [1000.0] * 5 + [np.nan]  # 6 within of 15 finite
    fake_cube.static[STATIC_CHANNELS.index("slope"), :PPC, :PPC] = np.reshape(slope, (PPC, PPC))
    fake_cube.static[STATIC_CHANNELS.index("distance_to_river"), :PPC, PPC:2 * PPC] = np.reshape(river, (PPC, PPC))
    features, names = cell_features(fake_cube, features="quantiles")
    steep, near = names.index("slope_steeper_than_40deg_fraction"), names.index(
        "distance_to_river_within_150m_fraction")
    assert features[0, 0, 0, steep] == pytest.approx(5 / 14) and features[1, 0, 1, near] == pytest.approx(6 / 15)
    assert features[0, 0, 1, steep] == 1.0 and features[0, 0, 0, near] == 1.0  # the fixture's ~100 everywhere else
    assert features[0, 0, 0, names.index("slope_p50")] == pytest.approx(40.0)


def test_unknown_feature_set_is_a_config_error(fake_cube: SimpleNamespace) -> None:
    with pytest.raises(ConfigError, match="unknown baseline feature set"):
        cell_features(fake_cube, features="deciles")


def synthetic_problem(seed: int = 0) -> dict[str, np.ndarray]:
    """4,000 cells (2 slices × 40 × 50): presence a logistic link of feature 0, density of feature 1.

    60 % training, 15 % validation and 25 % test cells.
    """
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(2, 40, 50, 29)).astype("float32")
    presence = rng.random((2, 40, 50)) < 1.0 / (1.0 + np.exp(-(3.0 * features[..., 0] - 1.0)))
    density = np.where(presence, np.exp(1.0 + 0.8 * features[..., 1] + 0.2 * rng.normal(size=presence.shape)), 0.0)
    side = rng.random((2, 40, 50))
    return {"features": features, "presence": presence, "density": density.astype("float32"), "train": side < 0.6,
            "validation": (side >= 0.6) & (side < 0.75), "test": side >= 0.75}


@pytest.fixture(scope="module")
def problem() -> dict[str, np.ndarray]:
    return synthetic_problem()


@pytest.fixture(scope="module")
def fitted(problem: dict[str, np.ndarray]) -> dict[str, baselines.BaselineModel]:
    return fit_baselines(problem["features"], problem["presence"], problem["density"], problem["train"], seed=0,
                         validation_mask=problem["validation"])


@pytest.mark.parametrize("name", baselines.BASELINE_NAMES)
def test_baselines_learn_a_known_link(problem: dict[str, np.ndarray],
                                      fitted: dict[str, baselines.BaselineModel], name: str) -> None:
    model = fitted[name]
    assert model.name == name and model.feature_names == list(baselines.CELL_FEATURE_NAMES)
    predicted = model.predict(problem["features"])
    assert predicted["probability"].shape == predicted["density"].shape == (2, 40, 50)
    test = problem["test"]
    assert metrics.auc(problem["presence"][test], predicted["probability"][test]) > 0.8
    assert np.all((predicted["probability"] >= 0) & (predicted["probability"] <= 1))
    assert np.all(predicted["density"] >= 0)
    positive = test & problem["presence"]
    assert metrics.pearson_r(problem["density"][positive], predicted["density"][positive]) > 0.5


@pytest.mark.parametrize("name", baselines.BASELINE_NAMES)
def test_shuffled_labels_give_chance_auc(problem: dict[str, np.ndarray], name: str) -> None:
    rng = np.random.default_rng(1)
    shuffled = rng.permutation(problem["presence"].ravel()).reshape(problem["presence"].shape)
    model = fit_baselines(problem["features"], shuffled, problem["density"], problem["train"],
                          validation_mask=problem["validation"])[name]
    test = problem["test"]
    assert abs(metrics.auc(shuffled[test], model.predict(problem["features"])["probability"][test]) - 0.5) < 0.05


def test_non_finite_features_skipped_in_fit_and_nan_in_predict(problem: dict[str, np.ndarray],
                                                               fitted: dict[str, baselines.BaselineModel]) -> None:
    features = problem["features"].copy()
    features[0, 3, 4, 7] = np.nan
    features[1, 10, :, 2] = np.inf
    models = fit_baselines(features, problem["presence"], problem["density"], problem["train"],
                           validation_mask=problem["validation"])
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
    with pytest.raises(GridMismatchError, match="validation_mask does not match"):
        fit_baselines(*args, problem["train"], validation_mask=problem["validation"][:1])


def test_gbm_is_deterministic_for_a_seed(problem: dict[str, np.ndarray],
                                         fitted: dict[str, baselines.BaselineModel]) -> None:
    again = fit_baselines(problem["features"], problem["presence"], problem["density"], problem["train"], seed=0,
                          validation_mask=problem["validation"])
    for name in baselines.BASELINE_NAMES:
        assert again[name].settings == fitted[name].settings
        for key, values in again[name].predict(problem["features"]).items():
            np.testing.assert_array_equal(values, fitted[name].predict(problem["features"])[key])


def rows(problem: dict[str, np.ndarray], side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, presence, density) of one side's cells, as 2-D / 1-D arrays."""
    mask = problem[side]
    return (problem["features"][mask].astype("float64"), problem["presence"][mask],
            problem["density"][mask].astype("float64"))


def brute_force(estimator: type, train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray],
                loss: Callable[[np.ndarray, np.ndarray], float], max_iter: int) -> tuple[dict[str, Any], float]:
    """Every setting of the grid × every iteration 1..max_iter, scored on the validation rows; the best."""
    scored = []
    for candidate in baselines.gbm_grid():
        with threadpool_limits(limits=1, user_api="openmp"):  # as the baselines on small tables: fast, same trees
            model = estimator(random_state=0, max_iter=max_iter, early_stopping=False, **candidate).fit(*train)
        staged = model.staged_predict_proba if estimator is HistGradientBoostingClassifier else model.staged_predict
        for n_iter, predicted in enumerate(staged(validation[0]), start=1):
            scored.append((loss(validation[1], predicted), candidate | {"max_iter": n_iter}))
    best = int(np.argmin([value for value, _ in scored]))  # the first of equals, as the search
    return scored[best][1], scored[best][0]


def test_gbm_search_picks_the_validation_best_setting_and_iteration(problem: dict[str, np.ndarray],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With patience = the iteration cap, the search is exhaustive: it must find the brute force's optimum."""
    monkeypatch.setattr(baselines, "GBM_MAX_ITER", 40)
    monkeypatch.setattr(baselines, "GBM_PATIENCE", 40)
    model = fit_baselines(problem["features"], problem["presence"], problem["density"], problem["train"], seed=0,
                          validation_mask=problem["validation"])["gbm"]
    (x, y, d), (x_val, y_val, d_val) = rows(problem, "train"), rows(problem, "validation")
    best, loss = brute_force(HistGradientBoostingClassifier, (x, y), (x_val, y_val),
                             lambda y_true, p: log_loss(y_true, p[:, 1]), 40)
    chosen = model.settings["classifier"]
    assert {key: chosen[key] for key in best} == best and chosen["tuned_on"] == "validation cells"
    assert chosen["validation_log_loss"] == pytest.approx(loss, rel=1e-9)
    assert log_loss(y_val, model.classifier.predict_proba(x_val)[:, 1]) == pytest.approx(loss, rel=1e-9)  # refit
    positive, positive_val = d > 0, d_val > 0
    best, loss = brute_force(HistGradientBoostingRegressor, (x[positive], np.log1p(d[positive])),
                             (x_val[positive_val], np.log1p(d_val[positive_val])),
                             lambda y_true, p: float(np.mean((y_true - p) ** 2)), 40)
    chosen = model.settings["regressor"]
    assert {key: chosen[key] for key in best} == best
    assert chosen["validation_mse_log1p"] == pytest.approx(loss, rel=1e-9)


def test_tuned_gbm_beats_the_old_fixed_settings_where_they_over_fit() -> None:
    """Weak signal, 1,440 training cells: 200 fixed iterations of 31 leaves over-fit; the tuned model does not."""
    rng = np.random.default_rng(5)
    features = rng.normal(size=(1, 60, 60, 29)).astype("float32")
    presence = rng.random((1, 60, 60)) < 1.0 / (1.0 + np.exp(-(0.8 * features[..., 0] - 1.0)))
    density = np.where(presence, np.exp(0.5 + 0.3 * features[..., 1] + 0.5 * rng.normal(size=(1, 60, 60))), 0.0)
    side = rng.random((1, 60, 60))
    train, validation, test = side < 0.4, (side >= 0.4) & (side < 0.6), side >= 0.6
    model = fit_baselines(features, presence, density, train, seed=0, validation_mask=validation)["gbm"]
    old = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, early_stopping=False, random_state=0)
    with threadpool_limits(limits=1, user_api="openmp"):
        old.fit(features[train], presence[train])
    for mask in (validation, test):
        tuned_loss = log_loss(presence[mask], model.predict(features)["probability"][mask].astype("float64"))
        assert tuned_loss < log_loss(presence[mask], old.predict_proba(features[mask])[:, 1]) - 0.1
    assert model.settings["classifier"]["max_iter"] < 100


def test_gbm_falls_back_without_usable_validation_cells(problem: dict[str, np.ndarray]) -> None:
    """No mask, or validation cells of one class only: the fixed settings, early-stopped on the training cells."""
    args = problem["features"], problem["presence"], problem["density"], problem["train"]
    without = fit_baselines(*args, seed=0)["gbm"]
    negative_only = fit_baselines(*args, seed=0, validation_mask=problem["validation"] & ~problem["presence"])["gbm"]
    for part in ("classifier", "regressor"):
        settings = without.settings[part]
        assert settings["tuned_on"] == "internal early stopping on 10 % of the training cells"
        assert {key: settings[key] for key in ("learning_rate", "max_leaf_nodes", "min_samples_leaf")} == {
            "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20}
        assert settings["max_iter"] == getattr(without, part).n_iter_ < 200  # stopped early
        assert negative_only.settings[part] == settings
    for key, values in without.predict(problem["features"]).items():
        np.testing.assert_array_equal(values, negative_only.predict(problem["features"])[key])
    one_positive = problem["validation"] & ~problem["presence"]
    one_positive.flat[np.flatnonzero(problem["validation"] & problem["presence"])[0]] = True
    mixed = fit_baselines(*args, seed=0, validation_mask=one_positive)["gbm"].settings
    assert mixed["classifier"]["tuned_on"] == "validation cells" and mixed["regressor"] == without.settings[
        "regressor"]


def test_hurdle_gamma_glm_recovers_a_log_linear_mean_and_its_probability_is_the_logistic_fit() -> None:
    """Density ~ Gamma(shape 2) with mean exp(0.8 + 0.6 x1 − 0.3 x2) on positive cells: no smearing needed."""
    rng = np.random.default_rng(7)
    features = rng.normal(size=(1, 100, 100, 29)).astype("float32")
    presence = rng.random((1, 100, 100)) < 1.0 / (1.0 + np.exp(-features[..., 0]))
    mean = np.exp(0.8 + 0.6 * features[..., 1] - 0.3 * features[..., 2])
    density = np.where(presence, rng.gamma(2.0, mean / 2.0), 0.0)
    train = rng.random((1, 100, 100)) < 0.6
    models = fit_baselines(features, presence, density, train, seed=0)
    hurdle = models["hurdle"]
    assert hurdle.smearing == 1.0 and hurdle.target == "density"
    assert hurdle.settings["regressor"] == {"model": "Gamma GLM", "link": "log", "alpha": baselines.GAMMA_ALPHA,
                                            "target": "density"}
    test = ~train & presence
    predicted = hurdle.predict(features)
    assert predicted["density"][test].mean() / mean[test].mean() == pytest.approx(1.0, abs=0.03)
    scaler, glm = hurdle.regressor[0], hurdle.regressor[-1]
    np.testing.assert_allclose((glm.coef_ / scaler.scale_)[1:3], [0.6, -0.3], atol=0.03)  # per unit of feature
    assert glm.intercept_ - np.sum(glm.coef_ * scaler.mean_ / scaler.scale_) == pytest.approx(0.8, abs=0.05)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features[train], presence[train])
    np.testing.assert_allclose(predicted["probability"][0], logistic.predict_proba(
        features[0].reshape(-1, 29).astype("float64"))[:, 1].reshape(100, 100), rtol=1e-5)
    np.testing.assert_array_equal(predicted["probability"], models["logistic"].predict(features)["probability"])


def test_cell_features_on_prepared_region(tiny_workdir: Path) -> None:
    cube = PreparedCube.open(tiny_workdir)
    features, names = cell_features(cube, block_rows=3)
    assert features.shape == (3, 8, 8, 29) and names == list(baselines.CELL_FEATURE_NAMES)
    assert np.isfinite(features[cube.valid]).all()
    lazy = PreparedCube.open(tiny_workdir, memory_budget_bytes=0)  # Zarr arrays read in bands
    assert not isinstance(lazy.static, np.ndarray)
    np.testing.assert_array_equal(cell_features(lazy)[0], features)
    quantiles, _ = cell_features(lazy, block_rows=3, features="quantiles")
    np.testing.assert_array_equal(quantiles[..., :29], features)
    assert np.isfinite(quantiles[cube.valid]).all()


def test_baseline_sources_on_prepared_region(tiny_workdir: Path) -> None:
    cube = PreparedCube.open(tiny_workdir)
    slices = np.arange(len(cube.valid))[:, None, None]
    train, validation = cube.valid & (slices == 0), cube.valid & (slices == 1)  # 2 and 1 positive cells
    assert int(cube.presence[train].sum()) == 2 and int(cube.presence[validation].sum()) == 1
    sources = baseline_sources(cube, train, validation, seed=0, features="quantiles")
    assert list(sources) == list(baselines.BASELINE_NAMES)
    for source in sources.values():
        assert set(source) == {"probability", "density"}
        for values in source.values():
            assert values.shape == cube.valid.shape and np.isfinite(values[cube.valid]).all()


@pytest.mark.parametrize("name", baselines.BASELINE_NAMES)
def test_smearing_makes_the_density_a_mean_not_a_geometric_mean(name: str) -> None:
    """With log-scale noise σ = 1 a back-transformed log prediction is ~exp(σ²/2) = 1.65 × too low in the mean.

    The hurdle's Gamma GLM models the mean itself: right without a smearing factor (= 1).
    """
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
    if model.target == "log1p":
        assert without_factor.mean() / observed.mean() < 0.8
    else:
        assert model.smearing == 1.0

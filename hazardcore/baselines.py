"""Traditional baselines: per-cell summaries fed to logistic regression, gradient boosting and a hurdle GLM.

METHOD.md §7 compares the deep model with the "traditional" approach the paper argues
against: each 1 km cell is reduced to a fixed set of numbers per predictor channel over its
31.25 m pixels, and a tabular model predicts (a) the probability that the cell has new
landslides in the slice (susceptibility) and (b) the landslide area density given occurrence
(% of the cell), the latter fitted on positive training cells only. These summaries discard
the within-cell pixel structure (where the steep slopes sit relative to the rivers, say) that
the convolutional model can use; the gap between the two is the paper's argument, so the
baselines must be fair comparators: tuned on the run's validation cells like the network, and
offered the within-cell distributions that slope-unit studies use.

Cell features (:func:`cell_features`)
    ``"summary"``: nan-aware mean and standard deviation of every channel (10 static, 3 rain)
    plus the slice's 3 period covariates, 29 columns (``CELL_FEATURE_NAMES``).
    ``"quantiles"``: those 29, then the within-cell 10th, 50th and 90th percentiles of every
    static channel and two threshold fractions (``QUANTILE_FEATURE_NAMES``, 32 columns):
    the share of pixels steeper than 40° (``slope`` is stored in degrees) and the share within
    150 m of a stream (``distance_to_river``, m, distance to the nearest stream pixel), each
    over the cell's finite pixels of that channel. Slope-unit models summarise covariates this
    way, by their distribution within the mapping unit rather than its mean alone (Amato et al.
    2019); the two thresholds are of the kind such studies use, fixed here (not tuned). The
    rain channels get no quantiles: they are interpolated from coarse rain grids and vary
    little within a cell.

``"logistic"``
    ``LogisticRegression`` (L2, C = 1) on standardised features for occurrence; a ``Ridge``
    (alpha = 1) on ``log1p(density)`` of positive training cells for density.

``"gbm"``
    ``HistGradientBoostingClassifier`` / ``Regressor`` (Friedman 2001; scikit-learn's
    histogram implementation, fast on hundreds of thousands of rows) on ``presence`` and on
    ``log1p(density)``. Both are tuned on the run's validation cells: for every setting of the
    grid ``GBM_GRID`` (learning rate {0.05, 0.1} × max_leaf_nodes {15, 31} × min_samples_leaf
    {20, 50}, 8 settings) the model is grown on the training cells for up to
    ``GBM_MAX_ITER`` = 300 iterations, stopping after ``GBM_PATIENCE`` = 20 iterations without
    a better validation loss, and scored by its best validation loss: log-loss of presence over the
    validation cells for the classifier, squared error of ``log1p(density)`` over the positive
    validation cells for the regressor. The setting with the lowest loss wins (the first in grid
    order on a tie), and is refitted on the training cells with ``max_iter`` = its best
    iteration (at least 1), without early stopping: the refit grows exactly the trees the
    search scored, so the model's validation loss is the one recorded in
    ``BaselineModel.settings``. Everything is seeded, so a seed gives one model. Without
    validation cells (``validation_mask=None``), or when they lack a positive or a negative
    cell (classifier) or hold fewer than 2 positive cells (regressor), that part falls back to
    ``GBM_FALLBACK`` (learning rate 0.1, 31 leaves, 20 per leaf, up to 200 iterations) with
    scikit-learn's internal early stopping on a seeded 10 % of the training rows, or with
    200 iterations and no early stopping when the fit has under 100 rows (or, for the
    classifier, under 10 of a class); ``settings`` says which.
    On tables under ``SINGLE_THREAD_ROWS`` rows the boosting runs on one OpenMP thread:
    threads synchronise at every split, which costs more than it saves on a few thousand
    rows and stalls every iteration when another process holds a core (the 8-setting search
    on 5,000 rows took 17 s on 2 threads against 1.7 s on one, on a 2-core machine with one
    core busy; the trees are the same either way). The 300-iteration cap is a compute budget:
    on the 32 × 32-cell, 8-slice default region the whole of :func:`fit_baselines` takes 3–4 s
    of CPU on the spatial split and 13 s on the random one (7 and 24 s with the quantile
    features), where the leaky random split keeps improving the validation loss past 300
    iterations at learning rate 0.05 (its AUC does not move).

``"hurdle"``
    The statistical hurdle model of the landslide literature (occurrence and size modelled by
    separate GLMs, e.g. the space-time models of landslide counts and areas of Lombardo et al.
    2020): the ``"logistic"`` classifier for occurrence (the same fitted object) and a Gamma
    GLM with log link (``GammaRegressor`` on standardised features) for density given
    occurrence, fitted on the density (% of the cell, > 0) of positive training cells. The
    Gamma family suits a positive, right-skewed size whose spread grows with its mean
    (variance ∝ mean²), and the log link makes the predictors act multiplicatively, as on the
    log scale of the other regressors (McCullagh & Nelder 1989). Unlike a regression of
    ``log1p(density)``, a log-link GLM models the conditional mean itself, ``E[d | x] =
    exp(x·β)``, so there is no retransformation bias and no smearing (``smearing`` = 1). A
    light ridge penalty (``GAMMA_ALPHA`` = 1e-4 on standardised features) only keeps the fit
    defined when features are collinear (the quantile features are).

The two log-scale regressors predict a conditional mean of ``log1p(density)``: back-transformed
it is a geometric mean, below the arithmetic mean that hazard needs. Duan's (1983) smearing
estimate corrects it: ``E[1 + d] = exp(ŷ) · mean(exp(ε))`` with ε the out-of-fold residuals
(5-fold) on the positive training cells — in-sample residuals of gradient boosting are shrunk
by over-fitting — so every baseline's hazard is an expectation like the model's.

scikit-learn is used rather than hand-written fitting because its estimators are the
reference implementations reviewers expect for such baselines.

References
----------
Amato, G., Eisank, C., Castro-Camilo, D., Lombardo, L. (2019). Accounting for covariate
distributions in slope-unit-based landslide susceptibility models. Engineering Geology 260.
Duan, N. (1983). Smearing estimate: a nonparametric retransformation method. JASA 78, 605–610.
Friedman, J. H. (2001). Greedy function approximation: a gradient boosting machine. Annals of
Statistics 29, 1189–1232.
Lombardo, L., Opitz, T., Ardizzone, F., Guzzetti, F., Huser, R. (2020). Space-time landslide
predictive modelling. Earth-Science Reviews 209, 103318.
McCullagh, P., Nelder, J. A. (1989). Generalized Linear Models, 2nd ed. Chapman & Hall.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import GammaRegressor, LogisticRegression, Ridge
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from hazardcore.cube import PreparedCube
from hazardcore.errors import CheckpointError, ConfigError, GridMismatchError, InvalidValueError, describe
from hazardcore.predictors import DYNAMIC_CHANNELS, PERIOD_CHANNELS, STATIC_CHANNELS

BASELINE_NAMES = ("logistic", "gbm", "hurdle")
FEATURE_SETS = ("summary", "quantiles")
MAX_DENSITY_PERCENT = 100.0
QUANTILES = (10, 50, 90)  # within-cell percentiles of each static channel ("quantiles" features)
STEEP_SLOPE_DEGREES = 40.0  # share of pixels steeper than this
NEAR_RIVER_M = 150.0  # share of pixels at most this far from a stream
GBM_GRID: dict[str, tuple[float, ...]] = {"learning_rate": (0.05, 0.1), "max_leaf_nodes": (15, 31),
                                          "min_samples_leaf": (20, 50)}
GBM_MAX_ITER = 300  # a compute budget: on the leaky random split the validation loss still falls at 300
GBM_PATIENCE = 20  # iterations without a better validation loss before the search stops growing
GBM_FALLBACK: dict[str, Any] = {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20, "max_iter": 200}
SINGLE_THREAD_ROWS = 100_000
GAMMA_ALPHA = 1e-4


def _stat_names(channels: tuple[str, ...]) -> list[str]:
    return [f"{name}_{stat}" for name in channels for stat in ("mean", "std")]


CELL_FEATURE_NAMES: tuple[str, ...] = (*_stat_names(STATIC_CHANNELS), *_stat_names(DYNAMIC_CHANNELS),
                                       *PERIOD_CHANNELS)
QUANTILE_FEATURE_NAMES: tuple[str, ...] = (
    *(f"{name}_p{q}" for name in STATIC_CHANNELS for q in QUANTILES),
    f"slope_steeper_than_{STEEP_SLOPE_DEGREES:g}deg_fraction", f"distance_to_river_within_{NEAR_RIVER_M:g}m_fraction")


def feature_names(features: str = "summary") -> list[str]:
    """Column names of :func:`cell_features` for a feature set.

    Parameters
    ----------
    features
        ``"summary"`` or ``"quantiles"`` (see the module docstring).

    Returns
    -------
    list of str
        ``CELL_FEATURE_NAMES``, followed by ``QUANTILE_FEATURE_NAMES`` for ``"quantiles"``.

    Raises
    ------
    ConfigError
        If ``features`` is not one of ``FEATURE_SETS``.
    """
    if features not in FEATURE_SETS:
        raise ConfigError(describe("unknown baseline feature set", expected=" | ".join(FEATURE_SETS), found=features,
                                   fix="set baseline_features to one of the feature sets"))
    return [*CELL_FEATURE_NAMES, *(QUANTILE_FEATURE_NAMES if features == "quantiles" else ())]


def _cell_stats(block: np.ndarray, pixels_per_cell: int) -> np.ndarray:
    """Per-cell nan-aware mean and std (ddof 0) of a (C, h, w) pixel block.

    Returns (h / ppc, w / ppc, 2·C) float32, ordered mean, std per channel; cells without
    a finite pixel are NaN.
    """
    n_channels, height, width = block.shape
    ppc = pixels_per_cell
    out = np.empty((height // ppc, width // ppc, n_channels, 2), dtype="float32")
    for channel in range(n_channels):  # one channel at a time keeps the float64 temporaries small
        cells = block[channel].reshape(height // ppc, ppc, width // ppc, ppc).astype("float64")
        finite = np.isfinite(cells)
        count = finite.sum(axis=(1, 3))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(finite, cells, 0.0).sum(axis=(1, 3)) / count
            deviation = np.where(finite, cells - mean[:, None, :, None], 0.0)
            out[..., channel, 0] = mean
            out[..., channel, 1] = np.sqrt((deviation**2).sum(axis=(1, 3)) / count)
    return out.reshape(height // ppc, width // ppc, 2 * n_channels)


def _cell_pixels(layer: np.ndarray, pixels_per_cell: int) -> np.ndarray:
    """(h, w) pixels → (h / ppc, w / ppc, ppc²) float64, the pixels of each cell on the last axis."""
    ppc = pixels_per_cell
    rows, cols = layer.shape[0] // ppc, layer.shape[1] // ppc
    return layer.reshape(rows, ppc, cols, ppc).swapaxes(1, 2).reshape(rows, cols, ppc * ppc).astype("float64")


def _share(pixels: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """Fraction of a cell's finite pixels where ``hit``; NaN where the cell has no finite pixel."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return hit.sum(axis=-1) / np.isfinite(pixels).sum(axis=-1)


def _cell_quantiles(block: np.ndarray, pixels_per_cell: int) -> np.ndarray:
    """``QUANTILE_FEATURE_NAMES`` of a (static channels, h, w) block: (h / ppc, w / ppc, 32) float32.

    Percentiles by ``numpy.nanpercentile`` (linear interpolation) over each cell's finite
    pixels; NaN where a cell has no finite pixel of the channel.
    """
    height, width = block.shape[1] // pixels_per_cell, block.shape[2] // pixels_per_cell
    out = np.empty((height, width, len(QUANTILE_FEATURE_NAMES)), dtype="float32")
    n_quantiles = len(QUANTILES)
    for channel in range(len(STATIC_CHANNELS)):
        pixels = _cell_pixels(block[channel], pixels_per_cell)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice": NaN is the answer
            values = np.nanpercentile(pixels, QUANTILES, axis=-1)
        out[..., channel * n_quantiles:(channel + 1) * n_quantiles] = np.moveaxis(values, 0, -1)
    slope = _cell_pixels(block[STATIC_CHANNELS.index("slope")], pixels_per_cell)
    river = _cell_pixels(block[STATIC_CHANNELS.index("distance_to_river")], pixels_per_cell)
    out[..., -2] = _share(slope, slope > STEEP_SLOPE_DEGREES)
    out[..., -1] = _share(river, river <= NEAR_RIVER_M)
    return out


def _check_cube(cube: PreparedCube, block_rows: int) -> None:
    if block_rows < 1:
        raise ConfigError(describe("block_rows must be positive", expected=">= 1", found=block_rows))
    grid = cube.grid
    pixels = (grid.n_rows * grid.pixels_per_cell, grid.n_cols * grid.pixels_per_cell)
    expected = {"static": (len(STATIC_CHANNELS), *pixels),
                "dynamic": (len(cube.period), len(DYNAMIC_CHANNELS), *pixels)}
    for name, shape in expected.items():
        found = tuple(getattr(cube, name).shape)
        if found != shape:
            raise GridMismatchError(describe(f"the prepared {name} predictors do not match the grid",
                                             source=getattr(cube, "path", None), expected=shape, found=found,
                                             fix="prepare the working folder again"))


def cell_features(cube: PreparedCube, block_rows: int = 16,
                  features: str = "summary") -> tuple[np.ndarray, list[str]]:
    """Per-cell summaries of every predictor channel, per slice.

    Parameters
    ----------
    cube
        An opened prepared cube (``static`` and ``dynamic`` may be numpy or Zarr arrays).
    block_rows
        Cell rows read at a time, so memory stays bounded on large regions.
    features
        ``"summary"`` (mean and std) or ``"quantiles"`` (also within-cell percentiles and
        threshold fractions of the static channels; see the module docstring).

    Returns
    -------
    features : numpy.ndarray
        (n_slices, n_rows, n_cols, n_features) float32. ``"summary"``: 29 columns, mean and
        std (nan-aware, ddof 0) of the 10 static channels (computed once, broadcast over
        slices), of the 3 rain channels of each slice, and the slice's 3 period covariates.
        ``"quantiles"``: those, then the 32 ``QUANTILE_FEATURE_NAMES`` (static, broadcast).
        NaN where a cell has no finite pixel of a channel.
    names : list of str
        Feature names in column order (:func:`feature_names`), e.g. ``"slope_mean"``.

    Raises
    ------
    ConfigError
        If ``block_rows`` is below 1 or ``features`` is not one of ``FEATURE_SETS``.
    GridMismatchError
        If the stored arrays do not match the cube's grid.
    """
    names = feature_names(features)
    _check_cube(cube, block_rows)
    grid, ppc = cube.grid, cube.grid.pixels_per_cell
    period = np.asarray(cube.period, dtype="float32")
    n_static, n_summary = 2 * len(STATIC_CHANNELS), len(CELL_FEATURE_NAMES)
    dynamic, n_period = slice(n_static, n_summary - len(PERIOD_CHANNELS)), len(PERIOD_CHANNELS)
    table = np.empty((len(period), grid.n_rows, grid.n_cols, len(names)), dtype="float32")
    for start in range(0, grid.n_rows, block_rows):
        stop = min(start + block_rows, grid.n_rows)
        rows = slice(start * ppc, stop * ppc)
        static = np.asarray(cube.static[:, rows, :])
        table[:, start:stop, :, :n_static] = _cell_stats(static, ppc)
        if features == "quantiles":
            table[:, start:stop, :, n_summary:] = _cell_quantiles(static, ppc)
        for index in range(len(period)):
            table[index, start:stop, :, dynamic] = _cell_stats(np.asarray(cube.dynamic[index, :, rows, :]), ppc)
    table[..., n_summary - n_period:n_summary] = period[:, None, None, :]
    return table, names


@contextmanager
def _threads(n_rows: int) -> Iterator[None]:
    """One OpenMP thread for tables under ``SINGLE_THREAD_ROWS`` rows (see the module docstring)."""
    with threadpool_limits(limits=1 if n_rows < SINGLE_THREAD_ROWS else None, user_api="openmp"):
        yield


@dataclass
class BaselineModel:
    """A fitted baseline: a susceptibility classifier and a density-given-occurrence regressor.

    Attributes
    ----------
    name
        One of ``BASELINE_NAMES``.
    classifier
        Fitted scikit-learn classifier of presence.
    regressor
        Fitted scikit-learn regressor on positive cells, of ``log1p(density %)`` or of the
        density itself (see ``target``).
    feature_names
        Names of the feature columns it was fitted on.
    smearing
        Duan's smearing factor ``mean(exp(residual))`` of the regressor's out-of-fold residuals;
        1 for a regressor of the density itself.
    target
        ``"log1p"`` (the regressor predicts ``log1p(density)``, back-transformed with
        ``smearing``) or ``"density"`` (it predicts the conditional mean density, % of the cell).
    settings
        What was fitted, for reports: ``{"classifier": {...}, "regressor": {...}}``, e.g. the
        gradient-boosting settings chosen on the validation cells and their validation loss.
    """

    name: str
    classifier: Any
    regressor: Any
    feature_names: list[str]
    smearing: float = 1.0
    target: str = "log1p"
    settings: dict[str, Any] = field(default_factory=dict)

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Predict susceptibility and density given occurrence.

        Parameters
        ----------
        features
            (..., n_features) array, columns as ``feature_names``.

        Returns
        -------
        dict of str to numpy.ndarray
            ``"probability"`` of new landslides and ``"density"`` given occurrence (% of the
            cell, in [0, 100], a conditional mean), both (...) float32; NaN where a feature is
            not finite.

        Raises
        ------
        CheckpointError
            If the number of feature columns differs from the fitted one.
        """
        values = np.asarray(features)
        if values.shape[-1:] != (len(self.feature_names),):
            raise CheckpointError(describe(f"the {self.name} baseline got features of another width",
                                           expected=f"(..., {len(self.feature_names)})", found=values.shape,
                                           fix="compute features with cell_features, as in fitting"))
        rows = values.reshape(-1, values.shape[-1]).astype("float64")
        finite = np.isfinite(rows).all(axis=1)
        probability = np.full(len(rows), np.nan, dtype="float32")
        density = np.full(len(rows), np.nan, dtype="float32")
        if finite.any():
            with _threads(len(rows)), np.errstate(over="ignore"):  # a Gamma GLM's exp may overflow: clipped
                probability[finite] = self.classifier.predict_proba(rows[finite])[:, 1]
                density[finite] = self._density(self.regressor.predict(rows[finite]))
        return {"probability": probability.reshape(values.shape[:-1]), "density": density.reshape(values.shape[:-1])}

    def _density(self, predicted: np.ndarray) -> np.ndarray:
        """The regressor's output as density given occurrence (% of the cell, in [0, 100])."""
        if self.target == "density":
            return np.clip(predicted, 0.0, MAX_DENSITY_PERCENT)
        log_density = np.clip(predicted, 0.0, np.log1p(MAX_DENSITY_PERCENT))
        return np.clip(np.exp(log_density) * self.smearing - 1.0, 0.0, MAX_DENSITY_PERCENT)


def _rows(features: np.ndarray, presence: np.ndarray, density: np.ndarray, mask: np.ndarray,
          name: str = "train_mask") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (x, presence, density) of the masked cells whose features are all finite."""
    cells = features.shape[:-1]
    for label, array in {"presence": presence, "density": density, name: mask}.items():
        if np.shape(array) != cells:
            raise GridMismatchError(describe(f"{label} does not match the feature cells",
                                             expected=cells, found=np.shape(array)))
    x = features.reshape(-1, features.shape[-1]).astype("float64")
    keep = np.asarray(mask, dtype=bool).ravel() & np.isfinite(x).all(axis=1)
    return x[keep], np.asarray(presence, dtype=bool).ravel()[keep], np.asarray(density, dtype="float64").ravel()[keep]


def _positive(presence: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Cells with new landslides and a finite density above 0: the density regressors' rows."""
    with np.errstate(invalid="ignore"):
        return presence & (density > 0)


def _log_density(density: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(density, 0.0, MAX_DENSITY_PERCENT))


def _check_targets(presence: np.ndarray, positive: np.ndarray) -> None:
    n_pos, n_neg = int(presence.sum()), int((~presence).sum())
    if n_pos == 0 or n_neg == 0:
        raise InvalidValueError(describe("the training cells need both a positive and a negative cell",
                                         expected="training cells (with finite features) with and without "
                                                  "new landslides",
                                         found=f"{n_pos} positive and {n_neg} negative training cells",
                                         fix="use a split whose training part holds both classes"))
    if int(positive.sum()) < 2:
        raise InvalidValueError(describe("the density regressor needs at least 2 positive training cells "
                                         "with a finite density above 0", found=int(positive.sum()),
                                         fix="use a split whose training part holds more landslide cells"))


def gbm_grid() -> list[dict[str, Any]]:
    """The gradient-boosting settings searched on the validation cells, in search order (``GBM_GRID``)."""
    return [dict(zip(GBM_GRID, values, strict=True)) for values in itertools.product(*GBM_GRID.values())]


def _boosting(kind: str, seed: int, **settings: Any) -> Any:
    """An unfitted histogram gradient-boosting ``"classifier"`` or ``"regressor"``."""
    estimator = HistGradientBoostingClassifier if kind == "classifier" else HistGradientBoostingRegressor
    return estimator(random_state=seed, **settings)


def _tuned_boosting(kind: str, train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray],
                    seed: int) -> tuple[Any, dict[str, Any]]:
    """Search ``GBM_GRID`` with early stopping on ``validation``; refit the best on ``train``."""
    best: tuple[float, dict[str, Any]] | None = None
    for candidate in gbm_grid():
        model = _boosting(kind, seed, max_iter=GBM_MAX_ITER, early_stopping=True, n_iter_no_change=GBM_PATIENCE,
                          **candidate).fit(*train, X_val=validation[0], y_val=validation[1])
        scores = np.asarray(model.validation_score_)  # minus the loss, before the first tree and after each
        loss = -float(scores.max())
        if best is None or loss < best[0]:
            best = (loss, candidate | {"max_iter": max(1, int(scores.argmax()))})
    assert best is not None
    loss, settings = best
    model = _boosting(kind, seed, early_stopping=False, **settings).fit(*train)
    # the regressor's loss is half the squared error
    scored = {"validation_log_loss": loss} if kind == "classifier" else {"validation_mse_log1p": 2.0 * loss}
    return model, settings | scored | {"tuned_on": "validation cells", "validation_rows": len(validation[1])}


def _fallback_boosting(kind: str, x: np.ndarray, y: np.ndarray, seed: int) -> tuple[Any, dict[str, Any]]:
    """``GBM_FALLBACK``, early-stopped on 10 % of the training rows when they are enough."""
    enough = len(y) >= 100 and (kind == "regressor" or min(int(y.sum()), int((~y).sum())) >= 10)
    settings = dict(GBM_FALLBACK)
    model = _boosting(kind, seed, early_stopping=enough, n_iter_no_change=GBM_PATIENCE, validation_fraction=0.1,
                      **settings).fit(x, y)
    tuned_on = "internal early stopping on 10 % of the training cells" if enough else "fixed settings"
    return model, settings | {"max_iter": int(model.n_iter_), "tuned_on": tuned_on}


def _smearing(regressor: Any, x: np.ndarray, target: np.ndarray) -> float:
    """Duan's factor ``mean(exp(ε))`` from 5-fold out-of-fold residuals (a clone of ``regressor`` per fold)."""
    held_out = cross_val_predict(clone(regressor), x, target, cv=min(5, len(target)))
    return float(np.mean(np.exp(target - held_out)))


def _fit_logistic(x: np.ndarray, y: np.ndarray, d: np.ndarray, names: list[str]) -> BaselineModel:
    """Logistic regression of presence; ridge of ``log1p(density)`` on positive cells, with smearing."""
    positive = _positive(y, d)
    target = _log_density(d[positive])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    regressor = make_pipeline(StandardScaler(), Ridge()).fit(x[positive], target)
    settings = {"classifier": {"model": "logistic regression", "C": 1.0},
                "regressor": {"model": "ridge", "alpha": 1.0, "target": "log1p(density)"}}
    return BaselineModel("logistic", classifier, regressor, names, _smearing(regressor, x[positive], target),
                         "log1p", settings)


def _fit_gbm(x: np.ndarray, y: np.ndarray, d: np.ndarray, validation: tuple[np.ndarray, ...] | None, seed: int,
             names: list[str]) -> BaselineModel:
    """Gradient boosting tuned on the validation rows where they allow it (see the module docstring)."""
    positive = _positive(y, d)
    target = _log_density(d[positive])
    x_val, y_val, d_val = validation if validation is not None else (x[:0], y[:0], d[:0])
    positive_val = _positive(y_val, d_val)
    with _threads(len(y)):
        if y_val.any() and not y_val.all():
            classifier, classifier_settings = _tuned_boosting("classifier", (x, y), (x_val, y_val), seed)
        else:
            classifier, classifier_settings = _fallback_boosting("classifier", x, y, seed)
        if int(positive_val.sum()) >= 2:
            regressor, regressor_settings = _tuned_boosting("regressor", (x[positive], target), (
                x_val[positive_val], _log_density(d_val[positive_val])), seed)
        else:
            regressor, regressor_settings = _fallback_boosting("regressor", x[positive], target, seed)
        smearing = _smearing(regressor, x[positive], target)
    settings = {"classifier": {"model": "histogram gradient boosting"} | classifier_settings,
                "regressor": {"model": "histogram gradient boosting", "target": "log1p(density)"} | regressor_settings}
    return BaselineModel("gbm", classifier, regressor, names, smearing, "log1p", settings)


def _fit_hurdle(logistic: BaselineModel, x: np.ndarray, y: np.ndarray, d: np.ndarray,
                names: list[str]) -> BaselineModel:
    """The logistic classifier for occurrence; a Gamma GLM with log link of density on positive cells."""
    positive = _positive(y, d)
    regressor = make_pipeline(StandardScaler(), GammaRegressor(alpha=GAMMA_ALPHA, solver="newton-cholesky",
                                                               max_iter=300))
    regressor.fit(x[positive], np.minimum(d[positive], MAX_DENSITY_PERCENT))
    settings = {"classifier": logistic.settings["classifier"],
                "regressor": {"model": "Gamma GLM", "link": "log", "alpha": GAMMA_ALPHA, "target": "density"}}
    return BaselineModel("hurdle", logistic.classifier, regressor, names, 1.0, "density", settings)


def _default_names(width: int) -> list[str]:
    """``feature_names`` of the feature set of this width, else ``feature_0``, ``feature_1``, ..."""
    for features in FEATURE_SETS:
        if width == len(feature_names(features)):
            return feature_names(features)
    return [f"feature_{i}" for i in range(width)]


def fit_baselines(features: np.ndarray, presence: np.ndarray, density: np.ndarray, train_mask: np.ndarray,
                  seed: int = 0, feature_names: list[str] | None = None,
                  validation_mask: np.ndarray | None = None) -> dict[str, BaselineModel]:
    """Fit the logistic, gradient-boosting and hurdle baselines on the training cells.

    Parameters
    ----------
    features
        (..., n_features) cell features, e.g. from :func:`cell_features`.
    presence, density
        (...) new-landslide presence and area density (% of the cell) per cell.
    train_mask
        (...) bool, the training cells; cells with a non-finite feature are skipped.
    seed
        Random state of the gradient-boosting models.
    feature_names
        Column names; default :func:`feature_names` of the feature set of this width, else
        ``feature_0``, ``feature_1``, ...
    validation_mask
        (...) bool, the validation cells (disjoint from the training cells) on which the
        gradient boosting is tuned and early-stopped. ``None``, or cells without a positive and
        a negative cell (or with fewer than 2 positive cells, for the regressor), give the
        fixed fallback settings with internal early stopping (see the module docstring).

    Returns
    -------
    dict of str to BaselineModel
        Keyed by ``BASELINE_NAMES``. Classifiers are fitted on presence; regressors on the
        positive training cells (density above 0) only; ``settings`` records what was chosen.

    Raises
    ------
    GridMismatchError
        If presence, density or a mask do not match the feature cells.
    InvalidValueError
        If the training cells hold no positive or no negative cell, or fewer than 2
        positive cells with a finite density above 0.
    """
    values = np.asarray(features)
    x, y, d = _rows(values, presence, density, train_mask)
    _check_targets(y, _positive(y, d))
    validation = None if validation_mask is None else _rows(values, presence, density, validation_mask,
                                                              "validation_mask")
    names = list(feature_names) if feature_names is not None else _default_names(values.shape[-1])
    logistic = _fit_logistic(x, y, d, names)
    return {"logistic": logistic, "gbm": _fit_gbm(x, y, d, validation, seed, names),
            "hurdle": _fit_hurdle(logistic, x, y, d, names)}

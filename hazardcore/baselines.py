"""Traditional baselines: cell-level summaries fed to logistic regression and gradient boosting.

METHOD.md §7 compares the deep model with the "traditional" approach the paper argues
against: each 1 km cell is reduced to the mean and standard deviation of every predictor
channel over its 31.25 m pixels (plus the slice's monsoon count), and a tabular model
predicts (a) the probability that the cell has new landslides in the slice
(susceptibility) and (b) the landslide area density given occurrence (% of the cell),
the latter fitted on positive training cells only. These summaries discard the
within-cell pixel structure (where the steep slopes sit relative to the rivers, say)
that the convolutional model can use; the gap between the two is the paper's argument.

scikit-learn is used rather than hand-written fitting because its estimators are the
reference implementations reviewers expect for such baselines:
``LogisticRegression`` (with ``StandardScaler``) and a ``Ridge`` on ``log1p(density)``
for the linear baseline, ``HistGradientBoostingClassifier`` / ``Regressor`` (fast on
hundreds of thousands of rows, deterministic with early stopping off and a fixed seed)
for the boosted one.

Both regressors fit ``log1p(density)`` with squared error, so they predict a conditional
mean of the *log*: back-transformed it is a geometric mean, below the arithmetic mean that
hazard needs. Duan's (1983) smearing estimate corrects it: ``E[1 + d] = exp(ŷ) · mean(exp(ε))``
with ε the out-of-fold residuals (5-fold) on the positive training cells — in-sample
residuals of gradient boosting are shrunk by over-fitting — so the baselines' hazard is an
expectation like the model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hazardcore.datasets import PreparedCube
from hazardcore.errors import CheckpointError, ConfigError, GridMismatchError, InvalidValueError, describe
from hazardcore.predictors import DYNAMIC_CHANNELS, PERIOD_CHANNELS, STATIC_CHANNELS

BASELINE_NAMES = ("logistic", "gbm")
MAX_DENSITY_PERCENT = 100.0
GBM_SETTINGS: dict[str, Any] = {"max_iter": 200, "learning_rate": 0.1, "early_stopping": False}


def _stat_names(channels: tuple[str, ...]) -> list[str]:
    return [f"{name}_{stat}" for name in channels for stat in ("mean", "std")]


CELL_FEATURE_NAMES: tuple[str, ...] = (*_stat_names(STATIC_CHANNELS), *_stat_names(DYNAMIC_CHANNELS),
                                       *PERIOD_CHANNELS)


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


def cell_features(cube: PreparedCube, block_rows: int = 16) -> tuple[np.ndarray, list[str]]:
    """Per-cell mean and standard deviation of every predictor channel, per slice.

    Parameters
    ----------
    cube
        An opened prepared cube (``static`` and ``dynamic`` may be numpy or Zarr arrays).
    block_rows
        Cell rows read at a time, so memory stays bounded on large regions.

    Returns
    -------
    features : numpy.ndarray
        (n_slices, n_rows, n_cols, 29) float32: mean and std (nan-aware, ddof 0) of the 10
        static channels (computed once, broadcast over slices), of the 3 rain channels of
        each slice, and the slice's 3 period covariates. NaN where a cell has no finite pixel.
    names : list of str
        Feature names in column order (``CELL_FEATURE_NAMES``), e.g. ``"slope_mean"``.

    Raises
    ------
    ConfigError
        If ``block_rows`` is below 1.
    GridMismatchError
        If the stored arrays do not match the cube's grid.
    """
    _check_cube(cube, block_rows)
    grid, ppc = cube.grid, cube.grid.pixels_per_cell
    period = np.asarray(cube.period, dtype="float32")
    n_static, n_period = 2 * len(STATIC_CHANNELS), len(PERIOD_CHANNELS)
    features = np.empty((len(period), grid.n_rows, grid.n_cols, len(CELL_FEATURE_NAMES)), dtype="float32")
    for start in range(0, grid.n_rows, block_rows):
        stop = min(start + block_rows, grid.n_rows)
        rows = slice(start * ppc, stop * ppc)
        features[:, start:stop, :, :n_static] = _cell_stats(np.asarray(cube.static[:, rows, :]), ppc)
        for index in range(len(period)):
            features[index, start:stop, :, n_static:-n_period] = _cell_stats(
                np.asarray(cube.dynamic[index, :, rows, :]), ppc)
    features[..., -n_period:] = period[:, None, None, :]
    return features, list(CELL_FEATURE_NAMES)


@dataclass
class BaselineModel:
    """A fitted baseline: a susceptibility classifier and a density-given-occurrence regressor.

    Attributes
    ----------
    name
        ``"logistic"`` or ``"gbm"``.
    classifier
        Fitted scikit-learn classifier of presence.
    regressor
        Fitted scikit-learn regressor of ``log1p(density %)`` on positive cells.
    feature_names
        Names of the feature columns it was fitted on.
    smearing
        Duan's smearing factor ``mean(exp(residual))`` of the regressor's out-of-fold residuals.
    """

    name: str
    classifier: Any
    regressor: Any
    feature_names: list[str]
    smearing: float = 1.0

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
            cell, in [0, 100], the smearing-corrected mean), both (...) float32; NaN where a
            feature is not finite.

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
            probability[finite] = self.classifier.predict_proba(rows[finite])[:, 1]
            log_density = np.clip(self.regressor.predict(rows[finite]), 0.0, np.log1p(MAX_DENSITY_PERCENT))
            density[finite] = np.clip(np.exp(log_density) * self.smearing - 1.0, 0.0, MAX_DENSITY_PERCENT)
        return {"probability": probability.reshape(values.shape[:-1]), "density": density.reshape(values.shape[:-1])}


def _estimators(seed: int) -> dict[str, tuple[Any, Any]]:
    """Unfitted (classifier, regressor) pairs of each baseline."""
    return {
        "logistic": (make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
                     make_pipeline(StandardScaler(), Ridge())),
        "gbm": (HistGradientBoostingClassifier(random_state=seed, **GBM_SETTINGS),
                HistGradientBoostingRegressor(random_state=seed, **GBM_SETTINGS)),
    }


def _training_rows(features: np.ndarray, presence: np.ndarray, density: np.ndarray,
                   train_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows (x, presence, density) of training cells whose features are all finite."""
    cells = features.shape[:-1]
    for name, array in {"presence": presence, "density": density, "train_mask": train_mask}.items():
        if np.shape(array) != cells:
            raise GridMismatchError(describe(f"{name} does not match the feature cells",
                                             expected=cells, found=np.shape(array)))
    x = features.reshape(-1, features.shape[-1]).astype("float64")
    keep = np.asarray(train_mask, dtype=bool).ravel() & np.isfinite(x).all(axis=1)
    return x[keep], np.asarray(presence, dtype=bool).ravel()[keep], np.asarray(density, dtype="float64").ravel()[keep]


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
                                         "with a finite density", found=int(positive.sum()),
                                         fix="use a split whose training part holds more landslide cells"))


def fit_baselines(features: np.ndarray, presence: np.ndarray, density: np.ndarray, train_mask: np.ndarray,
                  seed: int = 0, feature_names: list[str] | None = None) -> dict[str, BaselineModel]:
    """Fit the logistic and gradient-boosting baselines on the training cells.

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
        Column names; default ``CELL_FEATURE_NAMES`` when the width matches, else
        ``feature_0``, ``feature_1``, ...

    Returns
    -------
    dict of str to BaselineModel
        Keyed by ``BASELINE_NAMES``. Classifiers are fitted on presence; regressors on
        ``log1p(density)`` of positive training cells only.

    Raises
    ------
    GridMismatchError
        If presence, density or the mask do not match the feature cells.
    InvalidValueError
        If the training cells hold no positive or no negative cell, or fewer than 2
        positive cells with a finite density.
    """
    values = np.asarray(features)
    x, y, d = _training_rows(values, presence, density, train_mask)
    positive = y & np.isfinite(d)
    _check_targets(y, positive)
    target = np.log1p(np.clip(d[positive], 0.0, MAX_DENSITY_PERCENT))
    if feature_names is None:
        width = values.shape[-1]
        feature_names = (list(CELL_FEATURE_NAMES) if width == len(CELL_FEATURE_NAMES)
                         else [f"feature_{i}" for i in range(width)])
    models = {}
    for name, (classifier, regressor) in _estimators(seed).items():
        classifier.fit(x, y)
        held_out = cross_val_predict(clone(regressor), x[positive], target, cv=min(5, int(positive.sum())))
        regressor.fit(x[positive], target)
        smearing = float(np.mean(np.exp(target - held_out)))
        models[name] = BaselineModel(name, classifier, regressor, list(feature_names), smearing)
    return models

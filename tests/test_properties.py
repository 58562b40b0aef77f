"""Property-based tests (hypothesis) of the pure functions: terrain, differencing, metrics.

Terrain is computed on random surfaces (random smooth fields plus white noise, any relief);
its outputs must be finite and in their ranges, and turning the surface upside down must flip
the sign of both curvatures and keep the slope. Differencing of a cumulative inventory never
gives a negative density. Metrics stay in their ranges and equal scikit-learn's / scipy's.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import scipy.stats
import sklearn.metrics
import xarray as xr
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hazardcore import metrics, terrain
from hazardcore.inventory import new_landslide_density
from hazardcore.slices import SliceSpec

PIXEL_M = 31.25
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def surfaces(draw: st.DrawFn) -> np.ndarray:
    """A random (rows, cols) elevation field in metres: a random plane, a few random bumps and noise."""
    n_rows, n_cols = draw(st.integers(6, 24)), draw(st.integers(6, 24))
    seed = draw(st.integers(0, 2**32 - 1))
    relief_m = draw(st.floats(0.0, 3000.0))
    noise_m = draw(st.floats(0.0, 50.0))
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n_rows, 0:n_cols].astype("float64") * PIXEL_M
    z = 1000.0 + rng.normal(0, 0.5) * x + rng.normal(0, 0.5) * y
    for _ in range(rng.integers(0, 4)):
        cy, cx, width = rng.uniform(0, n_rows * PIXEL_M), rng.uniform(0, n_cols * PIXEL_M), rng.uniform(50, 400)
        z += relief_m * rng.uniform(-1, 1) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
    return (z + noise_m * rng.standard_normal(z.shape)).astype("float32")


def dem(values: np.ndarray) -> xr.DataArray:
    n_rows, n_cols = values.shape
    y = (n_rows - 1 - np.arange(n_rows)) * PIXEL_M
    x = np.arange(n_cols) * PIXEL_M
    return xr.DataArray(values, dims=("y", "x"), coords={"y": y, "x": x}, name="dem")


@SETTINGS
@given(surfaces())
def test_terrain_is_finite_and_in_range_on_random_surfaces(z: np.ndarray) -> None:
    slope = terrain.slope(dem(z)).values
    assert np.isfinite(slope).all() and (slope >= 0).all() and (slope < 90).all()
    for name in ("northness", "eastness"):
        values = getattr(terrain, name)(dem(z)).values
        assert np.isfinite(values).all() and (np.abs(values) <= 1 + 1e-6).all()
    for name in ("profile_curvature", "planar_curvature", "twi", "flow_accumulation"):
        assert np.isfinite(getattr(terrain, name)(dem(z)).values).all(), name
    assert (terrain.flow_accumulation(dem(z)).values > 0).all()


@SETTINGS
@given(surfaces())
def test_turning_a_surface_upside_down_flips_both_curvatures_and_keeps_the_slope(z: np.ndarray) -> None:
    z = (np.round(np.asarray(z, dtype="float64") * 8) / 8).astype("float32")  # multiples of 1/8 m: flips exactly
    upside_down = (2000.0 - z).astype("float32")  # -z, kept positive: same differences, exact in float32
    assert np.array_equal(2000.0 - upside_down, z)  # (an assume() here filtered out most surfaces)
    for name in ("profile_curvature", "planar_curvature"):
        up, down = getattr(terrain, name)(dem(z)).values, getattr(terrain, name)(dem(upside_down)).values
        np.testing.assert_allclose(down, -up, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(terrain.slope(dem(upside_down)).values, terrain.slope(dem(z)).values, atol=1e-4)


@SETTINGS
@given(st.integers(1, 5), st.integers(0, 2**32 - 1), st.booleans(), st.floats(0.0, 0.3))
def test_differencing_never_gives_a_negative_density(n_slices: int, seed: int, baseline: bool,
                                                     nodata_fraction: float) -> None:
    """Any cumulative areas in [0, cell area], even ones that shrink between dates (re-mapping)."""
    rng = np.random.default_rng(seed)
    cell_area_m2 = 1e6
    n_dates = n_slices + int(baseline)
    areas = rng.uniform(0, cell_area_m2, size=(n_dates, 5, 6))
    areas[rng.uniform(size=areas.shape) < nodata_fraction] = np.nan
    first = dt.date(2015, 1, 1)
    dates = [first + dt.timedelta(days=180 * i) for i in range(n_dates)]
    ends = dates[1:] if baseline else dates
    slices = [SliceSpec(f"s{i}", end - dt.timedelta(days=180), end) for i, end in enumerate(ends)]
    cumulative = xr.DataArray(areas, dims=("band", "y", "x"), coords={"y": np.arange(5.0), "x": np.arange(6.0)},
                              attrs={"units": "m2"})
    density = new_landslide_density(cumulative, dates, slices, cell_area_m2).values
    finite = np.isfinite(density)
    assert (density[finite] >= 0).all() and (density[finite] <= 100.0 + 1e-4).all()
    full = np.concatenate([np.zeros_like(areas[:1]), areas]) if not baseline else areas
    assert np.array_equal(finite, np.isfinite(np.diff(full, axis=0)))


scores = arrays(np.float64, st.integers(2, 60), elements=st.floats(0.0, 1.0))


@SETTINGS
@given(scores, st.integers(0, 2**32 - 1))
def test_metrics_are_in_range_and_equal_the_reference_implementations(score: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = (rng.uniform(size=score.shape) < 0.4).astype(int)
    assume(0 < truth.sum() < truth.size)
    auc = metrics.auc(truth, score)
    assert 0.0 <= auc <= 1.0
    assert auc == pytest.approx(sklearn.metrics.roc_auc_score(truth, score), abs=1e-12)
    predicted = (score >= 0.5).astype(int)
    f1, iou = metrics.f1(truth, score), metrics.iou(truth, score)
    assert 0.0 <= iou <= f1 <= 1.0
    assert f1 == pytest.approx(sklearn.metrics.f1_score(truth, predicted, zero_division=0.0), abs=1e-12)
    assert iou == pytest.approx(sklearn.metrics.jaccard_score(truth, predicted, zero_division=0.0), abs=1e-12)
    counts = metrics.confusion_counts(truth, score)
    tn, fp, fn, tp = sklearn.metrics.confusion_matrix(truth, predicted, labels=[0, 1]).ravel()
    assert counts == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    ece = metrics.expected_calibration_error(truth, score)
    assert 0.0 <= ece <= 1.0


@SETTINGS
@given(arrays(np.float64, st.integers(3, 60), elements=st.floats(0.0, 100.0)), st.integers(0, 2**32 - 1))
def test_density_metrics_equal_the_reference_implementations(observed: np.ndarray, seed: int) -> None:
    predicted = np.clip(observed + np.random.default_rng(seed).normal(0, 5, observed.shape), 0, None)
    assert metrics.mae(observed, predicted) == pytest.approx(sklearn.metrics.mean_absolute_error(observed, predicted))
    assume(np.ptp(observed) > 1e-6 and np.ptp(predicted) > 1e-6)
    r = metrics.pearson_r(observed, predicted)
    assert -1.0 - 1e-12 <= r <= 1.0 + 1e-12
    assert r == pytest.approx(scipy.stats.pearsonr(observed, predicted)[0], abs=1e-9)

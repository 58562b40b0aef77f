"""Figure data of the evaluation on a hand-built 3 × 3 predictions Dataset whose answers are counted by hand."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hazardcore import figure_data as fd
from hazardcore.errors import InvalidValueError

nan = np.nan
# rows north to south, columns west to east; the south-east cell is not valid (NaN everywhere)
SUSCEPTIBILITY = [[0.9, 0.8, 0.2], [0.6, 0.1, 0.5], [0.7, 0.3, nan]]
PRESENCE = [[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, nan]]
OBSERVED = [[2.0, 0.0, 1.5], [0.0, 0.0, 0.0], [0.0, 3.0, nan]]  # (1, 0): presence without observed area
HAZARD = [[1.0, 0.25, 0.5], [0.5, 0.1, 0.2], [0.3, 1.0, nan]]
DENSITY = [[1.5, 0.5, 2.0], [1.0, nan, 0.5], [0.4, 2.5, nan]]  # (1, 1): a test cell without density
VALID = [[1, 1, 1], [1, 1, 1], [1, 1, 0]]
TEST = [[1, 1, 0], [1, 1, 0], [1, 1, 0]]  # the two western columns


def predictions(n_slices: int = 1) -> xr.Dataset:
    """The same 3 × 3 slice ``n_slices`` times (labels a, b, ...)."""
    cube = ("slice", "y", "x")

    def stacked(values: list[list[float]], dtype: str = "float32") -> tuple[tuple[str, ...], np.ndarray]:
        return cube, np.stack([np.array(values, dtype=dtype)] * n_slices)

    variables = {"susceptibility": stacked(SUSCEPTIBILITY), "presence": stacked(PRESENCE),
                 "observed_density": stacked(OBSERVED), "hazard": stacked(HAZARD), "density": stacked(DENSITY),
                 "valid": stacked(VALID, "uint8"), "test": stacked(TEST, "uint8")}
    coords = {"slice": [chr(ord("a") + k) for k in range(n_slices)], "y": [2500.0, 1500.0, 500.0],
              "x": [500.0, 1500.0, 2500.0]}
    return xr.Dataset(variables, coords=coords)


def test_confusion_codes_at_the_threshold_on_every_valid_cell() -> None:
    codes = fd.confusion_codes(predictions(), 0.5)
    # 0.5 itself predicts positive: cell (1, 2) without presence is a false positive
    np.testing.assert_array_equal(codes.values[0], [[3, 1, 2], [3, 0, 1], [1, 2, nan]])
    assert codes.dims == ("slice", "y", "x") and codes.dtype == np.float32
    np.testing.assert_array_equal(codes["y"], [2500.0, 1500.0, 500.0])
    assert fd.confusion_counts(codes) == {"tp": 2, "fp": 3, "fn": 2, "tn": 1}


def test_confusion_codes_of_the_test_cells_only() -> None:
    codes = fd.confusion_codes(predictions(), 0.5, test_only=True)
    np.testing.assert_array_equal(codes.values[0], [[3, 1, nan], [3, 0, nan], [1, 2, nan]])
    assert fd.confusion_counts(codes) == {"tp": 2, "fp": 2, "fn": 1, "tn": 1}


def test_each_slice_has_its_own_threshold() -> None:
    ds = predictions(2)
    counts = fd.confusion_counts_per_slice(ds, [0.5, 0.75])
    # at 0.75 the 0.6 and 0.7 cells turn negative: (1, 0) becomes a miss, (2, 0) a true negative
    assert counts == [{"tp": 2, "fp": 2, "fn": 1, "tn": 1}, {"tp": 1, "fp": 1, "fn": 2, "tn": 2}]
    assert fd.confusion_counts_per_slice(ds, nan) == [{"tp": 0, "fp": 0, "fn": 3, "tn": 3}] * 2  # NaN: none positive
    with pytest.raises(InvalidValueError, match="one per slice"):
        fd.confusion_counts_per_slice(ds, [0.5, 0.6, 0.7])


def test_shown_cells_need_valid_cells_with_a_known_presence() -> None:
    ds = predictions().assign(presence=predictions()["presence"].where(lambda p: p.x != 500.0))
    np.testing.assert_array_equal(fd.shown_cells(ds).values[0], [[0, 1, 1], [0, 1, 1], [0, 1, 0]])
    np.testing.assert_array_equal(fd.shown_cells(ds, test_only=True).values[0], [[0, 1, 0], [0, 1, 0], [0, 1, 0]])


def test_residuals_are_observed_minus_hazard() -> None:
    ds = predictions()
    every = fd.residual_planes(ds).values[0]
    np.testing.assert_allclose(every, [[1.0, -0.25, 1.0], [-0.5, -0.1, -0.2], [-0.3, 2.0, nan]], rtol=1e-6)
    shown = fd.residual_planes(ds, fd.shown_cells(ds, test_only=True)).values[0]
    np.testing.assert_allclose(shown, [[1.0, -0.25, nan], [-0.5, -0.1, nan], [-0.3, 2.0, nan]], rtol=1e-6)


def test_test_values_keep_the_cells_where_every_variable_is_finite() -> None:
    values = fd.test_values(predictions(), "susceptibility", "density", "true_probability")
    assert set(values) == {"susceptibility", "density"}  # absent variables are left out
    np.testing.assert_allclose(values["susceptibility"], [0.9, 0.8, 0.6, 0.7, 0.3], rtol=1e-6)  # not (1, 1)
    np.testing.assert_allclose(values["density"], [1.5, 0.5, 1.0, 0.4, 2.5], rtol=1e-6)
    np.testing.assert_allclose(fd.on_test_cells(predictions(), "density"), [1.5, 0.5, 1.0, nan, 0.4, 2.5], rtol=1e-6)


def test_a_perfect_score_reaches_the_top_left_corner() -> None:
    presence = np.array([False, False, True, True, True])
    scores = {"perfect": np.array([0.1, 0.2, 0.8, 0.9, nan]), "reversed": np.array([0.9, 0.8, 0.2, 0.1, 0.0]),
              "one_class": np.array([nan, nan, 0.5, 0.6, 0.7])}
    curves = fd.roc_curves(presence, scores)
    assert list(curves) == ["perfect", "reversed"]  # one class among its finite cells: no curve
    perfect = curves["perfect"]
    np.testing.assert_array_equal(perfect.fpr, [0.0, 0.0, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(perfect.tpr, [0.0, 0.5, 1.0, 1.0, 1.0])
    assert perfect.auc == 1.0 and curves["reversed"].auc == 0.0


def test_reliability_bins_and_ece() -> None:
    presence = np.array([0, 1, 1, 0])
    reliability = fd.reliability_table(presence, np.array([0.05, 0.15, 0.95, nan]))
    assert reliability is not None
    table = reliability.table
    np.testing.assert_array_equal(table["count"], [1, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    np.testing.assert_allclose(table["observed_frequency"][[0, 1, 9]], [0.0, 1.0, 1.0])
    assert reliability.ece == pytest.approx((0.05 + 0.85 + 0.05) / 3)
    assert fd.reliability_table(presence, np.full(4, nan)) is None


def test_scatter_of_the_report_every_test_cell_positive_by_presence() -> None:
    panels = fd.scatter_values(predictions())
    np.testing.assert_array_equal(panels["all"].observed, [2.0, 0.0, 0.0, 0.0, 0.0, 3.0])
    assert panels["all"].mae == pytest.approx(4.15 / 6)
    positive = panels["positive"]  # (0, 0), (1, 0) and (2, 1): presence, observed area or not
    np.testing.assert_array_equal(positive.observed, [2.0, 0.0, 3.0])
    np.testing.assert_allclose(positive.predicted, [1.5, 1.0, 2.5], rtol=1e-6)
    assert positive.r == pytest.approx(39 / 42, rel=1e-6) and positive.mae == pytest.approx(2 / 3, rel=1e-6)


def test_scatter_of_the_dashboard_common_cells_positive_by_observed_area() -> None:
    panels = fd.scatter_values(predictions(), positive="observed_density", common_cells=True)
    np.testing.assert_allclose(panels["all"].predicted, [1.0, 0.25, 0.5, 0.3, 1.0])  # (1, 1) lacks a density
    np.testing.assert_array_equal(panels["positive"].observed, [2.0, 3.0])
    np.testing.assert_allclose(panels["positive"].predicted, [1.5, 2.5])
    assert panels["positive"].r == pytest.approx(1.0)  # two points lie on a line
    empty = fd.scatter_values(predictions().assign(test=predictions()["test"] * 0))
    assert empty["all"].observed.size == 0 and np.isnan(empty["all"].r) and np.isnan(empty["all"].mae)

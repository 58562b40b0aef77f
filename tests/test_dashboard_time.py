"""The hazard over time in the Maps tab (issue 23): the region's series per period, predicted against
observed, with dates in the period labels; the plotted numbers are the predictions' sums and means."""

from __future__ import annotations

import shutil
from pathlib import Path

import holoviews as hv
import numpy as np
import pytest
import xarray as xr

pytest.importorskip("panel")

from dashboard import elements
from dashboard.jobs import JobRunner
from dashboard.state import PREVIOUS, PREVIOUS_LABEL, DashboardState
from dashboard.views import TIME_PLOTS, MapsView
from hazardcore import export
from hazardcore import figure_data as fd


@pytest.fixture(scope="module")
def predictions(evaluated_root: Path) -> xr.Dataset:
    (path,) = (evaluated_root / "work" / "runs").glob("*/predictions.nc")
    return export.open_predictions(path)


def plotted(overlay: hv.Overlay, label: str) -> tuple[list[str], np.ndarray]:
    """The x labels and y values of the curve called ``label`` in a plot."""
    (curve,) = [element for element in overlay if isinstance(element, hv.Curve) and element.label == label]
    return list(curve.dimension_values(0)), curve.dimension_values(1).astype(float)


def test_the_plotted_series_are_the_predictions_sums(evaluated_root: Path, predictions: xr.Dataset) -> None:
    view = MapsView(DashboardState(root=evaluated_root, runner=JobRunner()))
    cells = (predictions["valid"] > 0) & np.isfinite(predictions["hazard"]) & np.isfinite(
        predictions["observed_density"])
    km2_per_cell = 1.0  # the 1 km grid
    by_hand = {"predicted (expected area, Σ hazard)": (predictions["hazard"].where(cells).sum(("y", "x"))
                                                      / 100 * km2_per_cell),
               "observed": predictions["observed_density"].where(cells).sum(("y", "x")) / 100 * km2_per_cell,
               "known truth": predictions["true_hazard"].where(cells).sum(("y", "x")) / 100 * km2_per_cell}
    area = view.time_plot("area")
    for label, expected in by_hand.items():
        periods, values = plotted(area, label)
        np.testing.assert_allclose(values, expected.values, rtol=1e-5, err_msg=label)
    # each period named with its dates, on three lines, unrotated: on one line at 30° the labels ran together
    assert periods == ["2015-co\n2015-04-01\n– 2015-06-15", *periods[1:]]
    starts = [str(day)[:10] for day in predictions["slice_start"].values]
    ends = [str(day)[:10] for day in predictions["slice_end"].values]
    assert all(f"{label}\n{start}\n– {end}" == period for label, start, end, period
               in zip(predictions["slice"].values, starts, ends, periods, strict=True))
    assert area.opts.get().kwargs["xrotation"] == 0
    nine = [f"s{k} (2015-01-0{k} – 2015-02-0{k})" for k in range(1, 10)]  # the demo's 9: upright, two lines
    assert elements.period_ticks(nine) == ([f"s{k}\n2015-01-0{k} – 2015-02-0{k}" for k in range(1, 10)], 90)
    assert elements.period_ticks(nine * 2) == (nine * 2, 90)  # 18: one line each

    probability = view.time_plot("probability")
    _, mean_susceptibility = plotted(probability, "predicted (mean susceptibility)")
    np.testing.assert_allclose(mean_susceptibility, predictions["susceptibility"].where(cells).mean(("y", "x")),
                               rtol=1e-5)
    _, fraction = plotted(probability, "observed (fraction of cells)")
    positive = cells & (predictions["observed_density"] > 0)
    np.testing.assert_allclose(fraction, positive.sum(("y", "x")) / cells.sum(("y", "x")))
    _, observed_density = plotted(view.time_plot("density"), "observed, cells with new landslides")
    np.testing.assert_allclose(observed_density, predictions["observed_density"].where(positive).mean(("y", "x")),
                               rtol=1e-5)
    assert set(TIME_PLOTS) == {"area", "probability", "density"}
    from bokeh.document import Document
    from bokeh.models import Title

    titles = {model.text for model in view.__panel__().get_root(Document()).references() if isinstance(model, Title)}
    assert {title for title, _, _ in TIME_PLOTS.values()} <= titles  # the tab draws its time story


def test_a_slice_without_cells_has_no_mean_and_labels_without_dates_stay_plain() -> None:
    nan = np.nan
    hazard = np.array([[[1.0, 2.0], [nan, 4.0]], [[nan, nan], [nan, nan]]], dtype="float32")
    cube = ("slice", "y", "x")
    predictions = xr.Dataset(
        {"hazard": (cube, hazard), "observed_density": (cube, np.ones_like(hazard)),
         "susceptibility": (cube, np.full_like(hazard, 0.5)), "density": (cube, hazard * 2),
         "valid": (cube, np.ones(hazard.shape, dtype="uint8"))},
        coords={"slice": ["a", "b"], "y": [1500.0, 500.0], "x": [500.0, 1500.0]})
    series = fd.regional_series(predictions)
    np.testing.assert_array_equal(series["cells"], [3, 0])
    np.testing.assert_allclose(series["hazard_km2"], [0.07, 0.0])
    np.testing.assert_allclose(series["observed_km2"], [0.03, 0.0])
    np.testing.assert_allclose(series["density_mean"], [14 / 3, nan])
    assert "true_hazard_km2" not in series
    assert fd.period_labels(predictions) == ["a", "b"]


def test_the_sidebar_names_the_slice_with_its_dates(evaluated_root: Path, predictions: xr.Dataset) -> None:
    from dashboard.app import sidebar

    state = DashboardState(root=evaluated_root, runner=JobRunner())
    label = next(item for item in sidebar(state) if "Slice" in str(getattr(item, "object", "")))
    state.slice = 1
    start, end = (str(predictions[name].values[1])[:10] for name in ("slice_start", "slice_end"))
    assert state.slice_period == f"2015-post ({start} – {end})"
    assert label.object == f"**Slice 2**: 2015-post ({start} – {end})"


def test_an_ensemble_shows_the_spread_of_its_members_totals(evaluated_root: Path, predictions: xr.Dataset,
                                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The ensemble's members (stand-ins: the run's predictions with the hazard scaled) each give a regional
    total per period; the plot draws the 5 and 95 % of one more member's total (the t rule on the log scale:
    centred on the members' geometric mean, wider than their range) beside the ensemble's own total."""
    import dashboard.loaders

    root = tmp_path / "root"
    shutil.copytree(evaluated_root, root, ignore=shutil.ignore_patterns("products", "checkpoints"))
    state = DashboardState(root=root, runner=JobRunner())
    assert MapsView(state).member_totals() is None  # a run, not an ensemble
    run = state.run_path
    assert run is not None
    scales = {"m0": 0.5, "m1": 1.0, "m2": 3.0}
    for name in scales:
        (run.parent / name).mkdir()
    ensemble = predictions.assign_attrs(members=", ".join(scales))

    def fake(folder: Path) -> xr.Dataset:
        if folder.name in scales:
            return predictions.assign(hazard=predictions["hazard"] * scales[folder.name])
        return ensemble

    monkeypatch.setattr(dashboard.loaders, "predictions", fake)
    area = MapsView(state).time_plot("area")
    _, total = plotted(area, "predicted (expected area, Σ hazard)")
    _, low = plotted(area, "ensemble: 5 % of one more member's total")
    _, high = plotted(area, "ensemble: 95 % of one more member's total")
    np.testing.assert_allclose(np.sqrt(low * high), total * (0.5 * 1.0 * 3.0) ** (1 / 3), rtol=1e-4)
    assert (low < 0.5 * total).all() and (high > 3.0 * total).all()


def test_two_periods_compared_as_a_difference_map(evaluated_root: Path, predictions: xr.Dataset) -> None:
    from dashboard.app import sidebar

    state = DashboardState(root=evaluated_root, runner=JobRunner())
    view = MapsView(state)
    assert list(state.param.compare.names) == [PREVIOUS_LABEL, *fd.period_labels(predictions)]
    assert state.compare == PREVIOUS  # by default each period against the one before (the first: the one after)
    for now, before in ((0, 1), (1, 0), (2, 1)):
        state.slice = now
        assert state.compared_slice == before and np.nanmax(np.abs(view.difference_plane().values)) > 0
        assert f"{state.slice_labels[now]} − {state.slice_labels[before]}" in view.frames["difference"][()].opts.get(
            ).kwargs["title"]
    for layer, now, before in (("hazard", 2, 0), ("susceptibility", 1, 2), ("density", 0, 1)):
        state.param.update(layer=layer, slice=now, compare=before)
        shown = view.frames["difference"][()]
        expected = predictions[layer].isel(slice=now).values - predictions[layer].isel(slice=before).values
        data = shown.data["difference"].sortby("y", ascending=False).sortby("x").transpose("y", "x").values
        np.testing.assert_allclose(data, expected, rtol=1e-6)
        labels = state.slice_labels
        assert f"{labels[now]} − {labels[before]}" in shown.opts.get().kwargs["title"]
    assert any(getattr(item, "label", "") == "Layer: published map, two periods" for item in sidebar(state))

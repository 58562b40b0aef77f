"""The dashboard's Scenarios tab (dashboard/scenario_view.py): what it shows is what hazardcore.whatif computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("panel")


@pytest.fixture(scope="module")
def view(evaluated_root: Path):  # type: ignore[no-untyped-def]
    from dashboard.scenario_view import ScenarioView
    from dashboard.state import DashboardState

    view = ScenarioView(DashboardState(root=evaluated_root))
    assert view.result is None  # nothing is loaded before the tab is shown
    view.show()
    return view


def test_the_tab_computes_the_selected_run_on_opening(view) -> None:  # type: ignore[no-untyped-def]
    """A what-if of the sidebar's slice without a change is the run's own map: zero difference, equal totals."""
    result = view.result
    assert result is not None and view.note == ""
    assert result.whatif.reference == view.state.slice_label and result.whatif.rain_factor == 1.0
    assert result.totals["expected_landslide_area_km2"] == pytest.approx(
        result.reference_totals["expected_landslide_area_km2"], rel=1e-5)
    difference = view.difference_map(result).data["difference"].values
    assert np.nanmax(np.abs(difference)) < 1e-5
    assert "a single run: no spread across members" in view.status_text(result, False, "")
    assert view.uncertainty_map(result).opts.get().kwargs["title"].startswith("hazard interval: ensembles only")


def test_a_rain_factor_change_shows_the_totals_of_its_maps(view) -> None:  # type: ignore[no-untyped-def]
    """Moving the rain factor recomputes; the table states Σ hazard / 100 × cell area of the maps drawn."""
    before = view.result
    view.rain_factor = 2.5
    after = view.result
    assert after is not before and after.whatif.rain_factor == 2.5
    hazard = view.hazard_map(after).data["hazard"].values.astype("float64")
    np.testing.assert_array_equal(hazard, after.maps["hazard"].values)
    x = after.maps["x"].values
    cell_km2 = (abs(float(x[1] - x[0])) / 1000) ** 2
    area, reference_area = (float(np.nansum(values)) / 100 * cell_km2
                            for values in (hazard, after.reference["hazard"].values.astype("float64")))
    assert area != pytest.approx(reference_area, rel=1e-3)  # the rain moved the total
    table = view.totals_table(after, "moderate")
    assert (f"| expected new landslide area (km²) | {area:.3f} | {reference_area:.3f} | "
            f"{area - reference_area:.3f} |") in table
    high = int((hazard > 0.1).sum())  # class "moderate" or higher: above its lower bound 0.1 %
    reference_high = int((after.reference["hazard"].values > 0.1).sum())
    assert f"| cells in hazard class *moderate* or higher | {high:d} | {reference_high:d} |" in table
    above = int((after.maps["susceptibility"].values >= after.maps.attrs["decision_threshold"]).sum())
    assert f"| cells at or above the decision threshold τ | {above:d} |" in table
    difference = view.difference_map(after).data["difference"].values
    np.testing.assert_allclose(difference, hazard - after.reference["hazard"].values, atol=1e-6)

"""A prediction says which periods' triggers lie outside the cells the model was trained on (issue: forecast)."""

from __future__ import annotations

import numpy as np
import pytest

from hazardcore.cube import PreparedCube
from hazardcore.extrapolation import lines, trigger_ranges


@pytest.fixture(scope="module")
def cube(tmp_path_factory: pytest.TempPathFactory) -> PreparedCube:
    from hazardcore.prepare import prepare
    from hazardcore.synthetic import synthesize

    root = tmp_path_factory.mktemp("extrapolation")
    report = synthesize(root / "region", seed=5, size_km=16, n_slices=3)
    prepare(report.catalog_path, root / "work")
    return PreparedCube.open(root / "work")


def test_a_held_out_earthquake_period_is_flagged_with_its_distance_from_training(cube: PreparedCube) -> None:
    """Trained on the two rain slices only, the co-seismic slice has an earthquake, no monsoon yet and a
    shorter span than any training cell; the training slices themselves are never flagged."""
    train = cube.valid.astype(bool).copy()
    train[0] = False
    record = trigger_ranges(cube, train)
    assert set(record) == {"2015-co"}
    flagged = record["2015-co"]
    monsoons, earthquake, days = (np.asarray(cube.period)[:, k] for k in range(3))  # PERIOD_CHANNELS' order
    assert flagged["earthquake_in_slice"]["cells_outside"] == 1.0
    assert flagged["earthquake_in_slice"]["mean_beyond"] == pytest.approx(earthquake[0] - earthquake[1:].max())
    assert flagged["monsoons"]["mean_beyond"] == pytest.approx(monsoons[1:].min() - monsoons[0])
    assert flagged["slice_days"]["mean_beyond"] == pytest.approx(days[1:].min() - days[0])
    assert flagged["slice_days"]["train_min"] == pytest.approx(days[1:].min())
    assert any(line.startswith("2015-co: earthquake_in_slice mean 1") for line in lines(record))


def test_training_on_every_slice_flags_nothing(cube: PreparedCube) -> None:
    assert trigger_ranges(cube, cube.valid.astype(bool)) == {}


def test_rain_beyond_the_training_cells_is_measured_in_millimetres(cube: PreparedCube) -> None:
    """Training on the cells of the driest slice only: the wetter slices' rain lies above, by their mean
    minus the driest slice's maximum cell."""
    valid = cube.valid.astype(bool)
    ppc = cube.grid.pixels_per_cell
    rain = [np.asarray(cube.dynamic[k][0], dtype="float64").reshape(cube.grid.n_rows, ppc, cube.grid.n_cols,
                                                                      ppc).mean(axis=(1, 3)) for k in range(3)]
    driest = int(np.argmin([r[valid[k]].max() for k, r in enumerate(rain)]))
    train = np.zeros_like(valid)
    train[driest] = valid[driest]
    record = trigger_ranges(cube, train)
    for k, label in enumerate(cube.slice_labels):
        if k == driest or rain[k][valid[k]].mean() <= rain[driest][valid[driest]].max():
            continue
        entry = record[label]["rain_max"]
        assert entry["units"] == "mm/day"
        assert entry["mean_beyond"] == pytest.approx(rain[k][valid[k]].mean() - rain[driest][valid[driest]].max(),
                                                     rel=1e-6)


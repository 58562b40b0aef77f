"""predict → evaluate end to end on a small synthetic region: files, numbers and their agreement."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr

from hazardcore import metrics as m
from hazardcore.cli import main
from hazardcore.export import open_predictions
from hazardcore.pipeline import find_run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def evaluated(evaluated_root: Path) -> Path:
    return evaluated_root / "work"


def test_metrics_agree_with_the_written_predictions(evaluated: Path) -> None:
    run = find_run(evaluated)
    metrics = json.loads((run / "metrics.json").read_text())
    predictions = open_predictions(run / "predictions.nc")
    test = predictions["test"].values.astype(bool)
    presence = predictions["presence"].values[test] > 0
    probability = predictions["susceptibility"].values[test]
    assert metrics["split"] == "random" and metrics["test_cells"] == test.sum() > 0
    assert metrics["susceptibility"]["auc"] == pytest.approx(m.auc(presence, probability), abs=1e-9)
    hazard = predictions["hazard"].values[test]
    assert metrics["density"]["mae"] == pytest.approx(m.mae(predictions["observed_density"].values[test], hazard))
    assert set(metrics["baselines"]) == {"logistic", "gbm", "hurdle", "slice_base_rate"} and "oracle" in metrics
    assert metrics["oracle"]["susceptibility"]["auc"] == pytest.approx(
        m.auc(presence, predictions["true_probability"].values[test]))
    assert 0 < metrics["leaked_fraction"] <= 1  # the random protocol leaks, and says how much
    assert [s["slice"] for s in metrics["per_slice"]] == metrics["slices"]
    # every valid cell predicted; hazard = calibrated probability x density given occurrence
    valid = predictions["valid"].values.astype(bool)
    assert np.isfinite(predictions["susceptibility"].values[valid]).all()
    np.testing.assert_allclose(predictions["hazard"].values[valid], (predictions["susceptibility"]
                               * predictions["density"]).values[valid], rtol=1e-6)
    calibration = json.loads((run / "calibration.json").read_text())
    assert calibration["method"] == "platt"
    pooled = metrics["thresholds"]["model"]
    assert calibration["threshold"] == metrics["susceptibility"]["validation_threshold"] == pooled
    assert calibration["threshold_rule"] == metrics["susceptibility"]["threshold_rule"] == "expected_f1"
    per_slice = predictions["decision_threshold"].values
    assert calibration["thresholds_per_slice"] == pytest.approx(dict(zip(predictions["slice"].values, per_slice,
                                                                                     strict=True)))
    assert metrics["decision_thresholds"]["model"] == pytest.approx(
        {label: float(per_slice[list(predictions["slice"].values).index(label)]) for label in metrics["slices"]})


def test_products_open_in_gis_tools_with_checksums(evaluated: Path) -> None:
    run = find_run(evaluated)
    products = run / "products"
    manifest = json.loads((products / "manifest.json").read_text())
    assert manifest["run_id"] == run.name and manifest["metrics"]["split"] == "random"
    assert "torch" in manifest["versions"] and manifest["config"]["train"]["split"] == "random"
    for name, record in manifest["files"].items():
        assert hashlib.sha256((products / name).read_bytes()).hexdigest() == record["sha256"]
    assert any(path.endswith("catalog.yaml") for path in manifest["inputs"])
    with rasterio.open(products / "hazard.tif") as src:
        assert src.crs.to_epsg() == 32645 and src.count == 3
        assert list(src.descriptions) == ["2015-co", "2015-post", "2016-pre"]
    with xr.open_dataset(products / "hazard.nc") as ds:
        assert ds.attrs["Conventions"] == "CF-1.8, ACDD-1.3" and ds.sizes["time"] == 3
        assert "slice_label" in ds.coords and "logit" not in ds  # internals are in hazard_diagnostics.nc
    assert (products / "hazard.qgs").is_file() and (products / "hazard.qml").is_file()


def test_run_files_and_products_are_by_time(evaluated: Path) -> None:
    """predictions.nc, scores.nc and hazard.nc: time = each slice's start, time_bnds its [start, end], the label a
    coordinate, the grid's CRS; the readers give hazardcore's working form (a slice dimension) back."""
    from pyproj import CRS

    from hazardcore.cube import PreparedCube

    run = find_run(evaluated)
    cube = PreparedCube.open(evaluated)
    starts, ends = (np.array([pair[k] for pair in cube.slice_dates], dtype="datetime64[ns]") for k in (0, 1))
    for name in ("predictions.nc", "scores.nc", "products/hazard.nc"):
        with xr.open_dataset(run / name, decode_coords="all") as ds:
            assert "slice" not in ds.dims and ds["observed_density" if name == "scores.nc" else "hazard"].dims == (
                "time", "y", "x"), name
            np.testing.assert_array_equal(ds["time"].values, starts, err_msg=name)
            np.testing.assert_array_equal(ds["time_bnds"].values, np.stack([starts, ends], axis=1), err_msg=name)
            assert ds["time"].encoding["bounds"] == "time_bnds", name
            assert "slice_label" in ds.coords and list(ds["slice_label"].values) == cube.slice_labels, name
            assert CRS.from_user_input(ds.rio.crs) == CRS.from_user_input(cube.grid.crs), name
    predictions = open_predictions(run / "predictions.nc")
    assert predictions["hazard"].dims == ("slice", "y", "x") and list(predictions["slice"].values) == cube.slice_labels
    np.testing.assert_array_equal(predictions["slice_end"].values, ends)


def test_report_holds_every_figure(evaluated: Path) -> None:
    html = (find_run(evaluated) / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 9
    for word in ("ROC", "Reliability", "Confusion", "Residual", "logistic", "gbm", "hurdle", "oracle"):
        assert word.lower() in html.lower()


def test_commands_without_a_run_fail_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path), "--quiet"]) == 1  # no run to evaluate: neither usage nor data
    error = capsys.readouterr().err
    assert "no finished" in error and "hazard train" in error


def test_predict_and_evaluate_use_the_split_the_model_was_trained_with(
        evaluated_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rebuilding the split from the configuration breaks when its rule changes after training (as the choice
    of temporal validation slices did); the checkpoint's stored split is used instead."""
    import shutil

    from hazardcore import pipeline
    from hazardcore.checkpoint import load_checkpoint
    from hazardcore.splits import Split

    work = tmp_path / "work"
    shutil.copytree(evaluated_root / "work", work)
    run = find_run(work)
    stored = Split.from_dict(load_checkpoint(run / "model.pt").state["split"])

    def changed_rule(*_: object) -> Split:
        raise AssertionError("the split was rebuilt from the configuration")

    monkeypatch.setattr(pipeline, "split_of", changed_rule)
    predictions = pipeline.predict_run(work, run)
    shape = predictions["test"].shape
    cube = pipeline.PreparedCube.open(work)
    for side in ("train", "validation", "test"):
        expected = stored.cell_mask(side, cube.windows, shape, cube.patch_cells)
        np.testing.assert_array_equal(predictions[side].values.astype(bool), expected & cube.valid.astype(bool))
    metrics = pipeline.evaluate_run(work, run).metrics
    assert metrics["test_cells"] == int(predictions["test"].values.sum())
    assert Split.from_dict(json.loads(predictions.attrs["split_definition"])).to_dict() == stored.to_dict()

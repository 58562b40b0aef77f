"""The evaluation report: in-memory PNG figures and a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from hazardcore import metrics as scoring
from hazardcore import report
from hazardcore.errors import InvalidValueError
from hazardcore.result import SUSCEPTIBILITY_COLUMNS

LABELS = ["2015-co", "2015-post", "2016-pre"]
PER_SLICE_FIGURES = ["maps_susceptibility", "maps_density", "maps_hazard", "confusion", "residuals", "contours"]
OVERVIEW = ["hazard_over_time", "distributions", "classified_hazard"]  # shown before the metrics
EXPECTED = [*OVERVIEW, *PER_SLICE_FIGURES[:5], "scatter", "roc", "totals", "legacy", "reliability", "contours"]
THRESHOLD = 0.35  # the pooled validation threshold
THRESHOLDS = [0.35, 0.25, 0.5]  # each slice's decision threshold
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_predictions(seed: int = 0, shape: tuple[int, int, int] = (3, 12, 10)) -> xr.Dataset:
    """Probabilities correlated with presence; slice 2 without positives; a NaN corner."""
    rng = np.random.default_rng(seed)
    n_slices, ny, nx = shape
    truth = rng.beta(1.0, 3.0, shape)
    presence = rng.random(shape) < truth
    presence[2] = False
    susceptibility = np.clip(truth + rng.normal(0.0, 0.1, shape), 0.0, 1.0)
    density = rng.lognormal(0.0, 1.0, shape)
    observed = np.where(presence, density * rng.lognormal(0.0, 0.5, shape), 0.0)
    valid = np.ones(shape, dtype=np.uint8)
    valid[:, :2, :3] = 0
    test = np.zeros(shape, dtype=np.uint8)
    test[:, :, nx // 2:] = 1
    test &= valid
    fields = {"susceptibility": susceptibility, "density": density, "hazard": susceptibility * density,
              "observed_density": observed, "presence": presence.astype(float), "true_probability": truth}
    variables = {name: (("slice", "y", "x"), np.where(valid > 0, values, np.nan).astype(np.float32))
                 for name, values in fields.items()}
    starts = np.array(["2015-04-25", "2015-06-01", "2015-11-01"][:n_slices] + ["2016-06-01"] * (n_slices - 3),
                      dtype="datetime64[ns]")
    coords = {"slice": (LABELS + [f"s{k}" for k in range(3, n_slices)])[:n_slices],
              "slice_start": ("slice", starts), "slice_end": ("slice", starts + np.timedelta64(150, "D")),
              "monsoons": ("slice", ((np.arange(n_slices) + 1) // 2).astype(np.float32)),
              "y": 3175441.11 - 500.0 - 1000.0 * np.arange(ny), "x": 248635.08 + 500.0 + 1000.0 * np.arange(nx)}
    thresholds = (THRESHOLDS + [0.3] * n_slices)[:n_slices]
    decision = ("slice", np.array(thresholds, dtype=np.float32), {"rule": "expected_f1", "units": "1"})
    ds = xr.Dataset({**variables, "valid": (("slice", "y", "x"), valid), "test": (("slice", "y", "x"), test),
                     "decision_threshold": decision}, coords=coords,
                    attrs={"run_id": "a1b2c3d4", "split": "spatial",
                           "calibration": json.dumps({"threshold": THRESHOLD})})
    return ds.rio.write_crs("EPSG:32645")


def make_scores(ds: xr.Dataset, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    test = ds["test"].values.astype(bool)
    model = ds["susceptibility"].values[test].astype(np.float64)
    truth = ds["true_probability"].values[test].astype(np.float64)
    return {"presence": ds["presence"].values[test] > 0, "model": model,
            "logistic": np.clip(truth + rng.normal(0.0, 0.25, truth.size), 0.0, 1.0),
            "gbm": np.clip(truth + rng.normal(0.0, 0.18, truth.size), 0.0, 1.0), "oracle": truth}


def susceptibility_block(presence: np.ndarray, score: np.ndarray, threshold: float | np.ndarray) -> dict[str, Any]:
    both = presence.any() and not presence.all()
    return {"auc": scoring.auc(presence, score) if both else None, "f1": scoring.f1(presence, score, threshold),
            "iou": scoring.iou(presence, score, threshold), "ece": scoring.expected_calibration_error(presence, score),
            "validation_threshold": THRESHOLD, "f1_validation_threshold": scoring.f1(presence, score, THRESHOLD),
            "threshold_rule": "expected_f1"}


def density_block(observed: np.ndarray, hazard: np.ndarray, density: np.ndarray, presence: np.ndarray) -> dict:
    positive = presence.sum() >= 2
    varied = observed.std() > 0
    return {"mae": scoring.mae(observed, hazard),
            "pearson_r": scoring.pearson_r(observed, hazard) if varied else math.nan,
            "mae_positive": scoring.mae(observed[presence], density[presence]) if presence.any() else math.nan,
            "pearson_r_positive": scoring.pearson_r(observed[presence], density[presence]) if positive else math.nan}


def make_metrics(ds: xr.Dataset, scores: dict[str, np.ndarray]) -> dict[str, Any]:
    """metrics.json as evaluate would write it, computed here with hazardcore.metrics."""
    test = ds["test"].values.astype(bool)
    values = {name: ds[name].values.astype(np.float64) for name in ("observed_density", "hazard", "density")}
    presence = ds["presence"].values > 0
    per_slice = []
    for k, label in enumerate(LABELS):
        cells = test[k]
        per_slice.append({"slice": label,
                          "susceptibility": susceptibility_block(presence[k][cells],
                                                                 ds["susceptibility"].values[k][cells], THRESHOLDS[k]),
                          "density": density_block(*(values[n][k][cells] for n in values), presence[k][cells])})
    p = scores["presence"]
    per_cell = np.broadcast_to(np.array(THRESHOLDS)[:, None, None], test.shape)[test]
    return {"split": "spatial", "slices": LABELS, "test_cells": int(test.sum()),
            "thresholds": {"model": THRESHOLD},
            "decision_thresholds": {"model": dict(zip(LABELS, THRESHOLDS, strict=True))},
            "susceptibility": susceptibility_block(p, scores["model"], per_cell),
            "density": density_block(*(values[n][test] for n in values), presence[test]),
            "per_slice": per_slice,
            "oracle": {"susceptibility": susceptibility_block(p, scores["oracle"], THRESHOLD)},
            "baselines": {name: {"susceptibility": susceptibility_block(p, scores[name], THRESHOLD)}
                          for name in ("logistic", "gbm")}}


def make_reference(ds: xr.Dataset) -> xr.Dataset:
    """Published maps on a larger grid around ours, lacking the last slice."""
    padded = ds[["susceptibility", "density", "hazard"]].isel(slice=[0, 1]).pad(y=2, x=2, mode="edge")
    y = np.r_[ds.y.values[0] + np.array([2000.0, 1000.0]), ds.y.values, ds.y.values[-1] - np.array([1000.0, 2000.0])]
    x = np.r_[ds.x.values[0] - np.array([2000.0, 1000.0]), ds.x.values, ds.x.values[-1] + np.array([1000.0, 2000.0])]
    return padded.assign_coords(y=y, x=x) * 0.9


@pytest.fixture(scope="module")
def case() -> dict[str, Any]:
    ds = make_predictions()
    scores = make_scores(ds)
    metrics = make_metrics(ds, scores)
    pngs = report.figures(ds, metrics, scores)
    html = report.build_report(ds, metrics, scores, title="Tiny report")
    return {"ds": ds, "scores": scores, "metrics": metrics, "figures": pngs, "html": html}


def decoded(png: bytes) -> np.ndarray:
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def text_only(page: str) -> str:
    """The page without its base64 images (random base64 could spell "nan")."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)


def test_fixture_has_a_slice_without_positive_test_cells(case: dict[str, Any]) -> None:
    ds = case["ds"]
    positives = [(ds["presence"].values[k][ds["test"].values[k] > 0] > 0).sum() for k in range(3)]
    assert positives[0] > 0 and positives[1] > 0 and positives[2] == 0
    assert case["metrics"]["per_slice"][2]["susceptibility"]["auc"] is None


def test_figures_are_pngs_of_plausible_size(case: dict[str, Any]) -> None:
    assert list(case["figures"]) == EXPECTED
    for name, png in case["figures"].items():
        assert png.startswith(PNG_SIGNATURE), name
        image = decoded(png)
        assert image.ndim == 3 and image.shape[2] in (3, 4), name
        assert 250 <= image.shape[0] <= 3000 and 300 <= image.shape[1] <= 3000, (name, image.shape)
        assert image[..., :3].std() > 0.05, f"{name} looks blank"


def test_reference_maps_only_with_a_reference(case: dict[str, Any]) -> None:
    ds = case["ds"]
    pngs = report.figures(ds, case["metrics"], case["scores"], reference=make_reference(ds))
    assert list(pngs) == [*EXPECTED, "reference_maps"]
    image = decoded(pngs["reference_maps"])
    assert image.shape[1] > image.shape[0] * 0.8
    assert "reference_maps" not in case["figures"]


def test_html_embeds_every_figure_and_the_run(case: dict[str, Any]) -> None:
    page = case["html"]
    assert page.startswith("<!DOCTYPE html>") and page.count("data:image/png;base64,") == len(EXPECTED)
    for name, png in case["figures"].items():
        assert f'<section id="{name}">' in page
        assert base64.b64encode(png).decode("ascii") in page, name
    assert "a1b2c3d4" in page and "spatial" in page and "<title>Tiny report</title>" in page
    for label in LABELS:
        assert f"<td>{label}</td>" in page


def test_html_is_offline(case: dict[str, Any]) -> None:
    page = text_only(case["html"])
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", page)
    assert "<script" not in page and "@import" not in page


def test_auc_values_appear_as_in_the_table(case: dict[str, Any]) -> None:
    metrics, page = case["metrics"], case["html"]
    row = re.search(r"<tr><td>susceptibility auc</td>(.*?)</tr>", page)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    blocks = [metrics, metrics["baselines"]["logistic"], metrics["baselines"]["gbm"], metrics["oracle"]]
    assert cells == [f"{block['susceptibility']['auc']:.3f}" for block in blocks]
    assert re.search(r"<thead><tr><th>metric</th><th>model</th><th>logistic</th><th>gbm</th><th>oracle</th>", page)


def independent_counts(ds: xr.Dataset, thresholds: list[float]) -> list[dict[str, int]]:
    counts = []
    for k in range(ds.sizes["slice"]):
        cells = (ds["test"].values[k] > 0) & (ds["valid"].values[k] > 0)
        truth = ds["presence"].values[k][cells] > 0
        predicted = ds["susceptibility"].values[k][cells] >= thresholds[k]
        counts.append({"tp": int((truth & predicted).sum()), "fp": int((~truth & predicted).sum()),
                       "fn": int((truth & ~predicted).sum()), "tn": int((~truth & ~predicted).sum())})
    return counts


def test_confusion_counts_use_each_slice_threshold(case: dict[str, Any]) -> None:
    ds, page = case["ds"], case["html"]
    expected = independent_counts(ds, THRESHOLDS)
    assert report.confusion_counts_per_slice(ds, ds["decision_threshold"].values) == expected
    assert report.confusion_counts_per_slice(ds, THRESHOLD) == independent_counts(ds, [THRESHOLD] * 3)
    assert expected[1] != independent_counts(ds, [THRESHOLD] * 3)[1]  # slice 2015-post: 0.25, not the pooled 0.35
    assert sum(sum(c.values()) for c in expected) == case["metrics"]["test_cells"]
    section = page[page.index('<section id="confusion">'):page.index('<section id="residuals">')]
    for label, threshold, c in zip(LABELS, THRESHOLDS, expected, strict=True):
        row = (f"<tr><td>{label}</td><td>{threshold:.3f}</td><td>{c['tp']}</td><td>{c['fp']}</td><td>{c['fn']}</td>"
               f"<td>{c['tn']}</td></tr>")
        assert row in section
    assert html.escape(report.RULES["expected_f1"]) in section
    header = page[:page.index("<h2>")]
    assert "2015-co 0.350, 2015-post 0.250, 2016-pre 0.500" in header
    assert "pooled validation threshold</b>: 0.350" in header
    with pytest.raises(InvalidValueError, match="one per slice"):
        report.confusion_counts_per_slice(ds, [0.3, 0.4])


def test_older_predictions_fall_back_to_the_pooled_threshold(case: dict[str, Any]) -> None:
    ds = case["ds"].drop_vars("decision_threshold")
    thresholds, rule = report.decision_thresholds(ds)
    assert rule == "validation" and thresholds.tolist() == [THRESHOLD] * 3  # from the calibration record
    no_record = ds.assign_attrs(calibration="isotonic")
    thresholds, _ = report.decision_thresholds(no_record, {"thresholds": {"model": 0.42}})
    assert thresholds.tolist() == [0.42] * 3
    assert report.decision_thresholds(no_record, {}) is None
    page = report.build_report(no_record, {**case["metrics"], "thresholds": {}}, case["scores"])
    section = page[page.index('<section id="confusion">'):page.index('<section id="residuals">')]
    c = independent_counts(ds, [0.5] * 3)[0]
    assert f"<tr><td>2015-co</td><td>0.500</td><td>{c['tp']}</td><td>{c['fp']}</td>" in section
    assert html.escape(report.RULES["default"]) in section


def test_nan_and_none_metrics_render_as_a_dash(case: dict[str, Any]) -> None:
    page = text_only(case["html"])
    assert "nan" not in page.lower() and "None" not in page
    row = re.search(r"<tr><td>2016-pre</td><td>2015-11-01</td><td>2016-03-30</td><td>(.*?)</td>", page)
    assert row is not None and row.group(1) == "–"
    assert report.format_value(float("nan")) == "–" and report.format_value(None) == "–"
    assert report.format_value(np.float32(0.12345)) == "0.123" and report.format_value(7) == "7"


def test_the_page_shows_the_evaluation_result_as_computed_and_scores_nothing(case: dict[str, Any]) -> None:
    ds, scores, metrics = case["ds"], case["scores"], case["metrics"]
    changed = {**metrics, "susceptibility": {**metrics["susceptibility"], "auc": 0.4321},
               "density": {**metrics["density"], "mae": 98.765}}
    page = text_only(report.build_report(ds, changed, scores))
    assert "<td>susceptibility auc</td><td>0.432</td>" in page and "<td>density mae</td><td>98.765</td>" in page
    rows = re.findall(r"<tr><td>(susceptibility|density) (\w[\w.]*)</td>", page)
    shown = [key for _, key in rows]
    assert shown[:7] == list(SUSCEPTIBILITY_COLUMNS) and shown[7:9] == ["mae", "pearson_r"]


def test_maps_do_not_depend_on_coordinate_order(case: dict[str, Any]) -> None:
    ascending = case["ds"].sortby("y")
    pngs = report.figures(ascending, case["metrics"], case["scores"])
    assert pngs["maps_susceptibility"] == case["figures"]["maps_susceptibility"]


def test_no_file_is_written(case: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    report.build_report(case["ds"], case["metrics"], case["scores"], reference=make_reference(case["ds"]))
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_are_refused_with_a_fix(case: dict[str, Any]) -> None:
    ds, metrics, scores = case["ds"], case["metrics"], case["scores"]
    with pytest.raises(InvalidValueError, match="missing \\['hazard'\\]"):
        report.figures(ds.drop_vars("hazard"), metrics, scores)
    with pytest.raises(InvalidValueError, match="do not match the test cells"):
        report.figures(ds, metrics, {**scores, "gbm": scores["gbm"][:-1]})


def test_slice_totals_are_the_sums_over_test_cells(case: dict[str, Any]) -> None:
    """Without stored totals the figure's bars are recomputed from the predictions: Σ over each slice's test cells."""
    ds = case["ds"]
    totals = report.slice_totals(ds, {})
    test = ds["test"].values > 0
    labels = [str(label) for label in ds["slice"].values]
    for k, label in enumerate(labels):
        assert totals["observed"][label] == pytest.approx(float(np.nansum(ds["observed_density"].values[k][test[k]])))
        assert totals["model"][label] == pytest.approx(float(np.nansum(ds["hazard"].values[k][test[k]])))
    stored = {"totals_per_slice": {"model": {"a": {"predicted": 3.0, "observed": 2.0, "ratio": 1.5}},
                                   "oracle": {"a": {"predicted": 2.1, "observed": 2.0, "ratio": 1.05}}}}
    assert report.slice_totals(ds, stored) == {"observed": {"a": 2.0}, "model": {"a": 3.0}, "oracle": {"a": 2.1}}


def legacy_case() -> xr.Dataset:
    """3 slices × 2 × 3 cells: cell (0, 0) invalid in slice 1, cell (0, 1) without a prediction in slice 2."""
    susceptibility = np.array([[[0.99, 0.99, 0.8], [0.6, 0.4, 0.2]],
                               [[0.99, 0.99, 0.1], [0.2, 0.3, 0.2]],
                               [[0.99, np.nan, 0.05], [0.05, 0.1, 0.2]]])
    presence = np.array([[[1, 1, 1], [1, 0, 0]], [[1, 1, 1], [0, 0, 0]], [[1, 1, 0], [0, 0, 0]]], dtype=float)
    truth = np.array([[[0.9, 0.9, 0.7], [0.5, 0.3, 0.1]], [[0.9, 0.9, 0.3], [0.2, 0.1, 0.2]],
                      [[0.9, 0.9, 0.1], [0.1, 0.0, 0.2]]])
    valid = np.ones((3, 2, 3), dtype=np.uint8)
    valid[1, 0, 0] = 0
    cube = ("slice", "y", "x")
    zeros = np.zeros_like(susceptibility)
    return xr.Dataset({"susceptibility": (cube, susceptibility), "presence": (cube, presence),
                       "true_probability": (cube, truth), "density": (cube, zeros), "hazard": (cube, zeros),
                       "observed_density": (cube, zeros), "valid": (cube, valid),
                       "test": (cube, np.ones_like(valid))},
                      coords={"slice": LABELS, "monsoons": ("slice", np.array([0.0, 1.0, 1.0], dtype=np.float32)),
                              "y": [1500.0, 500.0], "x": [500.0, 1500.0, 2500.0]})


def test_legacy_curve_averages_the_cells_valid_in_every_slice() -> None:
    curve = report.legacy_curve(legacy_case())
    assert curve is not None and int(curve["cells"]) == 4  # (0, 2), (1, 0), (1, 1), (1, 2)
    np.testing.assert_allclose(curve["susceptibility"], [0.5, 0.2, 0.1])
    np.testing.assert_allclose(curve["true_probability"], [0.4, 0.2, 0.1])
    np.testing.assert_allclose(curve["presence"], [0.5, 0.25, 0.0])
    assert curve["monsoons"].tolist() == [0.0, 1.0, 1.0]
    assert curve["season"].tolist() == ["co-seismic", "post-monsoon", "pre-monsoon"]
    assert curve["slice"].tolist() == LABELS
    assert report.legacy_curve(legacy_case().drop_vars("monsoons")) is None
    assert "true_probability" not in report.legacy_curve(legacy_case().drop_vars("true_probability"))


def test_legacy_figure_only_with_monsoons(case: dict[str, Any]) -> None:
    ds = case["ds"].drop_vars("monsoons")
    pngs = report.figures(ds, case["metrics"], case["scores"])
    assert list(pngs) == [name for name in EXPECTED if name != "legacy"]
    page = report.build_report(ds, case["metrics"], case["scores"])
    assert '<section id="legacy">' not in page and '<section id="legacy">' in case["html"]
    assert "the 114 cells valid in all slices" in case["html"]


# ---------------------------------------------------------------- what a reviewer cites (issue 21 item 6)
def section_of(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}">')
    return page[start:page.index("</section>", start)]


def test_hazard_over_time_table_holds_the_regional_series(case: dict[str, Any]) -> None:
    """Σ hazard / 100 × 1 km² and Σ observed over the valid cells with both finite; means of the same cells."""
    ds = case["ds"]
    section = section_of(case["html"], "hazard_over_time")
    valid = (ds["valid"].values > 0) & np.isfinite(ds["hazard"].values) & np.isfinite(ds["observed_density"].values)
    for k, label in enumerate(LABELS):
        cells = valid[k]
        hazard_km2 = ds["hazard"].values[k][cells].astype(np.float64).sum() / 100
        observed_km2 = ds["observed_density"].values[k][cells].astype(np.float64).sum() / 100
        mean_p = ds["susceptibility"].values[k][cells].astype(np.float64).mean()
        start, end = (str(ds[name].values[k])[:10] for name in ("slice_start", "slice_end"))
        row = (f"<tr><td>{label} ({start} – {end})</td><td>{int(cells.sum())}</td><td>{hazard_km2:.3f}</td>"
               f"<td>{observed_km2:.3f}</td><td>{mean_p:.3f}</td>")
        assert row in section, row
    assert "<th>expected new landslide area (km²)</th>" in section and "<th>mean susceptibility</th>" in section
    assert "true expected new landslide area" not in section  # no true_hazard in the fixture: column left out


def test_period_quantiles_are_those_of_the_valid_cells(case: dict[str, Any]) -> None:
    ds = case["ds"]
    quantiles = report.period_quantiles(ds)
    valid = ds["valid"].values > 0
    for name in ("susceptibility", "density", "hazard"):
        for k in range(len(LABELS)):
            values = ds[name].values[k][valid[k]].astype(np.float64)
            np.testing.assert_allclose([quantiles[name][key][k] for key in ("p05", "p50", "p95")],
                                       np.percentile(values, [5, 50, 95]))
            assert quantiles[name]["mean"][k] == pytest.approx(values.mean())
            assert quantiles[name]["cells"][k] == valid[k].sum() == 114
    h = quantiles["hazard"]
    row = (f"<tr><td>2015-co</td><td>114</td>"
           f"<td>{quantiles['susceptibility']['p50'][0]:.4f} ({quantiles['susceptibility']['p05'][0]:.4f} – "
           f"{quantiles['susceptibility']['p95'][0]:.4f})</td>")
    section = section_of(case["html"], "distributions")
    assert row in section and f"{h['p50'][2]:.4f} ({h['p05'][2]:.4f} – {h['p95'][2]:.4f})" in section
    assert "<th>hazard: median (5th – 95th percentile) (% of cell)</th>" in section


def test_classified_hazard_uses_the_products_class_scheme(case: dict[str, Any]) -> None:
    """Classes (0.01, 0.1, 0.5, 2] % as the QGIS styles (hazardcore.styles) shade hazard.tif."""
    ds = case["ds"]
    scheme, counts = report.hazard_classes(ds)
    assert scheme.upper_bounds[:-1] == (0.01, 0.1, 0.5, 2.0) and scheme.names[0] == "very low"
    valid = ds["valid"].values > 0
    for k in range(len(LABELS)):
        values = ds["hazard"].values[k][valid[k]].astype(np.float64)
        expected = [int(((values > low) & (values <= high)).sum())
                    for low, high in zip((-np.inf, 0.01, 0.1, 0.5, 2.0), (0.01, 0.1, 0.5, 2.0, np.inf), strict=True)]
        assert counts[k].tolist() == expected and sum(expected) == 114
    section = section_of(case["html"], "classified_hazard")
    first = counts[0]
    assert (f"<tr><td>2015-co</td><td>{first[0]} ({100 * first[0] / 114:.1f} %)</td>"
            f"<td>{first[1]} ({100 * first[1] / 114:.1f} %)</td>") in section
    assert html.escape("very high (> 2 %)") in section and "moderate (0.1 – 0.5 %]" in section
    assert case["figures"]["classified_hazard"].startswith(PNG_SIGNATURE)


def test_the_overview_comes_before_the_metrics(case: dict[str, Any]) -> None:
    page = case["html"]
    order = [page.index(f'<section id="{name}">') for name in OVERVIEW] + [page.index("<h2>Metrics (test cells)</h2>"),
                                                                         page.index('<section id="maps_hazard">')]
    assert order == sorted(order)


def test_tables_carry_units(case: dict[str, Any]) -> None:
    page = case["html"]
    assert re.search(r"<tr><td>density mae</td>(<td>[^<]*</td>)+<td class=\"units\">% of cell</td></tr>", page)
    assert re.search(r"<tr><td>susceptibility auc</td>(<td>[^<]*</td>)+<td class=\"units\">1</td></tr>", page)
    assert "<th>mae (% of cell)</th>" in page and "<th>TP (cells)</th>" in page


def test_provenance_names_case_versions_sources_and_licences(case: dict[str, Any], region_copy: Path) -> None:
    import datetime as dt

    import yaml

    from hazardcore.catalog import load_catalog

    raw = yaml.safe_load(region_copy.read_text())
    raw |= {"licence": "CC-BY-4.0 <test>", "citation": "Tiny region (2026)", "creator": "A. Reviewer"}
    raw["layers"]["dem"] |= {"licence": "public domain", "citation": "SRTM 1 arc-second", "description": "the DEM"}
    region_copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    catalog = load_catalog(region_copy)
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    about = report.provenance(catalog.case, "a1b2c3d4", "hazard evaluate work", {"hazardcore": "0.1.0", "numpy": "9.9"},
                              catalog, created=when, method="Dahal et al. 2024")
    assert about["case"] == "tiny-test" and about["facts"]["report written"] == "2026-01-02T03:04:05+00:00"
    assert [row["role"] for row in about["sources"]] == ["dem", "pga", "pga", "rainfall", "inventory"]
    page = report.build_report(case["ds"], case["metrics"], case["scores"], title="Landslide hazard report: tiny-test",
                               about=about)
    assert "<title>Landslide hazard report: tiny-test</title>" in page
    section = section_of(page, "provenance")
    for text in ("<dt>case</dt><dd>tiny-test</dd>", "<dt>run id</dt><dd>a1b2c3d4</dd>",
                 "<dt>command</dt><dd>hazard evaluate work</dd>", "hazardcore 0.1.0, numpy 9.9",
                 "<dt>licence of the data</dt><dd>CC-BY-4.0 &lt;test&gt;</dd>", "<dd>A. Reviewer</dd>",
                 "<dd>Dahal et al. 2024</dd>", str(region_copy),
                 "<tr><td>dem</td><td>dem.tif</td><td>the DEM</td><td>public domain</td>"
                 "<td>SRTM 1 arc-second</td></tr>",
                 "<tr><td>rainfall</td><td>rain.nc</td><td>–</td><td>–</td><td>–</td></tr>"):
        assert text in section, text
    assert "<footer>" in page and "2026-01-02T03:04:05+00:00" in page[page.index("<footer>"):]
    assert "<section id=\"provenance\">" not in case["html"]  # without provenance, no section


def test_the_page_is_rendered_from_the_packaged_template() -> None:
    import importlib.resources

    templates = importlib.resources.files("hazardcore") / "templates"
    assert (templates / report.TEMPLATE).is_file() and (templates / report.STYLESHEET).is_file()
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()  # tomllib needs Python 3.11
    data = pyproject[pyproject.index("[tool.setuptools.package-data]"):]
    assert re.search(r'^hazardcore = \[[^]]*"templates/\*"', data, re.MULTILINE)
    assert re.search(r'^\s+"jinja2>=', pyproject, re.MULTILINE)
    assert "{% for f in overview %}" in (templates / report.TEMPLATE).read_text()


def test_a_period_without_observations_has_no_expected_area(case: dict[str, Any]) -> None:
    """A forecast period's observations are NaN: no cell qualifies, and its area is unknown (a dash), not 0."""
    ds = case["ds"].copy(deep=True)
    ds["observed_density"][2] = np.nan
    series = report.regional_series(ds)
    assert series["cells"].tolist()[2] == 0 and np.isnan(series["hazard_km2"][2]) and series["hazard_km2"][0] > 0
    page = report.build_report(ds, case["metrics"], case["scores"])
    section = section_of(page, "hazard_over_time")
    assert "<tr><td>2016-pre (2015-11-01 – 2016-03-30)</td><td>0</td><td>–</td><td>–</td>" in section


def make_forecast(ds: xr.Dataset) -> xr.Dataset:
    """A forecast's (y, x) maps as `hazard predict --period` writes them: a 100-year storm and an M 7 scenario."""
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    hazard = np.full((ny, nx), 0.05)  # class "0.01–0.1"
    hazard[:3] = 3.0  # 3 rows in the top class (> 2 %)
    hazard[0, 0] = np.nan  # no data
    susceptibility = np.where(hazard > 1.0, 0.6, 0.1)
    susceptibility[0, 0] = np.nan
    provenance = {"label": "next-100y", "labelled": False,
                  "rain": {"source": "scenario", "kind": "return_period", "period": "2016-pre", "factor": 1.0,
                           "return_period_years": 100.0},
                  "earthquake": {"name": "scenario-M7", "date": "2016-06-01", "magnitude": 7.0,
                                 "ground_motion": {"source": "scenario", "magnitude": 7.0, "x": 250000.0,
                                                   "y": 3170000.0, "depth_km": 10.0}}}
    outside = {"rain_max": {"units": "mm/day", "slice_mean": 276.2, "train_min": 21.6, "train_max": 231.4,
                            "cells_outside": 0.75, "mean_beyond": 44.8}}
    maps = xr.Dataset({"susceptibility": (("y", "x"), susceptibility.astype(np.float32), {"units": "1"}),
                       "density": (("y", "x"), (hazard / 0.5).astype(np.float32), {"units": "%"}),
                       "hazard": (("y", "x"), hazard.astype(np.float32), {"units": "%"})},
                      coords={"y": ds["y"].values, "x": ds["x"].values},
                      attrs={"product_kind": "forecast", "period": "next-100y", "period_start": "2016-05-15",
                             "period_end": "2016-11-15", "provenance": json.dumps(provenance),
                             "extrapolation": json.dumps(outside), "outside_training_range": "rain_max",
                             "metrics": "none: no landslides are mapped for this period", "run_id": "a1b2c3d4",
                             "decision_threshold": 0.3})
    return maps.rio.write_crs("EPSG:32645")


def test_forecasts_section_lists_each_forecast(case: dict[str, Any]) -> None:
    """Dates, origin, how far each trigger lies outside the training range, totals and a hazard map per forecast."""
    maps = make_forecast(case["ds"])
    page = report.build_report(case["ds"], case["metrics"], case["scores"], title="Tiny report", forecasts=[maps])
    assert "<h2>Forecasts</h2>" not in case["html"] and "Forecasts" not in text_only(case["html"])
    assert page.index("<h2>Forecasts</h2>") < page.index("<h2>Metrics (test cells)</h2>")
    assert page.index('<section id="classified_hazard">') < page.index("<h2>Forecasts</h2>")
    section = section_of(page, "forecast-next-100y")
    assert "<dd>2016-05-15 – 2016-11-15</dd>" in section and "<dd>scenario</dd>" in section
    assert "2016-pre&#x27;s daily pattern, its wettest day at the 100-year design daily rainfall" in section
    assert "earthquake scenario-M7 on 2016-06-01 (M 7): median ground motion of M 7 at x 250000 m" in section
    # how far: the period mean 276.2 mm/day lies 44.8 beyond the training cells' 21.6–231.4, on 75 % of the cells
    assert "<tr><td>rain_max</td><td>mm/day</td><td>276.2000</td><td>21.6000</td><td>231.4000</td><td>44.8000</td>" \
           "<td>75.0</td></tr>" in section
    cells = 12 * 10 - 1  # every cell but the NaN corner
    top = 3 * 10 - 1
    area = (top * 3.0 + (cells - top) * 0.05) / 100 * 1.0  # Σ hazard / 100 × 1 km² cells
    assert f"<td>cells with a forecast</td><td>{cells}</td>" in section
    assert f"<td>expected new landslide area (Σ hazard × cell area)</td><td>{area:.3f}</td>" in section
    assert f"<td>cells at or above the decision threshold τ = 0.300</td><td>{top}</td>" in section
    assert f"<td>cells in hazard class very high (&gt; 2 %)</td><td>{top}</td>" in section
    class_rows = re.findall(r"<td>cells in hazard class [^<]*</td><td>(\d+)</td>", section)
    assert sorted(int(n) for n in class_rows) == [0, 0, 0, top, cells - top]
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", section)
    assert len(images) == 1 and base64.b64decode(images[0]).startswith(PNG_SIGNATURE)
    assert page.count("data:image/png;base64,") == len(EXPECTED) + 1


def test_forecast_without_its_maps_is_refused(case: dict[str, Any]) -> None:
    maps = make_forecast(case["ds"]).drop_vars("hazard")
    with pytest.raises(InvalidValueError, match=r"forecasts/<label>\.nc"):
        report.build_report(case["ds"], case["metrics"], case["scores"], forecasts=[maps])


def test_an_asked_exceedance_threshold_gets_its_map_and_caption(case: dict[str, Any]) -> None:
    """The first density the user named becomes a map of P(new area > x % of the cell); no name, no map."""
    ds = case["ds"]
    thresholds = np.array([1.0, 5.0], dtype="float32")
    survival = np.stack([np.full(ds["hazard"].shape, np.exp(-float(x)), dtype="float32") for x in thresholds])
    exceedance = ds["susceptibility"].values[None] * survival
    asked = ds.assign_coords(threshold=("threshold", thresholds)).assign(
        hazard_exceedance=(("threshold", *ds["hazard"].dims), exceedance)).assign_attrs(exceedance_products="[5.0]")
    pngs = report.figures(asked, case["metrics"], case["scores"])
    assert "exceedance" in pngs and "exceedance" not in case["figures"]
    assert list(pngs).index("exceedance") == list(pngs).index("uncertainty" if "uncertainty" in pngs else
                                                             "maps_hazard") + 1
    page = text_only(report.build_report(asked, case["metrics"], case["scores"], title="t"))
    assert "cover more than 5 % of the cell" in page and "more than 1 %" not in page
    unasked = asked.assign_attrs(exceedance_products="[]")
    assert "exceedance" not in report.figures(unasked, case["metrics"], case["scores"])

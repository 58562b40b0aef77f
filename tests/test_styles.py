"""Class schemes of the products and their QGIS styles (hazardcore.styles)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from hazardcore import styles


@pytest.mark.parametrize("name", sorted(styles.SCHEMES))
def test_every_scheme_is_complete_and_increasing(name: str) -> None:
    scheme = styles.SCHEMES[name]
    assert len(scheme.upper_bounds) == len(scheme.names) == len(scheme.colours) == len(scheme.labels())
    assert list(scheme.upper_bounds) == sorted(set(scheme.upper_bounds))
    assert scheme.categorical or scheme.upper_bounds[-1] == math.inf
    assert all(len(colour) == 7 and colour.startswith("#") for colour in scheme.colours)


def test_classes_hold_values_above_the_lower_and_up_to_the_upper_bound() -> None:
    """As QGIS's discrete ramp shades them: class k holds bounds[k-1] < v <= bounds[k] (hand-computed)."""
    values = np.array([0.0, 0.05, 0.050001, 0.2, 0.3, 0.4, 0.7, 0.71, 1.0, np.nan])
    expected = [0, 0, 1, 1, 2, 2, 3, 4, 4, -1]
    np.testing.assert_array_equal(styles.classify(values, styles.SCHEMES["probability"]), expected)
    np.testing.assert_array_equal(styles.classify(np.array([0.0, 1.0, np.nan]), styles.SCHEMES["occurrence"]),
                                  [0, 1, -1])


def test_labels_state_each_range_and_unit() -> None:
    assert styles.SCHEMES["hazard"].labels() == ["very low (≤ 0.01 %)", "low (0.01 – 0.1 %]", "moderate (0.1 – 0.5 %]",
                                                 "high (0.5 – 2 %]", "very high (> 2 %)"]
    assert styles.SCHEMES["probability"].labels()[0] == "very low (≤ 0.05)"


def test_each_product_variable_has_its_documented_scheme() -> None:
    assert styles.scheme_for("susceptibility") is styles.SCHEMES["probability"]
    assert styles.scheme_for("true_hazard") is styles.scheme_for("hazard_mean") is styles.SCHEMES["hazard"]
    assert styles.scheme_for("observed_density") is styles.SCHEMES["density"]
    assert styles.scheme_for("predicted_occurrence").categorical


def test_an_undocumented_variable_gets_equal_classes_up_to_its_99th_percentile() -> None:
    values = np.linspace(0.0, 10.0, 1001)  # 99th percentile 9.9
    scheme = styles.scheme_for("hazard_spread", "%", values)
    assert scheme.upper_bounds == pytest.approx((1.98, 3.96, 5.94, 7.92, math.inf))
    assert scheme.colours == styles.PURPLES and scheme.units == "%"
    assert styles.scheme_for("hazard_spread", "%", np.array([np.nan])).upper_bounds[-2] == pytest.approx(0.8)


def parse(text: str) -> ET.Element:
    doctype, body = text.split("\n", 1)
    assert doctype.startswith("<!DOCTYPE qgis")
    return ET.fromstring(body)


def test_qml_is_a_single_band_discrete_pseudocolour_style() -> None:
    root = parse(styles.qml(styles.SCHEMES["density"], band=3))
    renderer = root.find("pipe/rasterrenderer")
    assert renderer is not None and renderer.get("type") == "singlebandpseudocolor" and renderer.get("band") == "3"
    shader = renderer.find("rastershader/colorrampshader")
    assert shader is not None and shader.get("colorRampType") == "DISCRETE"
    items = shader.findall("item")
    assert [item.get("value") for item in items] == ["0.5", "1", "2", "5", "inf"]
    assert [item.get("label") for item in items] == styles.SCHEMES["density"].labels()


def test_qml_of_categories_is_a_paletted_style() -> None:
    renderer = parse(styles.qml(styles.SCHEMES["occurrence"])).find("pipe/rasterrenderer")
    assert renderer is not None and renderer.get("type") == "paletted"
    entries = renderer.findall("colorPalette/paletteEntry")
    assert [(e.get("value"), e.get("label")) for e in entries] == [("0", "no new landslides predicted"),
                                                                   ("1", "new landslides predicted")]


def test_an_ensemble_percentile_has_its_quantity_scheme_and_a_spread_its_own() -> None:
    assert styles.scheme_for("hazard_p95") is styles.scheme_for("hazard_p05") is styles.SCHEMES["hazard"]
    assert styles.scheme_for("susceptibility_p50") is styles.SCHEMES["probability"]
    assert styles.scheme_for("hazard_std", "%", np.array([0.0, 1.0])).colours == styles.PURPLES


def test_docs_show_the_schemes_of_the_code() -> None:
    """docs/products.md's table is generated from SCHEMES: the documented classes are the ones QGIS shows."""
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[1] / "docs" / "products.md").read_text(encoding="utf-8")
    table = docs.split("<!-- schemes:begin -->\n")[1].split("<!-- schemes:end -->")[0]
    assert table == styles.markdown_table()

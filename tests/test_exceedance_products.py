"""Exceedance maps a user names (catalog or command line) become products (issue: uncertainty, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
import yaml
from test_products import predictions

from hazardcore import export
from hazardcore.catalog import load_catalog
from hazardcore.errors import CatalogError


def with_exceedance(asked: list[float]) -> xr.Dataset:
    """The products test's predictions with P(density > x) for x = 1, 5, 10 % and ``asked`` as products."""
    ds = predictions()
    thresholds = np.array([1.0, 5.0, 10.0], dtype="float32")
    survival = np.stack([np.exp(-float(x) / 4.0) * np.ones_like(ds["hazard"].values) for x in thresholds])
    hazard = ds["susceptibility"].values[None] * survival
    ds = ds.assign_coords(threshold=("threshold", thresholds))
    ds["hazard_exceedance"] = (("threshold", *ds["hazard"].dims), hazard.astype("float32"), {"units": "1"})
    return ds.assign_attrs(exceedance_products=json.dumps(asked))


def test_asked_thresholds_become_styled_dated_geotiffs_and_the_others_do_not(tmp_path: Path) -> None:
    ds = with_exceedance([5.0])
    written = export.write_products(ds, tmp_path / "run", {})
    assert "hazard_exceedance_5pct.tif" in written and "hazard_exceedance_5pct.qml" in written
    assert not [name for name in written if "exceedance_1pct" in name or "exceedance_10pct" in name]
    with rasterio.open(written["hazard_exceedance_5pct.tif"]) as src:
        band = src.read(2)
        assert src.count == ds.sizes["slice"] and src.tags(2)["start_date"].startswith("2015")
    expected = ds["hazard_exceedance"].sel(threshold=5.0).values[1]
    assert np.allclose(band[np.isfinite(expected)], expected[np.isfinite(expected)])
    # a probability: styled with the susceptibility's classes
    assert written["hazard_exceedance_5pct.qml"].read_text() == written["susceptibility.qml"].read_text()
    assert "./hazard_exceedance_5pct.tif" in written["hazard.qgs"].read_text()


def test_predictions_without_an_asked_threshold_write_no_exceedance_map(tmp_path: Path) -> None:
    written = export.write_products(with_exceedance([]), tmp_path / "run", {})
    assert not [name for name in written if "exceedance" in name]


def test_the_catalog_names_its_thresholds_and_refuses_what_is_not_a_density(region_copy: Path) -> None:
    raw = yaml.safe_load(region_copy.read_text())
    region_copy.write_text(yaml.safe_dump(raw | {"exceedance_thresholds": [10, 1, 5, 5]}))
    assert load_catalog(region_copy).exceedance_thresholds == (1.0, 5.0, 10.0)
    for bad in (["five"], [0], [150]):
        region_copy.write_text(yaml.safe_dump(raw | {"exceedance_thresholds": bad}))
        with pytest.raises(CatalogError, match="exceedance_thresholds"):
            load_catalog(region_copy)
    region_copy.write_text(yaml.safe_dump(raw))
    assert load_catalog(region_copy).exceedance_thresholds == ()


def test_the_prepared_cube_keeps_the_catalogs_thresholds_for_predict(region_copy: Path, tmp_path: Path) -> None:
    from hazardcore.cube import PreparedCube
    from hazardcore.prepare import prepare

    raw = yaml.safe_load(region_copy.read_text())
    region_copy.write_text(yaml.safe_dump(raw | {"exceedance_thresholds": [2.5, 10]}))
    prepare(region_copy, tmp_path / "work")
    assert PreparedCube.open(tmp_path / "work").exceedance_thresholds == (2.5, 10.0)

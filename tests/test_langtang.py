"""The Langtang real-terrain case (hazardcore.langtang_case): `hazard synth --case langtang` and the demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray
import xarray as xr
import yaml

from hazardcore.catalog import REFERENCE_FILES, load_catalog, open_reference_maps
from hazardcore.cli import main
from hazardcore.langtang_case import COLS, DEFAULT_REAL, DEFAULT_REFERENCE, ROWS
from hazardcore.synthetic import MAPPING_DATES

CATALOG_DIR = Path(__file__).resolve().parents[1] / "data_catalog"
STUDY_X, STUDY_Y = 248635.08, 3175441.11

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not DEFAULT_REAL.is_dir(), reason=f"real data not found at {DEFAULT_REAL}")]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("langtang") / "case"
    assert main(["synth", "--case", "langtang", str(out), "--quiet"]) == 0
    return out


def test_catalog_is_the_tile_of_the_study_grid_on_the_real_files(case: Path) -> None:
    catalog = load_catalog(case / "catalog.yaml")
    grid = catalog.grid
    assert (grid.n_rows, grid.n_cols) == (25, 29)
    assert (grid.x_min, grid.y_max) == pytest.approx((STUDY_X + 106_000, STUDY_Y - 35_000), abs=1e-6)
    assert catalog.slice_labels[0] == "2015-co" and len(catalog.slices) == 8
    assert catalog.layer("dem").path == (DEFAULT_REAL / "dem" / "langtang_aw3d30_dsm_utm45n_28p56m.tif").resolve()
    spread = catalog.layer_list("pga")[1]
    assert spread.options.statistic == "std" and spread.options.band == 3 and spread.units == "ln"
    assert catalog.layer("rainfall").options.spread == "nearest"


def test_inventory_and_truth_on_the_tile(case: Path) -> None:
    inventory = rioxarray.open_rasterio(case / "inventory_cumulative_1km.tif")
    assert inventory.shape == (len(MAPPING_DATES), 25, 29)
    areas = inventory.values
    assert (areas >= 0).all() and (areas <= 1e6).all()
    new = np.maximum(np.diff(areas.astype("float64"), axis=0), 0) > 0
    coseismic, later = new[0].mean(), new[1:].mean()
    assert coseismic > later > 0  # the mainshock's slice has the most new landslides
    with xr.open_dataset(case / "truth_1km.nc") as truth:
        p = truth["p_occurrence"].values
    assert p.shape == (8, 25, 29) and np.all((p >= 0) & (p <= 1))


def test_prepare_reads_the_real_files_of_the_case(case: Path, tmp_path: Path) -> None:
    from hazardcore.cube import PreparedCube
    from hazardcore.predictors import STATIC_CHANNELS
    from hazardcore.prepare import prepare

    summary = prepare(case / "catalog.yaml", tmp_path / "work")
    assert summary["masked_cells"] == [0] * 8
    areas = rioxarray.open_rasterio(case / "inventory_cumulative_1km.tif").values.astype("float64")
    new = (np.maximum(np.diff(areas, axis=0), 0) > 0).mean(axis=(1, 2))
    np.testing.assert_allclose(summary["positive_fraction"], new, atol=1e-4)
    cube = PreparedCube.open(tmp_path / "work")
    pga_max = np.asarray(cube.static[STATIC_CHANNELS.index("pga_max")])
    pga_std = np.asarray(cube.static[STATIC_CHANNELS.index("pga_std")])
    g = 9.80665
    assert 30.9 / 100 * g <= pga_max.min() and pga_max.max() <= 65.09 / 100 * g  # ShakeMap slice range, m/s2
    assert (pga_std > 0).all() and (pga_std < pga_max).all()


def test_reference_maps_are_the_published_cells(case: Path) -> None:
    if not DEFAULT_REFERENCE.is_dir():
        pytest.skip("published maps not found")
    cropped = open_reference_maps(case / "reference")
    tile = (slice(None), slice(*ROWS), slice(*COLS))
    published = {}
    for name, file_name in REFERENCE_FILES.items():
        with rasterio.open(DEFAULT_REFERENCE / file_name) as src:
            published[name] = src.read()[tile].astype("float32")
    # the published files hold 0 in every band of every map outside their study area
    outside = np.logical_and.reduce([(values == 0).all(axis=0) for values in published.values()])
    for name, values in published.items():
        np.testing.assert_array_equal(np.isnan(cropped[name].values), np.broadcast_to(outside, values.shape))
        np.testing.assert_allclose(cropped[name].values[:, ~outside], values[:, ~outside], rtol=1e-6)
    assert 0 < int((~outside).sum()) < outside.size


def test_data_catalog_entry_is_what_synth_writes(case: Path) -> None:
    entry = yaml.safe_load((CATALOG_DIR / "langtang.yaml").read_text())
    assert entry.pop("recipe")["arguments"] == {"seed": 42}
    text = (case / "catalog.yaml").read_text().replace(str(DEFAULT_REAL.resolve()), "GORKHA_REAL")
    assert yaml.safe_load(text) == entry
    for layer in entry["layers"].values():
        for item in layer if isinstance(layer, list) else [layer]:
            assert {"path", "format", "licence", "citation"} <= set(item)


@pytest.mark.slow
def test_langtang_demo_runs_end_to_end(tmp_path: Path) -> None:
    from hazardcore.pipeline import demo

    result = demo(tmp_path, case="langtang")
    metrics = result.evaluation.metrics
    assert metrics["test_cells"] > 0 and 0.5 < metrics["susceptibility"]["auc"] <= 1.0
    html = result.evaluation.report.read_text()
    assert "Published maps beside ours" in html
    assert (result.run / "products" / "manifest.json").exists()

"""Products: COG GeoTIFFs with QGIS styles and project, the CF/ACDD NetCDF files and the checksummed manifest
(hazardcore.export)."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from hazardcore import export, integrity, styles
from hazardcore.errors import GridMismatchError

CRS = "EPSG:32645"
LABELS = ["2015-co", "2015-post", "2016-pre"]
STARTS = ["2015-04-25", "2015-06-15", "2015-11-15"]
ENDS = ["2015-06-15", "2015-11-15", "2016-05-15"]
N_Y, N_X = 5, 6
X0, Y0 = 300500.0, 3139500.0
FLOAT_UNITS = {"susceptibility": "1", "susceptibility_uncalibrated": "1", "density": "%", "hazard": "%",
               "observed_density": "%", "presence": "1", "true_probability": "1",
               "true_density_given_occurrence": "%", "true_hazard": "%"}
EXPECTED_COGS = ["density", "hazard", "observed_density", "susceptibility", "true_density_given_occurrence",
                 "true_hazard", "true_probability"]
THRESHOLDS = [0.5, 0.25, 0.75]  # each slice's decision threshold
POOLED = 0.4  # the pooled validation threshold of older predictions


def predictions(with_truth: bool = True, decided: bool = True) -> xr.Dataset:
    """A 3 × 5 × 6 predictions Dataset with NaN outside a valid mask (seeded values).

    ``decided``: with a per-slice ``decision_threshold`` (else only the pooled threshold in
    the calibration record, as older predictions).
    """
    rng = np.random.default_rng(7)
    shape = (len(LABELS), N_Y, N_X)
    valid = np.ones(shape, dtype="uint8")
    valid[:, 0, :2] = 0
    valid[1, 4, 5] = 0
    coords = {"slice": LABELS, "slice_start": ("slice", np.array(STARTS, dtype="datetime64[ns]")),
              "slice_end": ("slice", np.array(ENDS, dtype="datetime64[ns]")),
              "monsoons": ("slice", np.array([0.0, 1.0, 1.0], dtype="float32")),
              "y": Y0 - 1000.0 * np.arange(N_Y), "x": X0 + 1000.0 * np.arange(N_X)}
    names = [n for n in FLOAT_UNITS if with_truth or not n.startswith("true_")]
    data = {}
    for name in names:
        values = rng.random(shape).astype("float32") * (100.0 if FLOAT_UNITS[name] == "%" else 1.0)
        values[valid == 0] = np.nan
        data[name] = (("slice", "y", "x"), values, {"units": FLOAT_UNITS[name], "long_name": name.replace("_", " ")})
    data["valid"] = (("slice", "y", "x"), valid, {"long_name": "valid cell"})
    data["test"] = (("slice", "y", "x"), (rng.random(shape) < 0.3).astype("uint8"), {"long_name": "test cell"})
    data["windows"] = (("y", "x"), rng.integers(0, 3, (N_Y, N_X)).astype("int16"), {"long_name": "windows"})
    if decided:
        data["decision_threshold"] = ("slice", np.array(THRESHOLDS, dtype="float32"),
                                      {"units": "1", "rule": "expected_f1", "long_name": "decision threshold"})
    calibration = json.dumps({"method": "isotonic", "threshold": POOLED})
    ds = xr.Dataset(data, coords=coords, attrs={"run_id": "abc123", "split": "random", "calibration": calibration})
    return ds.rio.write_crs(CRS).rio.write_transform(Affine(1000.0, 0.0, X0 - 500.0, 0.0, -1000.0, Y0 + 500.0))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("products") / "run"
    inputs = tmp_path_factory.mktemp("inputs") / "config.yaml"
    inputs.write_text("seed: 1\n")
    return export.write_products(predictions(), folder, {"run_id": "abc123", "metrics": {"auc": 0.8}}, [inputs])


def test_write_products_names_every_file(products: dict[str, Path]) -> None:
    tifs = [*EXPECTED_COGS, "predicted_occurrence"]
    expected = ({f"{name}.tif" for name in tifs} | {f"{name}.qml" for name in tifs}  # a QGIS style beside each
                | {"hazard.nc", "hazard_diagnostics.nc", "hazard.qgs", "manifest.json"})
    assert set(products) == expected
    assert {p.name for p in products["hazard.nc"].parent.iterdir()} == expected


@pytest.mark.parametrize("name", EXPECTED_COGS)
def test_cog_georeferencing_and_values(products: dict[str, Path], name: str) -> None:
    source = predictions()[name].values
    with rasterio.open(products[f"{name}.tif"]) as src:
        assert src.crs.to_epsg() == 32645
        assert src.transform == Affine(1000.0, 0.0, 300000.0, 0.0, -1000.0, 3140000.0)
        assert src.count == len(LABELS) and src.shape == (N_Y, N_X)
        assert list(src.descriptions) == LABELS
        assert src.nodata == -9999.0
        assert src.tags()["units"] == FLOAT_UNITS[name]
        values = src.read()
    assert values.dtype == np.float32
    missing = np.isnan(source)
    assert missing.any()
    assert np.all(values[missing] == -9999.0)
    np.testing.assert_array_equal(values[~missing], source[~missing])


def occurrence_bands(path: Path) -> tuple[np.ndarray, list[dict[str, str]], float | None]:
    with rasterio.open(path) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.dtypes[0] == "uint8"
        return src.read(), [src.tags(k + 1) for k in range(src.count)], src.nodata


def expected_occurrence(source: xr.Dataset, thresholds: list[float]) -> np.ndarray:
    """1 / 0 / 255 from the susceptibility, computed here cell by cell."""
    susceptibility, valid = source["susceptibility"].values, source["valid"].values
    out = np.full(susceptibility.shape, 255, dtype="uint8")
    for k, threshold in enumerate(thresholds):
        for i, j in np.ndindex(susceptibility.shape[1:]):
            if valid[k, i, j] and np.isfinite(susceptibility[k, i, j]):
                out[k, i, j] = 1 if float(susceptibility[k, i, j]) >= float(np.float32(threshold)) else 0
    return out


def test_predicted_occurrence_uses_each_slice_threshold(products: dict[str, Path]) -> None:
    source = predictions()
    values, band_tags, nodata = occurrence_bands(products["predicted_occurrence.tif"])
    expected = expected_occurrence(source, THRESHOLDS)
    np.testing.assert_array_equal(values, expected)
    assert nodata == 255 and (values == 255).sum() == 2 * 3 + 1  # the invalid cells
    assert [(values[k] == 1).sum() for k in range(3)] == [(expected[k] == 1).sum() for k in range(3)]
    assert not np.array_equal(values, expected_occurrence(source, [POOLED] * 3))  # not one pooled threshold
    assert [float(tags["decision_threshold"]) for tags in band_tags] == [float(np.float32(t)) for t in THRESHOLDS]
    assert {tags["threshold_rule"] for tags in band_tags} == {"expected_f1"}
    assert [tags["slice"] for tags in band_tags] == LABELS
    with rasterio.open(products["susceptibility.tif"]) as src:
        assert [float(src.tags(k + 1)["decision_threshold"]) for k in range(3)] == [0.5, 0.25, 0.75]
    with rasterio.open(products["hazard.tif"]) as src:
        assert "decision_threshold" not in src.tags(1)


def test_netcdf_carries_the_decision_threshold(products: dict[str, Path]) -> None:
    with xr.open_dataset(products["hazard.nc"]) as ds:
        assert ds["decision_threshold"].dims == ("time",)
        np.testing.assert_array_equal(ds["decision_threshold"].values, np.array(THRESHOLDS, dtype="float32"))
        attrs = ds["decision_threshold"].attrs
        assert attrs["rule"] == "expected_f1" and attrs["units"] == "1"
        assert ds["monsoons"].dims == ("time",) and ds["monsoons"].values.tolist() == [0.0, 1.0, 1.0]


def test_older_predictions_get_their_pooled_threshold(tmp_path: Path) -> None:
    written = export.write_products(predictions(decided=False), tmp_path / "old", {})
    values, band_tags, _ = occurrence_bands(written["predicted_occurrence.tif"])
    np.testing.assert_array_equal(values, expected_occurrence(predictions(), [POOLED] * 3))
    assert [tags["decision_threshold"] for tags in band_tags] == [str(float(np.float32(POOLED)))] * 3
    assert {tags["threshold_rule"] for tags in band_tags} == {"validation"}
    with xr.open_dataset(written["hazard.nc"]) as ds:
        assert ds["decision_threshold"].attrs["rule"] == "validation"
    unknown = predictions(decided=False).assign_attrs(calibration="isotonic")
    written = export.write_products(unknown, tmp_path / "unknown", {})
    assert "predicted_occurrence.tif" not in written  # no threshold recorded: no decision invented
    with rasterio.open(written["susceptibility.tif"]) as src:
        assert "decision_threshold" not in src.tags(1)


def test_cog_layout(products: dict[str, Path]) -> None:
    with rasterio.open(products["hazard.tif"]) as src:
        assert src.profile["tiled"]
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"


def test_masks_and_diagnostic_floats_are_not_cogs(tmp_path: Path) -> None:
    written = export.write_products(predictions(with_truth=False), tmp_path, {})
    assert {p for p in written if p.endswith(".tif")} == {"susceptibility.tif", "density.tif", "hazard.tif",
                                                          "observed_density.tif", "predicted_occurrence.tif"}


def test_extra_user_maps_pass_through_to_every_product(tmp_path: Path) -> None:
    """A variable the export does not know (e.g. an ensemble's spread) is a user map: its own COG and style,
    a variable of hazard.nc and a group of the QGIS project; an ensemble's CF-1.8 cell methods follow the densities'."""
    source = predictions(with_truth=False)
    extra: dict[str, tuple[dict[str, Any], str]] = {"hazard_spread": ({}, "ensemble spread of the hazard"),
             "hazard_std": ({"cell_methods": "realization: standard_deviation"}, "sd"),
             "hazard_p50": ({"percentile": 50}, "median of the predictive distribution"),
             "susceptibility_p95": ({"percentile": 95}, "95th percentile")}  # as hazardcore.ensemble writes them
    for name, (method, long_name) in extra.items():
        base = source[name.rsplit("_", 1)[0]]
        source[name] = (base * 0.1).assign_attrs(units=base.attrs["units"], long_name=long_name, **method)
    thresholds = xr.DataArray(np.array([1.0, 5.0], dtype="float32"), dims="threshold", attrs={"units": "%"})
    source = source.assign_coords(threshold=thresholds)
    exceedance = (source["susceptibility"] * 0.5 * xr.ones_like(thresholds)).transpose("threshold", "slice", "y", "x")
    source["hazard_exceedance"] = exceedance.assign_attrs(
        units="1", long_name="probability that new landslides cover more than the threshold")
    written = export.write_products(source, tmp_path, {})
    assert {f"{name}.{ext}" for name in extra for ext in ("tif", "qml")} <= set(written)
    assert "hazard_exceedance.tif" not in written  # (threshold, slice, y, x): the NetCDF only
    with xr.open_dataset(written["hazard.nc"]) as ds:
        assert ds["hazard_spread"].attrs["units"] == "%" and "cell_methods" not in ds["hazard_spread"].attrs  # unknown
        assert ds["hazard_std"].attrs["cell_methods"] == "area: mean time: sum realization: standard_deviation"
        assert ds["hazard_p50"].attrs["cell_methods"] == "area: mean time: sum"  # a density's own, nothing added
        assert "cell_methods" not in ds["susceptibility_p95"].attrs  # CF-1.8 has no percentile method
        assert ds["susceptibility_p95"].attrs["percentile"] == 95
        assert ds["hazard_exceedance"].dims == ("threshold", "time", "y", "x")
    assert "./hazard_spread.tif" in written["hazard.qgs"].read_text()
    assert cf_errors(written["hazard.nc"]) == []


def test_cf_netcdf_time_bounds_and_crs(products: dict[str, Path]) -> None:
    with xr.open_dataset(products["hazard.nc"], decode_coords="all") as ds:
        assert ds.attrs["Conventions"] == "CF-1.8, ACDD-1.3"
        assert {"title", "institution", "source", "history", "references"} <= set(ds.attrs)
        assert ds.attrs["run_id"] == "abc123"
        np.testing.assert_array_equal(ds["time"].values, np.array(STARTS, dtype="datetime64[ns]"))
        assert ds["time"].encoding["bounds"] == "time_bnds"  # decode_coords="all" moves it to encoding
        np.testing.assert_array_equal(ds["time_bnds"].values,
                                      np.array(list(zip(STARTS, ENDS, strict=True)), dtype="datetime64[ns]"))
        assert list(ds["slice_label"].values) == LABELS and "slice_label" in ds.coords
        assert ds["x"].attrs["standard_name"] == "projection_x_coordinate" and ds["x"].attrs["units"] == "m"
        assert ds["y"].attrs["standard_name"] == "projection_y_coordinate" and ds["y"].attrs["units"] == "m"
        for name, var in ds.data_vars.items():
            if {"x", "y"} <= set(var.dims):
                assert var.encoding["grid_mapping"] == "spatial_ref", name
                assert var.rio.crs.to_epsg() == 32645, name
        np.testing.assert_array_equal(ds["hazard"].values, predictions()["hazard"].values)


def test_cf_netcdf_raw_attributes(products: dict[str, Path]) -> None:
    with xr.open_dataset(products["hazard.nc"], decode_cf=False) as raw:
        assert raw["hazard"].attrs["grid_mapping"] == "spatial_ref"
        assert "grid_mapping_name" in raw["spatial_ref"].attrs
        assert raw["time"].attrs["units"].startswith("days since")
        assert raw["time"].attrs["bounds"] == "time_bnds"
        assert raw["time_bnds"].dims == ("time", "nv")  # its units are the parent's (CF 7.1; xarray omits them)
        assert "_FillValue" not in raw["time"].attrs
        assert raw["valid"].dtype == np.int8  # CF-1.8 has no unsigned types (was uint8)
        assert list(raw["valid"].attrs["flag_values"]) == [0, 1] and raw["spatial_ref"].dtype == np.int32
        assert raw["slice_label"].dtype.kind == "S"  # chars, not a variable-length string (refused by cfchecker)
        assert "_FillValue" not in raw["x"].attrs and "_FillValue" not in raw["y"].attrs  # CF 2.5.1
        for name in ("susceptibility", "density", "hazard", "valid"):  # no stale slice_start/slice_end
            assert set(raw[name].attrs["coordinates"].split()) == {"slice_label", "monsoons"}, name
        assert raw["hazard"].attrs["cell_methods"] == raw["density"].attrs["cell_methods"] == "area: mean time: sum"
        assert "cell_methods" not in raw["susceptibility"].attrs
    # The model's internals (masks of the split, window counts) are in the diagnostics file, not the user's.
    with xr.open_dataset(products["hazard_diagnostics.nc"], decode_cf=False) as raw:
        assert raw["test"].attrs["flag_meanings"] == "not_test test"
        assert raw["windows"].dims == ("y", "x") and raw["windows"].attrs["grid_mapping"] == "spatial_ref"


def test_cf_dataset_refuses_undated_slices() -> None:
    from hazardcore.errors import InvalidValueError

    source = predictions()
    source = source.assign_coords(slice_end=("slice", np.array(["NaT", *ENDS[1:]], dtype="datetime64[ns]")))
    with pytest.raises(InvalidValueError, match="2015-co"):
        export.cf_dataset(source)


def test_cf_dataset_is_pure() -> None:
    source = predictions()
    before = source.copy(deep=True)
    ds = export.cf_dataset(source)
    assert ds.sizes["time"] == len(LABELS) and "slice" not in ds.dims
    xr.testing.assert_identical(source, before)


def test_manifest_checksums(products: dict[str, Path]) -> None:
    manifest = json.loads(products["manifest.json"].read_text())
    assert manifest["run_id"] == "abc123" and manifest["metrics"] == {"auc": 0.8}
    assert set(manifest["files"]) == set(products) - {"manifest.json"}
    for name, record in manifest["files"].items():
        assert record == {"sha256": sha256(products[name]), "bytes": products[name].stat().st_size}
    ((path, record),) = manifest["inputs"].items()
    assert record["sha256"] == sha256(Path(path))


def test_file_sha256_streams_large_files(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(np.random.default_rng(0).bytes(3 * integrity.HASH_BLOCK_BYTES + 17))
    assert integrity.file_sha256(path) == sha256(path)


def test_rewrite_leaves_no_temporary_files_and_inputs_untouched(tmp_path: Path) -> None:
    source = tmp_path / "inputs" / "cube.nc"
    source.parent.mkdir()
    source.write_bytes(b"input bytes")
    before = sha256(source)
    folder = tmp_path / "run"
    first = export.write_products(predictions(), folder, {"run_id": "x"}, [source])
    second = export.write_products(predictions(), folder, {"run_id": "x"}, [source])
    assert sorted(p.name for p in folder.iterdir()) == sorted(second)
    assert first == second
    assert sha256(source) == before


def test_write_cog_refuses_wrong_descriptions(tmp_path: Path) -> None:
    from hazardcore.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="band description"):
        export.write_cog(predictions()["hazard"], tmp_path / "h.tif", band_descriptions=["one"])
    assert not list(tmp_path.iterdir())


def test_write_cog_without_cog_driver_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hazardcore.errors import HazardcoreError

    monkeypatch.setattr(rasterio.Env, "drivers", lambda self: {"GTiff": "GeoTIFF"})
    with pytest.raises(HazardcoreError, match="COG driver"):
        export.write_cog(predictions()["hazard"], tmp_path / "h.tif", band_descriptions=LABELS)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- QGIS-ready GeoTIFFs (issue 21 item 1)
TIFS = [*EXPECTED_COGS, "predicted_occurrence"]


def iso(day: str) -> str:
    return f"{day}T00:00:00Z"


@pytest.mark.parametrize("name", TIFS)
def test_every_band_has_its_unit_and_slice_dates(products: dict[str, Path], name: str) -> None:
    """GDAL (through rasterio) reads each band's unit and its slice's label, start and end date."""
    with rasterio.open(products[f"{name}.tif"]) as src:
        assert src.units == (FLOAT_UNITS.get(name, "1"),) * len(LABELS)
        bands = [src.tags(k + 1) for k in range(src.count)]
        assert src.tags()["time_coverage_start"] == iso(STARTS[0])
        assert src.tags()["time_coverage_end"] == iso(ENDS[-1])
    assert [band["slice"] for band in bands] == LABELS
    assert [band["start_date"] for band in bands] == [iso(day) for day in STARTS]
    assert [band["end_date"] for band in bands] == [iso(day) for day in ENDS]


@pytest.mark.parametrize("name", TIFS)
def test_a_style_beside_each_geotiff_names_its_band_and_classes(products: dict[str, Path], name: str) -> None:
    """QGIS applies ``<name>.qml`` when it opens ``<name>.tif``: single band, the documented classes."""
    text = products[f"{name}.qml"].read_text(encoding="utf-8")
    assert products[f"{name}.qml"].with_suffix(".tif") == products[f"{name}.tif"]
    renderer = ET.fromstring(text.split("\n", 1)[1]).find("pipe/rasterrenderer")
    assert renderer is not None and renderer.get("band") == "1"
    scheme = styles.scheme_for(name)
    assert renderer.get("type") == ("paletted" if scheme.categorical else "singlebandpseudocolor")
    items = renderer.findall("rastershader/colorrampshader/item") + renderer.findall("colorPalette/paletteEntry")
    assert [item.get("label") for item in items] == scheme.labels()
    assert [item.get("color") for item in items] == list(scheme.colours)
    if not scheme.categorical:
        assert renderer.find("rastershader/colorrampshader").get("colorRampType") == "DISCRETE"


def test_the_qgis_project_shows_every_band_in_its_slice(products: dict[str, Path]) -> None:
    """One layer per product and slice: its file (relative to the project), band, style and temporal range."""
    root = ET.fromstring(products["hazard.qgs"].read_text(encoding="utf-8").split("\n", 1)[1])
    folder = products["hazard.qgs"].parent
    layers = root.findall("projectlayers/maplayer")
    assert len(layers) == len(TIFS) * len(LABELS)  # no DEM in this catalog-less run: no hillshade
    for layer in layers:
        source, name = layer.findtext("datasource"), layer.findtext("layername")
        assert source is not None and name is not None and (folder / source).is_file()
        product, label = name.split(" ")
        k = LABELS.index(label)
        renderer = layer.find("pipe/rasterrenderer")
        assert source == f"./{product}.tif" and renderer is not None and renderer.get("band") == str(k + 1)
        assert renderer.get("type") == ("paletted" if product == "predicted_occurrence" else "singlebandpseudocolor")
        assert layer.find("temporal").get("enabled") == "1"
        assert layer.findtext("temporal/fixedRange/start") == iso(STARTS[k])
        assert layer.findtext("temporal/fixedRange/end") == f"{(np.datetime64(ENDS[k]) - 1).astype(str)}T23:59:59Z"
    groups = {group.get("name"): group.get("checked") for group in root.findall("layer-tree-group/layer-tree-group")}
    assert groups["hazard (%)"] == "Qt::Checked" and groups["density (%)"] == "Qt::Unchecked"
    assert root.findtext("ProjectTimeSettings/TemporalRange/start") == iso(STARTS[0])
    assert root.findtext("projectCrs/spatialrefsys/authid") == "EPSG:32645"


def fake_catalog(dem: Path) -> SimpleNamespace:
    """The parts of a :class:`hazardcore.catalog.Catalog` the products read: licence, creator, case, DEM."""
    entry = SimpleNamespace(path=dem, about={"citation": "a DEM provider"})
    return SimpleNamespace(raw={"licence": "CC-BY-4.0", "creator": "Example Survey", "citation": "example case"},
                           case="example", layers={"dem": entry}, layer_list=lambda role: [entry])


def test_catalog_licence_creator_and_dem_reach_the_products(tmp_path: Path) -> None:
    dem_da = predictions()["hazard"].isel(slice=0, drop=True).drop_vars("monsoons", errors="ignore")
    dem = export.write_geotiff(dem_da.rio.write_crs(CRS), tmp_path / "inputs" / "dem.tif", nodata=-9999.0)
    written = export.write_products(predictions(), tmp_path / "run", {}, source=fake_catalog(dem))  # type: ignore[arg-type]
    with xr.open_dataset(written["hazard.nc"]) as ds:
        assert ds.attrs["license"] == "CC-BY-4.0" and ds.attrs["creator_name"] == "Example Survey"
        assert ds.attrs["project"] == "example" and "a DEM provider" in ds.attrs["acknowledgement"]
    root = ET.fromstring(written["hazard.qgs"].read_text(encoding="utf-8").split("\n", 1)[1])
    (hillshade,) = [layer for layer in root.findall("projectlayers/maplayer")
                    if layer.find("pipe/rasterrenderer").get("type") == "hillshade"]
    assert hillshade.findtext("datasource") == "../inputs/dem.tif"
    assert (written["hazard.qgs"].parent / "../inputs/dem.tif").resolve() == dem.resolve()


# ---------------------------------------------------------------- CF-valid NetCDF (issue 21 item 2)
def cf_errors(path: Path, version: str = "cf:1.8", strict: bool = True) -> list[str]:
    """The messages of the failed high-priority checks (errors) of the IOOS compliance checker's CF suite.

    Its standard-name table ships with the package; a file without ``standard_name_vocabulary``
    is checked against it offline. ``strict``: a check that crashed is a failure too.
    """
    import warnings

    with warnings.catch_warnings():  # its deprecated SOS checkers warn when loaded
        warnings.simplefilter("ignore", DeprecationWarning)
        from compliance_checker.base import BaseCheck
        from compliance_checker.runner import CheckSuite

        suite = CheckSuite()
        suite.load_all_available_checkers()
    results, crashed = suite.run_all(suite.load_dataset(str(path)), [version], skip_checks=[])[version]
    assert not (strict and crashed), crashed
    failed = [r for r in results if r.weight == BaseCheck.HIGH
              and (r.value[0] < r.value[1] if isinstance(r.value, tuple) else not r.value)]
    return [f"{r.name}: {message}" for r in failed for message in r.msgs]


@pytest.mark.parametrize("name", ["hazard.nc", "hazard_diagnostics.nc"])
def test_the_cf_checker_finds_no_error(products: dict[str, Path], name: str) -> None:
    assert cf_errors(products[name]) == []


def test_the_cf_checker_finds_the_errors_of_a_plain_netcdf(tmp_path: Path) -> None:
    """The checker is awake: the predictions written as they are (x/y with fill values) fail it."""
    errors = cf_errors(export.write_netcdf(predictions(), tmp_path / "predictions.nc"), strict=False)
    assert any("'x' must not have the _FillValue" in error for error in errors)


def test_user_and_diagnostic_products_hold_every_variable_once(products: dict[str, Path]) -> None:
    source = {str(name) for name in predictions().data_vars}
    with xr.open_dataset(products["hazard.nc"]) as user, xr.open_dataset(products["hazard_diagnostics.nc"]) as diag:
        held = [{str(n) for n in ds.data_vars} - {"time_bnds", "spatial_ref"} for ds in (user, diag)]
        assert held[0] == {"susceptibility", "density", "hazard", "valid", "decision_threshold"}
        assert held[1] == {"susceptibility_uncalibrated", "observed_density", "presence", "test", "windows",
                           "true_probability", "true_density_given_occurrence", "true_hazard"}
        assert held[0] | held[1] == source and not held[0] & held[1]
        assert user.attrs["title"] != diag.attrs["title"]


def test_acdd_time_and_space_coverage(products: dict[str, Path]) -> None:
    from pyproj import Transformer

    with xr.open_dataset(products["hazard.nc"]) as ds:
        attrs = ds.attrs
    assert attrs["time_coverage_start"] == iso(STARTS[0]) and attrs["time_coverage_end"] == iso(ENDS[-1])
    corners_x = [X0 - 500.0, X0 - 500.0 + 1000.0 * N_X]
    corners_y = [Y0 + 500.0 - 1000.0 * N_Y, Y0 + 500.0]
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(
        [x for x in corners_x for _ in corners_y], [y for _ in corners_x for y in corners_y])
    assert attrs["geospatial_lat_min"] == pytest.approx(min(lat), abs=1e-5)
    assert attrs["geospatial_lat_max"] == pytest.approx(max(lat), abs=1e-5)
    assert attrs["geospatial_lon_min"] == pytest.approx(min(lon), abs=1e-5)
    assert attrs["geospatial_lon_max"] == pytest.approx(max(lon), abs=1e-5)
    assert attrs["geospatial_bounds_crs"] == "EPSG:4326" and attrs["geospatial_bounds"].startswith("POLYGON ((")
    assert {"summary", "keywords", "date_created", "id", "product_version"} <= set(attrs)


@pytest.mark.slow
def test_products_open_styled_in_headless_qgis(products: dict[str, Path]) -> None:
    """Where a QGIS with Python bindings is installed (Debian's python3-qgis), open every GeoTIFF (its
    style applied) and the project (every layer valid, on its slice's time range)."""
    import subprocess

    python = "/usr/bin/python3"
    if not Path(python).exists() or subprocess.run([python, "-c", "import qgis.core"], capture_output=True).returncode:
        pytest.skip("no QGIS Python bindings (apt-get install python3-qgis)")
    script = Path(__file__).with_name("qgis_open_products.py")
    done = subprocess.run([python, str(script), str(products["hazard.qgs"].parent)], capture_output=True, text=True,
                          timeout=300, env={"QT_QPA_PLATFORM": "offscreen", "HOME": str(products["hazard.qgs"].parent)})
    assert done.returncode == 0, done.stderr[-2000:]
    opened = json.loads(done.stdout.strip().splitlines()[-1])
    for name in TIFS:
        layer = opened["files"][f"{name}.tif"]
        assert layer["valid"] and layer["band"] == 1, name
        assert layer["legend"] == styles.scheme_for(name).labels(), name
    project = opened["project"]
    assert project["read"] and project["crs"] == "EPSG:32645" and project["layers"] == len(TIFS) * len(LABELS)
    assert project["all_valid"] and project["time_range"] == [STARTS[0], ENDS[-1]]
    assert project["legend_resolved"]  # every legend entry is a loaded layer (QGIS kept the ids)
    assert project["shown"] == [f"hazard {label}" for label in sorted(LABELS)]  # only hazard is switched on
    assert sorted(project["ranges"]["hazard"]) == [[start, end] for start, end in zip(STARTS, ENDS, strict=True)]


def test_catalog_attributes_read_either_spelling_of_the_licence() -> None:
    catalog = fake_catalog(Path("dem.tif"))
    catalog.raw = {"license": "CC0-1.0"}
    assert export.catalog_attributes(catalog) == {  # type: ignore[arg-type]
        "license": "CC0-1.0", "project": "example", "acknowledgement": "Input data: a DEM provider"}
    assert export.catalog_attributes(None) == {}


# ---------------------------------------------------------------- a run's own files, stored by time
def test_run_files_are_stored_by_time_and_read_back_by_slice(tmp_path: Path) -> None:
    source = predictions()
    path = export.write_run_netcdf(source, tmp_path / "predictions.nc")
    with xr.open_dataset(path, decode_coords="all") as ds:
        assert ds["hazard"].dims == ("time", "y", "x") and "slice" not in ds.dims
        np.testing.assert_array_equal(ds["time"].values, np.array(STARTS, dtype="datetime64[ns]"))
        np.testing.assert_array_equal(ds["time_bnds"].values[:, 1], np.array(ENDS, dtype="datetime64[ns]"))
        assert ds["time"].encoding["bounds"] == "time_bnds" and list(ds["slice_label"].values) == LABELS
        assert "slice_label" in ds.coords and ds.rio.crs.to_epsg() == 32645
        assert str(ds.sel(time="2015-06-15")["slice_label"].values) == "2015-post"  # sel by date works
        np.testing.assert_array_equal(ds["hazard"].sel(time="2015-11-15").values, source["hazard"].values[2])
    back = export.open_predictions(path)
    assert back["hazard"].dims == ("slice", "y", "x") and list(back["slice"].values) == LABELS
    np.testing.assert_array_equal(back["slice_end"].values, np.array(ENDS, dtype="datetime64[ns]"))
    assert back.rio.crs.to_epsg() == 32645
    for name in source.data_vars:
        np.testing.assert_array_equal(back[name].values, source[name].values, err_msg=str(name))
    by_time = export.open_predictions(path, dims="time")
    assert by_time.sizes["time"] == 3 and list(by_time["slice_label"].values) == LABELS


def test_older_run_files_by_slice_still_read(tmp_path: Path) -> None:
    source = predictions()
    path = export.write_netcdf(source, tmp_path / "predictions.nc")  # the layout before files were by time
    back = export.open_predictions(path)
    assert list(back["slice"].values) == LABELS
    np.testing.assert_array_equal(back["hazard"].values, source["hazard"].values)
    assert export.open_predictions(path, dims="time")["hazard"].dims == ("time", "y", "x")


def test_a_file_neither_by_time_nor_by_slice_is_refused(tmp_path: Path) -> None:
    path = export.write_netcdf(predictions().rename(slice="period"), tmp_path / "predictions.nc")
    with pytest.raises(GridMismatchError, match="neither time slices nor a slice dimension") as caught:
        export.open_predictions(path)
    assert "hazard predict" in str(caught.value) and "period" in str(caught.value)

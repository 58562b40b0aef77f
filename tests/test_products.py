"""Products: COG GeoTIFFs, the CF-1.8 NetCDF and the checksummed manifest (hazardcore.export)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from hazardcore import export, integrity

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
    expected = {f"{name}.tif" for name in EXPECTED_COGS} | {"predicted_occurrence.tif", "hazard.nc", "manifest.json"}
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


def test_masks_and_extra_floats_are_not_cogs(tmp_path: Path) -> None:
    written = export.write_products(predictions(with_truth=False), tmp_path, {})
    assert {p for p in written if p.endswith(".tif")} == {"susceptibility.tif", "density.tif", "hazard.tif",
                                                          "observed_density.tif", "predicted_occurrence.tif"}


def test_cf_netcdf_time_bounds_and_crs(products: dict[str, Path]) -> None:
    with xr.open_dataset(products["hazard.nc"], decode_coords="all") as ds:
        assert ds.attrs["Conventions"] == "CF-1.8"
        assert {"title", "institution", "source", "history", "references"} <= set(ds.attrs)
        assert ds.attrs["run_id"] == "abc123"
        np.testing.assert_array_equal(ds["time"].values, np.array(STARTS, dtype="datetime64[ns]"))
        assert ds["time"].encoding["bounds"] == "time_bnds"  # decode_coords="all" moves it to encoding
        np.testing.assert_array_equal(ds["time_bnds"].values,
                                      np.array(list(zip(STARTS, ENDS, strict=True)), dtype="datetime64[ns]"))
        assert list(ds["slice_label"].values) == LABELS
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
        assert raw["valid"].dtype == np.uint8
        assert list(raw["valid"].attrs["flag_values"]) == [0, 1]
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

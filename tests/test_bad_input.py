"""Every bad input of the foundation issue gets its own clear error; none is modified."""

from pathlib import Path

import builders
import numpy as np
import pandas as pd
import pytest
import rioxarray
import xarray as xr

from hazardcore import export
from hazardcore.catalog import load_catalog
from hazardcore.cli import main
from hazardcore.errors import (
    CatalogError,
    CoverageError,
    CRSError,
    InvalidValueError,
    InventoryError,
    MissingFileError,
)
from hazardcore.prepare import prepare


def rewrite_raster(path: Path, edit, nodata: float, crs: str | None = builders.CRS) -> None:  # type: ignore[no-untyped-def]
    da = rioxarray.open_rasterio(path).load()
    values = edit(da.values.astype("float32"))
    out = builders.raster(values, da["x"].values, da["y"].values, crs=crs)
    export.write_geotiff(out, path, nodata=nodata)


def test_missing_file(region_copy: Path) -> None:
    (region_copy.parent / "pga_aftershock.tif").unlink()
    with pytest.raises(MissingFileError, match="layer `pga` points to a missing file"):
        load_catalog(region_copy)


def test_missing_catalog_and_key(tmp_path: Path, region_copy: Path) -> None:
    with pytest.raises(MissingFileError, match="catalog file not found"):
        load_catalog(tmp_path / "nope.yaml")
    builders.edit_catalog(region_copy, lambda c: c["grid"].pop("n_rows"))
    with pytest.raises(CatalogError, match="missing key `n_rows` in grid"):
        load_catalog(region_copy)


def test_dem_without_crs(region_copy: Path, tmp_path: Path) -> None:
    rewrite_raster(region_copy.parent / "dem.tif", lambda v: v, -9999.0, crs=None)
    builders.edit_catalog(region_copy, lambda c: c["layers"]["dem"].pop("crs"))
    with pytest.raises(CRSError, match=r"dem\.tif: layer has no CRS"):
        prepare(region_copy, tmp_path / "work")


def test_dem_crs_contradicts_catalog(region_copy: Path, tmp_path: Path) -> None:
    builders.edit_catalog(region_copy, lambda c: c["layers"]["dem"].update(crs="EPSG:32644"))
    with pytest.raises(CRSError, match="file CRS differs from the catalog's"):
        prepare(region_copy, tmp_path / "work")


def test_dem_not_covering_grid(region_copy: Path, tmp_path: Path) -> None:
    path = region_copy.parent / "dem.tif"
    da = rioxarray.open_rasterio(path).load().isel(x=slice(0, 200))
    export.write_geotiff(da, path, nodata=-9999.0)
    with pytest.raises(CoverageError, match=r"dem\.tif: layer does not cover the grid"):
        prepare(region_copy, tmp_path / "work")


def test_nodata_hole_is_masked_and_counted(region_copy: Path, tmp_path: Path) -> None:
    def punch(values: np.ndarray) -> np.ndarray:
        values[0, 132:138, 132:138] = -9999.0  # inner pixels 100..105: inside cell (3, 3)
        return values

    rewrite_raster(region_copy.parent / "dem.tif", punch, -9999.0)
    summary = prepare(region_copy, tmp_path / "work")
    assert summary["masked_cells"] == [1, 1, 1]
    assert summary["samples_with_valid_cells"] == 15


def test_undeclared_nan_is_an_error(region_copy: Path, tmp_path: Path) -> None:
    def poison(values: np.ndarray) -> np.ndarray:
        values[0, 50, 50] = np.nan
        return values

    path = region_copy.parent / "dem.tif"
    da = rioxarray.open_rasterio(path).load()
    da.copy(data=poison(da.values.astype("float32"))).rio.write_nodata(-9999.0).rio.to_raster(path)
    with pytest.raises(InvalidValueError, match="1 NaN values in a layer whose nodata is -9999"):
        prepare(region_copy, tmp_path / "work")


def test_inventory_dates_not_increasing(region_copy: Path, tmp_path: Path) -> None:
    def swap(c: dict) -> None:  # type: ignore[type-arg]
        dates = c["layers"]["inventory"]["dates"]
        dates[1], dates[2] = dates[2], dates[1]

    builders.edit_catalog(region_copy, swap)
    rewrite_raster(region_copy.parent / "inventory.tif", lambda v: v, -1.0)  # bands without dated descriptions
    with pytest.raises(InventoryError, match="inventory dates are not increasing"):
        prepare(region_copy, tmp_path / "work")


@pytest.mark.parametrize(("value", "what"), [(-5.0, "negative"), (2.0e6, "above the cell area")])
def test_inventory_impossible_values(region_copy: Path, tmp_path: Path, value: float, what: str) -> None:
    def corrupt(values: np.ndarray) -> np.ndarray:
        values[2, 4, 4] = value
        return values

    rewrite_raster(region_copy.parent / "inventory.tif", corrupt, -1.0)
    with pytest.raises(InvalidValueError, match=what):
        prepare(region_copy, tmp_path / "work")


def test_rainfall_not_covering_a_slice(region_copy: Path, tmp_path: Path) -> None:
    path = region_copy.parent / "rain.nc"
    with xr.open_dataset(path, decode_coords="all") as ds:
        short = ds.sel(time=ds["time"] < pd.Timestamp("2016-01-01")).load()
    export.write_netcdf(short, path)
    with pytest.raises(CoverageError, match="rainfall does not cover slice 2016-pre"):
        prepare(region_copy, tmp_path / "work")


def test_cli_reports_bad_input_without_traceback(region_copy: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (region_copy.parent / "rain.nc").unlink()
    assert main(["prepare", str(region_copy), "--out", str(tmp_path / "work"), "--quiet"]) == 3  # a data error
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "rain.nc" in err and "Traceback" not in err

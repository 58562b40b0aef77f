"""The published table of bad inputs (docs/bad_inputs.md) is what users really see.

Each case below builds one bad input in a temporary folder (a tiny region written by
``builders.write_region``, then damaged), calls the public function a user's command reaches,
and must get a :class:`~hazardcore.errors.HazardcoreError` subclass whose message names the
problem. The table in ``docs/bad_inputs.md`` is generated from these cases (temporary paths
shown as ``<tmp>``); the last test fails when the table and the messages differ. Regenerate it
with ``HAZARD_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_bad_input_table.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import builders
import numpy as np
import pandas as pd
import pytest
import rioxarray
import torch
import xarray as xr

from hazardcore import export
from hazardcore.errors import HazardcoreError

TABLE = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"


@dataclass(frozen=True)
class Case:
    area: str
    bad_input: str
    make: Callable[[Path], object]  # builds the bad input under a folder and calls the public function
    expect: str  # a phrase the message must contain


def region(tmp: Path) -> Path:
    return builders.write_region(tmp / "region")


def prepare_region(catalog: Path) -> object:
    from hazardcore.prepare import prepare

    return prepare(catalog, catalog.parent.parent / "work")


def load(catalog: Path) -> object:
    from hazardcore.catalog import load_catalog

    return load_catalog(catalog)


def rewrite(path: Path, edit: Callable[[np.ndarray], np.ndarray], nodata: float, crs: str | None = builders.CRS,
            keep_x: slice = slice(None)) -> None:
    da = rioxarray.open_rasterio(path).load().isel(x=keep_x)
    out = builders.raster(edit(da.values.astype("float32")), da["x"].values, da["y"].values, crs=crs)
    export.write_geotiff(out, path, nodata=nodata)


def edited(tmp: Path, edit: Callable[[dict], object]) -> Path:  # type: ignore[type-arg]
    return builders.edit_catalog(region(tmp), edit)


def set_value(values: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    values[index] = value
    return values


# ---------------------------------------------------------------- catalog
def missing_catalog(tmp: Path) -> object:
    return load(tmp / "catalog.yaml")


def missing_key(tmp: Path) -> object:
    return load(edited(tmp, lambda c: c["grid"].pop("n_rows")))


def missing_layer_file(tmp: Path) -> object:
    catalog = region(tmp)
    (catalog.parent / "pga_aftershock.tif").unlink()
    return load(catalog)


def unknown_units(tmp: Path) -> object:
    return load(edited(tmp, lambda c: c["layers"]["dem"].update(units="furlongs")))


def geographic_grid(tmp: Path) -> object:
    return load(edited(tmp, lambda c: c["grid"].update(crs="EPSG:4326")))


# ---------------------------------------------------------------- rasters
def dem_without_crs(tmp: Path) -> object:
    catalog = region(tmp)
    rewrite(catalog.parent / "dem.tif", lambda v: v, -9999.0, crs=None)
    builders.edit_catalog(catalog, lambda c: c["layers"]["dem"].pop("crs"))
    return prepare_region(catalog)


def dem_crs_contradicts(tmp: Path) -> object:
    return prepare_region(edited(tmp, lambda c: c["layers"]["dem"].update(crs="EPSG:32644")))


def dem_not_covering(tmp: Path) -> object:
    catalog = region(tmp)
    rewrite(catalog.parent / "dem.tif", lambda v: v, -9999.0, keep_x=slice(0, 200))
    return prepare_region(catalog)


def undeclared_nan(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "dem.tif"
    da = rioxarray.open_rasterio(path).load()
    da.copy(data=set_value(da.values.astype("float32"), (0, 50, 50), np.nan)).rio.write_nodata(-9999.0).rio.to_raster(
        path)
    return prepare_region(catalog)


# ---------------------------------------------------------------- triggers
def rain_not_covering_a_slice(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "rain.nc"
    with xr.open_dataset(path, decode_coords="all") as ds:
        short = ds.sel(time=ds["time"] < pd.Timestamp("2016-01-01")).load()
    export.write_netcdf(short, path)
    return prepare_region(catalog)


def rain_variable_missing(tmp: Path) -> object:
    return prepare_region(edited(tmp, lambda c: c["layers"]["rainfall"].update(variable="precipitation")))


# ---------------------------------------------------------------- files whose own metadata lies (issue 22)
def write_tagged(path: Path, values: np.ndarray, dtype: str, nodata: float | None, units: str | None = None,
                 descriptions: list[str] | None = None) -> None:
    """Rewrite a GeoTIFF of the region with rasterio, as real files carry their tags (band unit, descriptions)."""
    import rasterio

    with rasterio.open(path) as src:
        profile = {"driver": "GTiff", "width": src.width, "height": src.height, "count": len(values),
                   "dtype": dtype, "crs": src.crs, "transform": src.transform, "nodata": nodata}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype(dtype))
        for band in range(1, len(values) + 1):
            if units:
                dst.set_band_unit(band, units)
            if descriptions:
                dst.set_band_description(band, descriptions[band - 1])


def stored(path: Path) -> np.ndarray:
    return rioxarray.open_rasterio(path).values.astype("float64")


def pga_tagged_percent_g(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "pga_mainshock.tif"
    write_tagged(path, stored(path) * 100.0, "float32", -1.0, units="%g")
    return prepare_region(catalog)


def rain_units_attribute_contradicts(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "rain.nc"
    with xr.open_dataset(path) as ds:
        rain = ds.load()
    rain["precip"] = (rain["precip"] / 86400.0).assign_attrs(units="kg m-2 s-1")
    rain.to_netcdf(path)
    return prepare_region(catalog)


def nodata_tag_contradicts(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "dem.tif"
    write_tagged(path, stored(path), "float32", -32768.0)
    return prepare_region(catalog)


def band_dates_contradict(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "inventory.tif"
    write_tagged(path, stored(path), "float32", -1.0,
                 descriptions=["2015-04-01", "2015-07-15", "2015-11-15", "2016-05-15"])
    return prepare_region(catalog)


def undeclared_float32_minimum(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "dem.tif"
    values = stored(path)
    values[0, :3] = -3.4028234663852e38  # a float32 minimum rounded by a float64 writer
    write_tagged(path, values, "float64", None)
    return prepare_region(builders.edit_catalog(catalog, lambda c: c["layers"]["dem"].pop("nodata")))


def undeclared_minus_9999_in_rain(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "rain.nc"
    with xr.open_dataset(path) as ds:
        rain = ds.load()
    rain["precip"][100:103] = -9999.0
    rain.to_netcdf(path)
    return prepare_region(catalog)


def pga_nodata_at_the_edge(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "pga_mainshock.tif"
    values = stored(path)
    values[:, :, :6] = -1.0
    write_tagged(path, values, "float32", -1.0)
    return prepare_region(catalog)


def dem_in_centimetres(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "dem.tif"
    write_tagged(path, stored(path) * 100.0, "float32", -9999.0)
    return prepare_region(catalog)


def pga_percent_g_declared_g(tmp: Path) -> object:
    catalog = region(tmp)
    path = catalog.parent / "pga_mainshock.tif"
    write_tagged(path, stored(path) * 100.0, "float32", -1.0)
    return prepare_region(catalog)


def rain_with_time(catalog: Path, offsets: np.ndarray, units: str, calendar: str) -> Path:
    path = catalog.parent / "rain.nc"
    with xr.open_dataset(path) as ds:
        rain = ds.load().isel(time=slice(0, len(offsets)))
    rain = rain.assign_coords(time=("time", offsets, {"units": units, "calendar": calendar}))
    rain.to_netcdf(path, encoding={"time": {"dtype": "float64"}})
    return catalog


def rain_in_360_day_calendar(tmp: Path) -> object:
    return prepare_region(rain_with_time(region(tmp), np.arange(400.0), "days since 2015-04-02", "360_day"))


def rain_in_noleap_calendar(tmp: Path) -> object:
    days = pd.date_range("2015-04-02", "2016-05-15", freq="D")
    days = days[~((days.month == 2) & (days.day == 29))]
    offsets = np.array([(d - pd.Timestamp("2015-01-01")).days for d in days], dtype="float64")
    offsets[days >= pd.Timestamp("2016-03-01")] -= 1
    return prepare_region(rain_with_time(region(tmp), offsets, "days since 2015-01-01", "noleap"))


def rain_with_a_duplicate_day(tmp: Path) -> object:
    offsets = np.arange(410.0)
    offsets[200] = 199.5
    return prepare_region(rain_with_time(region(tmp), offsets, "days since 2015-04-02", "standard"))


def tab_in_catalog(tmp: Path) -> object:
    catalog = region(tmp)
    catalog.write_text(catalog.read_text().replace("\n  dem:", "\n\tdem:", 1))
    return load(catalog)


def damaged_cube(tmp: Path) -> object:
    from hazardcore.cube import PreparedCube

    prepare_region(region(tmp))
    chunk = sorted((tmp / "work" / "prepared.zarr" / "static").rglob("c/*/*/*"))[0]
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x01
    chunk.write_bytes(bytes(data))
    return PreparedCube.open(tmp / "work")


# ---------------------------------------------------------------- inventories
def dates_not_increasing(tmp: Path) -> object:
    def swap(c: dict) -> None:  # type: ignore[type-arg]
        dates = c["layers"]["inventory"]["dates"]
        dates[1], dates[2] = dates[2], dates[1]

    return prepare_region(undated_bands(edited(tmp, swap)))


def dates_not_fitting_slices(tmp: Path) -> object:
    return prepare_region(undated_bands(edited(tmp, lambda c: c["layers"]["inventory"]["dates"].pop(1))))


def undated_bands(catalog: Path) -> Path:
    """The inventory rewritten without band descriptions (dated ones would contradict the edited `dates:`)."""
    rewrite(catalog.parent / "inventory.tif", lambda v: v, -1.0)
    return catalog


def negative_area(tmp: Path) -> object:
    catalog = region(tmp)
    rewrite(catalog.parent / "inventory.tif", lambda v: set_value(v, (2, 4, 4), -5.0), -1.0)
    return prepare_region(catalog)


def area_above_cell(tmp: Path) -> object:
    catalog = region(tmp)
    rewrite(catalog.parent / "inventory.tif", lambda v: set_value(v, (2, 4, 4), 2.0e6), -1.0)
    return prepare_region(catalog)


# ---------------------------------------------------------------- configurations
def negative_epochs(tmp: Path) -> object:
    from hazardcore.config import TrainConfig

    return TrainConfig.from_dict({"max_epochs_susceptibility": -3})


def unknown_setting(tmp: Path) -> object:
    from hazardcore.config import TrainConfig

    return TrainConfig.from_dict({"epochs": 3})


def unknown_encoder(tmp: Path) -> object:
    from hazardcore.config import ModelConfig
    from hazardcore.models import build_model

    return build_model(ModelConfig(encoder_name="resnet1000"))


def patch_not_divisible(tmp: Path) -> object:
    from hazardcore.config import ModelConfig
    from hazardcore.models import build_model

    return build_model(ModelConfig(cell_px=12))


def decoder_widths_mismatch(tmp: Path) -> object:
    from hazardcore.config import ModelConfig
    from hazardcore.models import build_model

    return build_model(ModelConfig(encoder_depth=4, decoder_channels=[64, 32]))


def set_without_value(tmp: Path) -> object:
    from hazardcore.cli import apply_overrides
    from hazardcore.config import demo_configs

    return apply_overrides(*demo_configs(), ["samples_per_epoch"])


def stride_not_dividing(tmp: Path) -> object:
    from hazardcore.infer import window_origins

    return window_origins(32, 4, 3)


# ---------------------------------------------------------------- checkpoints and runs
def small_checkpoint(path: Path) -> Path:
    from hazardcore.checkpoint import Checkpoint, save_checkpoint

    return save_checkpoint(Checkpoint({}, {}, "hazard", {"w": torch.zeros(1000)}, [], {}, []), path)


def corrupted_checkpoint(tmp: Path) -> object:
    from hazardcore.checkpoint import load_checkpoint
    from hazardcore.integrity import checked_path

    path = tmp / "model.pt"
    with checked_path(path) as written:  # recorded in the manifest, but not a checkpoint
        written.write_bytes(b"not a checkpoint" * 64)
    return load_checkpoint(path)


def truncated_checkpoint(tmp: Path) -> object:
    from hazardcore.checkpoint import load_checkpoint

    path = small_checkpoint(tmp / "model.pt")
    path.write_bytes(path.read_bytes()[:500])
    return load_checkpoint(path)


def bit_flipped_checkpoint(tmp: Path) -> object:
    from hazardcore.checkpoint import load_checkpoint

    path = small_checkpoint(tmp / "model.pt")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    return load_checkpoint(path)


def checkpoint_without_manifest(tmp: Path) -> object:
    from hazardcore.checkpoint import load_checkpoint

    path = small_checkpoint(tmp / "a" / "model.pt")
    return load_checkpoint(path.rename(tmp / "model.pt"))


def damaged_predictions(tmp: Path) -> object:
    import xarray as xr

    from hazardcore.export import open_predictions, write_netcdf

    path = write_netcdf(xr.Dataset({"logit": (("y", "x"), np.zeros((8, 8), "float32"))}), tmp / "predictions.nc")
    path.write_bytes(path.read_bytes()[:-100])
    return open_predictions(path)


def checkpoint_channels_mismatch(tmp: Path) -> object:
    from hazardcore.config import ModelConfig
    from hazardcore.models import check_input

    return check_input(ModelConfig(), ["slope"] * 12, (12, 128, 128))


def no_prepared_data(tmp: Path) -> object:
    from hazardcore.cube import PreparedCube

    return PreparedCube.open(tmp)


def no_trained_run(tmp: Path) -> object:
    from hazardcore.pipeline import find_run

    (tmp / "runs").mkdir()
    return find_run(tmp, None, "temporal")


def untrained_run(tmp: Path) -> object:
    from hazardcore.pipeline import predict_run
    from hazardcore.runstatus import recording

    run = tmp / "runs" / "0123456789"
    run.mkdir(parents=True)
    try:
        with recording(run, "train"):
            raise MemoryError("out of memory in epoch 3")
    except MemoryError:
        pass
    return predict_run(tmp, run)


def dashboard_path_outside_root(tmp: Path) -> object:
    from dashboard.state import DashboardState

    (tmp / "root").mkdir()
    return DashboardState(root=tmp / "root").resolve("/etc/passwd")


CASES = [
    Case("catalog", "catalog file missing", missing_catalog, "catalog file not found"),
    Case("catalog", "a required key missing (`grid.n_rows`)", missing_key, "missing key `n_rows`"),
    Case("catalog", "a layer's file missing", missing_layer_file, "points to a missing file"),
    Case("catalog", "unknown units of a layer (`furlongs`)", unknown_units, "furlongs"),
    Case("catalog", "grid in a geographic CRS", geographic_grid, "projected CRS"),
    Case("catalog", "a tab in the catalog's indentation", tab_in_catalog, "YAML forbids tabs"),
    Case("rasters", "DEM without a CRS (none in the file or the catalog)", dem_without_crs, "layer has no CRS"),
    Case("rasters", "DEM CRS contradicting the catalog", dem_crs_contradicts, "file CRS differs"),
    Case("rasters", "DEM not covering the grid", dem_not_covering, "does not cover the grid"),
    Case("rasters", "NaN in a raster whose nodata is another value", undeclared_nan, "NaN values"),
    Case("triggers", "rainfall ending before the last slice", rain_not_covering_a_slice, "does not cover slice"),
    Case("triggers", "rainfall variable not in the NetCDF file", rain_variable_missing, "precipitation"),
    Case("file metadata", "PGA raster whose band unit is % g, declared `units: g`", pga_tagged_percent_g,
         "the file's own unit contradicts the catalog's `units:`"),
    Case("file metadata", "NetCDF `units` attribute contradicting the catalog", rain_units_attribute_contradicts,
         "'kg m-2 s-1' in the file's metadata"),
    Case("file metadata", "a nodata tag differing from the catalog's `nodata:`", nodata_tag_contradicts,
         "the file's nodata contradicts the catalog's `nodata:`"),
    Case("file metadata", "band descriptions holding other dates than `dates:`", band_dates_contradict,
         "band descriptions contradict the catalog's `dates:`"),
    Case("impossible values", "undeclared float32 minimum (rounded, in a float64 DEM)", undeclared_float32_minimum,
         "a nodata sentinel the catalog does not declare"),
    Case("impossible values", "undeclared −9999 in the rainfall", undeclared_minus_9999_in_rain,
         "declare `nodata: -9999.0`"),
    Case("impossible values", "PGA nodata at the field's edge inside the grid", pga_nodata_at_the_edge,
         "nodata pixels of the PGA field lie on or next to the grid"),
    Case("impossible values", "DEM in centimetres declared `units: m`", dem_in_centimetres,
         "values impossible for dem"),
    Case("impossible values", "PGA in % g declared `units: g` (no unit in the file)", pga_percent_g_declared_g,
         "values impossible for pga"),
    Case("time", "rainfall in a CF `360_day` calendar", rain_in_360_day_calendar, "`360_day` calendar"),
    Case("time", "rainfall in a CF `noleap` calendar across 29 February 2016", rain_in_noleap_calendar,
         "first 2016-02-29"),
    Case("time", "a day twice in the rainfall", rain_with_a_duplicate_day, "a day appears twice"),
    Case("inventories", "mapping dates not increasing", dates_not_increasing, "not increasing"),
    Case("inventories", "mapping dates not fitting the slices", dates_not_fitting_slices,
         "does not end on a mapping date"),
    Case("inventories", "negative mapped area", negative_area, "negative"),
    Case("inventories", "mapped area above the cell's area", area_above_cell, "above the cell area"),
    Case("configurations", "negative epochs", negative_epochs, "max_epochs_susceptibility"),
    Case("configurations", "unknown setting", unknown_setting, "unknown TrainConfig keys"),
    Case("configurations", "unknown encoder", unknown_encoder, "resnet1000"),
    Case("configurations", "patch size not divisible by the encoder's downsampling", patch_not_divisible,
         "not divisible by 2 ** encoder_depth"),
    Case("configurations", "decoder widths not one per encoder stage", decoder_widths_mismatch,
         "one width per encoder stage"),
    Case("configurations", "`hazard train --set` without a value", set_without_value, "KEY=VALUE"),
    Case("configurations", "prediction stride not dividing the patch", stride_not_dividing, "stride must divide"),
    Case("checkpoints", "a file that is not a checkpoint", corrupted_checkpoint, "cannot be read"),
    Case("checkpoints", "a truncated checkpoint", truncated_checkpoint, "file is truncated"),
    Case("checkpoints", "a checkpoint with one bit flipped", bit_flipped_checkpoint, "file is corrupted"),
    Case("checkpoints", "a checkpoint moved away from its manifest", checkpoint_without_manifest,
         "no checksum recorded"),
    Case("products", "truncated predictions.nc", damaged_predictions, "file is truncated"),
    Case("checkpoints", "checkpoint trained on other channels", checkpoint_channels_mismatch, "channels"),
    Case("runs", "predicting before `hazard prepare`", no_prepared_data, "no prepared data"),
    Case("runs", "no finished run with the requested split", no_trained_run,
         "no finished run trained with --split temporal"),
    Case("runs", "predicting with a run whose training failed", untrained_run, "run is not trained"),
    Case("runs", "a prepared cube with a damaged chunk", damaged_cube, "file is corrupted"),
    Case("dashboard", "a path outside the dashboard's root", dashboard_path_outside_root, "outside the dashboard"),
]


def message_of(case: Case, tmp: Path) -> tuple[str, str]:
    """(error class name, message) of a case; the temporary folder, times and hashes shown as ``<tmp>`` etc.

    The sizes of a prepared cube's compressed chunks are shown as ``<n> bytes``: they moved by 2 bytes
    with the tests run before in the same process (seen with two pytest-xdist workers).
    """
    with pytest.raises(HazardcoreError) as info:
        case.make(tmp)
    text = str(info.value).replace(str(tmp.resolve()), "<tmp>").replace(str(tmp), "<tmp>")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", "<time>", text)
    if "prepared.zarr/" in text:
        text = re.sub(r"\d+ bytes", "<n> bytes", text)
    return type(info.value).__name__, re.sub(r"sha256 [0-9a-f]{16}…", "sha256 <hash>…", text)


def table(rows: list[tuple[Case, str, str]]) -> str:
    """The Markdown table of ``docs/bad_inputs.md``."""
    lines = ["# Bad inputs and the messages users see", "",
             "Generated by `tests/test_bad_input_table.py` (each row is a test: the input is built, the public "
             "function a command reaches is called, and this is the error it raises). `<tmp>` stands for the "
             "folder of the input. Errors are subclasses of `hazardcore.errors.HazardcoreError`; the `hazard` "
             "command prints them as `error: ...` without a traceback and exits with status 3 for an error of the "
             "data, 2 for a setting out of bounds (`ConfigError`) and 1 for the others (`hazard --help`).", "",
             "| # | area | bad input | error | message |", "|---|---|---|---|---|"]
    for i, (case, name, text) in enumerate(rows, 1):
        shown = text.replace("|", "\\|").replace("\n", "<br>")
        lines.append(f"| {i} | {case.area} | {case.bad_input} | `{name}` | {shown} |")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("case", CASES, ids=[c.make.__name__ for c in CASES])
def test_each_bad_input_gets_a_clear_error(case: Case, tmp_path: Path) -> None:
    _, text = message_of(case, tmp_path)
    assert case.expect in text


def test_the_published_table_is_what_users_see(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert len(CASES) >= 20 and len({c.area for c in CASES}) >= 6
    rows = []
    for case in CASES:
        tmp = tmp_path_factory.mktemp(case.make.__name__)
        rows.append((case, *message_of(case, tmp)))
    text = table(rows)
    if os.environ.get("HAZARD_UPDATE_DOCS"):
        TABLE.write_text(text, encoding="utf-8")
    assert TABLE.read_text(encoding="utf-8") == text, "docs/bad_inputs.md is stale: regenerate it (module doc)"

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


# ---------------------------------------------------------------- inventories
def dates_not_increasing(tmp: Path) -> object:
    def swap(c: dict) -> None:  # type: ignore[type-arg]
        dates = c["layers"]["inventory"]["dates"]
        dates[1], dates[2] = dates[2], dates[1]

    return prepare_region(edited(tmp, swap))


def dates_not_fitting_slices(tmp: Path) -> object:
    return prepare_region(edited(tmp, lambda c: c["layers"]["inventory"]["dates"].pop(1)))


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
    Case("rasters", "DEM without a CRS (none in the file or the catalog)", dem_without_crs, "layer has no CRS"),
    Case("rasters", "DEM CRS contradicting the catalog", dem_crs_contradicts, "file CRS differs"),
    Case("rasters", "DEM not covering the grid", dem_not_covering, "does not cover the grid"),
    Case("rasters", "NaN in a raster whose nodata is another value", undeclared_nan, "NaN values"),
    Case("triggers", "rainfall ending before the last slice", rain_not_covering_a_slice, "does not cover slice"),
    Case("triggers", "rainfall variable not in the NetCDF file", rain_variable_missing, "precipitation"),
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
    Case("dashboard", "a path outside the dashboard's root", dashboard_path_outside_root, "outside the dashboard"),
]


def message_of(case: Case, tmp: Path) -> tuple[str, str]:
    """(error class name, message) of a case; the temporary folder, times and hashes shown as ``<tmp>`` etc."""
    with pytest.raises(HazardcoreError) as info:
        case.make(tmp)
    text = str(info.value).replace(str(tmp.resolve()), "<tmp>").replace(str(tmp), "<tmp>")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", "<time>", text)
    return type(info.value).__name__, re.sub(r"sha256 [0-9a-f]{16}…", "sha256 <hash>…", text)


def table(rows: list[tuple[Case, str, str]]) -> str:
    """The Markdown table of ``docs/bad_inputs.md``."""
    lines = ["# Bad inputs and the messages users see", "",
             "Generated by `tests/test_bad_input_table.py` (each row is a test: the input is built, the public "
             "function a command reaches is called, and this is the error it raises). `<tmp>` stands for the "
             "folder of the input. Errors are subclasses of `hazardcore.errors.HazardcoreError`; the `hazard` "
             "command prints them as `error: ...` without a traceback and exits with status 2.", "",
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

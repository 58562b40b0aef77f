"""Typed options of catalog entries: every key checked when the catalog is loaded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import builders
import pytest

from hazardcore.catalog import load_catalog, open_rainfall
from hazardcore.catalog_options import NetCDFOptions, RasterOptions, accepted_keys, parse_options
from hazardcore.errors import CatalogError, MissingFileError


def test_options_are_typed_and_documentation_is_kept_apart(region_copy: Path) -> None:
    builders.edit_catalog(region_copy, lambda c: c["layers"]["dem"].update(description="SRTM", licence="CC0"))
    catalog = load_catalog(region_copy)
    inventory = catalog.layer("inventory")
    assert isinstance(inventory.options, RasterOptions)
    assert inventory.options.dates[0] == dt.date(2015, 4, 1) and inventory.options.cumulative
    assert catalog.layer("dem").about == {"description": "SRTM", "licence": "CC0"}
    rainfall = catalog.layer("rainfall")
    assert isinstance(rainfall.options, NetCDFOptions) and rainfall.options.variable == "precip"


def test_a_misspelt_key_is_refused_with_the_keys_the_format_reads(region_copy: Path) -> None:
    builders.edit_catalog(region_copy, lambda c: c["layers"]["rainfall"].update(varaible="precip"))
    with pytest.raises(CatalogError, match=r"layers\.rainfall has keys a NetCDF entry does not read") as caught:
        load_catalog(region_copy)
    assert "varaible" in str(caught.value) and "'variable'" in str(caught.value)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["layers"]["dem"].update(nodat=-9999), r"layers\.dem has keys .*: `nodat` \(did you mean `nodata`\?\)"),
    (lambda c: c["grid"].update(cell_size=1000), r"grid has keys .*: `cell_size` \(did you mean `cell_size_m`\?\)"),
    (lambda c: c["slices"][1].update(monsoon=1), r"slices\[1\] has keys .*: `monsoon` \(did you mean `monsoons`\?\)"),
    (lambda c: c["events"][0].update(magnitud=7), r"events\[0\] has keys .*: `magnitud` \(did you mean `magnitude`"),
    (lambda c: c["layers"]["dem"].update(zzz=1), r"layers\.dem has keys a GeoTIFF entry does not read: `zzz`\n"),
], ids=["layer option", "grid", "slice", "event", "nothing close"])
def test_an_unknown_key_is_refused_naming_the_closest_valid_one(region_copy: Path, edit: object, message: str) -> None:
    builders.edit_catalog(region_copy, edit)
    with pytest.raises(CatalogError, match=message):
        load_catalog(region_copy)


@pytest.mark.parametrize(("layer", "key", "value", "message"), [
    ("dem", "band", "three", "layers.dem.band has the wrong type"),
    ("inventory", "dates", "2015-04-01", "layers.inventory.dates has the wrong type"),
    ("inventory", "cumulative", False, "only cumulative area rasters are read"),
])
def test_values_of_the_wrong_type_are_refused_at_load(region_copy: Path, layer: str, key: str, value: object,
                                                      message: str) -> None:
    builders.edit_catalog(region_copy, lambda c: c["layers"][layer].update({key: value}))
    with pytest.raises(CatalogError, match=message):
        load_catalog(region_copy)


def test_readers_needs_are_checked_before_any_file_is_read(tmp_path: Path) -> None:
    source = tmp_path / "catalog.yaml"
    with pytest.raises(CatalogError, match="a point series needs its locations"):
        parse_options("PointSeriesCSV", {"path": "rain.csv"}, "layers.rainfall", source)
    with pytest.raises(CatalogError, match=r"layers\.rainfall\.spread is not one of its values"):
        parse_options("PointSeriesCSV", {"spread": "kriging"}, "layers.rainfall", source)
    with pytest.raises(MissingFileError, match=r"layers\.rainfall\.locations points to a missing file"):
        parse_options("PointSeriesCSV", {"locations": "none.csv"}, "layers.rainfall", source)
    with pytest.raises(CatalogError, match="one date or period column"):
        parse_options("GeoPackage", {"dates": ["2015-04-01"], "date_column": "d", "period_column": "p"},
                      "layers.inventory", source)
    with pytest.raises(CatalogError, match="a PointCSV entry needs its value column"):
        parse_options("PointCSV", {"columns": {"lon": "x", "lat": "y"}}, "layers.pga", source)
    with pytest.raises(CatalogError, match="names columns for unknown roles"):
        parse_options("PointCSV", {"columns": {"value": "PGA", "height": "z"}}, "layers.pga", source)
    assert parse_options("FancyFormat", {"whatever": 1}, "layers.dem", source) is None  # its reader refuses it
    assert "pattern" in accepted_keys(type(parse_options("ERDDAPCSV", {}, "layers.rainfall", source)))


def test_netcdf_rainfall_keeps_only_the_declared_days(region_copy: Path) -> None:
    full = open_rainfall(load_catalog(region_copy).layer("rainfall"))
    builders.edit_catalog(region_copy, lambda c: c["layers"]["rainfall"].update(start="2015-05-01",
                                                                                end="2015-05-31"))
    kept = open_rainfall(load_catalog(region_copy).layer("rainfall"))
    assert full.sizes["time"] > 31 and kept.sizes["time"] == 31
    assert str(kept["time"].values[0])[:10] == "2015-05-01" and str(kept["time"].values[-1])[:10] == "2015-05-31"


def test_a_grid_number_written_as_text_is_named(region_copy: Path) -> None:
    builders.edit_catalog(region_copy, lambda c: c["grid"].update(n_rows="thirty-two"))
    with pytest.raises(CatalogError, match=r"grid\.n_rows is not a whole number") as caught:
        load_catalog(region_copy)
    assert "thirty-two" in str(caught.value)
    builders.edit_catalog(region_copy, lambda c: c["grid"].update(n_rows="8", x_min="1.5e5"))
    assert load_catalog(region_copy).grid.n_rows == 8 and load_catalog(region_copy).grid.x_min == 150000.0

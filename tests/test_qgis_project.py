"""The QGIS project of a run's products (hazardcore.qgis_project)."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from hazardcore import qgis_project, styles

GRID = qgis_project.ProjectGrid('PROJCS["test"]', "EPSG:32645", (0.0, -2000.0, 3000.0, 0.0))
SLICES = [("a", dt.datetime(2015, 4, 25), dt.datetime(2015, 6, 15)),
          ("b", dt.datetime(2015, 6, 15), dt.datetime(2015, 11, 15))]


def group(name: str, visible: bool) -> qgis_project.ProductGroup:
    layers = tuple(qgis_project.SliceLayer(f"{name} {label}", band, start, end)
                   for band, (label, start, end) in enumerate(SLICES, start=1))
    return qgis_project.ProductGroup(f"{name} (%)", f"./{name}.tif", styles.scheme_for(name), layers, visible)


def project(dem: str | None = "../dem.tif") -> ET.Element:
    text = qgis_project.project_xml("run x", [group("hazard", True), group("density", False)], GRID, dem)
    assert text.startswith("<!DOCTYPE qgis")
    return ET.fromstring(text.split("\n", 1)[1])


def test_one_layer_per_product_and_slice_each_on_its_band_and_dates() -> None:
    root = project()
    layers = {layer.findtext("id"): layer for layer in root.findall("projectlayers/maplayer")}
    tree = [node.get("id") for node in root.iter("layer-tree-layer")]
    assert sorted(tree) == sorted(layers) and len(layers) == 2 * 2 + 1
    assert all(len(layer_id) > 10 for layer_id in layers)  # QGIS replaces a shorter id, orphaning the legend's
    hazard_b = layers["hazard_slice_002"]
    assert hazard_b.findtext("datasource") == "./hazard.tif" and hazard_b.findtext("provider") == "gdal"
    assert hazard_b.find("pipe/rasterrenderer").get("band") == "2"
    assert hazard_b.findtext("temporal/fixedRange/start") == "2015-06-15T00:00:00Z"
    assert hazard_b.findtext("temporal/fixedRange/end") == "2015-11-14T23:59:59Z"  # never beside the next slice
    assert root.findtext("ProjectTimeSettings/TemporalRange/start") == "2015-04-25T00:00:00Z"
    assert root.findtext("ProjectTimeSettings/TemporalRange/end") == "2015-11-14T23:59:59Z"


def test_only_the_visible_product_and_the_hillshade_are_switched_on() -> None:
    root = project()
    checked = {g.get("name"): g.get("checked") for g in root.findall("layer-tree-group/layer-tree-group")}
    assert checked == {"hazard (%)": "Qt::Checked", "density (%)": "Qt::Unchecked", "terrain": "Qt::Checked"}
    hillshade = [layer for layer in root.findall("projectlayers/maplayer") if layer.findtext("id") == "dem_hillshade"]
    assert hillshade[0].findtext("datasource") == "../dem.tif"
    assert hillshade[0].find("pipe/rasterrenderer").get("type") == "hillshade"
    assert hillshade[0].find("temporal") is None  # the terrain shows at every time


def test_paths_are_relative_and_the_crs_is_the_products() -> None:
    root = project(dem=None)
    assert root.findtext("properties/Paths/Absolute") == "false"
    assert root.findtext("properties/SpatialRefSys/ProjectionsEnabled") == "1"
    assert root.findtext("projectCrs/spatialrefsys/authid") == "EPSG:32645"
    assert not [layer for layer in root.findall("projectlayers/maplayer") if layer.findtext("id") == "dem_hillshade"]

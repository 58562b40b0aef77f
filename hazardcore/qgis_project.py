"""A QGIS project (``.qgs``, XML text) that opens a run's products, styled, on a time slider.

Each GeoTIFF product is a group of layers, one per time slice, each showing its band in
the product's class scheme (:mod:`hazardcore.styles`) with a fixed temporal range (the
slice's start to one second before its end, so that adjacent slices never show
together). QGIS's temporal controller then steps through the slices, which works from
QGIS 3.14 on without a per-band temporal mode. A hillshade of the DEM, when there is one,
lies under them (QGIS's own hillshade renderer: no file is derived). Paths are stored
relative to the project file. No IO: :mod:`hazardcore.export` writes the text.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from hazardcore.styles import QGIS_VERSION, ClassScheme, pipe_element

#: Opacity of the product layers over the hillshade (which shows the terrain through them).
OVER_HILLSHADE_OPACITY = 0.75
#: One second: a slice's layer ends this long before its slice does (QGIS ranges include their end).
END_MARGIN = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class SliceLayer:
    """One band of a product shown as a layer for its time slice."""

    name: str
    band: int
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class ProductGroup:
    """A product's layers (one per slice), its file relative to the project, and its scheme."""

    name: str
    source: str
    scheme: ClassScheme
    layers: tuple[SliceLayer, ...]
    visible: bool = False


@dataclass(frozen=True)
class ProjectGrid:
    """The products' CRS (WKT and authority id) and extent (xmin, ymin, xmax, ymax)."""

    crs_wkt: str
    authid: str
    extent: tuple[float, float, float, float]


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _srs(parent: ET.Element, grid: ProjectGrid) -> None:
    srs = ET.SubElement(parent, "spatialrefsys", nativeFormat="Wkt")
    ET.SubElement(srs, "wkt").text = grid.crs_wkt
    ET.SubElement(srs, "authid").text = grid.authid


def _extent(parent: ET.Element, extent: tuple[float, float, float, float]) -> None:
    box = ET.SubElement(parent, "extent")
    for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), extent, strict=True):
        ET.SubElement(box, tag).text = repr(float(value))


def _range(parent: ET.Element, tag: str, start: dt.datetime, end: dt.datetime) -> None:
    element = ET.SubElement(parent, tag)
    ET.SubElement(element, "start").text = _iso(start)
    ET.SubElement(element, "end").text = _iso(end)


def _map_layer(layer_id: str, name: str, source: str, grid: ProjectGrid, pipe: ET.Element,
               time: tuple[dt.datetime, dt.datetime] | None) -> ET.Element:
    """A ``maplayer`` element of a GDAL raster layer."""
    layer = ET.Element("maplayer", type="raster", hasScaleBasedVisibilityFlag="0", minScale="1e+08", maxScale="0",
                       styleCategories="AllStyleCategories", autoRefreshEnabled="0", autoRefreshTime="0",
                       refreshOnNotifyEnabled="0", refreshOnNotifyMessage="")
    _extent(layer, grid.extent)
    ET.SubElement(layer, "id").text = layer_id
    ET.SubElement(layer, "datasource").text = source
    ET.SubElement(layer, "layername").text = name
    _srs(ET.SubElement(layer, "srs"), grid)
    ET.SubElement(layer, "provider").text = "gdal"
    if time is not None:
        temporal = ET.SubElement(layer, "temporal", enabled="1", mode="0", fetchMode="0", source="0")
        _range(temporal, "fixedRange", time[0], time[1] - END_MARGIN)
    layer.append(pipe)
    ET.SubElement(layer, "blendMode").text = "0"
    return layer


def _tree_layer(group: ET.Element, layer_id: str, name: str, source: str, visible: bool) -> None:
    node = ET.SubElement(group, "layer-tree-layer", id=layer_id, name=name, source=source, providerKey="gdal",
                         checked="Qt::Checked" if visible else "Qt::Unchecked", expanded="0", legend_exp="")
    ET.SubElement(node, "customproperties")


def _tree_group(parent: ET.Element, name: str, visible: bool) -> ET.Element:
    group = ET.SubElement(parent, "layer-tree-group", name=name, expanded="1" if visible else "0",
                          checked="Qt::Checked" if visible else "Qt::Unchecked")
    group.set("mutually-exclusive", "0")
    ET.SubElement(group, "customproperties")
    return group


def hillshade_pipe() -> ET.Element:
    """A layer ``pipe`` with QGIS's hillshade renderer (sun from the north-west, 45° high)."""
    pipe = ET.Element("pipe")
    renderer = ET.SubElement(pipe, "rasterrenderer", type="hillshade", band="1", opacity="1", alphaBand="-1",
                             azimuth="315", angle="45", zfactor="1", multidirection="0", nodataColor="")
    ET.SubElement(renderer, "rasterTransparency")
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    return pipe


def _add_products(tree: ET.Element, layers: ET.Element, groups: Sequence[ProductGroup], grid: ProjectGrid,
                  opacity: float) -> None:
    for group in groups:
        branch = _tree_group(tree, group.name, group.visible)
        for layer in group.layers:
            layer_id = f"{PurePosixPath(group.source).stem}_slice_{layer.band:03d}"  # QGIS keeps ids > 10 characters
            _tree_layer(branch, layer_id, layer.name, group.source, group.visible)
            pipe = pipe_element(group.scheme, layer.band, opacity)
            layers.append(_map_layer(layer_id, layer.name, group.source, grid, pipe, (layer.start, layer.end)))


def _time_settings(root: ET.Element, groups: Sequence[ProductGroup]) -> None:
    slices = [layer for group in groups for layer in group.layers]
    if not slices:
        return
    settings = ET.SubElement(root, "ProjectTimeSettings", timeStep="1", timeStepUnit="mon", frameRate="1",
                             cumulativeTemporalRange="0")
    _range(settings, "TemporalRange", min(s.start for s in slices), max(s.end for s in slices) - END_MARGIN)


def project_xml(title: str, groups: Sequence[ProductGroup], grid: ProjectGrid, dem_source: str | None = None) -> str:
    """The ``.qgs`` text of a project showing ``groups`` over a hillshade of ``dem_source``.

    Parameters
    ----------
    title
        The project's title.
    groups
        The products, top of the legend first; only those marked ``visible`` are switched on.
    grid
        CRS and extent of the products (the project's CRS and initial view).
    dem_source
        Path of the DEM relative to the project file (or absolute), or None for no hillshade.

    Returns
    -------
    str
        The project as XML, paths relative to the project's folder.
    """
    root = ET.Element("qgis", projectname=title, version=QGIS_VERSION)
    ET.SubElement(root, "title").text = title
    _srs(ET.SubElement(root, "projectCrs"), grid)
    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    layers = ET.SubElement(root, "projectlayers")
    _add_products(tree, layers, groups, grid, 1.0 if dem_source is None else OVER_HILLSHADE_OPACITY)
    if dem_source is not None:
        _tree_layer(_tree_group(tree, "terrain", True), "dem_hillshade", "hillshade of the DEM", dem_source, True)
        layers.append(_map_layer("dem_hillshade", "hillshade of the DEM", dem_source, grid, hillshade_pipe(), None))
    canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas")
    ET.SubElement(canvas, "units").text = "meters"
    _extent(canvas, grid.extent)
    _srs(ET.SubElement(canvas, "destinationsrs"), grid)
    _time_settings(root, groups)
    properties = ET.SubElement(root, "properties")
    ET.SubElement(ET.SubElement(properties, "Paths"), "Absolute", type="bool").text = "false"
    ET.SubElement(ET.SubElement(properties, "SpatialRefSys"), "ProjectionsEnabled", type="int").text = "1"
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"

"""The class scheme of each product variable, and its QGIS layer style (``.qml``) as text.

One place for the classes a user sees: the QGIS styles written beside the GeoTIFF products,
the QGIS project (:mod:`hazardcore.qgis_project`) and any classified map read these
schemes. ``docs/products.md`` documents them.

A class holds the values ``v`` with ``lower < v <= upper`` (the first class starts at −∞),
which is how QGIS's *discrete* colour ramp shades a value, so a cell has the same class in
QGIS as in :func:`classify`. No IO here: :mod:`hazardcore.export` writes the text. The
XML is built with :mod:`xml.etree.ElementTree`, which escapes labels; QGIS reads a style
whose renderer and colour-ramp elements follow its own ``.qml`` files (checked against
QGIS 3.22).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

#: The version QGIS writes in the style files it saves; the styles follow its layout.
QGIS_VERSION = "3.22.16-Białowieża"


@dataclass(frozen=True)
class ClassScheme:
    """Named classes of one quantity, each with its inclusive upper bound and colour.

    Attributes
    ----------
    quantity
        What the classes classify (e.g. ``probability of new landslides``).
    units
        Units of the values (``1`` or ``%``).
    upper_bounds
        Inclusive upper bound of each class, increasing; the last is ``inf``. For a
        categorical scheme, the value of each category.
    names
        One name per class (``very low`` … ``very high``).
    colours
        One ``#rrggbb`` colour per class.
    categorical
        True when the values are categories (each class one value), not ranges.
    """

    quantity: str
    units: str
    upper_bounds: tuple[float, ...]
    names: tuple[str, ...]
    colours: tuple[str, ...]
    categorical: bool = False

    def labels(self) -> list[str]:
        """Legend labels: the class name and its range (``low (0.05 – 0.2]``)."""
        if self.categorical:
            return list(self.names)
        unit = "" if self.units == "1" else f" {self.units}"
        lowers = (-math.inf, *self.upper_bounds[:-1])
        labels = []
        for name, lower, upper in zip(self.names, lowers, self.upper_bounds, strict=True):
            if lower == -math.inf:
                labels.append(f"{name} (≤ {upper:g}{unit})")
            elif upper == math.inf:
                labels.append(f"{name} (> {lower:g}{unit})")
            else:
                labels.append(f"{name} ({lower:g} – {upper:g}{unit}]")
        return labels


FIVE_CLASSES = ("very low", "low", "moderate", "high", "very high")
#: Green (low) to red (high), ColorBrewer RdYlGn reversed; readable by most colour-blind users in print.
GREEN_TO_RED = ("#1a9641", "#a6d96a", "#ffffbf", "#fdae61", "#d7191c")
#: Light yellow to dark brown (ColorBrewer YlOrBr): amounts of landslide area.
YELLOW_TO_BROWN = ("#ffffd4", "#fed98e", "#fe9929", "#d95f0e", "#993404")
#: Light to dark purple (ColorBrewer Purples): a variable without a documented scheme.
PURPLES = ("#f2f0f7", "#cbc9e2", "#9e9ac8", "#756bb1", "#54278f")

#: The documented schemes (docs/products.md), by name.
SCHEMES: dict[str, ClassScheme] = {
    "probability": ClassScheme("probability of one or more new landslides in the cell and slice", "1",
                               (0.05, 0.2, 0.4, 0.7, math.inf), FIVE_CLASSES, GREEN_TO_RED),
    "density": ClassScheme("new landslide area density given occurrence (% of the cell's area)", "%",
                           (0.5, 1.0, 2.0, 5.0, math.inf), FIVE_CLASSES, YELLOW_TO_BROWN),
    "hazard": ClassScheme("expected new landslide area density (% of the cell's area)", "%",
                          (0.01, 0.1, 0.5, 2.0, math.inf), FIVE_CLASSES, GREEN_TO_RED),
    "occurrence": ClassScheme("new landslides predicted in the cell and slice", "1", (0.0, 1.0),
                              ("no new landslides predicted", "new landslides predicted"),
                              ("#f0f0f0", "#d7191c"), categorical=True),
}

#: The scheme of each product variable; truth and observed maps share their estimate's scheme.
VARIABLE_SCHEMES: dict[str, str] = {
    "susceptibility": "probability", "true_probability": "probability",
    "density": "density", "observed_density": "density", "true_density_given_occurrence": "density",
    "hazard": "hazard", "true_hazard": "hazard",
    "predicted_occurrence": "occurrence",
}
#: Suffix of a variable that summarises a documented one on its scale (an ensemble's mean, median or percentile).
SAME_SCALE_SUFFIX = re.compile(r"_(mean|median|p\d{1,2})$")
#: An exceedance map (``hazard_exceedance_5pct``: the probability of more than 5 % of the cell) is a probability.
EXCEEDANCE_MAP = re.compile(r"_exceedance_[0-9.]+pct$")


def _round_up(value: float) -> float:
    """``value`` rounded up to two significant digits (a legend-friendly class bound)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    scale = 10.0 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / scale) * scale


def data_scheme(name: str, units: str, values: np.ndarray) -> ClassScheme:
    """Five equal classes from 0 to the 99th percentile of ``values`` (rounded up), for a variable
    without a documented scheme (e.g. an ensemble spread)."""
    finite = np.asarray(values, dtype="float64")
    finite = finite[np.isfinite(finite)]
    top = _round_up(float(np.percentile(finite, 99))) if finite.size else 1.0
    bounds = tuple(float(f"{top * k / 5:.6g}") for k in range(1, 5))
    return ClassScheme(name.replace("_", " "), units, (*bounds, math.inf), FIVE_CLASSES, PURPLES)


def scheme_for(name: str, units: str = "1", values: np.ndarray | None = None) -> ClassScheme:
    """The class scheme of the product variable ``name``.

    Documented variables (:data:`VARIABLE_SCHEMES`) and their ``_mean``, ``_median`` and
    percentiles (``_p05``, ``_p95``) have their documented scheme, exceedance maps the
    probability scheme; any other (a standard
    deviation, an extra map) gets :func:`data_scheme` on ``values``.
    """
    if EXCEEDANCE_MAP.search(name):
        return SCHEMES["probability"]
    base = SAME_SCALE_SUFFIX.sub("", name)
    if base in VARIABLE_SCHEMES:
        return SCHEMES[VARIABLE_SCHEMES[base]]
    return data_scheme(name, units, np.array([]) if values is None else values)


def classify(values: np.ndarray, scheme: ClassScheme) -> np.ndarray:
    """The class index (0 = first) of each value, −1 where the value is NaN (pure).

    Class ``k`` holds ``upper_bounds[k-1] < v <= upper_bounds[k]``, as QGIS shades it.
    """
    data = np.asarray(values, dtype="float64")
    classes = np.digitize(data, np.asarray(scheme.upper_bounds[:-1]), right=True)
    return np.where(np.isfinite(data), classes, -1)


def _colour_items(parent: ET.Element, scheme: ClassScheme, tag: str) -> None:
    for bound, label, colour in zip(scheme.upper_bounds, scheme.labels(), scheme.colours, strict=True):
        value = "inf" if bound == math.inf else f"{bound:g}"
        ET.SubElement(parent, tag, value=value, label=label, color=colour, alpha="255")


def renderer_element(scheme: ClassScheme, band: int = 1, opacity: float = 1.0) -> ET.Element:
    """The QGIS ``rasterrenderer`` element showing ``band`` in ``scheme``'s classes (``opacity`` 0 to 1).

    A categorical scheme gives a paletted renderer (one entry per value), any other a
    single-band pseudocolour renderer with a discrete colour ramp.
    """
    if scheme.categorical:
        renderer = ET.Element("rasterrenderer", type="paletted", band=str(band), opacity=f"{opacity:g}", alphaBand="-1",
                              nodataColor="")
        ET.SubElement(renderer, "rasterTransparency")
        _colour_items(ET.SubElement(renderer, "colorPalette"), scheme, "paletteEntry")
        return renderer
    finite = [b for b in scheme.upper_bounds if math.isfinite(b)]
    low, high = f"{min(0.0, finite[0]):g}", f"{finite[-1]:g}"
    renderer = ET.Element("rasterrenderer", type="singlebandpseudocolor", band=str(band), opacity=f"{opacity:g}",
                          alphaBand="-1", classificationMin=low, classificationMax=high, nodataColor="")
    ET.SubElement(renderer, "rasterTransparency")
    limits = ET.SubElement(renderer, "minMaxOrigin")
    for tag, text in (("limits", "None"), ("extent", "WholeRaster"), ("statAccuracy", "Estimated")):
        ET.SubElement(limits, tag).text = text
    shader = ET.SubElement(ET.SubElement(renderer, "rastershader"), "colorrampshader", colorRampType="DISCRETE",
                           classificationMode="3", clip="0", minimumValue=low, maximumValue=high,
                           labelPrecision="4")
    _colour_items(shader, scheme, "item")
    return renderer


def pipe_element(scheme: ClassScheme, band: int = 1, opacity: float = 1.0) -> ET.Element:
    """A layer's ``pipe``: the renderer, neutral brightness/hue and nearest-neighbour resampling."""
    pipe = ET.Element("pipe")
    provider = ET.SubElement(pipe, "provider")
    ET.SubElement(provider, "resampling", enabled="false", zoomedInResamplingMethod="nearestNeighbour",
                  zoomedOutResamplingMethod="nearestNeighbour", maxOversampling="2")
    pipe.append(renderer_element(scheme, band, opacity))
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    ET.SubElement(pipe, "huesaturation", saturation="0", colorizeOn="0", colorizeRed="255", colorizeGreen="128",
                  colorizeBlue="128", colorizeStrength="100", grayscaleMode="0", invertColors="0")
    ET.SubElement(pipe, "rasterresampler", maxOversampling="2")
    return pipe


def qml(scheme: ClassScheme, band: int = 1) -> str:
    """The ``.qml`` style (XML text) that shows ``band`` of a GeoTIFF in ``scheme``'s classes.

    QGIS applies a ``.qml`` of the same name as the raster when it opens it.
    """
    root = ET.Element("qgis", version=QGIS_VERSION, styleCategories="AllStyleCategories",
                      hasScaleBasedVisibilityFlag="0", minScale="1e+08", maxScale="0")
    root.append(pipe_element(scheme, band))
    ET.SubElement(root, "blendMode").text = "0"
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"


def markdown_table() -> str:
    """The schemes as the Markdown table of ``docs/products.md`` (a test keeps the two equal)."""
    uses: dict[str, list[str]] = {}
    for variable, key in VARIABLE_SCHEMES.items():
        uses.setdefault(key, []).append(f"`{variable}`")
    rows = ["| scheme | variables | class (range) | colour |", "|---|---|---|---|"]
    for key, scheme in SCHEMES.items():
        for k, (label, colour) in enumerate(zip(scheme.labels(), scheme.colours, strict=True)):
            first = (f"{key}: {scheme.quantity}", ", ".join(uses.get(key, []))) if k == 0 else ("", "")
            rows.append(f"| {first[0]} | {first[1]} | {label} | `{colour}` |")
    return "\n".join(rows) + "\n"

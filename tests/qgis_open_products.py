"""Open a run's products in a headless QGIS and print what it sees as one JSON line.

Run by tests/test_products.py with the system Python that has QGIS's bindings (Debian's
``python3-qgis``), not the project's environment: ``python3 qgis_open_products.py FOLDER``.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display needed

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer  # type: ignore[import-not-found]


def day(moment, seconds: int = 0) -> str:  # moment: a QDateTime
    return moment.addSecs(seconds).toString("yyyy-MM-dd")


def files(folder: Path) -> dict[str, dict]:
    """Each GeoTIFF opened on its own: QGIS applies the .qml beside it."""
    seen = {}
    for tif in sorted(folder.glob("*.tif")):
        layer = QgsRasterLayer(str(tif), tif.stem)
        renderer = layer.renderer()
        band = renderer.band() if hasattr(renderer, "band") else renderer.inputBand()
        seen[tif.name] = {"valid": layer.isValid(), "renderer": renderer.type(), "band": band,
                          "legend": [label for label, _ in renderer.legendSymbologyItems()]}
    return seen


def project(folder: Path) -> dict:
    """The project read: its layers, CRS, time range and each product's slice ranges (end exclusive)."""
    instance = QgsProject.instance()
    read = instance.read(str(folder / "hazard.qgs"))
    layers = list(instance.mapLayers().values())
    ranges: dict[str, list] = {}
    for layer in layers:
        fixed = layer.temporalProperties().fixedTemporalRange()
        if layer.temporalProperties().isActive():
            ranges.setdefault(layer.name().split(" ")[0], []).append([day(fixed.begin()), day(fixed.end(), 1)])
    span = instance.timeSettings().temporalRange()
    legend = instance.layerTreeRoot().findLayers()
    return {"read": read, "layers": len(layers), "all_valid": all(layer.isValid() for layer in layers),
            "legend_resolved": len(legend) == len(layers) and all(node.layer() is not None for node in legend),
            "shown": sorted(node.layer().name() for node in legend if node.layer() is not None and node.isVisible()),
            "crs": instance.crs().authid(), "time_range": [day(span.begin()), day(span.end(), 1)], "ranges": ranges}


def main(folder: Path) -> None:
    app = QgsApplication([], False)
    app.setPrefixPath("/usr", True)
    app.initQgis()
    print(json.dumps({"qgis": Qgis.QGIS_VERSION,
                      "files": files(folder), "project": project(folder)}))
    app.exitQgis()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""The shipped catalog entries must be what their recipes produce."""

from pathlib import Path

import pytest
import yaml

from hazardcore.synthetic import synthesize

CATALOG_DIR = Path(__file__).resolve().parents[1] / "data_catalog"


@pytest.mark.integration
def test_synthetic_default_entry_matches_its_recipe(tmp_path: Path) -> None:
    entry = yaml.safe_load((CATALOG_DIR / "synthetic_default.yaml").read_text())
    recipe = entry.pop("recipe")
    report = synthesize(tmp_path / "region", **recipe["arguments"])
    written = yaml.safe_load(report.catalog_path.read_text())
    assert written == entry
    for layer in entry["layers"].values():
        for item in layer if isinstance(layer, list) else [layer]:
            assert (tmp_path / "region" / item["path"]).exists()
            assert {"path", "format", "crs", "licence", "citation"} <= set(item)
            assert "units" in item or "variables" in item  # the truth file gives units per variable

"""The README's results table is what docs/results.py writes from the committed metrics files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def results_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("docs_results", ROOT / "docs" / "results.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_is_generated_from_the_results_files() -> None:
    module = results_module()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == module.rendered(readme), "README results table is stale: run `python docs/results.py`"
    spatial = json.loads((ROOT / "docs" / "results" / "spatial.json").read_text(encoding="utf-8"))
    ratio = module.number(spatial["density"]["hazard_total_ratio"], 2)
    assert f"| {ratio} |" in readme.split(module.BEGIN)[1].split(module.END)[0]


def test_the_physical_world_page_is_generated_from_its_results_files() -> None:
    spec = importlib.util.spec_from_file_location("docs_physical_world", ROOT / "docs" / "physical_world.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (ROOT / "docs" / "synthetic.md").read_text(encoding="utf-8")
    assert page == module.rendered_page(), "docs/synthetic.md is stale: run `python docs/physical_world.py table`"

"""docs/architecture.md's layers and one-way data flow, checked by walking the import statements."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hazardcore"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def documented_order() -> list[str]:
    """The modules of docs/architecture.md's layer table, top (imported by all) to bottom."""
    table = ARCHITECTURE.read_text(encoding="utf-8").split("<!-- layers:begin -->")[1].split("<!-- layers:end -->")[0]
    return re.findall(r"^\| `(\w+)` \|", table, flags=re.M)


# A module may import only modules above it in the documented table. Unknown modules fail the test: place them.
ORDER = documented_order()
UI_LIBRARIES = {"panel", "holoviews", "geoviews", "datashader", "bokeh", "dashboard"}
RAW_READERS = {"open_rasterio", "open_dataset", "open_mfdataset", "read_csv", "read_file"}
WRITERS = {"to_raster", "to_netcdf", "to_zarr", "write_text", "write_bytes", "create_array", "savez"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "hazardcore":  # `from hazardcore import module` (not `__version__`)
                names |= {f"hazardcore.{alias.name}" for alias in node.names
                          if (PACKAGE / f"{alias.name}.py").exists()}
    return names


def called_attributes(tree: ast.AST) -> set[str]:
    return {node.func.attr for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.stem)
def test_imports_flow_one_way(path: Path) -> None:
    assert path.stem in ORDER, f"place {path.stem} in the layer table of docs/architecture.md"
    tree = ast.parse(path.read_text())
    names = imported(tree)
    for name in names:
        root = name.split(".")[0]
        assert root not in UI_LIBRARIES, f"{path.stem} imports the UI library {root}"
        if root == "hazardcore" and "." in name:
            target = name.split(".")[1]
            message = f"{path.stem} imports {target} (to its right)"
            assert ORDER.index(target) < ORDER.index(path.stem), message


def test_the_documented_layers_are_the_modules() -> None:
    assert len(ORDER) == len(set(ORDER)) > 40
    assert {path.stem for path in modules()} <= set(ORDER)


def opened_for_writing(tree: ast.AST) -> list[int]:
    """Lines of ``open(path, mode)``, ``path.open(mode)`` and ``*.open*(..., mode=...)`` calls whose
    mode writes, appends or creates."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        modes = [k.value for k in node.keywords if k.arg == "mode"]
        if isinstance(func, ast.Name) and func.id == "open":
            modes += node.args[1:2]
        elif isinstance(func, ast.Attribute) and func.attr == "open":
            modes += node.args[:1]
        elif not (isinstance(func, ast.Attribute) and func.attr.startswith("open")):
            continue
        if any(isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & set("wax+")
               for m in modes):
            lines.append(node.lineno)
    return lines


#: The modules that write files: atomic (the crash-safe primitives), cube (the prepared cube), export (products).
WRITER_MODULES = ("atomic", "cube", "export")


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.stem)
def test_only_catalog_reads_inputs_and_only_the_writer_modules_write(path: Path) -> None:
    tree = ast.parse(path.read_text())
    calls = called_attributes(tree)
    if path.stem not in ("catalog", "export"):  # export reads back only the run products it writes
        assert not calls & RAW_READERS, f"{path.stem} reads files: {calls & RAW_READERS}"
    if path.stem not in WRITER_MODULES:
        assert not calls & WRITERS, f"{path.stem} writes files: {calls & WRITERS}"
        assert not opened_for_writing(tree), f"{path.stem} opens files for writing at lines {opened_for_writing(tree)}"


def test_the_write_check_sees_every_form_of_open() -> None:
    source = ("open(p, 'w')\nopen(p)\nopen(p, 'rb')\np.open('a')\np.open()\nzarr.open_group(s, mode='w')\n"
              "zarr.open_group(s, mode='r')\nopen(p, mode='x')\nf(p, 'w')\n")
    assert opened_for_writing(ast.parse(source)) == [1, 4, 6, 8]


@pytest.mark.parametrize("path", sorted((PACKAGE.parent / "dashboard").glob("*.py")), ids=lambda p: p.stem)
def test_the_dashboard_goes_through_the_pipeline_not_training_internals(path: Path) -> None:
    names = imported(ast.parse(path.read_text()))
    assert not names & {"hazardcore.train", "hazardcore.datasets"}, f"dashboard/{path.name} imports {names}"

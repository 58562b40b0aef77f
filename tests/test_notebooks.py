"""The notebooks under notebooks/ run top to bottom in a Jupyter kernel of this environment.

Each notebook's first code cell is tagged ``parameters``; :func:`execute_notebook` injects a
cell after it that overrides them (papermill's convention), so a test can point the outputs
at a temporary folder and ask for the fast settings.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNEL = "python3"
PYTHON_ALIASES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}


def kernel_runs_this_python() -> bool:
    """Whether the ``python3`` kernelspec Jupyter finds starts this interpreter.

    jupyter_client replaces a bare ``python`` (or ``python3``, ``python3.X``) at the start of
    a kernelspec's argv with ``sys.executable``; any other interpreter is a different one.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv = KernelSpecManager().get_kernel_spec(KERNEL).argv
    except NoSuchKernel:
        return False
    if argv[0] in PYTHON_ALIASES:
        return True
    return Path(argv[0]).exists() and os.path.samefile(argv[0], sys.executable)


@contextmanager
def this_python_kernel(folder: Path) -> Iterator[None]:
    """Make ``python3`` resolve to this interpreter: install a kernelspec under ``folder`` if needed."""
    if kernel_runs_this_python():
        yield
        return
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL, prefix=str(folder))  # argv[0] = sys.executable
    before = os.environ.get("JUPYTER_PATH")
    paths = [str(folder / "share" / "jupyter"), *([before] if before else [])]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(paths)  # searched before the user and system folders
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = before


def parameter_cell(parameters: dict[str, Any]) -> nbformat.NotebookNode:
    """The injected cell: the overrides, then a check that the kernel is this interpreter."""
    lines = ["# Parameters injected by tests/test_notebooks.py"]
    lines += [f"{name} = {value!r}" for name, value in parameters.items()]
    lines += ["import sys as _sys",
              f"assert _sys.prefix == {sys.prefix!r}, f'kernel runs {{_sys.executable}}, not {sys.executable}'"]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]})
    cell["id"] = "injected-parameters"
    return cell


def execute_notebook(path: Path, parameters: dict[str, Any], tmp_path: Path,
                     timeout: int = 600) -> nbformat.NotebookNode:
    """Execute a notebook with ``parameters`` overridden; return it with its outputs.

    The overrides go in a cell right after the one tagged ``parameters`` (or first, if no
    cell is tagged). The kernel is ``python3`` running this interpreter (a kernelspec is
    installed under ``tmp_path`` when the one Jupyter finds runs another), its working folder
    is ``tmp_path``, and the executed notebook is also saved there for inspection.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        When a cell raises, with the cell's source and traceback.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    nb.cells.insert(tagged[0] + 1 if tagged else 0, parameter_cell(parameters))
    executed = tmp_path / f"{Path(path).stem}.executed.ipynb"
    with this_python_kernel(tmp_path / "kernelspec"):
        client = NotebookClient(nb, kernel_name=KERNEL, timeout=timeout,
                                resources={"metadata": {"path": str(tmp_path)}})
        try:
            client.execute()
        finally:
            nbformat.write(nb, executed)
    return nb


def stream_text(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed."""
    return "".join(output.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []) if output.output_type == "stream")


def printed_number(text: str, label: str) -> float:
    """The number printed after ``label:`` (exactly one occurrence)."""
    found = re.findall(rf"^{re.escape(label)}: (\S+)$", text, flags=re.MULTILINE)
    assert len(found) == 1, f"expected one line '{label}: <number>' in the output, found {found}"
    return float(found[0])


def test_quickstart_notebook_is_stored_clean() -> None:
    nb = nbformat.read(NOTEBOOKS / "00_quickstart.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


def test_quickstart_notebook_runs_and_reports_the_written_metrics(tmp_path: Path) -> None:
    out = tmp_path / "nb"
    nb = execute_notebook(NOTEBOOKS / "00_quickstart.ipynb", {"OUT": str(out), "FAST": True}, tmp_path)
    errors = [output for cell in nb.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert not errors
    metrics_files = sorted(out.glob("work/runs/*/metrics.json"))
    assert len(metrics_files) == 1
    run = metrics_files[0].parent
    assert (run / "report.html").stat().st_size > 0 and (run / "products" / "manifest.json").exists()
    metrics = json.loads(metrics_files[0].read_text(encoding="utf-8"))
    assert metrics["split"] == "random" and len(metrics["slices"]) == 3  # the FAST settings were used
    text = stream_text(nb)
    # the number quoted from metrics.json, and the AUC the notebook recomputes from the predictions
    assert printed_number(text, "metrics.json test AUC (model)") == metrics["susceptibility"]["auc"]
    assert printed_number(text, "model test AUC") == pytest.approx(metrics["susceptibility"]["auc"], abs=1e-12)
    assert printed_number(text, "oracle test AUC") == pytest.approx(metrics["oracle"]["susceptibility"]["auc"],
                                                                    abs=1e-12)
    assert printed_number(text, "test cells in the ROC") == metrics["test_cells"]  # the cells evaluate scored


def test_dashboard_widgets_notebook_shows_the_views_of_a_run(tmp_path: Path, evaluated_root: Path) -> None:
    nb = execute_notebook(NOTEBOOKS / "01_dashboard_widgets.ipynb", {"ROOT": str(evaluated_root), "SLICE": 0},
                          tmp_path)
    assert not [output for cell in nb.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    text = stream_text(nb)
    (run,) = (evaluated_root / "work" / "runs").iterdir()
    assert f"run: {run}" in text and "now showing 2015-post" in text
    # the cell with the largest observed density of the slice shown (the second), as the notebook picked it
    from hazardcore.export import open_predictions

    observed = open_predictions(run / "predictions.nc")["observed_density"].isel(slice=1).values
    row, col = np.unravel_index(int(np.nanargmax(observed)), observed.shape)
    assert f"cell ({row}, {col})" in text
    rich = [output for cell in nb.cells for output in cell.get("outputs", []) if output.output_type in
            ("display_data", "execute_result")]
    assert len(rich) >= 7  # one per view shown, each rendered by Panel

"""Portable and light: every module imports without ``fcntl`` (as on Windows), and listing, preparing,
evaluating and reading runs import without PyTorch (the ``hazardcore[train]`` extra).

Each check runs in a fresh interpreter where the missing module cannot be imported, so what
this process already imported does not hide an import.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from hazardcore.atomic import folder_lock, lock_file
from hazardcore.runstatus import process_alive

ROOT = Path(__file__).resolve().parents[1]

#: Makes ``import NAME`` fail as when NAME is not installed (``sys.modules[NAME] = None`` would also
#: break libraries that test ``"torch" in sys.modules``, as scipy's array-API helpers do).
BLOCK = """
import sys

class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, _Absent())
"""

TORCH = ("torch", "torchvision", "segmentation_models_pytorch", "timm")

#: What a user without the training extra runs: ``hazard runs / synth / prepare / evaluate``, the
#: product readers and the dashboard's viewing modules.
TORCH_FREE_MODULES = ("hazardcore", "hazardcore.cli", "hazardcore.runstatus", "hazardcore.synthetic",
                      "hazardcore.prepare", "hazardcore.evaluate", "hazardcore.pipeline", "hazardcore.export",
                      "hazardcore.checkpoint",
                      "dashboard.app", "dashboard.state", "dashboard.views", "dashboard.loaders")


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_every_module_imports_without_fcntl(tmp_path: Path) -> None:
    code = BLOCK.format(blocked={"fcntl"}) + """
import importlib, pkgutil, warnings
import hazardcore, dashboard

skip = {"dashboard.main", "dashboard.__main__"}  # they start the app
names = [m.name for package in (hazardcore, dashboard)
         for m in pkgutil.iter_modules(package.__path__, package.__name__ + ".") if m.name not in skip]
for name in names:
    importlib.import_module(name)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # filelock: "only soft file lock is available" (Windows has LockFileEx)
    from hazardcore.atomic import folder_lock
    with folder_lock(sys.argv[1]):
        pass
print(len(names), "fcntl" in sys.modules and sys.modules["fcntl"] is not None)
"""
    count, loaded = run_python(code, str(tmp_path)).stdout.split()
    assert int(count) > 60 and loaded == "False"


def test_listing_preparing_evaluating_and_reading_import_without_torch(tiny_catalog: Path, tmp_path: Path) -> None:
    run = tmp_path / "work" / "runs" / "0123456789"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": {}, "train": {"split": "random"}}))
    code = BLOCK.format(blocked=set(TORCH)) + f"""
import importlib
from hazardcore.cli import main

for name in {TORCH_FREE_MODULES!r}:
    importlib.import_module(name)
assert main(["runs", sys.argv[1]]) == 0
assert main(["prepare", sys.argv[2], "--out", sys.argv[3], "--quiet"]) == 0
assert main(["train", sys.argv[3], "--quiet"]) == 1  # names the extra to install
print(sorted(name for name in sys.modules if name.split(".")[0] in {TORCH!r}))
"""
    done = run_python(code, str(tmp_path / "work"), str(tiny_catalog), str(tmp_path / "prepared"))
    assert "0123456789  random split; no status recorded" in done.stdout
    assert "pip install 'hazardcore[train]'" in done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_hazard_runs_imports_only_what_listing_needs(tmp_path: Path) -> None:
    """``hazard runs`` answers in well under 2 s: none of PyTorch, scikit-learn, xarray or matplotlib."""
    code = """
import sys
from hazardcore.cli import main
main(["runs", sys.argv[1]])
heavy = {"torch", "sklearn", "xarray", "matplotlib"}
print(sorted(({name.split(".")[0] for name in sys.modules} & heavy) | ({"hazardcore.pipeline"} & set(sys.modules))))
"""
    assert run_python(code, str(tmp_path)).stdout.strip().splitlines()[-1] == "[]"


HOLDER = """
import sys, time
from hazardcore.atomic import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_folder_lock_excludes_other_processes_until_its_holder_dies(tmp_path: Path) -> None:
    folder = tmp_path / "products"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, start_new_session=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(Timeout):
            FileLock(lock_file(folder)).acquire(timeout=0.3)
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # no handler runs: the operating system releases the lock
        holder.wait(timeout=30)
    started = time.monotonic()
    with folder_lock(folder):
        assert time.monotonic() - started < 5
    assert list(folder.iterdir()) == []  # the lock lives outside the folder it stands for
    assert lock_file(folder) == lock_file(tmp_path / "." / "products")


def test_process_alive_for_this_process_and_not_for_a_finished_one() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=60)
    assert process_alive(os.getpid()) and not process_alive(child.pid)


def test_evaluate_and_the_product_readers_work_without_torch(evaluated_root: Path, tmp_path: Path) -> None:
    """``hazard evaluate --json`` of a predicted run, and reading its predictions, in a torch-free interpreter."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(evaluated_root / "work", work)
    code = BLOCK.format(blocked=set(TORCH)) + f"""
from pathlib import Path
from hazardcore.cli import main
from hazardcore.export import open_predictions

assert main(["evaluate", sys.argv[1], "-q", "--json"]) == 0
(run,) = Path(sys.argv[1], "runs").iterdir()
assert "susceptibility" in open_predictions(run / "predictions.nc")
assert not [name for name in sys.modules if name.split(".")[0] in {TORCH!r}]
"""
    done = run_python(code, str(work))
    result = json.loads(done.stdout)
    assert result["metrics"]["run_id"] == result["run"] and 0 <= result["metrics"]["susceptibility"]["auc"] <= 1
    assert Path(result["files"]["report"]).is_file() and "error" not in done.stderr


def test_an_installed_package_finds_the_real_data_through_the_environment(tmp_path: Path) -> None:
    code = ("from hazardcore import langtang_case as l; from hazardcore.errors import MissingFileError\n"
            "print(l.DEFAULT_REAL); print(l.DEFAULT_REFERENCE)\n"
            "try:\n    l.real_files(l.DEFAULT_REAL)\nexcept MissingFileError as e:\n    print(e)\n")
    env = os.environ | {"HAZARDCORE_REAL_DATA": str(tmp_path / "gorkha_real"),
                        "HAZARDCORE_REFERENCE": str(tmp_path / "reference")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == str(tmp_path / "gorkha_real") and lines[1] == str(tmp_path / "reference")
    assert "real data of the Langtang case not found" in out and "HAZARDCORE_REAL_DATA" in out

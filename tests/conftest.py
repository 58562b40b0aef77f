"""Shared fixtures: tiny hand-made regions and their prepared working folders."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import builders


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A written tiny region (8 × 8 km, 3 slices); treat as read-only."""
    return builders.write_region(tmp_path_factory.mktemp("tiny") / "region")


@pytest.fixture(scope="session")
def tiny_workdir(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny region prepared once for the session; treat as read-only."""
    from hazardcore.prepare import prepare

    workdir = tmp_path_factory.mktemp("tiny_work")
    prepare(tiny_catalog, workdir)
    return workdir


@pytest.fixture
def region_copy(tmp_path: Path) -> Path:
    """A fresh tiny region that a test may damage; returns its catalog path."""
    return builders.write_region(tmp_path / "region")


@pytest.fixture(scope="session")
def evaluated_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root folder holding ``region/`` and ``work/`` with one trained, predicted and evaluated run.

    A 16 × 16 km synthetic region (seed 3, 3 slices), a tiny model trained for a few epochs
    on the random split, then ``hazard predict`` and ``hazard evaluate``; about 30 s.
    Treat as read-only.
    """
    from hazardcore.cli import main
    from hazardcore.prepare import prepare
    from hazardcore.synthetic import synthesize
    from hazardcore.train import train

    root = tmp_path_factory.mktemp("evaluated")
    report = synthesize(root / "region", seed=3, size_km=16, n_slices=3)
    prepare(report.catalog_path, root / "work")
    train(root / "work", *tiny_run_configs())
    assert main(["predict", str(root / "work"), "--quiet"]) == 0
    assert main(["evaluate", str(root / "work"), "--quiet"]) == 0
    return root


def tiny_run_configs() -> tuple:  # type: ignore[type-arg]
    """Model and training configurations small enough for tests (random split, BCE)."""
    from hazardcore.config import ModelConfig, TrainConfig

    model = ModelConfig(cell_px=8, encoder_depth=3, decoder_channels=[16, 8, 4], density_conv_channels=4,
                        density_hidden=[16, 8])
    config = TrainConfig(batch_size=8, max_epochs_susceptibility=2, max_epochs_density=1,
                         split="random", device="cpu", num_threads=1, loss="bce")
    return model, config


def docs_screenshots() -> ModuleType:
    """``docs/screenshots.py`` as a module (a script, not a package): its ``serve`` starts the
    dashboard server for the server and browser tests, its page helpers drive the browser."""
    name = "docs_screenshots"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "docs" / "screenshots.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]

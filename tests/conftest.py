"""Shared fixtures: tiny hand-made regions and their prepared working folders."""

from __future__ import annotations

import sys
from pathlib import Path

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

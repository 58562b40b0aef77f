"""The public API of ``import hazardcore``: every name resolves, the import stays light."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from importlib.metadata import version

import pytest

import hazardcore


@pytest.mark.parametrize("name", sorted(hazardcore.PUBLIC))
def test_every_public_name_is_the_object_its_module_defines(name: str) -> None:
    module, _, attribute = hazardcore.PUBLIC[name].partition(":")
    assert getattr(hazardcore, name) is getattr(importlib.import_module(module), attribute or name)
    assert name in hazardcore.__all__ and name in dir(hazardcore)


def test_version_and_unknown_names() -> None:
    assert hazardcore.__version__ == version("hazardcore")
    with pytest.raises(AttributeError, match="no attribute 'fit'"):
        hazardcore.fit  # noqa: B018


def test_import_does_not_load_torch() -> None:
    code = "import sys, hazardcore; hazardcore.TrainConfig; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_architecture_page_lists_the_public_api() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    paragraph = page.split("The public API")[1]
    assert set(re.findall(r"`(\w+)`", paragraph)) - {"import"} == set(hazardcore.PUBLIC)

"""Path confinement: every path chosen in the UI must resolve inside the dashboard's root folder."""

from __future__ import annotations

import os
from pathlib import Path

from hazardcore.errors import HazardcoreError, describe

#: Root when neither ``--root`` nor ``HAZARD_ROOT`` says otherwise (the demo's output).
DEFAULT_ROOT = Path("out") / "demo"


class OutsideRootError(HazardcoreError):
    """A path chosen in the UI lies outside the dashboard's root folder."""


def default_root() -> Path:
    """``HAZARD_ROOT`` if set, else ``out/demo`` relative to the current directory."""
    return Path(os.environ.get("HAZARD_ROOT") or DEFAULT_ROOT)


def confined(root: Path, path: str | Path) -> Path:
    """``path`` resolved (relative to ``root`` if relative, symbolic links followed), inside ``root``.

    Raises
    ------
    OutsideRootError
        If the resolved path is not inside the root folder.
    """
    candidate = Path(path).expanduser()
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if not resolved.is_relative_to(root):
        raise OutsideRootError(describe(
            "refused: this path lies outside the dashboard's root folder", source=str(path),
            expected=f"a path inside {root}", found=str(resolved),
            fix="choose a run under the root, or restart the dashboard with --root DIR (or HAZARD_ROOT)"))
    return resolved


def is_inside(root: Path, path: Path) -> bool:
    """Whether ``path`` resolves inside ``root``."""
    try:
        confined(root, path)
    except OutsideRootError:
        return False
    return True

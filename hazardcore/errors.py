"""Errors raised by hazardcore.

Every error names the file (or layer) involved, what was expected and what was found,
and says how to fix it, so that a user never has to read a traceback to know what to do.
"""

from __future__ import annotations

from pathlib import Path


class HazardcoreError(Exception):
    """Base class of every error hazardcore raises on bad input or configuration."""


def describe(
    what: str,
    *,
    source: str | Path | None = None,
    expected: object | None = None,
    found: object | None = None,
    fix: str | None = None,
) -> str:
    """Compose a uniform, actionable error message.

    Parameters
    ----------
    what
        One sentence saying what is wrong.
    source
        The file or layer the problem was found in.
    expected, found
        What was expected and what was found instead.
    fix
        How the user can fix it.

    Returns
    -------
    str
        The message, one clause per line.
    """
    parts = [f"{source}: {what}" if source is not None else what]
    if expected is not None:
        parts.append(f"expected: {expected}")
    if found is not None:
        parts.append(f"found: {found}")
    if fix is not None:
        parts.append(f"fix: {fix}")
    return "\n  ".join(parts)


class CatalogError(HazardcoreError):
    """A catalog file is malformed or incomplete."""


class MissingFileError(CatalogError, FileNotFoundError):
    """A catalog entry points to a file that does not exist."""


class CRSError(HazardcoreError):
    """A layer has no CRS, or one that cannot be transformed to the grid's CRS."""


class CoverageError(HazardcoreError):
    """A layer does not cover the grid (in space) or the slices (in time)."""


class InvalidValueError(HazardcoreError):
    """A layer holds values that are impossible for its quantity (NaN, negative, too large)."""


class InventoryError(HazardcoreError):
    """A multi-temporal inventory is inconsistent (dates, values, bands)."""


class GridMismatchError(HazardcoreError):
    """A layer is not on the grid it is combined with."""


class UnitError(HazardcoreError):
    """A layer's unit is missing or cannot be converted to the unit required."""


class ConfigError(HazardcoreError, ValueError):
    """A configuration value is outside its documented bounds."""


class CheckpointError(HazardcoreError):
    """A model (or its checkpoint's configuration) does not match the data it is given."""


class IntegrityError(HazardcoreError):
    """A written file (checkpoint, product) does not match the checksum recorded in its manifest."""


class MetadataConflictError(CatalogError):
    """A file's own metadata (unit, nodata, band dates) contradicts its catalog entry."""

"""Checkpoints: configuration, weights, data contract and training state in one file.

A checkpoint is a ``torch.save`` dictionary written atomically: the model and training
configurations (JSON-able dicts), the weights, the channel names and scaling statistics
fitted on the training split, the slice labels, package versions, and, for resuming, the
optimiser, scheduler and early-stopping state of the stage. Its SHA-256 is recorded in
the folder's ``manifest.json`` and checked before the file is unpickled.

PyTorch is imported when a checkpoint is written or read, so :func:`package_versions`
(which the products' manifest records) works without the ``train`` extra.
"""

from __future__ import annotations

import importlib.metadata
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hazardcore.errors import CheckpointError, describe
from hazardcore.integrity import checked_path, read_verified

if TYPE_CHECKING:
    import torch

FORMAT_VERSION = 1
REFIT = "re-create it: `hazard train WORKDIR --resume` rewrites a run's checkpoints from the last intact one"
REQUIRED = ("format", "model_config", "train_config", "kind", "weights", "channels", "scaling", "slices")


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a model's numbers."""
    names = ("hazardcore", "torch", "segmentation-models-pytorch", "numpy")
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass
class Checkpoint:
    """The content of a checkpoint file."""

    model_config: dict[str, Any]
    train_config: dict[str, Any]
    kind: str
    weights: dict[str, torch.Tensor]
    channels: list[str]
    scaling: dict[str, list[float]]
    slices: list[str]
    state: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=package_versions)


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write ``checkpoint`` to ``path`` atomically (temporary file, fsync, rename), checksum recorded."""
    import torch

    payload = {"format": FORMAT_VERSION, **checkpoint.__dict__}
    with checked_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint.

    The file's bytes are checked against the checksum its folder's manifest recorded before
    they are unpickled.

    Raises
    ------
    CheckpointError
        If the file is missing, unreadable or lacks a required entry.
    IntegrityError
        If it is truncated or corrupted, or no checksum of it was recorded.
    """
    import torch

    source = Path(path)
    if not source.exists():
        raise CheckpointError(describe("checkpoint not found", source=source,
                                       fix="train first (`hazard train WORKDIR`) or pass the right run"))
    data = read_verified(source, fix=REFIT)
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(describe("checkpoint cannot be read (truncated or not a checkpoint)",
                                       source=source, found=type(exc).__name__)) from exc
    missing = [key for key in REQUIRED if not isinstance(payload, dict) or key not in payload]
    if missing:
        raise CheckpointError(describe("checkpoint lacks entries", source=source, expected=list(REQUIRED),
                                       found=f"missing {missing}"))
    payload.pop("format")
    return Checkpoint(**payload)

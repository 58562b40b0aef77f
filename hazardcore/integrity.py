"""Checksums of written files, kept in their folder's ``manifest.json`` and checked on load.

Every checkpoint and product is written through :func:`checked_path`: the complete
temporary file is hashed (SHA-256) and its record staged in the folder's manifest as
``pending`` before the rename, then moved to ``files`` after it. A kill between any two of
these steps leaves a file that matches either its ``files`` or its ``pending`` record, so
:func:`verify_file` accepts every file a crash can leave and refuses only damaged ones
(truncated, overwritten, bit-flipped), naming the file, the manifest and the fix.

``manifest.json`` may hold other keys (the products' manifest adds run id, configuration
and metrics); the ledger updates keep them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hazardcore.atomic import atomic_path, folder_lock, write_text
from hazardcore.errors import IntegrityError, describe

MANIFEST = "manifest.json"
HASH_BLOCK_BYTES = 1024**2


def bytes_sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: str | Path) -> dict[str, Any]:
    """``{"sha256": ..., "bytes": ...}`` of a file (a manifest entry)."""
    return {"sha256": file_sha256(path), "bytes": Path(path).stat().st_size}


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The folder's manifest (``{}`` when there is none).

    Raises
    ------
    IntegrityError
        If the manifest exists but is not a JSON object.
    """
    path = Path(folder) / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(describe("the checksum manifest is not valid JSON", source=path, found=str(exc),
                                      fix="restore the folder from a copy, or re-create its files")) from exc
    if not isinstance(manifest, dict):
        raise IntegrityError(describe("the checksum manifest is not a JSON object", source=path,
                                      found=type(manifest).__name__))
    return manifest


def _update(folder: Path, name: str, record: dict[str, Any] | None, commit: bool) -> None:
    """Stage ``record`` as ``pending[name]`` or (``commit``) move the pending record to ``files``."""
    with folder_lock(folder):
        manifest = read_manifest(folder)
        files, pending = manifest.setdefault("files", {}), manifest.setdefault("pending", {})
        if commit:
            staged = pending.pop(name, None)
            if staged is None:
                return
            files[name] = staged
        else:
            pending[name] = record
        if not pending:
            manifest.pop("pending")
        write_text(json.dumps(manifest, indent=2, default=str) + "\n", folder / MANIFEST)


@contextlib.contextmanager
def checked_path(path: str | Path) -> Iterator[Path]:
    """:func:`hazardcore.atomic.atomic_path` that records the file's checksum in its folder's manifest.

    Yields
    ------
    pathlib.Path
        The temporary file to write.
    """
    final = Path(path)
    if final.name == MANIFEST:
        raise ValueError(f"{final}: the manifest records other files; write it with atomic_path")

    def stage(tmp: Path) -> None:
        _update(final.parent, final.name, file_record(tmp), commit=False)

    with atomic_path(final, before_replace=stage) as tmp:
        yield tmp
    _update(final.parent, final.name, None, commit=True)


def recorded(path: str | Path) -> list[dict[str, Any]]:
    """The records a file may match: its committed one and, after a crash, its staged one."""
    source = Path(path)
    manifest = read_manifest(source.parent)
    records = [manifest.get("files", {}).get(source.name), manifest.get("pending", {}).get(source.name)]
    return [record for record in records if record]


def check_record(path: str | Path, found: dict[str, Any], fix: str) -> None:
    """Raise unless ``found`` (the file's size and hash) matches what the manifest recorded.

    Raises
    ------
    IntegrityError
        If the manifest has no record of the file, or none that matches.
    """
    source = Path(path)
    manifest = source.parent / MANIFEST
    records = recorded(source)
    if not records:
        raise IntegrityError(describe(
            "no checksum recorded for this file, so it cannot be trusted", source=source,
            expected=f"an entry '{source.name}' in {manifest}",
            found="no manifest" if not manifest.exists() else "a manifest without it",
            fix="keep files in the folder they were written to (with its manifest.json); " + fix))
    refuse_mismatch(source, found, records, manifest, fix)


def refuse_mismatch(source: Path, found: dict[str, Any], records: list[dict[str, Any]], manifest: Path,
                    fix: str) -> None:
    """Raise unless ``found`` (a file's size and hash) matches one of ``records`` (from ``manifest``).

    Raises
    ------
    IntegrityError
        Naming the file, whether it is truncated or corrupted, what was recorded and the fix.
    """
    if not any(record["bytes"] == found["bytes"] and record["sha256"] == found["sha256"] for record in records):
        want = records[0]
        state = "truncated" if found["bytes"] < want["bytes"] else "corrupted"
        raise IntegrityError(describe(
            f"file is {state}: it differs from the checksum recorded when it was written", source=source,
            expected=f"{want['bytes']} bytes, sha256 {want['sha256'][:16]}… ({manifest})",
            found=f"{found['bytes']} bytes, sha256 {found['sha256'][:16]}…", fix=fix))


def verify_file(path: str | Path, fix: str) -> Path:
    """Check a file against its folder's manifest and return its path.

    Parameters
    ----------
    path
        A file written with :func:`checked_path`.
    fix
        How to re-create the file (shown in the error).

    Raises
    ------
    IntegrityError
        If the file is missing from the manifest, truncated or corrupted.
    """
    check_record(path, file_record(path), fix)
    return Path(path)


def read_verified(path: str | Path, fix: str) -> bytes:
    """A file's bytes, read once and checked against its folder's manifest.

    Raises
    ------
    IntegrityError
        As :func:`verify_file`.
    """
    data = Path(path).read_bytes()
    check_record(path, {"bytes": len(data), "sha256": bytes_sha256(data)}, fix)
    return data


def verify_folder(folder: str | Path) -> dict[str, str | None]:
    """Check every file the folder's manifest records: name → ``None`` when intact, else the error."""
    source = Path(folder)
    outcome: dict[str, str | None] = {}
    for name in sorted(read_manifest(source).get("files", {})):
        path = source / name
        if not path.exists():
            outcome[name] = f"{path}: recorded in {source / MANIFEST} but missing"
            continue
        try:
            verify_file(path, fix="re-create it")
            outcome[name] = None
        except IntegrityError as exc:
            outcome[name] = str(exc)
    return outcome


def tree_records(folder: str | Path, skip: str) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file under ``folder`` (paths relative to it), except those under ``skip``.

    For a folder written whole and then renamed into place (the prepared Zarr cube, by
    :func:`hazardcore.atomic.atomic_dir`): taken once every file is written, before the
    rename, and kept inside the folder under ``skip`` (which cannot record itself).
    """
    root = Path(folder)
    return {name: file_record(path) for path in sorted(root.rglob("*"))
            if path.is_file() and not (name := path.relative_to(root).as_posix()).startswith(skip + "/")}


def verify_tree(folder: str | Path, records: dict[str, Any], skip: str, source: str | Path, fix: str) -> None:
    """Check every file under ``folder`` (but those under ``skip``) against ``records`` of :func:`tree_records`.

    Parameters
    ----------
    folder
        The folder.
    records
        What :func:`tree_records` returned when it was written.
    skip
        The subfolder holding the records.
    source
        Where the records are kept (for messages).
    fix
        How to re-create the folder.

    Raises
    ------
    IntegrityError
        If no records are given, a recorded file is missing, truncated or corrupted, or a file
        is there that the records do not hold.
    """
    root = Path(folder)
    if not records:
        raise IntegrityError(describe("no checksums recorded for this folder, so it cannot be trusted", source=root,
                                      expected=f"the size and sha256 of every file in {source}",
                                      found="none", fix=fix))
    present = {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}
    present = {name for name in present if not name.startswith(skip + "/")}
    missing, extra = sorted(set(records) - present), sorted(present - set(records))
    if missing or extra:
        raise IntegrityError(describe(
            "files of the folder differ from those recorded when it was written", source=root,
            expected=f"the {len(records)} files recorded in {source}",
            found="; ".join(part for part in (f"missing {missing[:3]}" if missing else "",
                                              f"not recorded {extra[:3]}" if extra else "") if part), fix=fix))
    for name, record in records.items():
        refuse_mismatch(root / name, file_record(root / name), [record], Path(source), fix)

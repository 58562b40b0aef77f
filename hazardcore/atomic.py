"""Crash-safe file primitives: write beside the destination, flush, then rename.

Used by every writer (``export`` for products and inputs it generates, ``checkpoint``
for training state), so an interrupted write never leaves a truncated file and the
previous version survives until the new one is complete.

Locks between processes come from ``filelock`` (``flock`` on POSIX, ``LockFileEx`` on
Windows), so this module, and every module above it, imports where ``fcntl`` does not exist.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, before_replace: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it over ``path``.

    Parameters
    ----------
    path
        Final destination. Its folder is created if needed.
    before_replace
        Called with the complete, fsynced temporary file just before the rename (e.g. to
        record its checksum, see :mod:`hazardcore.integrity`).

    Yields
    ------
    pathlib.Path
        Where the caller writes. It is removed if the caller raises.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; products are shared
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete what killed writers left in ``folder``: hidden ``.NAME.*.tmp`` files and folders.

    Call only where no other process is writing into ``folder`` (e.g. when a training run
    starts or resumes: one writer per run).

    Returns
    -------
    list of pathlib.Path
        What was removed.
    """
    removed = sorted(Path(folder).glob(".*.tmp"))
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return removed


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success swap it in for ``path``.

    The previous folder is renamed aside, the new one renamed into place, and only then the
    old one removed, so an interruption leaves either the old or the new complete folder
    (and at worst a hidden ``.old`` copy to clean up).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        old = final.parent / f".{final.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def lock_file(folder: str | Path) -> Path:
    """The file whose lock stands for ``folder``'s: one per folder, outside it.

    It lives in a per-user folder of the system's temporary folder, named by a hash of
    ``folder``'s resolved path, so the locked folder holds only what its writers put there
    (a product folder's listing stays what its manifest records).
    """
    key = hashlib.sha256(os.path.normcase(Path(folder).resolve()).encode("utf-8")).hexdigest()[:32]
    return Path(tempfile.gettempdir()) / f"hazardcore-locks-{_user()}" / f"{key}.lock"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's arbitrary user)
        return str(os.getuid()) if hasattr(os, "getuid") else "user"


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on a folder between processes and threads (:func:`lock_file`).

    For read-modify-write of a small shared file in the folder (a manifest, a run's status)
    by several processes. The operating system releases it when its holder dies, even by
    SIGKILL; it waits as long as another holder keeps it.
    """
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    lock = lock_file(path)
    lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with FileLock(lock):
        yield


def write_text(text: str, path: str | Path) -> Path:
    """Write ``text`` (UTF-8) atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def append_line(line: str, path: str | Path) -> Path:
    """Append one line (UTF-8, newline added) to a log and flush it to disk.

    A single ``write`` of a whole line in append mode: a reader (the dashboard following a
    run's ``log.jsonl``) never sees part of a line, except the last one after a power cut,
    which the log's readers skip.
    """
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line.rstrip("\n") + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return Path(path)

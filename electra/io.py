"""Files and directories that are either complete or absent: every writer of a result goes through ``atomic_path``
(or ``atomic_write`` / ``atomic_directory`` / ``write_text`` / ``write_json`` on top of it).

The temporary name sits beside the target (``<path>.tmp-<pid>-<random>``), so the final rename never crosses a
file system, and a writer killed half-way leaves a name ``remove_temporaries`` recognizes. Nothing here calls
``mkstemp``/``mkdtemp``: they create 0600 files and 0700 directories, and a serving process running as another
user could not read the result; files and directories made here get the modes the process's umask gives.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
from typing import Any, Iterator

TEMPORARY_MARK = ".tmp-"

# errno → how the message states the cause. TensorFlow's file system reports the same causes as text in its
# OpErrors (``ResourceExhaustedError: ...; No space left on device``), matched by these strings.
STORAGE_CAUSES = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded",
                  errno.EROFS: "Read-only file system", errno.EACCES: "Permission denied",
                  errno.EPERM: "Operation not permitted", errno.EFBIG: "File too large"}

# The causes only a write meets (a read can be refused for want of rights too, a bad input rather than storage).
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG)


class StorageError(OSError):
    """A write failed for lack of room or rights (full disk, quota, read-only file system, permissions). The
    message is one line naming the path and the cause; what was written before (the newest checkpoint, the log) is
    intact. Exit status ``EXIT_STORAGE`` (74, sysexits' EX_IOERR) from every command."""

    def __init__(self, path: str, cause_errno: int, hint: str = ""):
        self.path, self.hint = target_of(path), hint
        cause = STORAGE_CAUSES.get(cause_errno, os.strerror(cause_errno))
        super().__init__(cause_errno, cause, self.path)

    def __reduce__(self):       # from a worker process back to its pool
        return StorageError, (self.path, self.errno, self.hint)

    def __str__(self) -> str:
        free = free_space(self.path) if self.errno in (errno.ENOSPC, errno.EDQUOT) else None
        room = f" ({free / 2 ** 20:.1f} MiB free there)" if free is not None else ""
        hint = f". {self.hint[:1].upper()}{self.hint[1:]}" if self.hint else ""
        return f"cannot write {self.path}: {self.strerror}{room}{hint}"


def storage_error(error: BaseException, path: str, hint: str = "") -> StorageError | None:
    """``error`` as a ``StorageError`` about ``path`` when it is one (an ``OSError`` with a storage errno, or a
    TensorFlow ``OpError`` whose message states such a cause); None otherwise."""
    if isinstance(error, StorageError):
        return error
    if isinstance(error, OSError) and error.errno in STORAGE_CAUSES:
        return StorageError(getattr(error, "filename", None) or path, error.errno, hint)
    if hasattr(error, "error_code"):       # tf.errors.OpError, without importing TensorFlow here
        text = str(getattr(error, "message", error))
        for number, cause in STORAGE_CAUSES.items():
            if cause in text:
                return StorageError(path, number, hint)
    return None


@contextlib.contextmanager
def storing(path: str, hint: str = "") -> Iterator[None]:
    """Turn a storage failure inside the block (see ``storage_error``) into a ``StorageError`` naming ``path``."""
    try:
        yield
    except Exception as e:
        translated = storage_error(e, path, hint)
        if translated is None or translated is e:
            raise
        raise translated from e


def free_space(path: str) -> int | None:
    """Bytes free to this user on the file system holding ``path`` (its nearest existing parent); None if unknown."""
    path = os.path.abspath(path)
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def temporary_path(path: str) -> str:
    """A fresh name beside ``path`` for its unfinished contents (unique per process and call)."""
    return f"{path}{TEMPORARY_MARK}{os.getpid()}-{secrets.token_hex(4)}"


def is_temporary(name: str) -> bool:
    return TEMPORARY_MARK in name


def target_of(path: str) -> str:
    """The path a temporary name (``temporary_path``) stands for; other paths unchanged."""
    return re.sub(re.escape(TEMPORARY_MARK) + r"\d+-[0-9a-f]+", "", path)


def remove_temporaries(directory: str, prefix: str) -> list[str]:
    """Delete what killed writers left in ``directory`` (temporary names starting with ``prefix``); returns the
    names removed."""
    removed = []
    if os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            if name.startswith(prefix) and is_temporary(name):
                _remove(os.path.join(directory, name))
                removed.append(name)
    return removed


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary name beside ``path`` for a writer that takes a name and makes a file or a directory there; when
    the block ends without an error it replaces ``path`` (a previous directory is moved aside first, restored if
    the rename fails, then deleted), else it is removed and ``path`` stays as it was. A full disk, a read-only file
    system or missing rights raise ``StorageError`` naming ``path``."""
    tmp = temporary_path(path)
    try:
        with storing(path):
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            yield tmp
            _replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            _remove(tmp)


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """``atomic_path`` for a directory: yields an empty staging directory beside ``path`` to fill."""
    with atomic_path(path) as staging:
        os.mkdir(staging)
        yield staging


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """An open file that replaces ``path`` once written and synced: a kill or a full disk leaves the old file (or
    none), never a partial one."""
    with atomic_path(path) as tmp:
        with open(tmp, mode.replace("w", "x"), encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str, text: str) -> str:
    with atomic_write(path) as f:
        f.write(text)
    return path


def write_json(path: str, value: Any) -> str:
    with atomic_write(path) as f:
        json.dump(value, f, indent=2, sort_keys=True, default=_plain)
        f.write("\n")
    return path


def _replace(produced: str, target: str) -> None:
    if not (os.path.isdir(produced) or os.path.isdir(target)) or not os.path.lexists(target):
        os.replace(produced, target)
        return
    aside = temporary_path(target)
    os.rename(target, aside)
    try:
        os.rename(produced, target)
    except BaseException:
        os.rename(aside, target)
        raise
    _remove(aside)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (fingerprints of vocabularies and inputs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):          # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)

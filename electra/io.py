"""Files that are either complete or absent: every writer of a result file goes through ``atomic_write``."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """A temporary name beside ``path`` (``.<name>.<random>.tmp``) for a writer that takes a file name; renamed
    over ``path`` when the block ends without an error, removed otherwise."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Write to a temporary file beside ``path``, then rename it over ``path``: a kill or a full disk leaves the
    old file (or none), never a partial one."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (fingerprints of vocabularies and inputs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: str, value: Any) -> str:
    with atomic_write(path) as f:
        json.dump(value, f, indent=2, sort_keys=True, default=_plain)
        f.write("\n")
    return path


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):          # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)

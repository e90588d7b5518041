"""Shared pieces of the data_prep tools: errors, input discovery, strict UTF-8 line reading (atomic writes:
``electra.io``)."""
from __future__ import annotations

import bz2
import glob
import gzip
import logging
import lzma
import os
from collections.abc import Iterable, Iterator

from electra.io import file_sha256  # noqa: F401  (re-exported: data_prep's tools fingerprint inputs too)

log = logging.getLogger("data_prep")

ERRORS_CHOICES = ("strict", "replace")


class DataPrepError(RuntimeError):
    """A data preparation step cannot go on (bad input, missing file, offline, ...). The message says why."""


def expand_inputs(patterns: str | os.PathLike | Iterable[str | os.PathLike], what: str = "input") -> list[str]:
    """Files, directories (every file below except hidden and ``.json`` ones) or glob patterns → sorted paths."""
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    files: list[str] = []
    for pattern in patterns:
        pattern = os.fspath(pattern)
        if os.path.isdir(pattern):
            for root, dirs, names in os.walk(pattern):   # hidden files and our JSON manifests skipped
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files.extend(os.path.join(root, n) for n in sorted(names)
                             if not n.startswith(".") and not n.endswith(".json"))
        elif os.path.isfile(pattern):
            files.append(pattern)
        else:
            matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not matches:
                raise DataPrepError(f"{what} not found: {pattern}")
            files.extend(matches)
    if not files:
        raise DataPrepError(f"no {what} files given")
    return sorted(dict.fromkeys(files))


def _open_binary(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".bz2"):
        return bz2.open(path, "rb")
    if path.endswith(".xz"):
        return lzma.open(path, "rb")
    return open(path, "rb")


def iter_lines(path: str, errors: str = "strict") -> Iterator[str]:
    """Lines of a UTF-8 text file (``.gz``/``.bz2``/``.xz`` are decompressed), without line endings.

    ``errors="strict"``: invalid UTF-8 raises ``DataPrepError`` naming the file and the byte offset (in the
    decompressed stream for compressed files); ``errors="replace"``: invalid bytes become U+FFFD.
    """
    for block in iter_line_blocks(path, errors):
        yield from block


def iter_line_blocks(path: str, errors: str = "strict") -> Iterator[list[str]]:
    """``iter_lines`` a block (list) of lines at a time, about 1 MB of text each: callers that handle lines in
    bulk (list comprehensions, ``str.join``) skip a generator step per line, which is most of the reading cost."""
    if errors not in ERRORS_CHOICES:
        raise ValueError(f"errors must be one of {ERRORS_CHOICES}, got {errors!r}")
    offset = 0
    first = True
    try:
        with _open_binary(path) as f:
            while True:
                # ~1 MB at a time, cut at a line end ('\n' never occurs inside a multi-byte UTF-8 sequence)
                raw = f.read(1 << 20)
                if not raw:
                    break
                if not raw.endswith(b"\n"):
                    raw += f.readline()
                try:
                    text = raw.decode("utf-8", errors)
                except UnicodeDecodeError as e:
                    bad = raw[e.start:e.start + 4].hex(" ")
                    raise DataPrepError(
                        f"{path}: invalid UTF-8 at byte offset {offset + e.start} (bytes {bad}: {e.reason}); "
                        f"fix the file or pass --errors=replace to replace invalid bytes with U+FFFD") from None
                offset += len(raw)
                if first and text.startswith("\ufeff"):
                    text = text[1:]
                first = False
                lines = text.split("\n")
                if lines[-1] == "":
                    lines.pop()
                if "\r" in text:
                    lines = [line.rstrip("\r") for line in lines]
                if lines:
                    yield lines
    except (OSError, EOFError, lzma.LZMAError) as e:
        raise DataPrepError(f"{path}: cannot read ({type(e).__name__}: {e})") from e


def check_utf8(paths: Iterable[str], errors: str = "strict") -> tuple[int, bool]:
    """Read every file once (fast; no tokenization): raises on invalid UTF-8 under ``strict``.
    Returns (characters + one per line end, whether any line holds more than whitespace)."""
    total = 0
    has_text = False
    for path in paths:
        for lines in iter_line_blocks(path, errors):
            total += sum(map(len, lines)) + len(lines)
            has_text = has_text or any(map(str.strip, lines))      # (stops at the first line with text)
    return total, has_text



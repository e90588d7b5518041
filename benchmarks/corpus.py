"""A non-repetitive corpus of real text found on this machine, for benchmarks (nothing downloaded).

Why: a benchmark that repeats a few MB of text measures the tokenizer's word cache, not tokenization — after the
first pass every word is a dictionary hit. Real corpora keep bringing new words, so the benchmark text must not
repeat. Sources, in this fixed order: the embedded default corpus (Shakespeare + CPython's documentation,
``data_prep.corpus.default_corpus_documents``), the docstrings of every standard-library module (tests included),
then the docstrings and ``.md``/``.rst``/``.txt``/``METADATA``/``LICENSE`` text of the installed Python packages,
then ``/usr/share/doc``. Every paragraph is cleaned (``data_prep.text.clean_text``) and kept only the first time it
is seen (licences, changelogs and copied docstrings repeat a lot), then split into sentences; a sentence of 30 or
more characters seen before is dropped as well; documents with fewer than two sentences are dropped.
``write_documents`` reports what a reader needs to judge that the text does not repeat: MB, documents, distinct
documents, and the fraction of sentence lines (and of bytes) that repeat an earlier line.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import sys
import sysconfig
from collections.abc import Iterator

from data_prep.corpus import docstring_paragraphs
from data_prep.text import clean_text, paragraph_to_sentences

_TEXT_SUFFIXES = (".md", ".rst", ".txt")
_SKIP_DIRS = {"__pycache__", ".git", "node_modules"}
_SHORT = 30   # characters: shorter sentences may repeat


def _docstring_paragraphs(path: str) -> list[str]:
    """The file's docstring paragraphs without doctest and shell examples."""
    return [p for p in docstring_paragraphs(path) if not p.startswith((">>>", "$", "..."))]


def _text_paragraphs(path: str) -> list[str]:
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            text = f.read(4_000_000)
    except (UnicodeDecodeError, OSError, EOFError):
        return []
    return text.split("\n\n")


def _files(root: str, python: bool) -> Iterator[str]:
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if f not in _SKIP_DIRS)
        for name in sorted(files):
            path = os.path.join(directory, name)
            if os.path.islink(path):
                continue
            if python and name.endswith(".py"):
                yield path
            elif (name.endswith(_TEXT_SUFFIXES) or name in ("METADATA", "copyright") or name.startswith("LICENSE")
                  or (not python and name.endswith(".gz") and not name.endswith(".tar.gz"))):
                yield path


def _raw_documents() -> Iterator[tuple[bool, list[str]]]:
    """(already split into sentences?, paragraphs or sentences) in the fixed source order (not deduplicated)."""
    from data_prep.corpus import default_corpus_documents
    for sentences in default_corpus_documents():
        yield True, sentences
    roots = [(sysconfig.get_paths()["stdlib"], True)]
    roots += [(p, True) for p in sorted(set(sys.path)) if p.endswith("site-packages") and os.path.isdir(p)]
    roots += [("/usr/share/doc", False)]
    for root, python in roots:
        for path in _files(root, python):
            if root == roots[0][0] and "site-packages" in path:
                continue
            yield False, _docstring_paragraphs(path) if path.endswith(".py") else _text_paragraphs(path)


def real_text_documents(max_mb: float | None = None, min_sentences: int = 2) -> Iterator[list[str]]:
    """Documents (lists of sentences) of distinct real text, up to ``max_mb`` MB of sentence lines (UTF-8, one
    newline per sentence), in a fixed order: the same machine gives the same corpus."""
    seen: set[bytes] = set()
    seen_sentences: set[bytes] = set()
    written = 0
    for split, paragraphs in _raw_documents():
        if split:   # the embedded corpus: whole documents (a scene, a module's docs), kept once each
            key = hashlib.blake2b("\n".join(paragraphs).encode("utf-8", "replace"), digest_size=16).digest()
            paragraphs = [] if key in seen else paragraphs
            seen.add(key)
        sentences = list(paragraphs) if split else []
        for paragraph in [] if split else paragraphs:
            paragraph = clean_text(paragraph)
            if len(paragraph) < 20:
                continue
            key = hashlib.blake2b(paragraph.encode("utf-8", "replace"), digest_size=16).digest()
            if key in seen:
                continue
            seen.add(key)
            sentences += paragraph_to_sentences(paragraph)
        # a long sentence seen before is dropped too (docstrings copied between functions, the standard library
        # docs already in the embedded corpus); short ones ("Ham.", "Returns:") repeat in any real text
        kept = []
        for sentence in sentences:
            if len(sentence) >= _SHORT:
                key = hashlib.blake2b(sentence.encode("utf-8", "replace"), digest_size=16).digest()
                if key in seen_sentences:
                    continue
                seen_sentences.add(key)
            kept.append(sentence)
        sentences = kept
        if len(sentences) < min_sentences:
            continue
        yield sentences
        written += sum(len(s.encode("utf-8", "replace")) + 1 for s in sentences)
        if max_mb is not None and written >= max_mb * 1e6:
            return


def write_documents(path: str, documents) -> dict:
    """Write documents as a sentence shard (one sentence a line, blank line between documents); returns
    ``corpus_stats`` of what was written."""
    lines_seen: set[bytes] = set()
    docs_seen: set[bytes] = set()
    stats = {"bytes": 0, "documents": 0, "sentences": 0, "repeated_lines": 0, "repeated_bytes": 0,
             "distinct_documents": 0}
    with open(path, "w", encoding="utf-8", errors="replace") as f:
        for document in documents:
            text = "".join(s + "\n" for s in document) + "\n"
            f.write(text)
            stats["bytes"] += len(text.encode("utf-8", "replace"))
            stats["documents"] += 1
            stats["sentences"] += len(document)
            doc_key = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).digest()
            stats["distinct_documents"] += doc_key not in docs_seen
            docs_seen.add(doc_key)
            for sentence in document:
                key = hashlib.blake2b(sentence.encode("utf-8", "replace"), digest_size=16).digest()
                if key in lines_seen:
                    stats["repeated_lines"] += 1
                    stats["repeated_bytes"] += len(sentence.encode("utf-8", "replace")) + 1
                lines_seen.add(key)
    return corpus_stats(stats)


def corpus_stats(stats: dict) -> dict:
    return {"mb": round(stats["bytes"] / 1e6, 3), "documents": stats["documents"],
            "distinct_documents": stats["distinct_documents"], "sentences": stats["sentences"],
            # lines equal to an earlier line (mostly short ones: speaker names, "Returns:"), and their share of bytes
            "duplicate_line_fraction": round(stats["repeated_lines"] / max(1, stats["sentences"]), 4),
            "duplicate_line_bytes_fraction": round(stats["repeated_bytes"] / max(1, stats["bytes"]), 4)}


def main() -> int:   # .venv/bin/python benchmarks/corpus.py OUT.txt [MB]
    out = sys.argv[1]
    mb = float(sys.argv[2]) if len(sys.argv) > 2 else None
    print(write_documents(out, real_text_documents(mb)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

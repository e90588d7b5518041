"""Many sentences → one flat array of token ids plus one length per sentence, for the TFRecord builder.

``FlatEncoder(tokenizer).encode(texts)`` returns exactly the ids of ``tokenizer.encode_batch(texts)``, concatenated
(``ids``) with each text's count (``lengths``), so packing and serialization can run on numpy arrays.

Why a second path next to ``WordPieceTokenizer.encode_batch``: on real, non-repetitive text that method spends
its time in Python per word (a regular-expression ``findall`` per sentence, a dictionary lookup and a list per
word); the Rust pipeline is slower still on one thread (~2 MB/s). Here, for text the tokenizer's own fast path
accepts (ASCII, common punctuation and spaces — see ``electra.tokenization._FAST_ALLOWED``):

* the whole batch is normalized at once (the tokenizer's ``_fast_normalize``: lower-case, drop controls), and
  split on whitespace with ``str.split()`` — one C call. In such text every character is a letter/digit, a
  punctuation mark or a space, so a whitespace-separated *chunk* ("end.", "(see", "don't") is a sequence of
  whole BERT words: its ids never depend on its neighbours;
* each distinct chunk is tokenized once — ``_FAST_WORDS`` + the Rust WordPiece model, the calls
  ``encode_batch`` makes — and numbered; every occurrence is then one C-level dictionary hit (``map``), and the
  ids are gathered with numpy (no Python work per token).

Sentences outside the fast path go through ``tokenizer.encode_batch`` itself, as do tokenizers of other kinds
(SentencePiece) and texts containing a newline. ``tests/data_prep/test_flat_encoder.py`` checks the ids against
``encode_batch``.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain, compress

import numpy as np

_SENTENCE_END = "\x00"   # marks a text boundary among the chunks: a control character, removed by normalization
_EMPTY = np.zeros(0, dtype=np.int64)
_MAX_ENTRIES = 2_000_000  # distinct chunks remembered before the tables start over (bounds the memory)


class _Index(dict):
    """chunk → entry number; an unseen chunk gets the next number and is queued in ``new`` (looking chunks up
    with ``map(index.__getitem__, chunks)`` stays in C for every chunk already known). Entry 0 is the text
    boundary, as str and as bytes (ASCII text is split as bytes)."""

    def __init__(self):
        super().__init__({_SENTENCE_END: 0, _SENTENCE_END.encode(): 0})
        self.new: list[str | bytes] = []
        self.size = 1

    def __missing__(self, key: str | bytes) -> int:
        number = self[key] = self.size
        self.size += 1
        self.new.append(key)
        return number


class _RaggedTable:
    """Entry number → a run of ids (numpy arrays, grown by doubling): ``gather(entries)`` concatenates the runs
    of many entries in one vectorized step and returns how many ids each entry gave."""

    def __init__(self):
        self.starts = np.zeros(1024, dtype=np.int64)
        self.counts = np.zeros(1024, dtype=np.int64)      # entry 0 (_SENTENCE_END) gives nothing
        self.ids = np.zeros(1 << 16, dtype=np.int64)
        self.entries = 1
        self.used = 0

    def append(self, counts, ids) -> None:
        first, self.entries = self.entries, self.entries + len(counts)
        self.starts = _grown(self.starts, self.entries)
        self.counts = _grown(self.counts, self.entries)
        counts = np.asarray(counts, dtype=np.int64)
        self.counts[first:self.entries] = counts
        self.starts[first:self.entries] = self.used + np.cumsum(counts) - counts
        self.ids = _grown(self.ids, self.used + len(ids))
        self.ids[self.used:self.used + len(ids)] = ids
        self.used += len(ids)

    def gather(self, entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the ids of all entries in order, the running id count after each entry)."""
        counts = self.counts[entries]
        ends = np.cumsum(counts)
        total = int(ends[-1]) if len(ends) else 0
        # output id j is id (j - first output position of its entry) of that entry's run
        return self.ids[np.repeat(self.starts[entries] - (ends - counts), counts) + np.arange(total)], ends


class FlatEncoder:
    """``encode(texts) -> (ids, lengths)``: ``ids`` (int64) is ``tokenizer.encode_batch(texts)`` concatenated and
    ``lengths[i]`` the number of ids of ``texts[i]``."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._fast = _fast_path_parts(tokenizer)
        self._reset()

    def _reset(self) -> None:
        self._chunk_index, self._chunks = _Index(), _RaggedTable()   # chunk → its ids
        self._word_index, self._words = _Index(), _RaggedTable()     # word → its WordPiece ids

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        texts = list(texts)
        if not texts:
            return _EMPTY, _EMPTY
        try:
            joined = "\n".join(texts)
        except TypeError:                               # not all str: encode_batch says what is wrong
            joined = None
        if self._fast is None or joined is None or joined.count("\n") != len(texts) - 1:
            return _flatten(self.tokenizer.encode_batch(texts))   # (a text holding a newline: keep it simple)
        if len(self._chunk_index) > _MAX_ENTRIES:
            self._reset()
        if joined.isascii():
            return self._encode_ascii(joined, len(texts))
        # Mixed batch: ASCII texts as bytes, other fast-path texts as str, the rest through encode_batch.
        allowed = self._fast[0]
        other = [i for i, text in enumerate(texts) if not text.isascii()]   # few in most text
        is_ascii = np.ones(len(texts), dtype=bool)
        is_ascii[other] = False
        fast = np.array([i for i in other if allowed(texts[i]) is None], dtype=np.int64)
        rest = np.setdiff1d(np.array(other, dtype=np.int64), fast)
        ascii_count = len(texts) - len(other)
        groups = [(np.flatnonzero(is_ascii),
                   self._encode_ascii("\n".join(compress(texts, is_ascii.tolist())), ascii_count)),
                  (fast, self._encode_str("\n".join([texts[i] for i in fast]), len(fast))),
                  (rest, _flatten(self.tokenizer.encode_batch([texts[i] for i in rest])))]
        lengths = np.zeros(len(texts), dtype=np.int64)
        for where, (_, group_lengths) in groups:
            lengths[where] = group_lengths
        ends = np.cumsum(lengths)
        ids = np.empty(int(ends[-1]), dtype=np.int64)
        for where, (group_ids, group_lengths) in groups:
            if len(where):
                ids[_ragged_positions((ends - lengths)[where], group_lengths)] = group_ids
        return ids, lengths

    def _encode_ascii(self, joined: str, count: int) -> tuple[np.ndarray, np.ndarray]:
        """ASCII texts joined by newlines. Normalized as bytes — the tokenizer's ``_fast_normalize`` on ASCII
        (lower-case A-Z when uncased, drop the ASCII characters of ``_FAST_CONTROLS``) — and split into chunks
        with ``bytes.split()``: about twice as fast as the same steps on str."""
        if not count:
            return _EMPTY, _EMPTY
        data = joined.encode("ascii")
        if self.tokenizer.lower_case:
            data = data.lower()
        data = data.translate(None, self._fast[4])
        return self._chunk_ids((data + b"\n").replace(b"\n", b" \x00 ").split())

    def _encode_str(self, joined: str, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Texts joined by newlines, accepted by the tokenizer's fast path but not all ASCII."""
        if not count:
            return _EMPTY, _EMPTY
        text = self._fast[1](joined) + "\n"
        return self._chunk_ids(text.replace("\n", f" {_SENTENCE_END} ").split())

    def _chunk_ids(self, chunks: list) -> tuple[np.ndarray, np.ndarray]:
        """Whitespace chunks, a ``_SENTENCE_END`` after each text → (ids, ids per text)."""
        entries = np.fromiter(map(self._chunk_index.__getitem__, chunks), dtype=np.int64, count=len(chunks))
        if self._chunk_index.new:
            self._add_chunks()
        ids, ends = self._chunks.gather(entries)
        return ids, np.diff(ends[entries == 0], prepend=0)   # ids up to each text's _SENTENCE_END

    def _add_chunks(self) -> None:
        """Tokenize the chunks seen for the first time, all at once: their words (the tokenizer's word pattern,
        ``_SENTENCE_END`` after each chunk) → word entries → WordPiece ids."""
        new, self._chunk_index.new = self._chunk_index.new, []
        text = _SENTENCE_END.join([c.decode("ascii") if type(c) is bytes else c for c in new]) + _SENTENCE_END
        words = self._fast[2](text)
        entries = np.fromiter(map(self._word_index.__getitem__, words), dtype=np.int64, count=len(words))
        if self._word_index.new:
            new_words, self._word_index.new = self._word_index.new, []
            wordpiece = self._fast[3]
            pieces = [wordpiece(word) for word in new_words]
            self._words.append([len(p) for p in pieces], list(chain.from_iterable(pieces)))
        ids, ends = self._words.gather(entries)
        self._chunks.append(np.diff(ends[entries == 0], prepend=0), ids)


def _fast_path_parts(tokenizer):
    """(fast-path test, normalizer, word splitter, WordPiece of one word, ASCII control bytes) of a
    ``WordPieceTokenizer`` — what its ``encode_batch`` uses — or None for other tokenizers (``encode_batch``)."""
    try:
        from electra import tokenization
        if not isinstance(tokenizer, tokenization.WordPieceTokenizer):
            return None
        model = tokenizer._rust.model
        words = re.compile(f"{tokenization._FAST_WORDS.__self__.pattern}|{_SENTENCE_END}").findall
        controls = bytes(c for c in range(128) if tokenization._FAST_CONTROLS.match(chr(c)))
        return (tokenization._FAST_ALLOWED, tokenizer._fast_normalize, words,
                lambda word: [t.id for t in model.tokenize(word)], controls)
    except (ImportError, AttributeError):   # a tokenizer without that fast path: the plain route is still right
        return None


def _flatten(encoded: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    ids = np.fromiter(chain.from_iterable(encoded), dtype=np.int64, count=int(lengths.sum()))
    return ids, lengths


def _ragged_positions(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])`` without the Python loop."""
    ends = np.cumsum(counts)
    return np.repeat(starts - (ends - counts), counts) + np.arange(int(ends[-1]) if len(ends) else 0)


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    if size <= len(array):
        return array
    bigger = np.zeros(max(size, 2 * len(array)), dtype=array.dtype)
    bigger[:len(array)] = array
    return bigger

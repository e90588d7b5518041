"""Many sentences → one flat array of token ids plus one length per sentence, for the TFRecord builder.

``FlatEncoder(tokenizer).encode(texts)`` returns exactly the ids of ``tokenizer.encode_batch(texts)``, concatenated
(``ids``) with each text's count (``lengths``), so packing and serialization can run on numpy arrays.

Why a second path next to ``WordPieceTokenizer.encode_batch``: on real, non-repetitive text that method spends
its time in Python per word (a regular-expression ``findall`` per sentence, a dictionary lookup and a list per
word); the Rust pipeline is slower still on one thread. Here, for text the tokenizer's own fast path
accepts (ASCII, common punctuation and spaces — see ``electra.tokenization._FAST_ALLOWED``):

* the whole batch is normalized at once (the tokenizer's ``_fast_normalize``: lower-case, drop controls) and
  split on whitespace. In such text every character is a letter/digit, a punctuation mark or a space, so a
  whitespace-separated *chunk* ("end.", "(see", "don't") is a sequence of whole BERT words: its ids never depend
  on its neighbours;
* each distinct chunk is tokenized once — ``_FAST_WORDS`` + the Rust WordPiece model, the calls
  ``encode_batch`` makes — and numbered; the ids are then gathered with numpy (no Python work per token).

For ASCII text (nearly all of it in English corpora) the per-chunk work is numpy too: the chunks are found as
byte ranges, and a chunk of up to 16 bytes is looked up by its own bytes (two uint64, exact) in an
open-addressing hash table kept in numpy arrays (``_KeyTable``); new chunks are cut into words the same way.
Only longer chunks take a dictionary lookup each. Texts that are not ASCII but within the fast path take
``str.split()`` and a dictionary lookup per chunk (``map`` over ``_Index.__getitem__``, in C).

Sentences outside the fast path go through ``tokenizer.encode_batch`` itself, as do tokenizers of other kinds
(SentencePiece) and texts containing a newline. ``tests/data_prep/test_flat_encoder.py`` checks the ids against
``encode_batch``.
"""
from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from functools import partial
from itertools import chain, compress, count

import numpy as np

_SENTENCE_END = "\x00"   # marks a text boundary among the chunks: a control character, removed by normalization
_EMPTY = np.zeros(0, dtype=np.int64)
_KEY_BYTES = 16          # ASCII chunks up to this long are looked up in numpy by their bytes (_KeyTable)
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)   # keeps the first n bytes
_BYTES_SPLIT_ON = np.array([len(bytes([c]).split()) == 0 for c in range(256)])     # \t \n \v \f \r and space
_NEWLINE = ord("\n")
_MAX_ENTRIES = 2_000_000  # distinct chunks remembered before the tables start over (bounds the memory)
_END, _RUN, _SINGLE, _SKIPPED = range(4)  # _word_kinds: the "\x00" after a chunk, a letter/digit, punctuation, other


class _Index(dict):
    """chunk → entry number; an unseen chunk gets the next number and is queued in ``new`` (looking chunks up
    with ``map(index.__getitem__, chunks)`` stays in C for every chunk already known). Entry 0 is the text
    boundary. Keys are str (non-ASCII texts) or bytes (ASCII chunks and words too long for ``_KeyTable``); the
    two share the entry numbers (``size``) with that table."""

    def __init__(self):
        super().__init__({_SENTENCE_END: 0})
        self.new: list[str | bytes] = []
        self.size = 1

    def __missing__(self, key: str | bytes) -> int:
        number = self[key] = self.size
        self.size += 1
        self.new.append(key)
        return number


class _KeyTable:
    """Keys (pairs of uint64) → entry numbers: an open-addressing hash table (linear probing) in numpy arrays,
    so that looking up all chunks of a batch is a few vectorized passes instead of a dictionary call per chunk.
    Kept at most half full."""

    def __init__(self, bits: int = 16):
        self.bits = bits
        self.low = np.zeros(1 << bits, dtype=np.uint64)
        self.high = np.zeros(1 << bits, dtype=np.uint64)
        self.entry = np.full(1 << bits, -1, dtype=np.int64)     # -1: an empty slot
        self.count = 0

    def _home(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        mixed = (low * np.uint64(0x9E3779B97F4A7C15)) ^ (high * np.uint64(0xC2B2AE3D27D4EB4F))
        return ((mixed ^ (mixed >> np.uint64(29))) * np.uint64(0xBF58476D1CE4E5B9) >> np.uint64(64 - self.bits)
                ).astype(np.int64)

    def _look(self, slot, todo, low, high):
        """One probe for the keys ``todo`` at their current ``slot``s → (slots, entries there, occupied, same key)."""
        at = slot[todo]
        entry = self.entry[at]
        occupied = entry >= 0
        return at, entry, occupied, occupied & (self.low[at] == low[todo]) & (self.high[at] == high[todo])

    def find(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """The entry of every key, -1 where the key is absent."""
        found = np.full(len(low), -1, dtype=np.int64)
        slot = self._home(low, high)
        todo = np.arange(len(low))
        mask = (1 << self.bits) - 1
        while len(todo):
            _, entry, occupied, hit = self._look(slot, todo, low, high)
            found[todo[hit]] = entry[hit]
            todo = todo[occupied & ~hit]                             # another key there: probe the next slot
            slot[todo] = (slot[todo] + 1) & mask
        return found

    def add(self, low: np.ndarray, high: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
        """The entry of every key, adding those not in the table (repeats allowed) as entries ``first, first + 1,
        ...`` → (entries, the added keys in entry order as an [n, 2] array)."""
        if 2 * (self.count + len(low)) > len(self.entry):
            self._grow(self.count + len(low))
        entries, added = self._place(low, high, first=first)
        return entries, np.stack([low[added], high[added]], axis=1)

    def _place(self, low, high, first: int = 0, given: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Linear probing for all keys at once. A free slot wanted by several keys goes to one of them (the one
        whose provisional number stays written there); the others look at the same slot again, where they find
        either their own key (a repeat) or another one (probe on). → (entries, indices of the keys added)."""
        entries = np.empty(len(low), dtype=np.int64)
        slot = self._home(low, high)
        todo = np.arange(len(low))
        mask = (1 << self.bits) - 1
        added, number = [], first
        while len(todo):
            at, entry, occupied, same = self._look(slot, todo, low, high)
            entries[todo[same]] = entry[same]
            wanting, wanted = todo[~occupied], at[~occupied]
            ticket = given[wanting] if given is not None else number + np.arange(len(wanting))
            self.entry[wanted] = ticket
            won = self.entry[wanted] == ticket
            winners, spots = wanting[won], wanted[won]
            if given is None:                                         # numbered in order of placement
                self.entry[spots] = number + np.arange(len(winners))
                number += len(winners)
            self.low[spots], self.high[spots] = low[winners], high[winners]
            entries[winners] = self.entry[spots]
            added.append(winners)
            probing = todo[occupied & ~same]
            slot[probing] = (slot[probing] + 1) & mask
            todo = np.concatenate([probing, wanting[~won]])
        self.count += number - first if given is None else len(low)
        return entries, np.concatenate(added) if added else np.zeros(0, dtype=np.int64)

    def _grow(self, needed: int) -> None:
        used = self.entry >= 0
        low, high, entry = self.low[used], self.high[used], self.entry[used]
        bits = self.bits
        while (1 << bits) < 2 * needed:
            bits += 1
        self.__init__(bits)
        self._place(low, high, given=entry)


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
        self._short_chunks, self._short_words = _KeyTable(), _KeyTable()   # ASCII, ≤ 16 bytes → its entry
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
        if self._chunk_index.size > _MAX_ENTRIES:
            self._reset()
        if joined.isascii():
            return self._encode_ascii(joined, len(texts))
        # Mixed batch: ASCII texts as bytes, other fast-path texts as str, the rest through encode_batch.
        allowed = self._fast[0]
        other = list(compress(count(), map(operator.not_, map(str.isascii, texts))))   # few in most text
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
        data = data.translate(None, self._fast[4]) + b"\n"
        # The chunks as byte ranges, found with numpy: whitespace is what bytes.split() splits on (the controls
        # among it, \v and \f, are already gone); every text ends at a \n.
        text = np.frombuffer(data, dtype=np.uint8)
        spaces = np.concatenate([[-1], np.flatnonzero(_BYTES_SPLIT_ON[text])])
        gaps = np.diff(spaces)                           # a chunk fills each gap of more than one byte
        chunk = gaps > 1
        starts, sizes = spaces[:-1][chunk] + 1, gaps[chunk] - 1
        entries = self._range_entries(data, starts, sizes, self._short_chunks, self._chunk_index,
                                      self._add_ascii_chunks)
        ids, ends = self._chunks.gather(entries)
        # ids up to each text's end: the chunks before its \n (the \n are among the whitespace found above)
        newlines = spaces[1:][text[spaces[1:]] == _NEWLINE]
        text_ends = np.concatenate([[0], ends])[np.searchsorted(starts, newlines)]
        return ids, np.diff(text_ends, prepend=0)

    def _range_entries(self, data: bytes, starts: np.ndarray, sizes: np.ndarray, table: _KeyTable, index: _Index,
                       add: Callable[[np.ndarray], None]) -> np.ndarray:
        """The entries of the byte strings ``data[start:start + size]`` (ASCII without zero bytes). Those seen for
        the first time get the next entry numbers (``index.size`` on) and are handed, in that order, to ``add``
        (as bytes, ``\x00`` after each), which tokenizes them.

        Strings of up to 16 bytes (almost all) are looked up in numpy: the key is the string's own bytes,
        zero-padded to two little-endian uint64 — exact, as no string holds a zero byte — read for all of them
        at once through an unaligned uint64 view, then found in ``table``. Longer ones: a dictionary lookup each."""
        entries = np.empty(len(starts), dtype=np.int64)
        short = sizes <= _KEY_BYTES
        padded = data + bytes(_KEY_BYTES)
        view = np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
        at, size = starts[short], sizes[short]
        low = view[at] & _LOW_BYTES[np.minimum(size, 8)]
        high = view[at + 8] & _LOW_BYTES[np.clip(size - 8, 0, 8)]
        found = table.find(low, high)
        absent = np.flatnonzero(found < 0)
        if len(absent):
            found[absent], keys = table.add(low[absent], high[absent], index.size)
            index.size += len(keys)
            # their bytes: the keys' bytes with the padding zeros cut to one
            letters = np.concatenate([keys.astype("<u8").view(np.uint8).reshape(len(keys), _KEY_BYTES),
                                      np.zeros((len(keys), 1), dtype=np.uint8)], axis=1).reshape(-1)
            add(letters[np.concatenate([[True], letters[:-1] != 0]) | (letters != 0)])
        entries[short] = found
        if not short.all():
            long = np.flatnonzero(~short)
            entries[long] = np.fromiter(map(index.__getitem__, map(data.__getitem__, map(
                slice, starts[long].tolist(), (starts[long] + sizes[long]).tolist()))), dtype=np.int64,
                count=len(long))
            if index.new:
                new, index.new = index.new, []
                add(np.frombuffer(b"\x00".join(new) + b"\x00", dtype=np.uint8))
        return entries

    def _add_ascii_chunks(self, text: np.ndarray) -> None:
        """``_add_str_chunks`` for ASCII chunks (bytes, ``\x00`` after each), the words found with numpy: a
        maximal run of letters/digits is one word, any other byte (punctuation) a word of its own — the
        tokenizer's word pattern, as ``_word_kinds`` reads it."""
        kind = self._fast[5][text]
        edges = np.diff((kind == _RUN).view(np.int8), prepend=0, append=0)
        runs = np.flatnonzero(edges == 1)
        starts = np.flatnonzero((kind == _SINGLE) | (kind == _END) | (edges[:-1] == 1))
        sizes = np.ones(len(starts), dtype=np.int64)
        sizes[np.searchsorted(starts, runs)] = np.flatnonzero(edges == -1) - runs
        ends = kind[starts] == _END
        entries = np.zeros(len(starts), dtype=np.int64)                # word entry 0 gives no ids
        entries[~ends] = self._range_entries(text.tobytes(), starts[~ends], sizes[~ends], self._short_words,
                                             self._word_index, self._add_ascii_words)
        ids, id_ends = self._words.gather(entries)
        self._chunks.append(np.diff(id_ends[ends], prepend=0), ids)

    def _add_ascii_words(self, text: np.ndarray) -> None:
        self._words.append(*self._fast[3](text.tobytes().decode("ascii").split("\x00")[:-1]))

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
            new_chunks, self._chunk_index.new = self._chunk_index.new, []
            self._add_str_chunks(_SENTENCE_END.join(new_chunks) + _SENTENCE_END)
        ids, ends = self._chunks.gather(entries)
        return ids, np.diff(ends[entries == 0], prepend=0)   # ids up to each text's _SENTENCE_END

    def _add_str_chunks(self, text: str) -> None:
        """Tokenize the chunks seen for the first time, all at once, as the next entries of the chunk table:
        ``text`` holds them in entry order, each followed by ``_SENTENCE_END``. Their words (the tokenizer's word
        pattern) → word entries → WordPiece ids."""
        words = self._fast[2](text)
        entries = np.fromiter(map(self._word_index.__getitem__, words), dtype=np.int64, count=len(words))
        if self._word_index.new:
            new_words, self._word_index.new = self._word_index.new, []
            self._words.append(*self._fast[3](new_words))
        ids, ends = self._words.gather(entries)
        self._chunks.append(np.diff(ends[entries == 0], prepend=0), ids)


def _fast_path_parts(tokenizer):
    """(fast-path test, normalizer, word splitter, WordPiece of one word, ASCII control bytes) of a
    ``WordPieceTokenizer`` — what its ``encode_batch`` uses — or None for other tokenizers (``encode_batch``)."""
    try:
        from electra import tokenization
        if not isinstance(tokenizer, tokenization.WordPieceTokenizer):
            return None
        words = re.compile(f"{tokenization._FAST_WORDS.__self__.pattern}|{_SENTENCE_END}").findall
        controls = bytes(c for c in range(128) if tokenization._FAST_CONTROLS.match(chr(c)))
        kinds = _word_kinds(words)
        if kinds is None:
            return None
        return (tokenization._FAST_ALLOWED, tokenizer._fast_normalize, words,
                partial(_wordpiece, tokenizer.wordpiece_ids), controls, kinds)
    except (ImportError, AttributeError):   # a tokenizer without that fast path: the plain route is still right
        return None


def _word_kinds(words: Callable[[str], list[str]]) -> np.ndarray | None:
    """What the word pattern ``words`` makes of each byte: two of it form one word (_RUN), two words (_SINGLE)
    or none (_SKIPPED); the zero byte is _END (the pattern's alternative for ``_SENTENCE_END``). None if the
    _RUN bytes do not all run together (a pattern this reading does not cover: the plain route is taken)."""
    kinds = np.full(256, _SKIPPED, dtype=np.uint8)
    for byte in range(1, 128):
        pair = chr(byte) * 2
        kinds[byte] = {(pair,): _RUN, (chr(byte), chr(byte)): _SINGLE}.get(tuple(words(pair)), _SKIPPED)
    kinds[0] = _END
    run = "".join(chr(b) for b in np.flatnonzero(kinds == _RUN))
    return kinds if words(run) == [run] else None


def _wordpiece(wordpiece_ids: Callable[[str], list[int]], words: list[str]) -> tuple[list[int], list[int]]:
    """The tokenizer's ``wordpiece_ids`` of each word → (ids per word, all ids)."""
    pieces = list(map(wordpiece_ids, words))
    return [len(p) for p in pieces], list(chain.from_iterable(pieces))


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

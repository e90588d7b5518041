"""``tf.train.Example`` protos with int64 features, encoded without importing TensorFlow (framed into TFRecord
files by ``electra.data.tfrecord.TFRecordWriter``).

The bytes are the standard ones (Example protobuf wire format with packed int64 lists), so TensorFlow's readers,
Google's and NVIDIA's ELECTRA/BERT input pipelines read them. Keys are written in sorted order, which makes the
output deterministic. Encoding stays in pure Python and NumPy so worker processes start fast.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


class _VarintTable:
    """Cached varint bytes of small non-negative ints (token ids), grown on demand."""

    def __init__(self, size: int = 1 << 15):
        self.table = [_varint(i) for i in range(size)]

    def encode(self, values: Sequence[int]) -> bytes:
        if min(values, default=0) >= 0:
            try:
                return b"".join(map(self.table.__getitem__, values))
            except (IndexError, TypeError):  # large values or numpy ints
                pass
        return b"".join([self._slow(int(v)) for v in values])

    def _slow(self, value: int) -> bytes:
        if value < 0:  # int64 two's complement, 10 bytes
            value += 1 << 64
        if value < len(self.table):
            return self.table[value]
        return _varint(value)


_VARINTS = _VarintTable()


_TABLE = _VARINTS.table
_TAGS = {number: _varint(number << 3 | 2) for number in (1, 2, 3)}   # length-delimited fields


def _field(number: int, payload: bytes) -> bytes:
    size = len(payload)
    return _TAGS[number] + (_TABLE[size] if size < len(_TABLE) else _varint(size)) + payload


def _packed(values: Sequence[int]) -> bytes:
    try:
        small = bytes(values)            # every value in [0, 255]: one C call
    except (ValueError, TypeError):
        return _VARINTS.encode(values)
    return small if not small or max(small) < 0x80 else _VARINTS.encode(values)


_KEY_FIELDS: dict[str, bytes] = {}


def encode_int64_example(features: Mapping[str, Sequence[int]]) -> bytes:
    """Serialized ``tf.train.Example`` whose features are int64 lists (keys sorted)."""
    entries = []
    for key in sorted(features):
        key_field = _KEY_FIELDS.get(key)
        if key_field is None:
            key_field = _KEY_FIELDS[key] = _field(1, key.encode("utf-8"))
        int64_list = _field(1, _packed(features[key]))   # Int64List.value, packed
        feature = _field(3, int64_list)                   # Feature.int64_list
        entries.append(_field(1, key_field + _field(2, feature)))   # Features.feature: map<string, Feature> entry
    return _field(1, b"".join(entries))                   # Example.features


def encode_pretraining_example(input_ids: Sequence[int], input_mask: Sequence[int],
                               segment_ids: Sequence[int]) -> bytes:
    """``encode_int64_example`` for the three pretraining features, faster: ids come from a vocabulary (small,
    non-negative), mask and segment ids are 0/1, so their varints are the values themselves."""
    try:
        ids = b"".join(map(_TABLE.__getitem__, input_ids)) if min(input_ids, default=0) >= 0 else None
    except IndexError:
        ids = None
    mask, segments = bytes(input_mask), bytes(segment_ids)
    if ids is None or max(mask, default=0) > 1 or max(segments, default=0) > 1:
        return encode_int64_example({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})
    return _example([_entry("input_ids", ids), _entry("input_mask", mask), _entry("segment_ids", segments)])


def _entry(key: str, packed: bytes) -> bytes:
    """One ``Features.feature`` map entry: the key and a Feature holding an Int64List of packed varints."""
    key_field = _KEY_FIELDS.get(key)
    if key_field is None:
        key_field = _KEY_FIELDS[key] = _field(1, key.encode("utf-8"))
    return _field(1, key_field + _field(2, _field(3, _field(1, packed))))


def _example(entries: list[bytes]) -> bytes:
    return _field(1, b"".join(entries))                   # Example.features


_VARINT_WORDS = np.zeros(0, dtype="<u4")     # value → its varint's bytes, zero-padded to 4, as one little-endian word
_VARINT_SIZES = np.zeros(0, dtype=np.uint8)  # value → its varint's length
_VARINT_KEEP = np.arange(4) < np.arange(5)[:, None]   # length → which of the 4 bytes are the varint's


def _varint_table(top: int) -> tuple[np.ndarray, np.ndarray]:
    """The varints of 0 … top (at least; top < 2**28, at most 4 bytes), as a table: token ids are small, so a
    row lookup beats arithmetic."""
    global _VARINT_WORDS, _VARINT_SIZES
    if len(_VARINT_SIZES) <= top:
        values = np.arange(max(top + 1, 1 << 15), dtype=np.int64)
        sizes = np.ones(len(values), dtype=np.uint8)
        for k in range(1, 4):
            sizes += values >= (1 << (7 * k))
        table = np.zeros((len(values), 4), dtype=np.uint8)
        for k in range(4):   # 7-bit groups, low first; the continuation bit on all but the last
            table[:, k] = ((values >> (7 * k)) & 0x7F) | np.where(k < sizes - 1, 0x80, 0)
        table[~_VARINT_KEEP[sizes]] = 0
        _VARINT_WORDS, _VARINT_SIZES = table.view("<u4").reshape(-1), sizes
    return _VARINT_WORDS, _VARINT_SIZES


def _varint_rows(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Rows of non-negative ints (2-D array) → (their varints, row after row, as one bytes; bytes per row).
    Vectorized: every value's varint from a table as 4 bytes, then only the bytes each one needs are kept
    (boolean indexing keeps row-major order)."""
    if values.size == 0 or int(values.max()) < 0x80:
        return values.astype(np.uint8).tobytes(), np.full(len(values), values.shape[1], dtype=np.int64)
    if int(values.max()) >= 1 << 22:           # not token ids of any vocabulary: no table that large
        encoded = [_VARINTS.encode(row) for row in values.tolist()]
        return b"".join(encoded), np.array([len(e) for e in encoded], dtype=np.int64)
    words, table_sizes = _varint_table(int(values.max()))
    flat = values.reshape(-1).astype(np.int32)
    sizes = table_sizes[flat]
    varints = words[flat].view(np.uint8).reshape(-1, 4)[_VARINT_KEEP[sizes]]
    return varints.tobytes(), sizes.reshape(values.shape).sum(axis=1, dtype=np.int64)


def encode_pretraining_examples(input_ids: np.ndarray, input_mask: np.ndarray,
                                segment_ids: np.ndarray) -> list[bytes]:
    """``encode_pretraining_example`` of every row of three ``(n, max_seq_length)`` arrays, the same bytes,
    without per-token Python: the varints of all ids come from numpy (``_varint_rows``), mask and segment ids
    (0/1) are their own bytes, and the protobuf framing around them depends only on the length of a row's id
    varints, so it is built once per length (with ``_entry``/``_example``, as ``encode_pretraining_example``
    builds it, on placeholder values) and reused."""
    input_ids, input_mask, segment_ids = (np.asarray(a, dtype=np.int64) for a in (input_ids, input_mask,
                                                                                   segment_ids))
    rows, width = input_ids.shape
    if rows == 0:
        return []
    if (int(input_ids.min()) < 0 or int(input_mask.min()) < 0 or int(input_mask.max()) > 1
            or int(segment_ids.min()) < 0 or int(segment_ids.max()) > 1):
        return [encode_pretraining_example(*(a[i].tolist() for a in (input_ids, input_mask, segment_ids)))
                for i in range(rows)]
    ids, sizes = _varint_rows(input_ids)
    middle = _entry("input_mask", bytes(width))[:-width]       # everything between the ids and the mask values
    tail = _entry("segment_ids", bytes(width))[:-width]        # ... between the mask and the segment values
    # what follows a row's id varints has the same length in every row: one 2-D byte array, one row each
    after = np.empty((rows, len(middle) + len(tail) + 2 * width), dtype=np.uint8)
    after[:, :len(middle)] = np.frombuffer(middle, dtype=np.uint8)
    after[:, len(middle):len(middle) + width] = input_mask
    after[:, len(middle) + width:len(middle) + width + len(tail)] = np.frombuffer(tail, dtype=np.uint8)
    after[:, len(middle) + width + len(tail):] = segment_ids
    after_bytes, step = after.tobytes(), after.shape[1]
    heads: dict[int, bytes] = {}
    for size in set(sizes.tolist()):   # the record with placeholder values, cut where the id varints start
        placeholder = _example([_entry("input_ids", bytes(size)), _entry("input_mask", bytes(width)),
                                _entry("segment_ids", bytes(width))])
        heads[size] = placeholder[:len(placeholder) - size - step]
    ends = np.cumsum(sizes).tolist()
    starts = [0, *ends[:-1]]
    return [b"".join((heads[end - start], ids[start:end], after_bytes[at:at + step]))
            for start, end, at in zip(starts, ends, range(0, rows * step, step))]

"""TFRecord files of ``tf.train.Example`` protos with int64 features, written without importing TensorFlow.

The bytes are the standard ones (TFRecord framing: little-endian uint64 length, masked CRC32C of the length,
data, masked CRC32C of the data; Example protobuf wire format with packed int64 lists), so TensorFlow's
readers, Google's and NVIDIA's ELECTRA/BERT input pipelines read them. Keys are written in sorted order, which
makes the output deterministic. Writing stays in pure Python (plus a C CRC32C) so worker processes start fast.
"""
from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c_python(data: bytes) -> int:
    """CRC-32C (Castagnoli), table-driven; the fallback when google-crc32c is not installed (slow)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:
    from google_crc32c import value as crc32c
except ImportError:  # pragma: no cover - exercised only without the C extension
    crc32c = crc32c_python


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


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
    entries = []
    for key, packed in (("input_ids", ids), ("input_mask", mask), ("segment_ids", segments)):
        key_field = _KEY_FIELDS.get(key)
        if key_field is None:
            key_field = _KEY_FIELDS[key] = _field(1, key.encode("utf-8"))
        entries.append(_field(1, key_field + _field(2, _field(3, _field(1, packed)))))
    return _field(1, b"".join(entries))


class TFRecordWriter:
    """``with TFRecordWriter(path) as w: w.write(record_bytes)`` (no compression)."""

    def __init__(self, path: str):
        self._file = open(path, "wb")
        self.records = 0
        self.bytes = 0

    def write(self, record: bytes) -> None:
        header = struct.pack("<Q", len(record))
        chunk = b"".join((header, struct.pack("<I", masked_crc32c(header)), record,
                          struct.pack("<I", masked_crc32c(record))))
        self._file.write(chunk)
        self.records += 1
        self.bytes += len(chunk)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "TFRecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_records(path: str) -> list[bytes]:
    """Records of an uncompressed TFRecord file, checking both CRCs (for tests and tools; no TensorFlow)."""
    records = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"{path}: truncated record header at byte {pos}")
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if crc != masked_crc32c(header):
            raise ValueError(f"{path}: corrupt length at byte {pos}")
        start, end = pos + 12, pos + 12 + length
        if end + 4 > len(data):
            raise ValueError(f"{path}: truncated record at byte {pos}")
        record = data[start:end]
        if struct.unpack("<I", data[end:end + 4])[0] != masked_crc32c(record):
            raise ValueError(f"{path}: corrupt record at byte {pos}")
        records.append(record)
        pos = end + 4
    return records

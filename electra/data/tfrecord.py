"""TFRecord framing, the one implementation both the writer (``data_prep``) and the reader's corruption scan
(``electra.data.pretraining``) use. No TensorFlow: ``data_prep``'s worker processes import it and start fast.

Each record: little-endian uint64 length, masked CRC32C of those 8 bytes, the data, masked CRC32C of the data (the
framing of ``tf.io.TFRecordWriter``, uncompressed). CRC32C comes from google-crc32c's C code when installed, else
from a table-driven Python fallback (``C_CRC32C`` says which).
"""
from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import BinaryIO

_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)

_HEADER, _CRC = struct.Struct("<QI"), struct.Struct("<I")


def crc32c_python(data: bytes) -> int:
    """CRC-32C (Castagnoli), table-driven: slow, the fallback without google-crc32c's C code."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:
    import google_crc32c
    C_CRC32C = google_crc32c.implementation == "c"
    crc32c = google_crc32c.value
except ImportError:  # pragma: no cover - google-crc32c is a dependency
    C_CRC32C, crc32c = False, crc32c_python


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class DamagedRecord(ValueError):
    """The first record whose framing does not hold: its 0-based ``index`` (= intact records before it), the byte
    ``offset`` of its header and the ``reason`` (``length CRC mismatch``, ``data CRC mismatch``, ``truncated: ...``)."""

    def __init__(self, index: int, offset: int, reason: str):
        super().__init__(f"record {index} at byte offset {offset}: {reason}")
        self.index, self.offset, self.reason = index, offset, reason


def iter_records(f: BinaryIO, size: int) -> Iterator[bytes]:
    """The records of an open TFRecord stream of ``size`` bytes, both CRCs checked; ``DamagedRecord`` at the first
    one that fails."""
    index = offset = 0
    while offset < size:
        header = f.read(12)
        if len(header) == 12:
            length, length_crc = _HEADER.unpack(header)
            if masked_crc32c(header[:8]) != length_crc:
                raise DamagedRecord(index, offset, "length CRC mismatch")
            body = f.read(length + 4) if offset + 16 + length <= size else b""
            if len(body) == length + 4:
                record = body[:-4]
                if masked_crc32c(record) != _CRC.unpack(body[-4:])[0]:
                    raise DamagedRecord(index, offset, "data CRC mismatch")
                yield record
                index, offset = index + 1, offset + 16 + length
                continue
        raise DamagedRecord(index, offset, f"truncated: file ends inside record {index}")


def read_records(path: str) -> list[bytes]:
    """Every record of an uncompressed TFRecord file (tests and tools); ``DamagedRecord`` names the file too."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(0)
        try:
            return list(iter_records(f, size))
        except DamagedRecord as e:
            e.args = (f"{path}: {e.args[0]}",)
            raise


class TFRecordWriter:
    """``with TFRecordWriter(path) as w: w.write(record_bytes)`` (no compression)."""

    def __init__(self, path: str):
        self._file = open(path, "wb")
        self.records = 0
        self.bytes = 0
        self._headers: dict[int, bytes] = {}

    def _header(self, size: int) -> bytes:
        """Length + its masked CRC, the same for every record of that size (sizes repeat: cached)."""
        header = self._headers.get(size)
        if header is None:
            length = struct.pack("<Q", size)
            header = length + _CRC.pack(masked_crc32c(length))
            if len(self._headers) < 65536:
                self._headers[size] = header
        return header

    def write(self, record: bytes) -> None:
        self.write_many([record])

    def write_many(self, records: Sequence[bytes]) -> None:
        """Frame and write many records with one file write."""
        pack, header = _CRC.pack, self._header
        chunk = b"".join([part for record in records
                          for part in (header(len(record)), record, pack(masked_crc32c(record)))])
        self._file.write(chunk)
        self.records += len(records)
        self.bytes += len(chunk)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "TFRecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

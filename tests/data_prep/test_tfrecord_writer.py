"""The TensorFlow-free Example encoder (``data_prep.tfrecord``) and TFRecord framing (``electra.data.tfrecord``)
produce what TensorFlow writes and reads."""
import random

import pytest

from data_prep.tfrecord import encode_int64_example, encode_pretraining_example
from electra.data.tfrecord import DamagedRecord, TFRecordWriter, crc32c, crc32c_python, read_records


def test_crc32c_matches_the_reference_check_value():
    assert crc32c(b"123456789") == crc32c_python(b"123456789") == 0xE3069283
    data = bytes(random.Random(0).randrange(256) for _ in range(1000))
    assert crc32c(data) == crc32c_python(data)


def test_examples_and_framing_match_tensorflow(tmp_path):
    import tensorflow as tf
    rng = random.Random(1)
    rows = []
    for _ in range(20):
        n = rng.randint(0, 40)
        rows.append({"input_ids": [rng.randrange(40000) for _ in range(n)] + [2**40, 0],
                     "input_mask": [rng.randint(0, 1) for _ in range(n + 2)],
                     "segment_ids": [rng.randint(0, 1) for _ in range(n + 2)],
                     "negative": [-1, -(2**63), 2**63 - 1]})
    ours = [encode_int64_example(r) for r in rows]
    for record, row in zip(ours, rows):
        parsed = tf.train.Example.FromString(record)
        assert {k: list(v.int64_list.value) for k, v in parsed.features.feature.items()} == row
        expected = tf.train.Example(features=tf.train.Features(feature={
            k: tf.train.Feature(int64_list=tf.train.Int64List(value=v)) for k, v in row.items()}))
        assert parsed == expected
        small = {k: row[k] for k in ("input_ids", "input_mask", "segment_ids")}
        if max(small["input_ids"]) < 32768:
            assert encode_pretraining_example(**small) == encode_int64_example(small)
    with TFRecordWriter(str(tmp_path / "ours.tfrecord")) as writer:
        for record in ours:
            writer.write(record)
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as writer:
        for record in ours:
            writer.write(record)
    assert (tmp_path / "ours.tfrecord").read_bytes() == (tmp_path / "tf.tfrecord").read_bytes()
    assert read_records(str(tmp_path / "ours.tfrecord")) == ours
    spec = {"input_ids": tf.io.VarLenFeature(tf.int64)}
    first = next(iter(tf.data.TFRecordDataset(str(tmp_path / "ours.tfrecord"))))
    assert tf.sparse.to_dense(tf.io.parse_single_example(first, spec)["input_ids"]).numpy().tolist() == \
        rows[0]["input_ids"]


def test_read_records_detects_corruption(tmp_path):
    path = tmp_path / "x.tfrecord"
    with TFRecordWriter(str(path)) as writer:
        writer.write(encode_int64_example({"a": [1, 2, 3]}))
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedRecord, match=r"x.tfrecord: record 0 at byte offset 0: data CRC mismatch"):
        read_records(str(path))
    path.write_bytes(bytes(data[:-3]))
    with pytest.raises(DamagedRecord, match="truncated: file ends inside record 0"):
        read_records(str(path))
    data[:8] = (1 << 20).to_bytes(8, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedRecord, match="length CRC mismatch"):
        read_records(str(path))

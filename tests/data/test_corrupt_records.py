import numpy as np
import pytest
import tensorflow as tf

from electra.data import MaskingConfig
from electra.data import tfrecord
from electra.data.pretraining import (Corruption, CorruptRecordError, InputError, corruption_report,
                                      explain_data_loss, locate_corruption, pretraining_dataset)
from tests.data.test_pretraining_reader import SPECIAL, _originals, _record_set, _rows
from tests.training.conftest import write_records


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    return write_records(tmp_path_factory.mktemp("healthy"), files=3, per_file=10, seq=32)


@pytest.fixture(params=["python", "tensorflow"])
def scanner(request, monkeypatch):
    """Both scans: the Python framing check (C CRC32C) and the fallback that lets TF find the damage."""
    if request.param == "tensorflow":
        monkeypatch.setattr(tfrecord, "C_CRC32C", False)
    return request.param


def _records(path):
    return [r.numpy() for r in tf.data.TFRecordDataset(path)]


def _offsets(path):
    """Byte offset of each record's header: 8 (length) + 4 (CRC) + data + 4 (CRC) per record."""
    return np.cumsum([0] + [16 + len(r) for r in _records(path)]).tolist()


def _first_records(path, count):
    return {tuple(tf.train.Example.FromString(r).features.feature["input_ids"].int64_list.value)
            for r in _records(path)[:count]}


def _damaged(source, target, cut=None, flip=None):
    data = bytearray(open(source, "rb").read())
    if flip is not None:
        data[flip] ^= 0xFF
    target.write_bytes(bytes(data[:cut]))
    return str(target)


def test_truncation_inside_a_record(healthy, tmp_path, scanner):
    offsets = _offsets(healthy[0])
    for k, into in ((4, 12 + 5), (4, 6), (9, 12 + 30)):  # inside the data, inside the header; the last record
        bad = _damaged(healthy[0], tmp_path / f"cut-{k}-{into}.tfrecord", cut=offsets[k] + into)
        assert locate_corruption([healthy[1], bad, healthy[2]]) == [
            Corruption(bad, k, offsets[k], f"truncated: file ends inside record {k}", into)]


def test_flipped_bytes(healthy, tmp_path, scanner):
    offsets = _offsets(healthy[0])
    data_flip = _damaged(healthy[0], tmp_path / "data.tfrecord", flip=offsets[6] + 12 + 10)
    length_flip = _damaged(healthy[0], tmp_path / "length.tfrecord", flip=offsets[3] + 2)
    crc_flip = _damaged(healthy[0], tmp_path / "crc.tfrecord", flip=offsets[8] - 1)  # record 7's data CRC
    size = offsets[-1]
    assert locate_corruption([data_flip, healthy[1], length_flip, crc_flip]) == [
        Corruption(data_flip, 6, offsets[6], "data CRC mismatch", size - offsets[6]),
        Corruption(length_flip, 3, offsets[3], "length CRC mismatch", size - offsets[3]),
        Corruption(crc_flip, 7, offsets[7], "data CRC mismatch", size - offsets[7])]


def test_healthy_files_have_an_empty_report(healthy, tmp_path, scanner):
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    assert locate_corruption([*healthy, str(empty)]) == [] and corruption_report(healthy) == []


@pytest.mark.parametrize("training", [True, False])
def test_data_loss_is_explained_naming_file_record_and_offset(healthy, tmp_path, training):
    offsets = _offsets(healthy[0])
    bad = _damaged(healthy[0], tmp_path / "bad.tfrecord", flip=offsets[6] + 12 + 10)
    files = [healthy[1], bad]
    ds = pretraining_dataset(files, 4, 32, MaskingConfig(), SPECIAL, training=training, shuffle_buffer=4)
    with pytest.raises(tf.errors.DataLossError) as caught:
        _rows(ds, 20)
    error = explain_data_loss(files, caught.value)
    assert isinstance(error, CorruptRecordError) and isinstance(error, InputError)
    text = str(error)
    assert f"{bad}: corrupt TFRecord: record 6 at byte offset {offsets[6]} is damaged (data CRC mismatch)" in text
    assert "regenerate the file, remove it from the file list, or pass --data.skip_corrupt_records" in text
    assert error.corruptions == (Corruption(bad, 6, offsets[6], "data CRC mismatch", offsets[-1] - offsets[6]),)


def test_explanation_prefers_the_file_tensorflow_stopped_in(healthy, tmp_path):
    offsets = _offsets(healthy[0])
    first = _damaged(healthy[0], tmp_path / "a.tfrecord", cut=offsets[2] + 20)
    second = _damaged(healthy[1], tmp_path / "b.tfrecord", flip=offsets[5] + 12 + 3)
    error = tf.errors.DataLossError(None, None, f"corrupted record at {offsets[5] + 12}")
    text = str(explain_data_loss([first, second], error))
    assert text.startswith(f"{second}: corrupt TFRecord: record 5") and f"{first} (record 2)" in text
    assert str(explain_data_loss([first, second], tf.errors.DataLossError(None, None, "?"))).startswith(
        f"{first}: corrupt TFRecord: record 2")


def test_explanation_without_damage_quotes_tensorflow_and_lists_the_files(healthy):
    error = explain_data_loss(healthy, tf.errors.DataLossError(None, None, "corrupted record at 1234"))
    assert "(corrupted record at 1234)" in str(error) and all(path in str(error) for path in healthy)
    assert error.corruptions == ()


def test_damaged_first_record(healthy, tmp_path):
    bad = _damaged(healthy[0], tmp_path / "first.tfrecord", flip=20)
    with pytest.raises(CorruptRecordError, match=r"first.tfrecord: corrupt TFRecord: record 0 at byte offset 0"):
        pretraining_dataset([healthy[1], bad], 4, 32, MaskingConfig(), SPECIAL)
    skipped = pretraining_dataset([healthy[1], bad], 4, 32, MaskingConfig(), SPECIAL, training=False,
                                  skip_corrupt_records=True)
    assert _originals(_rows(skipped, 10)) == _record_set([healthy[1]])
    with pytest.raises(InputError, match=r"none of the 1 TFRecord file\(s\) holds a record.*first record is damaged"):
        pretraining_dataset([bad], 4, 32, MaskingConfig(), SPECIAL, skip_corrupt_records=True)


def test_skipping_reads_the_records_before_the_damage(healthy, tmp_path, caplog):
    offsets = _offsets(healthy[0])
    cut = _damaged(healthy[0], tmp_path / "cut.tfrecord", cut=offsets[4] + 12 + 5)
    flip = _damaged(healthy[1], tmp_path / "flip.tfrecord", flip=offsets[7] + 12 + 10)
    files = [cut, flip, healthy[2]]
    with caplog.at_level("WARNING", logger="electra.data"):
        assert [(c.path, c.record_index) for c in corruption_report(files)] == [(cut, 4), (flip, 7)]
    assert "cut.tfrecord: record 4" in caplog.text and "flip.tfrecord: record 7" in caplog.text
    readable = _first_records(healthy[0], 4) | _first_records(healthy[1], 7) | _record_set([healthy[2]])

    validation = _rows(pretraining_dataset(files, 4, 32, MaskingConfig(), SPECIAL, training=False,
                                           skip_corrupt_records=True), 100)
    assert sum(len(b["input_ids"]) for b in validation) == 4 + 7 + 10
    assert _originals(validation) == readable
    training = _rows(pretraining_dataset(files, 4, 32, MaskingConfig(), SPECIAL, shuffle_buffer=8,
                                         skip_corrupt_records=True), 30)   # 120 records: several epochs
    assert _originals(training) == readable


def test_skipping_keeps_iterator_checkpoints_exact(healthy, tmp_path):
    offsets = _offsets(healthy[0])
    files = [_damaged(healthy[0], tmp_path / "cut.tfrecord", cut=offsets[4] + 12 + 5), healthy[1]]
    ds = pretraining_dataset(files, 4, 32, MaskingConfig(), SPECIAL, shuffle_buffer=8, skip_corrupt_records=True)
    iterator = iter(ds)
    for _ in range(3):
        next(iterator)
    path = tf.train.Checkpoint(input=iterator).save(str(tmp_path / "ckpt" / "input"))
    expected = [{k: v.numpy() for k, v in next(iterator).items()} for _ in range(8)]
    restored = iter(ds)
    tf.train.Checkpoint(input=restored).restore(path).assert_consumed()
    for want in expected:
        got = next(restored)
        for key in want:
            np.testing.assert_array_equal(got[key].numpy(), want[key])


@pytest.mark.parametrize("training", [True, False])
def test_healthy_files_read_the_same_with_the_flag(healthy, training):
    for kwargs in (dict(seed=3, shuffle_buffer=8), dict(rank=1, num_workers=2, shuffle_buffer=4, vocab_size=100)):
        plain = _rows(pretraining_dataset(healthy, 4, 32, MaskingConfig(), SPECIAL, training=training, **kwargs), 12)
        skipping = _rows(pretraining_dataset(healthy, 4, 32, MaskingConfig(), SPECIAL, training=training,
                                             skip_corrupt_records=True, **kwargs), 12)
        assert len(plain) == len(skipping)
        for x, y in zip(plain, skipping):
            for key in x:
                np.testing.assert_array_equal(x[key], y[key])

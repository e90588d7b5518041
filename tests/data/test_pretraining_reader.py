import numpy as np
import pytest
import tensorflow as tf

from electra.data import MaskingConfig
from electra.data.pretraining import InputError, SpecialIds, list_files, pretraining_dataset
from tests.training.conftest import write_records

SPECIAL = SpecialIds(pad=0, cls=2, sep=3, mask=4)


def _rows(dataset, batches):
    return [{k: v.numpy() for k, v in b.items()} for b in dataset.take(batches)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_records(tmp_path_factory.mktemp("records"), files=4, per_file=10, seq=32)


def test_batches_have_static_shapes_and_valid_masks(files):
    ds = pretraining_dataset(files, 8, 32, MaskingConfig(), SPECIAL, seed=1, shuffle_buffer=16)
    spec = ds.element_spec
    assert spec["input_ids"].shape == (8, 32) and spec["masked_lm_positions"].shape == (8, 4)
    for batch in _rows(ds, 6):  # past one epoch (40 records): repeats
        weights = batch["masked_lm_weights"] > 0
        originals = batch["masked_lm_ids"][weights]
        assert not np.isin(originals, [0, 2, 3]).any()
        masked_view = np.take_along_axis(batch["input_ids"], batch["masked_lm_positions"], 1)[weights]
        assert ((masked_view == SPECIAL.mask) | (masked_view == originals)).all()


def test_same_seed_same_batches(files):
    a = _rows(pretraining_dataset(files, 4, 32, MaskingConfig(), SPECIAL, seed=3, shuffle_buffer=8), 3)
    b = _rows(pretraining_dataset(files, 4, 32, MaskingConfig(), SPECIAL, seed=3, shuffle_buffer=8), 3)
    c = _rows(pretraining_dataset(files, 4, 32, MaskingConfig(), SPECIAL, seed=4, shuffle_buffer=8), 3)
    for x, y in zip(a, b):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    assert not all(np.array_equal(x["input_ids"], z["input_ids"]) for x, z in zip(a, c))


def _record_set(files):
    out = set()
    for record in tf.data.TFRecordDataset(files):
        example = tf.train.Example.FromString(record.numpy())
        out.add(tuple(example.features.feature["input_ids"].int64_list.value))
    return out


def _originals(batches):
    rows = set()
    for b in batches:
        ids = b["input_ids"].copy()
        weights = b["masked_lm_weights"] > 0
        for r in range(len(ids)):
            ids[r, b["masked_lm_positions"][r][weights[r]]] = b["masked_lm_ids"][r][weights[r]]
            rows.add(tuple(ids[r].tolist()))
    return rows


def test_workers_read_disjoint_files(files):
    seen = [_originals(_rows(pretraining_dataset(files, 4, 32, MaskingConfig(), SPECIAL, rank=r, num_workers=2,
                                                 shuffle_buffer=8), 5)) for r in (0, 1)]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert seen[0] <= _record_set(files[0::2]) and seen[1] <= _record_set(files[1::2])


def test_fewer_files_than_workers_shards_records(files):
    seen = [_originals(_rows(pretraining_dataset(files[:1], 2, 32, MaskingConfig(), SPECIAL, rank=r, num_workers=2,
                                                 shuffle_buffer=4), 2)) for r in (0, 1)]
    assert seen[0] and seen[1] and not seen[0] & seen[1]


def test_validation_reads_everything_once_with_fixed_masks(files):
    first = _rows(pretraining_dataset(files, 16, 32, MaskingConfig(), SPECIAL, training=False), 100)
    second = _rows(pretraining_dataset(files, 16, 32, MaskingConfig(), SPECIAL, training=False), 100)
    assert [len(b["input_ids"]) for b in first] == [16, 16, 8]  # 40 records, no repeat, partial batch kept
    assert _originals(first) == _record_set(files)
    for x, y in zip(first, second):
        np.testing.assert_array_equal(x["input_ids"], y["input_ids"])


def test_records_missing_a_feature_name_the_file(tmp_path):
    path = str(tmp_path / "odd.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        feature = {"input_ids": tf.train.Feature(int64_list=tf.train.Int64List(value=[1] * 32))}
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    with pytest.raises(InputError, match=r"odd.tfrecord: records lack feature 'input_mask'"):
        pretraining_dataset([path], 2, 32, MaskingConfig(), SPECIAL)


def test_list_files_errors(tmp_path):
    with pytest.raises(InputError, match="--data.validation_files: no file matches"):
        list_files(str(tmp_path / "*.tfrecord"), "validation")


def _assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])


def test_empty_files_are_skipped_with_a_warning(files, tmp_path, caplog):
    directory = tmp_path / "mixed"
    directory.mkdir()
    good = [str(directory / f"part-{i:03d}.tfrecord") for i in (1, 4)]
    for source, target in zip(files[:2], good):
        tf.io.gfile.copy(source, target)
    for i in (0, 2, 3, 5, 6):
        (directory / f"part-{i:03d}.tfrecord").write_bytes(b"")
    with caplog.at_level("WARNING", logger="electra.data"):
        assert list_files(str(directory / "part-*.tfrecord")) == good
    assert "skipping 5 empty TFRecord file(s) (0 bytes) of 7" in caplog.text
    assert "part-000.tfrecord" in caplog.text and "(+2 more)" in caplog.text

    only_empty = str(directory / "part-00[0235].tfrecord")
    with pytest.raises(InputError, match=r"--data.train_files: all 4 file\(s\) matching "
                                         r"'.*part-00\[0235\].tfrecord' are "
                                         r"empty TFRecord files"):
        list_files(only_empty)

    # the reader skips files that hold no records too, and reads the rest as if they were alone
    empty = str(directory / "part-000.tfrecord")
    _assert_same_batches(_rows(pretraining_dataset([empty, *good], 4, 32, MaskingConfig(), SPECIAL, seed=2,
                                                   shuffle_buffer=8), 4),
                         _rows(pretraining_dataset(good, 4, 32, MaskingConfig(), SPECIAL, seed=2, shuffle_buffer=8), 4))
    with pytest.raises(InputError, match=r"none of the 1 TFRecord file\(s\) holds a record.*part-000.tfrecord"):
        pretraining_dataset([empty], 4, 32, MaskingConfig(), SPECIAL)


def test_vocab_check_keeps_order_and_masks(files):
    for training in (True, False):
        kwargs = dict(seed=5, shuffle_buffer=8, training=training)
        plain = _rows(pretraining_dataset(files, 4, 32, MaskingConfig(), SPECIAL, **kwargs), 12)
        checked = _rows(pretraining_dataset(files, 4, 32, MaskingConfig(), SPECIAL, vocab_size=100, **kwargs), 12)
        _assert_same_batches(plain, checked)
    # two workers, and fewer files than workers (records sharded)
    for subset in (files, files[:1]):
        for rank in (0, 1):
            kwargs = dict(rank=rank, num_workers=2, shuffle_buffer=4)
            _assert_same_batches(
                _rows(pretraining_dataset(subset, 2, 32, MaskingConfig(), SPECIAL, **kwargs), 5),
                _rows(pretraining_dataset(subset, 2, 32, MaskingConfig(), SPECIAL, vocab_size=100, **kwargs), 5))


def _write_ids(path, rows):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for ids in rows:
            values = (("input_ids", ids), ("input_mask", [1] * len(ids)), ("segment_ids", [0] * len(ids)))
            feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v)) for k, v in values}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return str(path)


def test_token_ids_outside_the_vocabulary_name_the_file(files, tmp_path):
    row = [2] + [7] * 30 + [3]
    first_bad = _write_ids(tmp_path / "first-bad.tfrecord", [row[:5] + [100] + row[6:], row])
    with pytest.raises(InputError, match=r"first-bad.tfrecord: the first record has token id 100 at position 5, "
                                         r"outside the vocabulary \[0, 100\)"):
        pretraining_dataset([files[0], first_bad], 4, 32, MaskingConfig(), SPECIAL, vocab_size=100)

    later_bad = _write_ids(tmp_path / "later-bad.tfrecord", [row] * 6 + [row[:9] + [-1] + row[10:]] + [row] * 3)
    for training in (True, False):
        ds = pretraining_dataset([files[0], later_bad], 4, 32, MaskingConfig(), SPECIAL, vocab_size=100,
                                 training=training, shuffle_buffer=4)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"token id -1 at position 9 of a record in .*later-bad.tfrecord is outside the "
                                 r"vocabulary \[0, 100\)"):
            _rows(ds, 20)
    # without vocab_size, nothing is checked (as before)
    assert len(_rows(pretraining_dataset([later_bad], 4, 32, MaskingConfig(), SPECIAL, training=False), 5)) == 3

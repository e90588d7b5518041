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
    with pytest.raises(InputError, match="--validation_files: no file matches"):
        list_files(str(tmp_path / "*.tfrecord"), "validation")

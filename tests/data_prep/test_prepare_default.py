"""The one-call helper the quickstart uses: embedded corpus → shards → WordPiece vocab → TFRecords. On a capped
slice of the corpus (``max_bytes``), so these stay quick; the whole corpus prepares in a few seconds more."""
import json

import numpy as np
import pytest

from data_prep import prepare_default_dataset
from electra.tokenization import load_tokenizer

CAP = 250_000      # bytes of the embedded corpus these tests prepare (its first documents)


def test_prepare_default_dataset(tmp_path):
    import tensorflow as tf
    result = prepare_default_dataset(str(tmp_path / "data"), max_seq_length=64, vocab_size=2000, max_bytes=CAP)
    assert result["seconds"] < 60
    assert CAP <= result["corpus"]["bytes"] < CAP + 60_000 and result["settings"]["max_bytes"] == CAP
    tokenizer = load_tokenizer(result["vocab"])
    assert tokenizer.vocab_size == result["vocab_size"] <= 2000
    assert result["special_ids"] == {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
    assert len(result["train_files"]) == 2 and len(result["validation_files"]) == 1
    assert result["train"]["sequences"] > 3 * result["validation"]["sequences"] > 0
    spec = {k: tf.io.FixedLenFeature([64], tf.int64) for k in ("input_ids", "input_mask", "segment_ids")}
    batch = next(iter(tf.data.TFRecordDataset(result["train_files"]).map(
        lambda r: tf.io.parse_single_example(r, spec)).batch(8)))
    ids = batch["input_ids"].numpy()
    assert ids.shape == (8, 64) and (ids[:, 0] == tokenizer.cls_id).all()
    assert ids.max() < tokenizer.vocab_size
    unknown = np.mean(ids[batch["input_mask"].numpy() == 1] == tokenizer.unk_id)
    assert unknown < 0.01                                   # the vocabulary fits its own corpus
    text = " ".join(tokenizer.convert_ids_to_tokens(ids[0][1:10]))
    assert text.replace(" ##", "").strip()
    saved = json.loads((tmp_path / "data" / "dataset.json").read_text())
    assert saved["train_files"] == result["train_files"]
    # same seed, same bytes: a second run reproduces vocabulary and records
    again = prepare_default_dataset(str(tmp_path / "again"), max_seq_length=64, vocab_size=2000, max_bytes=CAP)
    for a, b in zip(result["train_files"] + [result["vocab"]], again["train_files"] + [again["vocab"]]):
        assert open(a, "rb").read() == open(b, "rb").read()


def test_embedded_default_is_prepared_once_and_reused(tmp_path):
    import glob
    import os

    from data_prep.embedded import prepare_embedded_default
    first = prepare_embedded_default(str(tmp_path / "data"), max_seq_length=32, vocab_size=1000, max_bytes=CAP)
    assert sorted(glob.glob(first.train_pattern)) == list(first.train_files)
    assert sorted(glob.glob(first.validation_pattern)) == list(first.validation_files)
    assert first.vocab_file.endswith("vocab.txt") and first.special_ids["[MASK]"] == 4
    stamps = {p: os.stat(p).st_mtime_ns for p in (*first.train_files, first.vocab_file)}
    second = prepare_embedded_default(str(tmp_path / "data"), max_seq_length=32, vocab_size=1000, max_bytes=CAP)
    assert second == first
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps      # nothing rewritten
    other = prepare_embedded_default(str(tmp_path / "data"), max_seq_length=48, vocab_size=1000, max_bytes=CAP)
    assert other.max_seq_length == 48 and other.train_files != first.train_files
    smaller = prepare_embedded_default(str(tmp_path / "data"), max_seq_length=48, vocab_size=1000,
                                       max_bytes=CAP // 2)
    assert smaller.summary["corpus"]["bytes"] < other.summary["corpus"]["bytes"]      # another cap, prepared anew


def test_default_pretraining_data_takes_the_cap_and_the_vocabulary_size(tmp_path):
    from data_prep.common import DataPrepError
    from data_prep.embedded import default_pretraining_data
    with pytest.raises(DataPrepError, match="no complete prepared dataset"):
        default_pretraining_data(str(tmp_path), prepare=False, max_bytes=CAP, vocab_size=1000)
    train, validation, vocab = default_pretraining_data(str(tmp_path), max_bytes=CAP, vocab_size=1000)
    assert train.endswith("train-*-of-*.tfrecord") and validation.endswith("validation-*-of-*.tfrecord")
    assert load_tokenizer(vocab).vocab_size <= 1000
    assert default_pretraining_data(str(tmp_path), prepare=False, max_bytes=CAP, vocab_size=1000) == \
        (train, validation, vocab)                                     # what other ranks read


def test_a_vocabulary_retrained_in_place_is_not_served_from_a_cache(tmp_path):
    from data_prep.prepare import prepare_pretraining_data
    small = prepare_pretraining_data(str(tmp_path), max_seq_length=32, vocab_size=600, max_documents=20)
    large = prepare_pretraining_data(str(tmp_path), max_seq_length=32, vocab_size=1500, max_documents=20)
    assert small["vocab"] == large["vocab"] and large["vocab_size"] > small["vocab_size"]
    assert large["train"]["vocab_size"] == large["vocab_size"]
    assert large["train"]["tokens"] < small["train"]["tokens"]   # a bigger vocabulary, fewer pieces

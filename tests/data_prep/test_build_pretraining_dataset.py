"""Packing invariants, determinism across process counts, resume, TensorFlow parsing and bad input."""
import hashlib
import json
import os
import random

import numpy as np
import pytest

from data_prep.build_pretraining_dataset import (PackingConfig, SequencePacker, assign_inputs,
                                                 build_pretraining_dataset)
from data_prep.common import DataPrepError
from electra.data.tfrecord import read_records
from tests.data_prep.dp_helpers import NUM_WORDS, unique_word_documents, write_documents

CLS, SEP, PAD = 2, 3, 0


def _parse_all(paths, seq):
    """Read records back with TensorFlow's own parser and a plain int64 fixed-length spec."""
    import tensorflow as tf
    spec = {name: tf.io.FixedLenFeature([seq], tf.int64) for name in ("input_ids", "input_mask", "segment_ids")}
    rows = []
    for path in paths:
        for record in tf.data.TFRecordDataset([str(path)]):
            parsed = tf.io.parse_single_example(record, spec)
            rows.append({k: v.numpy() for k, v in parsed.items()})
    return rows


def _decode_all(paths):
    """The same records, parsed with the protobuf definition (no dataset machinery) — for fast checks."""
    from tensorflow.core.example import example_pb2
    rows = []
    for path in paths:
        for record in read_records(str(path)):
            example = example_pb2.Example.FromString(record)
            rows.append({k: np.array(v.int64_list.value) for k, v in example.features.feature.items()})
    return rows


def _check_sequence(row, seq):
    """[CLS] A [SEP] (B [SEP]) then padding; mask 1 exactly over real tokens; segments 0 … then 1 …"""
    ids, mask, segments = row["input_ids"], row["input_mask"], row["segment_ids"]
    assert ids.shape == mask.shape == segments.shape == (seq,)
    real = int(mask.sum())
    assert 3 <= real <= seq
    assert (mask[:real] == 1).all() and (mask[real:] == 0).all()
    assert (ids[real:] == PAD).all() and (segments[real:] == 0).all()
    assert ids[0] == CLS and ids[real - 1] == SEP
    seps = np.flatnonzero(ids[:real] == SEP)
    assert len(seps) in (1, 2)
    first_end = seps[0]
    assert first_end >= 2, "segment A is never empty"
    assert (segments[:first_end + 1] == 0).all()
    if len(seps) == 2:
        assert seps[1] == real - 1 and seps[1] - first_end >= 2, "segment B is never empty"
        assert (segments[first_end + 1:real] == 1).all()
    else:
        assert first_end == real - 1
    a = ids[1:first_end].tolist()
    b = ids[first_end + 1:real - 1].tolist() if len(seps) == 2 else []
    return a, b, real


def _check_stream(rows, documents, seq):
    """Every token comes from the input in order; sequences never cross documents; tokens are lost only by
    truncating a full sequence."""
    word_id = {f"w{i}": i + 5 for i in range(NUM_WORDS)}
    doc_tokens = [[word_id[w] for s in d for w in s.split()] for d in documents]
    owner = {t: n for n, tokens in enumerate(doc_tokens) for t in tokens}
    doc, cursor = 0, 0
    lost, previous_full = 0, False
    for row in rows:
        a, b, real = _check_sequence(row, seq)
        documents_here = {owner[t] for t in a + b}
        assert len(documents_here) == 1, "a sequence never spans two documents"
        here = documents_here.pop()
        if here != doc:
            assert here == doc + 1 and (cursor == len(doc_tokens[doc]) or previous_full), "documents in order"
            lost += len(doc_tokens[doc]) - cursor
            doc, cursor = here, 0
        stream = doc_tokens[doc]
        full = real >= seq - 1      # full, or A took max-3 tokens and left no room for B (Google's rule)
        for segment in (a, b):
            if not segment:
                continue
            start = stream.index(segment[0])
            assert start >= cursor
            if start > cursor:
                assert previous_full if segment is a else full, "tokens skipped without truncation"
                lost += start - cursor
            assert stream[start:start + len(segment)] == segment, "a segment is a contiguous run of the text"
            cursor = start + len(segment)
        previous_full = full
    lost += len(doc_tokens[doc]) - cursor
    assert doc == len(doc_tokens) - 1
    return lost


# ---------------------------------------------------------------------------------------------------- packer


@pytest.mark.parametrize("seq", [8, 16, 128])
def test_packer_invariants_on_random_streams(seq):
    rng = random.Random(seq)
    packer = SequencePacker(PackingConfig(seq), CLS, SEP, PAD, random.Random(1))
    next_token, produced = 100, []
    for _document in range(200):
        for _sentence in range(rng.randint(1, 8)):
            length = rng.choice([1, 2, 5, 20, 60, 3 * seq])
            out = packer.add_sentence(list(range(next_token, next_token + length)))
            next_token += length
            if out:
                produced.append(out)
        out = packer.end_document()
        if out:
            produced.append(out)
    assert packer.end_document() is None
    previous_last = 99
    for p in produced:
        ids = np.array(p.input_ids)
        row = {"input_ids": ids, "input_mask": np.array(p.input_mask), "segment_ids": np.array(p.segment_ids)}
        a, b, real = _check_sequence(row, seq)
        tokens = a + b
        assert tokens == sorted(tokens) and tokens[0] > previous_last, "order kept, nothing repeated"
        if p.dropped:   # full, or A took max-3 tokens and left B no room (Google's truncation rule)
            assert real >= seq - 1, "tokens are dropped only from a full sequence"
        else:
            assert b == [] or b[0] == a[-1] + 1, "B continues right after A"
        previous_last = tokens[-1]
        assert p.first_length == len(a) and p.second_length == len(b)


def test_packer_probabilities():
    def pack(config, seed=0):
        packer = SequencePacker(config, CLS, SEP, PAD, random.Random(seed))
        out, token = [], 10
        for _ in range(4000):
            p = packer.add_sentence(list(range(token, token + 10)))
            token += 10
            if p:
                out.append(p)
        return out

    default = pack(PackingConfig(64))
    single = sum(p.second_length == 0 for p in default) / len(default)
    assert 0.05 < single < 0.16                     # 10% by design (sentences of 10 never fill A alone)
    short = sum(sum(p.input_mask) < 50 for p in default) / len(default)
    assert 0.01 < short < 0.1                       # 5% of targets are random in [5, 64]
    assert all(p.second_length == 0 for p in pack(PackingConfig(64, single_segment_prob=1.0)))
    assert all(p.second_length > 0 for p in pack(PackingConfig(64, short_seq_prob=0.0, single_segment_prob=0.0)))
    lengths = {sum(p.input_mask) for p in pack(PackingConfig(64, short_seq_prob=1.0))}
    assert len(lengths) > 10


def test_assign_inputs_covers_every_document_once():
    assert assign_inputs(["a", "b", "c"], 2) == [[("a", 1, 0), ("c", 1, 0)], [("b", 1, 0)]]
    plan = assign_inputs(["a", "b"], 5)
    assert plan == [[("a", 3, 0)], [("b", 2, 0)], [("a", 3, 1)], [("b", 2, 1)], [("a", 3, 2)]]


# ---------------------------------------------------------------------------------------------------- end to end


def _corpus(tmp_path, num_files=2, documents=24, long_every=0):
    docs = unique_word_documents(documents * num_files, seed=3, long_every=long_every)
    paths = []
    for f in range(num_files):
        path = tmp_path / "shards" / f"train-{f:05d}-of-{num_files:05d}.txt"
        path.parent.mkdir(exist_ok=True)
        write_documents(path, docs[f * documents:(f + 1) * documents])
        paths.append(path)
    return paths, docs


def _digests(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.glob("*.tfrecord"))}


@pytest.mark.parametrize("seq", [32, 512])
def test_records_parse_with_tensorflow_and_keep_every_token(tmp_path, word_vocab, seq):
    paths, docs = _corpus(tmp_path, num_files=1, documents=30, long_every=4)
    out = tmp_path / "out"
    summary = build_pretraining_dataset(paths, word_vocab, out, max_seq_length=seq, num_output_files=1,
                                        progress=False)
    files = sorted(out.glob("train-*.tfrecord"))
    assert [f.name for f in files] == ["train-00000-of-00001.tfrecord"]
    rows = _parse_all(files, seq)
    assert len(rows) == summary["sequences"] > 0
    lost = _check_stream(rows, docs, seq)
    assert lost == summary["truncated_tokens"]
    assert lost > 0 if seq == 32 else True        # 150-token sentences do not fit 32
    total_tokens = sum(len(s.split()) for d in docs for s in d)
    assert summary["tokens"] == total_tokens
    assert sum(int(r["input_mask"].sum()) for r in rows) == summary["real_tokens"]
    assert summary["documents"] == len(docs) and summary["sentences"] == sum(map(len, docs))
    on_disk = json.loads((out / "train.summary.json").read_text())
    for key in ("documents", "sentences", "tokens", "sequences", "padding_fraction", "mb_per_second"):
        assert on_disk[key] == summary[key]
    assert 0.0 <= summary["padding_fraction"] < 1.0


def test_identical_bytes_for_one_and_two_processes(tmp_path, word_vocab):
    paths, docs = _corpus(tmp_path, num_files=3)
    one = build_pretraining_dataset(paths, word_vocab, tmp_path / "one", 32, num_output_files=4, num_processes=1,
                                    seed=7, progress=False)
    two = build_pretraining_dataset(paths, word_vocab, tmp_path / "two", 32, num_output_files=4, num_processes=2,
                                    seed=7, progress=False)
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")
    assert len(_digests(tmp_path / "one")) == 4 and two["num_processes"] == 2
    assert one["sequences"] == two["sequences"]
    rows = _decode_all(sorted((tmp_path / "one").glob("*.tfrecord")))
    # every document ends up in exactly one file (documents are never split or duplicated)
    firsts = sorted(int(r["input_ids"][1]) for r in rows)
    assert len(set(firsts)) == len(firsts)
    other_seed = build_pretraining_dataset(paths, word_vocab, tmp_path / "seed8", 32, num_output_files=4, seed=8,
                                           progress=False)
    assert _digests(tmp_path / "seed8") != _digests(tmp_path / "one") and other_seed["tokens"] == one["tokens"]


def test_resume_after_a_killed_run(tmp_path, word_vocab):
    paths, _ = _corpus(tmp_path, num_files=2)
    reference = tmp_path / "reference"
    build_pretraining_dataset(paths, word_vocab, reference, 32, num_output_files=4, progress=False)
    expected = _digests(reference)

    out = tmp_path / "out"
    build_pretraining_dataset(paths, word_vocab, out, 32, num_output_files=4, progress=False)
    # what a kill leaves: two finished files, a half-written temporary, one file never started
    (out / "train-00002-of-00004.tfrecord").unlink()
    (out / ".train-00002-of-00004.tfrecord.json").unlink()
    (out / "train-00002-of-00004.tfrecord.tmp-99999").write_bytes(b"\x00partial")
    (out / "train-00003-of-00004.tfrecord").unlink()
    kept = {n: os.stat(out / n).st_mtime_ns for n in ("train-00000-of-00004.tfrecord",
                                                     "train-00001-of-00004.tfrecord")}
    summary = build_pretraining_dataset(paths, word_vocab, out, 32, num_output_files=4, progress=False)
    assert _digests(out) == expected
    assert summary["files_resumed"] == 2 and summary["files_built"] == 2
    assert {n: os.stat(out / n).st_mtime_ns for n in kept} == kept, "finished files are not rewritten"
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    full = json.loads((reference / "train.summary.json").read_text())
    assert summary["sequences"] == full["sequences"] and summary["tokens"] == full["tokens"]


def test_other_settings_in_the_same_directory_are_refused(tmp_path, word_vocab):
    paths, _ = _corpus(tmp_path, num_files=1)
    out = tmp_path / "out"
    build_pretraining_dataset(paths, word_vocab, out, 32, seed=1, progress=False)
    with pytest.raises(DataPrepError, match="other inputs or settings.*overwrite"):
        build_pretraining_dataset(paths, word_vocab, out, 32, seed=2, progress=False)
    build_pretraining_dataset(paths, word_vocab, out, 32, seed=2, overwrite=True, progress=False)


# ---------------------------------------------------------------------------------------------------- bad input


def _no_outputs(directory):
    return not directory.exists() or not [p for p in directory.iterdir() if "tfrecord" in p.name]


def test_missing_vocab(tmp_path):
    paths, _ = _corpus(tmp_path, num_files=1)
    with pytest.raises(DataPrepError, match="not found.*missing.txt"):
        build_pretraining_dataset(paths, tmp_path / "missing.txt", tmp_path / "out", progress=False)
    assert _no_outputs(tmp_path / "out")


def test_missing_and_empty_input(tmp_path, word_vocab):
    with pytest.raises(DataPrepError, match="not found"):
        build_pretraining_dataset(tmp_path / "nope-*.txt", word_vocab, tmp_path / "out", progress=False)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n", encoding="utf-8")
    (tmp_path / "zero.txt").write_bytes(b"")
    with pytest.raises(DataPrepError, match="no text"):
        build_pretraining_dataset([empty, tmp_path / "zero.txt"], word_vocab, tmp_path / "out", progress=False)
    assert _no_outputs(tmp_path / "out")


def test_invalid_utf8_names_file_and_offset(tmp_path, word_vocab):
    bad = tmp_path / "bad.txt"
    bad.write_bytes("w1 w2\nw3 w4 w5\n\n".encode() + b"w6 \xff\xfe w7\n")
    with pytest.raises(DataPrepError, match=r"bad\.txt: invalid UTF-8 at byte offset 19 .*--errors=replace"):
        build_pretraining_dataset(bad, word_vocab, tmp_path / "out", 16, progress=False)
    assert _no_outputs(tmp_path / "out")
    summary = build_pretraining_dataset(bad, word_vocab, tmp_path / "out", 16, errors="replace", progress=False)
    assert summary["sequences"] == 2 and summary["documents"] == 2
    rows = _decode_all(sorted((tmp_path / "out").glob("*.tfrecord")))
    assert rows[1]["input_ids"][:5].tolist() == [CLS, 11, 12, SEP, PAD]  # w6 w7: BERT drops U+FFFD


def test_corrupt_compressed_input(tmp_path, word_vocab):
    import gzip
    good = gzip.compress(b"w1 w2 w3\n\nw4 w5\n\n" * 50)
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(good[:len(good) // 2])
    with pytest.raises(DataPrepError, match="broken.txt.gz: cannot read"):
        build_pretraining_dataset(broken, word_vocab, tmp_path / "out", 16, progress=False)
    assert _no_outputs(tmp_path / "out")
    whole = tmp_path / "whole.txt.gz"
    whole.write_bytes(good)
    assert build_pretraining_dataset(whole, word_vocab, tmp_path / "ok", 16, progress=False)["documents"] == 100

"""The bytes of the TFRecords are pinned: a fixed small input gives the sha256 digests that the original
(per-sentence, pure-Python) implementation wrote, so a speed change can never silently change token ids, packing
or serialization. The packing and serialization fast paths are also checked against their plain one-at-a-time
forms on random input."""
import hashlib
import pathlib
import random

import numpy as np
import pytest

from benchmarks.bert_reference import ReferencePacker
from data_prep.build_pretraining_dataset import PackingConfig, SequencePacker, build_pretraining_dataset
from data_prep.tfrecord import encode_pretraining_example, encode_pretraining_examples

BERT_VOCAB = pathlib.Path(__file__).parents[1] / "fixtures" / "vocab" / "bert-uncased-vocab.txt"

_WORDS = ("the a of and to in is was it for on with as by at from that this be are or an not which but his her "
          "lighthouse keeper storm ship harbour unaffable extraordinarily tokenization pretraining discriminator "
          "generator electra bert wordpiece vocabulary sentence document paragraph quickly slowly 1911 42 3.14 "
          "naïve café résumé Zürich Straße ΟΔΟΣ 中国人 日本の人 emoji😀 “curly” ‘single’ — – … « » ¿qué? ¡sí! "
          "don't won't it's U.S. e.g. (see [1]) {x} <tag> a/b c-d e_f #hash @user $5 100% ^ & * + = | ~ `tick`").split()


def pinned_documents():
    """A fixed, varied corpus: short and long documents, one-word and 400-word sentences (truncation), ASCII and
    non-ASCII text, control and odd whitespace characters."""
    rng = random.Random(20240611)
    documents = []
    for d in range(60):
        sentences = []
        for _ in range(rng.choice([1, 1, 2, 3, 5, 8, 13])):
            length = rng.choice([1, 3, 7, 12, 20, 35, 400 if d % 17 == 5 else 9])
            words = [rng.choice(_WORDS) for _ in range(length)]
            if rng.random() < 0.1:
                words.insert(rng.randrange(len(words) + 1), rng.choice(["\u200b", "\x07", "\u00a0x", "\ufeffy",
                                                                         "A" * 120, "tab\there"]))
            sentences.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", ""]))
        documents.append(sentences)
    return documents


def write_pinned_inputs(directory):
    """Two sentence shards of the pinned corpus (the second with CRLF line ends and runs of blank lines)."""
    documents = pinned_documents()
    paths = []
    for f in range(2):
        text = "".join("".join(s + "\n" for s in doc) + "\n" * (1 + (f and i % 3 == 0))
                       for i, doc in enumerate(documents[f::2]))
        path = directory / f"train-{f:05d}-of-00002.txt"
        path.write_bytes(text.replace("\n", "\r\n").encode() if f else text.encode())
        paths.append(path)
    return paths


INPUT_DIGESTS = {"train-00000-of-00002.txt": "5e8c31718e999c1d7b73dd02b6fbd48c956a52d6e4d1fd0d52e3ae3b70e2ff04",
                 "train-00001-of-00002.txt": "fcc9157308980220704701e5765524a1b50d42790b4a665dd6a83a03d251d635"}
# (max_seq_length, num_output_files, seed) → sha256 of the output files concatenated, as written by the original
# per-sentence implementation (git f4edba2), and (sequences, tokens, truncated tokens)
PINNED = {(32, 3, 12345): ("9e021493474e62da7f167e1d508caeea49e2d2c918e62e9f6419993ee6bf6aa2", 151, 8160, 4187),
          (128, 1, 7): ("8badbb318229a1b44dbfe6a5b09d315cc9a2c744c4bf8af593beee347f8685bc", 82, 8160, 2147)}


def test_pinned_inputs_are_what_the_digests_were_made_from(tmp_path):
    paths = write_pinned_inputs(tmp_path)
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths} == INPUT_DIGESTS


@pytest.mark.parametrize("key", sorted(PINNED))
def test_tfrecord_bytes_are_pinned(tmp_path, key):
    seq, files, seed = key
    digest, sequences, tokens, truncated = PINNED[key]
    paths = write_pinned_inputs(tmp_path)
    out = tmp_path / "out"
    summary = build_pretraining_dataset(paths, BERT_VOCAB, out, seq, num_output_files=files, seed=seed,
                                        progress=False)
    h = hashlib.sha256()
    for name in summary["files"]:
        h.update((out / name).read_bytes())
    assert (summary["sequences"], summary["tokens"], summary["truncated_tokens"]) == (sequences, tokens, truncated)
    assert h.hexdigest() == digest, "the token ids, packing or serialization changed"


@pytest.mark.parametrize("seq,single,short", [(8, 0.1, 0.05), (16, 0.5, 0.5), (128, 0.1, 0.05), (64, 0.0, 0.0),
                                              (32, 1.0, 1.0)])
def test_batch_packing_equals_one_sentence_at_a_time(seq, single, short):
    """Random sentence lengths (empty ones too), document ends anywhere (also at batch edges, twice in a row),
    random batch sizes: the batched packer gives exactly the per-sentence loop's sequences."""
    rng = random.Random(seq)
    events, token = [], 10
    for _ in range(3000):
        if rng.random() < 0.15:
            events.append(None)
        else:
            length = rng.choice([0, 1, 2, 5, 9, 20, 60, 3 * seq])
            events.append(list(range(token, token + length)))
            token += length
    reference = ReferencePacker(seq, 2, 3, 0, random.Random(5), short, single)
    expected = []
    for event in [*events, None]:
        out = reference.end_document() if event is None else reference.add_sentence(event)
        if out is not None:
            expected.append(out)
    packer = SequencePacker(PackingConfig(seq, short, single), 2, 3, 0, random.Random(5))
    got, position = [], 0
    while position < len(events):
        batch = events[position:position + rng.choice([1, 2, 7, 50, 400])]
        position += len(batch)
        sentences = [e for e in batch if e is not None]
        ends, count = [], 0
        for e in batch:
            if e is None:
                ends.append(count)
            else:
                count += 1
        ids = np.array([t for s in sentences for t in s], dtype=np.int64)
        packed = packer.add_sentences(ids, [len(s) for s in sentences], ends)
        got += [packed.sequence(i) for i in range(len(packed))]
    last = packer.end_document()
    got += [last] if last is not None else []
    assert [(p.input_ids, p.input_mask, p.segment_ids) for p in got] == expected


def test_batch_serialization_equals_one_example_at_a_time():
    rng = np.random.default_rng(0)
    for top in (100, 128, 16384, 30522, 2 ** 21 + 5, 2 ** 40):
        for width in (8, 128):
            ids = rng.integers(0, top, size=(30, width))
            real = rng.integers(3, width + 1, size=30)
            mask = (np.arange(width) < real[:, None]).astype(np.int64)
            segments = ((np.arange(width) > real[:, None] // 2) & (mask == 1)).astype(np.int64)
            expected = [encode_pretraining_example(ids[i].tolist(), mask[i].tolist(), segments[i].tolist())
                        for i in range(30)]
            assert encode_pretraining_examples(ids, mask, segments) == expected

import hashlib
import json

import pytest

from data_prep.common import DataPrepError
from data_prep.corpus import prepare_corpus
from data_prep.sharding import shard_documents
from tests.data_prep.dp_helpers import unique_word_documents


def _digest(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.glob("*.txt"))}


def test_shards_are_deterministic_balanced_and_complete(tmp_path):
    documents = unique_word_documents(200, seed=1, max_sentence=4)
    manifest = shard_documents(documents, tmp_path / "a", num_train_shards=4, num_validation_shards=2,
                               validation_fraction=0.1, seed=5, buffer_documents=64)
    shard_documents(documents, tmp_path / "b", 4, 2, 0.1, seed=5, buffer_documents=64)
    shard_documents(documents, tmp_path / "c", 4, 2, 0.1, seed=6, buffer_documents=64)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")
    assert sorted(_digest(tmp_path / "a")) == [
        "train-00000-of-00004.txt", "train-00001-of-00004.txt", "train-00002-of-00004.txt",
        "train-00003-of-00004.txt", "validation-00000-of-00002.txt", "validation-00001-of-00002.txt"]
    counts = [s["documents"] for s in manifest["shards"]["train"]]
    held_out = sum(s["documents"] for s in manifest["shards"]["validation"])
    assert max(counts) - min(counts) <= 1 and abs(held_out - 20) <= 2 and sum(counts) + held_out == 200
    # every document is in exactly one shard, intact: one sentence a line, a blank line after each document
    seen = []
    for path in sorted((tmp_path / "a").glob("*.txt")):
        blocks = path.read_text(encoding="utf-8").split("\n\n")
        assert blocks[-1] == ""
        seen += [block.split("\n") for block in blocks[:-1]]
    assert sorted(seen) == sorted(documents)
    assert json.loads((tmp_path / "a" / "shards.json").read_text())["documents"] == 200


def test_shard_errors_leave_nothing_behind(tmp_path):
    with pytest.raises(DataPrepError, match="3 training document.*num_train_shards=3"):
        shard_documents(unique_word_documents(4), tmp_path / "out", num_train_shards=8, validation_fraction=0.2)
    assert list((tmp_path / "out").iterdir()) == []
    with pytest.raises(DataPrepError, match="no documents"):
        shard_documents([[], [""]], tmp_path / "out", num_train_shards=1)
    assert list((tmp_path / "out").iterdir()) == []


def test_stale_shards_from_an_earlier_layout_are_removed(tmp_path):
    documents = unique_word_documents(40)
    shard_documents(documents, tmp_path, num_train_shards=4)
    shard_documents(documents, tmp_path, num_train_shards=2)
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == [
        "train-00000-of-00002.txt", "train-00001-of-00002.txt", "validation-00000-of-00001.txt"]


def test_prepare_corpus_from_text_files(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("".join(f"Document {i} starts here. It ends here.\n\n" for i in range(30)), encoding="utf-8")
    manifest = prepare_corpus("text", str(tmp_path / "shards"), [str(source)], num_train_shards=3)
    assert manifest["documents"] == 30 and manifest["sentences"] == 60
    assert manifest["corpus"]["files"] == 1 and manifest["source"] == "text"
    first = (tmp_path / "shards" / "train-00000-of-00003.txt").read_text(encoding="utf-8")
    assert first.startswith("Document ") and "starts here.\nIt ends here.\n\n" in first

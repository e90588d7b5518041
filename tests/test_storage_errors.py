"""A full disk or a read-only file system under a writer outside the training loop (export, extraction, model
directories, SQuAD predictions, data preparation) ends the command with exit status 74 and one line naming the path
and the cause, no traceback; what was written before stays intact. The SQuAD feature cache is the exception: a cache
that cannot be written is a warning and the run goes on (it only saves time).

Each test mounts a small tmpfs (and remounts it read-only, or fills it), so it runs as root; elsewhere it is skipped
with the reason. Mounts are undone in a ``finally``."""
import hashlib
import json
import logging
import os
import subprocess
import sys

import pytest

from electra.io import StorageError, is_temporary
from tests.conftest import tiny_config
from tests.disk import fill, read_only, tmpfs
from tests.data_prep.dp_helpers import unique_word_documents, write_documents, write_word_vocab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL, READ_ONLY = "No space left on device", "Read-only file system"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]


def snapshot(top):
    """{relative path: sha256} of every file below ``top``, the filler left out."""
    return {os.path.relpath(os.path.join(d, n), top): hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()
            for d, _, names in os.walk(top) for n in names if n != "filler"}


def assert_one_line(err, path, cause):
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    assert str(path) in lines[0] and cause in lines[0], lines[0]


@pytest.fixture
def hf_model(tmp_path):
    """A SQuAD model in Hugging Face form with its vocabulary, to export."""
    from electra.interop import save_hf_electra
    from electra.modeling import ElectraForQuestionAnswering
    hf = tmp_path / "hf"
    save_hf_electra(ElectraForQuestionAnswering(tiny_config(max_position_embeddings=64)), str(hf))
    (hf / "vocab.txt").write_text("".join(t + "\n" for t in VOCAB))
    return f"hf:{hf}"


@pytest.mark.parametrize("cause", [READ_ONLY, FULL])
def test_export_over_a_previous_one_on_a_full_or_read_only_disk(hf_model, tmp_path, capsys, cause):
    from electra.commands.export import main
    with tmpfs(tmp_path / "disk") as disk:
        args = ["--init", hf_model, "--output_dir", str(disk / "export"), "--max_seq_length", "64"]
        assert main(args) == 0
        capsys.readouterr()
        before = snapshot(disk)
        read_only(disk) if cause == READ_ONLY else fill(disk)
        assert main(args) == 74
        assert_one_line(capsys.readouterr().err, disk / "export", cause)
        assert main(args[:3] + [str(disk / "new" / "export")] + args[4:]) == 74     # a directory yet to be made
        assert_one_line(capsys.readouterr().err, disk / "new", cause)     # the first directory it could not make
        assert snapshot(disk) == before
        assert not [n for _, dirs, files in os.walk(disk) for n in dirs + files if is_temporary(n)]


def test_extraction_on_a_full_disk(tmp_path, capsys):
    from electra.commands.extract import main
    from electra.modeling import ElectraPretrainingModel
    from tests.interop.test_store import randomize, write_training_run, write_vocab
    vocab = write_vocab(tmp_path / "vocab.txt")
    write_training_run(tmp_path / "run", randomize(ElectraPretrainingModel(tiny_config())), vocab=vocab)
    with tmpfs(tmp_path / "disk") as disk:
        args = ["--checkpoint", str(tmp_path / "run"), "--output_dir", str(disk / "extracted")]
        assert main(args) == 0
        capsys.readouterr()
        before = snapshot(disk)
        fill(disk)
        assert main(args) == 74
        assert_one_line(capsys.readouterr().err, disk / "extracted", FULL)
        assert snapshot(disk) == before


def test_squad_predictions_on_a_read_only_disk(tmp_path):
    from electra.squad.postprocess import write_predictions
    with tmpfs(tmp_path / "disk") as disk:
        write_predictions(str(disk), {"q1": "old"}, {"q1": []})
        before = snapshot(disk)
        read_only(disk)
        for target in (disk, disk / "new"):
            with pytest.raises(StorageError) as raised:
                write_predictions(str(target), {"q1": "new"}, {"q1": []})
            assert str(target) in str(raised.value) and READ_ONLY in str(raised.value)
        assert snapshot(disk) == before


@pytest.mark.parametrize("cause", [READ_ONLY, FULL])
def test_a_feature_cache_that_cannot_be_written_is_a_warning(tmp_path, caplog, cause):
    from electra.squad.data import load_features
    from electra.tokenization import load_tokenizer
    from tests.squad.squad_helpers import TINY_SQUAD, squad_texts, write_word_vocab as squad_vocab
    tokenizer = load_tokenizer(str(squad_vocab(tmp_path / "vocab", squad_texts())))
    with tmpfs(tmp_path / "disk", size="1m") as disk:
        read_only(disk) if cause == READ_ONLY else fill(disk, leave=0)
        with caplog.at_level(logging.WARNING, logger="electra"):
            features = load_features(str(TINY_SQUAD), tokenizer, is_training=False, max_seq_length=64,
                                     doc_stride=24, max_query_length=16, cache_dir=str(disk / "cache"))
        assert len(features) > 0
        assert any("feature cache not written" in r.message and cause in r.message for r in caplog.records)
        assert not os.path.exists(disk / "cache") or not os.listdir(disk / "cache")


def _data_prep(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def sentences(tmp_path):
    text = tmp_path / "corpus.txt"
    write_documents(text, unique_word_documents(200, seed=3))
    return text, write_word_vocab(tmp_path / "vocab" / "vocab.txt")


def test_sharding_into_a_read_only_directory(tmp_path, sentences):
    text, _ = sentences
    with tmpfs(tmp_path / "disk") as disk:
        args = ["data_prep.corpus", "--source=text", f"--input={text}", f"--output_dir={disk / 'shards'}",
                "--num_train_shards=2"]
        assert _data_prep(*args).returncode == 0
        before = snapshot(disk)
        read_only(disk)
        done = _data_prep(*args)
        assert done.returncode == 74, done.stderr
        assert_one_line(done.stderr, disk / "shards", READ_ONLY)
        assert snapshot(disk) == before


@pytest.mark.parametrize("processes", [1, 2])
def test_records_on_a_full_disk(tmp_path, sentences, processes):
    """The TFRecords of a second build (``--overwrite``) do not fit: the first build's files stay; in worker
    processes (``--num_processes=2``) too."""
    text, vocab = sentences
    with tmpfs(tmp_path / "disk") as disk:
        args = ["data_prep.build_pretraining_dataset", f"--input={text}", f"--vocab={vocab}", "--max_seq_length=32",
                f"--output_dir={disk / 'records'}", "--num_output_files=2", f"--num_processes={processes}",
                "--noprogress", "--overwrite"]
        first = _data_prep(*args)
        assert first.returncode == 0, first.stderr
        before = snapshot(disk)
        assert json.loads(first.stdout.splitlines()[-1])["sequences"] > 0
        fill(disk)
        done = _data_prep(*args)
        assert done.returncode == 74, done.stderr
        assert_one_line(done.stderr, disk / "records", FULL)
        assert snapshot(disk) == before
        assert not [n for _, dirs, files in os.walk(disk) for n in dirs + files if is_temporary(n)]

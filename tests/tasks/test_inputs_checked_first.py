"""Every input file of a run (SQuAD predict file, pretraining validation files, vocabulary, ``--init`` source) is read
and checked in the task's ``prepare``: a bad one stops the job before any checkpoint, log line or record is written
(the output directory holds the run's lock at most)."""
import json
import os
import subprocess
import sys

import pytest

from electra import cli
from electra.configs import PretrainConfig, SquadConfig
from electra.interop.store import save_model_directory
from electra.modeling import ElectraDiscriminator
from electra.tasks import pretraining, squad
from tests.conftest import tiny_config
from tests.training.conftest import ROOT, pretraining_data, tiny_model_config, write_records  # noqa: F401

WINDOWS = dict(max_seq_length=64, doc_stride=24, max_query_length=16)


def _untouched(output):
    """Nothing but (at most) the lock: no checkpoint, log, record or cache."""
    assert sorted(os.listdir(output)) in ([], ["run.lock"]), sorted(os.listdir(output))


def _squad(tmp_path, tiny_vocab, tiny_squad_file, **values):
    settings = dict(output_dir=str(tmp_path / "out"), vocab_file=str(tiny_vocab), train_file=str(tiny_squad_file),
                    predict_file=str(tiny_squad_file), model_size="tiny", version_2_with_negative=True,
                    train_batch_size=8, max_steps=3, checkpoint_every=1, xla=False, mode="train_eval", **WINDOWS)
    settings.update(values)
    return cli.build(SquadConfig, settings)


def _bad_predict_file(tmp_path, tiny_squad_file, kind):
    text = tiny_squad_file.read_text(encoding="utf-8")
    data = json.loads(text)
    qas = data["data"][0]["paragraphs"][0]["qas"]
    path = tmp_path / f"dev-{kind.replace(' ', '_')}.json"
    if kind == "duplicate ids":
        qas.append(dict(qas[0]))
    elif kind == "is_impossible string":
        qas[0]["is_impossible"] = "false"
    if kind == "malformed JSON":
        path.write_text(text[: len(text) // 2], encoding="utf-8")
    elif kind == "not UTF-8":
        path.write_bytes(text.encode("utf-8").replace(b'"data"', b'"d\xffta"', 1))
    else:
        path.write_text(json.dumps(data), encoding="utf-8")
    return path


EXPECTED = {"duplicate ids": "appears twice", "is_impossible string": "must be a JSON boolean",
            "malformed JSON": "malformed JSON", "not UTF-8": "not UTF-8"}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_a_bad_squad_predict_file_stops_the_job_before_training(kind, tmp_path, tiny_vocab, tiny_squad_file):
    bad = _bad_predict_file(tmp_path, tiny_squad_file, kind)
    with pytest.raises(ValueError, match=EXPECTED[kind]) as raised:
        squad.run(_squad(tmp_path, tiny_vocab, tiny_squad_file, predict_file=str(bad)))
    assert bad.name in str(raised.value)
    _untouched(tmp_path / "out")


@pytest.mark.slow
def test_run_squad_exits_2_on_a_bad_predict_file_before_training(tmp_path, tiny_vocab, tiny_squad_file):
    bad = _bad_predict_file(tmp_path, tiny_squad_file, "duplicate ids")
    out = subprocess.run([sys.executable, "run_scripts/run_squad.py", "--mode=train_eval",
                          f"--train_file={tiny_squad_file}", f"--predict_file={bad}",
                          f"--vocab_file={tiny_vocab}", "--model_size=tiny", "--max_steps=2",
                          "--trainer.checkpoint_every=1", f"--output_dir={tmp_path / 'out'}"],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert out.returncode == 2, out.stderr[-2000:]
    assert bad.name in out.stderr and "appears twice" in out.stderr
    _untouched(tmp_path / "out")


def test_an_unreadable_init_model_stops_the_job_before_training(tmp_path, tiny_vocab, tiny_squad_file):
    directory = save_model_directory(ElectraDiscriminator(tiny_config(vocab_size=300)), str(tmp_path / "disc"),
                                     vocab_file=str(tiny_vocab), do_lower_case=True, task="pretraining", source="test")
    weights = os.path.join(directory, "model.safetensors")
    with open(weights, "r+b") as f:
        f.truncate(os.path.getsize(weights) // 2)
    with pytest.raises(ValueError, match="model.safetensors: not a readable safetensors file"):
        squad.run(_squad(tmp_path, tiny_vocab, tiny_squad_file, init=directory, vocab_file=None))
    _untouched(tmp_path / "out")


def _pretrain(data, output, model_config, **values):
    settings = dict(output_dir=str(output), config_file=model_config, train_files=data["train"],
                    vocab_file=data["vocab"], max_seq_length=32, train_batch_size=4, total_steps=4, warmup_steps=1,
                    log_every=1, checkpoint_every=1, eval_every=2, xla=False, shuffle_buffer=16)
    settings.update(values)
    return pretraining.run(cli.build(PretrainConfig, settings))


def test_bad_validation_files_stop_pretraining_before_training(pretraining_data, tmp_path):  # noqa: F811
    write_records(tmp_path / "valid16", files=1, per_file=4, seq=16)
    with pytest.raises(ValueError, match=r"valid16/part-000.tfrecord: 'input_ids' has length 16 but "
                                         r"--data.max_seq_length is 32"):
        _pretrain(pretraining_data, tmp_path / "out", tiny_model_config(tmp_path / "m.json"),
                  validation_files=str(tmp_path / "valid16" / "*.tfrecord"))
    _untouched(tmp_path / "out")


def test_a_bad_vocabulary_stops_pretraining_before_training(pretraining_data, tmp_path):  # noqa: F811
    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes(b"[PAD]\n[UNK]\n\xff\xfe\n")
    with pytest.raises(ValueError, match="vocab.txt"):
        _pretrain(pretraining_data, tmp_path / "out", tiny_model_config(tmp_path / "m.json"), vocab_file=str(vocab))
    _untouched(tmp_path / "out")

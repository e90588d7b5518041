"""The SQuAD task: its loss, the job around it (train, evaluate from the run's own model, starting points) and bad
input."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from electra.cli import build
from electra.configs import SquadConfig
from electra.interop import save_hf_electra
from electra.modeling import ElectraDiscriminator, ElectraForQuestionAnswering
from electra.interop.store import save_model_directory
from electra.tasks.squad import SquadTask, run, span_loss
from tests.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WINDOWS = dict(max_seq_length=64, doc_stride=24, max_query_length=16)


def test_span_loss_is_mean_of_start_and_end_ce():
    start = tf.constant([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    end = tf.constant([[0.0, 0.0, 3.0], [1.0, 0.0, 0.0]])
    batch = {"start_positions": tf.constant([0, 1]), "end_positions": tf.constant([2, 2]),
             "is_impossible": tf.constant([0, 1])}

    def ce(logits, label):
        logits = np.asarray(logits, np.float64)
        return np.log(np.exp(logits).sum()) - logits[label]
    expected = np.mean([(ce([2, 0, 0], 0) + ce([0, 0, 3], 2)) / 2, (ce([0, 1, 0], 1) + ce([1, 0, 0], 2)) / 2])
    loss, metrics = span_loss({"start_logits": start, "end_logits": end}, batch)
    assert float(loss) == pytest.approx(expected, rel=1e-6) and float(metrics["answerable_loss"]) == 0.0
    with_head, metrics = span_loss({"start_logits": start, "end_logits": end,
                                    "answerable_logits": tf.constant([0.0, 0.0])}, batch)
    assert float(with_head) == pytest.approx(expected + 0.5 * np.log(2), rel=1e-6)
    assert float(metrics["span_loss"]) == pytest.approx(expected, rel=1e-6)


def _config(tmp_path, tiny_vocab, tiny_squad_file, **values):
    settings = dict(output_dir=str(tmp_path / "out"), vocab_file=str(tiny_vocab), predict_file=str(tiny_squad_file),
                    train_file=str(tiny_squad_file), model_size="tiny", version_2_with_negative=True,
                    train_batch_size=8, max_steps=3, xla=False, **WINDOWS)
    settings.update(values)
    return build(SquadConfig, settings)


def _encoder_equal(a, b):
    named_a, named_b = a.named_variables(), b.named_variables()
    return all(np.array_equal(named_a[n].numpy(), named_b[n].numpy()) for n in named_a if n.startswith("electra/"))


def _starting_model(task_config):
    """The QA model as the task initializes it from ``--init``."""
    from electra.training.distribution import Distributor
    task = SquadTask(task_config)
    task.prepare(Distributor())
    model = task.build_model()
    task.initialize(model)
    return task, model


def test_starting_points_dispatch_on_their_files(tmp_path, tiny_vocab, tiny_squad_file, parity_dir, parity_config):
    config = tiny_config(vocab_size=300)
    discriminator = ElectraDiscriminator(config)
    directory = save_model_directory(discriminator, str(tmp_path / "discriminator"), vocab_file=str(tiny_vocab),
                                     do_lower_case=True, task="pretraining", source="test")
    save_hf_electra(discriminator, str(tmp_path / "hf"))

    task, model = _starting_model(_config(tmp_path, tiny_vocab, tiny_squad_file, init=directory, vocab_file=None))
    assert task.model_config == config and task.vocab_file.endswith("vocab.txt")   # both from the directory
    assert _encoder_equal(model, discriminator)
    heads = {n.split("/")[0] for n in model.named_variables() if not n.startswith("electra/")}
    assert heads == {"start_logits", "end_logits", "answer_class"}     # the default joint head (v2), new

    _, model = _starting_model(_config(tmp_path, tiny_vocab, tiny_squad_file, init=f"hf:{tmp_path / 'hf'}"))
    assert _encoder_equal(model, discriminator)

    google = str(parity_dir / "google_ckpt" / "model.ckpt")
    from tests.training.conftest import write_vocab
    small_vocab = write_vocab(tmp_path / "google_vocab.txt", words=parity_config.vocab_size - 5)
    task, model = _starting_model(_config(tmp_path, small_vocab, tiny_squad_file, init=f"google:{google}"))
    assert task.model_config.hidden_size == parity_config.hidden_size
    reference = ElectraForQuestionAnswering(parity_config)
    from electra.interop import load_google_checkpoint
    load_google_checkpoint(reference, google)
    assert _encoder_equal(model, reference)


def test_eval_refuses_to_score_a_head_the_weights_do_not_hold(tmp_path, tiny_squad_file, tiny_vocab):
    """A fine-tuned span-head model evaluated with the default joint head (or a v1.1 joint model evaluated as v2)
    would score a head left as initialized: the job stops before predicting and names the flags that fit."""
    inputs = {k: tf.ones([1, 8], tf.int32) for k in ("input_ids", "input_mask", "segment_ids")}
    span = ElectraForQuestionAnswering(tiny_config(vocab_size=300), joint=False)
    span(inputs)
    directory = save_model_directory(span, str(tmp_path / "span"), vocab_file=str(tiny_vocab), do_lower_case=True,
                                     task="squad", source="test")
    evaluate = dict(mode="eval", train_file=None, init=directory, vocab_file=None)
    with pytest.raises(ValueError, match=r"holds the span head \(qa_outputs\) without an answer class, but this run "
                                         r"builds the joint head .*Pass --head.joint=false --head.answerability=false"):
        run(_config(tmp_path, tiny_vocab, tiny_squad_file, **evaluate))
    assert not (tmp_path / "out" / "predictions.json").exists()
    with pytest.raises(ValueError, match=r"Pass --head.joint=false --head.answerability=false\.$"):
        run(_config(tmp_path, tiny_vocab, tiny_squad_file, joint_head=False, answerability=True, **evaluate))
    scored = run(_config(tmp_path, tiny_vocab, tiny_squad_file, joint_head=False, **evaluate))
    assert scored["initialized_from"] == directory and "exact" in scored["eval"]

    joint = ElectraForQuestionAnswering(tiny_config(vocab_size=300), joint=True)     # v1.1: no answer class
    joint(inputs)
    directory = save_model_directory(joint, str(tmp_path / "joint"), vocab_file=str(tiny_vocab), do_lower_case=True,
                                     task="squad", source="test")
    with pytest.raises(ValueError, match=r"holds the joint head .* without an answer class, but this run builds the "
                                         r"joint head .* with an answer class.*--data.version_2_with_negative"):
        run(_config(tmp_path, tiny_vocab, tiny_squad_file, mode="eval", train_file=None, init=directory,
                    vocab_file=None))
    assert "exact" in run(_config(tmp_path, tiny_vocab, tiny_squad_file, mode="eval", train_file=None,
                                  init=directory, vocab_file=None, version_2_with_negative=False))["eval"]


@pytest.mark.slow
def test_train_then_eval_from_the_run_directory(tmp_path, tiny_squad_file, tiny_vocab):
    trained = run(_config(tmp_path, tiny_vocab, tiny_squad_file, mode="train_eval"))
    assert os.path.exists(os.path.join(trained["model_dir"], "metadata.json"))
    evaluated = run(_config(tmp_path, tiny_vocab, tiny_squad_file, mode="eval", train_file=None))
    assert evaluated["initialized_from"] == trained["model_dir"]
    assert evaluated["eval"] == trained["eval"]
    assert {"predictions", "nbest", "null_odds"} <= set(evaluated["prediction_files"])
    records = [json.loads(line) for line in open(tmp_path / "out" / "train_log.jsonl")]
    assert [r["step"] for r in records if r["type"] == "train"] == [3]
    assert set(records[0]) >= {"task", "step", "loss", "learning_rate", "grad_norm", "loss_scale",
                               "sequences_per_second", "eta_seconds", "metrics"}
    assert records[0]["task"] == "squad" and set(records[0]["metrics"]) == {"span_loss", "answerable_loss"}


@pytest.mark.slow
def test_evaluation_during_fine_tuning_is_logged(tmp_path, tiny_squad_file, tiny_vocab):
    run(_config(tmp_path, tiny_vocab, tiny_squad_file, mode="train", max_steps=4, eval_every=2, log_every=2))
    evals = [json.loads(line) for line in open(tmp_path / "out" / "train_log.jsonl")]
    evals = [r for r in evals if r["type"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    assert {"exact", "f1", "HasAns_f1", "NoAns_f1", "best_f1", "best_f1_thresh"} <= set(evals[0]["metrics"])
    best = json.loads((tmp_path / "out" / "best" / "metadata.json").read_text())["best"]
    expected = max(evals, key=lambda r: r["metrics"]["f1"])       # the first of equal scores is kept
    assert best == {"metric": "f1", "value": expected["metrics"]["f1"], "step": expected["step"]}


@pytest.mark.slow
@pytest.mark.parametrize("precision,xla,answerability", [("fp16", False, True), ("bf16", True, False)])
def test_fine_tune_precisions_and_xla(precision, xla, answerability, tiny_squad_file, tiny_vocab, tmp_path):
    result = run(_config(tmp_path, tiny_vocab, tiny_squad_file, mode="train", max_steps=4, precision=precision,
                         xla=xla, answerability=answerability, max_seq_length=48, doc_stride=16))
    assert np.isfinite(result["train"]["loss"]) and result["train"]["step"] == 4
    assert result["train"]["checkpoint"].endswith("ckpt-4")


@pytest.mark.slow
def test_run_squad_reports_bad_input_without_traceback(tmp_path, tiny_vocab):
    bad = tmp_path / "train.json"
    bad.write_bytes(b'{"data": [{"paragraphs": [\xff]}]}')
    out = subprocess.run([sys.executable, "run_scripts/run_squad.py", "--mode=train", f"--train_file={bad}",
                          f"--vocab_file={tiny_vocab}", "--model_size=tiny", f"--output_dir={tmp_path / 'out'}"],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert out.returncode == 2
    assert "train.json" in out.stderr and "not UTF-8" in out.stderr and "Traceback" not in out.stderr

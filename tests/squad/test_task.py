import subprocess
import sys
import os

import numpy as np
import pytest
import tensorflow as tf

from electra.configs import PRECISIONS
from electra.modeling import ElectraForQuestionAnswering
from electra.squad.data import load_features
from electra.squad.task import FineTuneConfig, fine_tune, span_loss
from electra.tokenization import load_tokenizer
from tests.conftest import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_span_loss_is_mean_of_start_and_end_ce():
    start = tf.constant([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    end = tf.constant([[0.0, 0.0, 3.0], [1.0, 0.0, 0.0]])
    batch = {"start_positions": tf.constant([0, 1]), "end_positions": tf.constant([2, 2]),
             "is_impossible": tf.constant([0, 1])}

    def ce(logits, label):
        logits = np.asarray(logits, np.float64)
        return np.log(np.exp(logits).sum()) - logits[label]
    expected = np.mean([(ce([2, 0, 0], 0) + ce([0, 0, 3], 2)) / 2, (ce([0, 1, 0], 1) + ce([1, 0, 0], 2)) / 2])
    loss = span_loss({"start_logits": start, "end_logits": end}, batch, answerability=False)
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    with_head = span_loss({"start_logits": start, "end_logits": end, "answerable_logits": tf.constant([0.0, 0.0])},
                          batch, answerability=True)
    assert float(with_head) == pytest.approx(expected + np.log(2), rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("precision,xla,answerability", [("fp16", False, True), ("bf16", True, False)])
def test_fine_tune_precisions_and_xla(precision, xla, answerability, tiny_squad_file, tiny_vocab, tmp_path):
    tokenizer = load_tokenizer(str(tiny_vocab))
    features = load_features(str(tiny_squad_file), tokenizer, is_training=True, version_2_with_negative=True,
                             max_seq_length=48, doc_stride=16, max_query_length=16)
    model = ElectraForQuestionAnswering(tiny_config(vocab_size=tokenizer.vocab_size), answerability=answerability,
                                        dtype=PRECISIONS[precision])
    summary = fine_tune(model, features, FineTuneConfig(learning_rate=1e-3, max_steps=4, train_batch_size=8,
                                                         precision=precision, xla=xla, output_dir=str(tmp_path)))
    assert np.isfinite(summary["final_loss"]) and summary["steps"] == 4
    assert summary["checkpoint"].endswith("ckpt-4")


def test_run_squad_reports_bad_input_without_traceback(tmp_path, tiny_vocab):
    bad = tmp_path / "train.json"
    bad.write_bytes(b'{"data": [{"paragraphs": [\xff]}]}')
    out = subprocess.run([sys.executable, "run_scripts/run_squad.py", "--mode=train", f"--train_file={bad}",
                          f"--vocab_file={tiny_vocab}", "--model_size=tiny", f"--output_dir={tmp_path / 'out'}"],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert out.returncode == 2
    assert "train.json" in out.stderr and "not UTF-8" in out.stderr and "Traceback" not in out.stderr

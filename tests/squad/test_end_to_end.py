"""Fine-tune a tiny randomly initialized model on tiny_squad.json, check it learns its own training questions, export
it and check the SavedModel (in a fresh process, through run_scripts/predict.py) gives the same answers."""
import json
import os
import subprocess
import sys

import keras
import pytest

from electra.configs import ModelConfig
from electra.export import export_saved_model
from electra.modeling import ElectraForQuestionAnswering
from electra.squad.data import load_features
from electra.squad.metrics import evaluate
from electra.squad.postprocess import postprocess
from electra.squad.task import FineTuneConfig, fine_tune, predict_logits
from electra.tokenization import load_tokenizer

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WINDOWS = dict(max_seq_length=96, doc_stride=32, max_query_length=24)


def _config(vocab_size):
    return ModelConfig(vocab_size=vocab_size, embedding_size=32, hidden_size=64, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=128, generator_hidden_size=32,
                       generator_num_hidden_layers=1, generator_num_attention_heads=1, generator_intermediate_size=64,
                       max_position_embeddings=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _score(model, features, data):
    logits = predict_logits(model, features, 64)
    predictions, nbest, odds = postprocess(features, logits["start_logits"], logits["end_logits"],
                                           version_2_with_negative=True)
    return predictions, evaluate(data, predictions, "2.0", odds)


@pytest.fixture(scope="module")
def trained(tiny_squad_file, tiny_vocab, tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e")
    tokenizer = load_tokenizer(str(tiny_vocab))
    train = load_features(str(tiny_squad_file), tokenizer, is_training=True, version_2_with_negative=True,
                          cache_dir=str(out / "cache"), **WINDOWS)
    evaluation = load_features(str(tiny_squad_file), tokenizer, is_training=False, version_2_with_negative=True,
                               **WINDOWS)
    data = json.loads(tiny_squad_file.read_text())["data"]
    keras.utils.set_random_seed(0)
    model = ElectraForQuestionAnswering(_config(tokenizer.vocab_size))
    _, before = _score(model, evaluation, data)
    summary = fine_tune(model, train, FineTuneConfig(learning_rate=2e-3, max_steps=300, train_batch_size=16,
                                                     warmup_proportion=0.1, seed=0, output_dir=str(out / "run")))
    predictions, after = _score(model, evaluation, data)
    return dict(model=model, before=before, after=after, summary=summary, predictions=predictions, out=out,
                tiny_vocab=tiny_vocab)


def test_fine_tuning_learns_the_training_questions(trained):
    before, after = trained["before"], trained["after"]
    print("untrained", before, "trained", after)
    assert before["f1"] < 20.0
    assert after["f1"] > 75.0 and after["f1"] > before["f1"] + 50.0
    assert after["HasAns_f1"] > 70.0
    assert trained["summary"]["steps"] == 300 and trained["summary"]["checkpoint"].endswith("ckpt-300")
    log = [json.loads(line) for line in open(trained["out"] / "run" / "train_log.jsonl")]
    assert log[-1]["step"] == 300 and log[-1]["loss"] < log[0]["loss"]


def test_saved_model_reproduces_predictions(trained, tiny_squad_file):
    export_dir = export_saved_model(trained["model"], str(trained["out"] / "saved_model"), str(trained["tiny_vocab"]),
                                    version_2_with_negative=True, **WINDOWS)
    answers = trained["out"] / "answers.json"
    result = subprocess.run([sys.executable, "run_scripts/predict.py", "--saved_model", export_dir, "--input_file",
                             str(tiny_squad_file), "--output_file", str(answers)], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    served = {a["id"]: a for a in json.loads(answers.read_text())}
    assert {qid: a["answer"] for qid, a in served.items()} == trained["predictions"]
    data = json.loads(tiny_squad_file.read_text())["data"]
    contexts = {qa["id"]: p["context"] for art in data for p in art["paragraphs"] for qa in p["qas"]}
    for qid, a in served.items():
        if a["answer"]:
            assert contexts[qid][a["start_char"]:a["end_char"]] == a["answer"]

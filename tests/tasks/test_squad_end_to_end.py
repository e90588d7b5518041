"""The SQuAD job on tiny_squad.json from random initialization: it learns its own training questions, and its
SavedModel (in a fresh process, through run_scripts/predict.py) gives the same answers."""
import json
import os
import subprocess
import sys

import keras
import pytest

from electra.cli import build
from electra.configs import ModelConfig, SquadConfig
from electra.modeling import ElectraForQuestionAnswering
from electra.squad.data import load_features
from electra.squad.inference import predict_logits
from electra.squad.metrics import evaluate
from electra.squad.postprocess import postprocess
from electra.tasks.squad import run
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
    evaluation = load_features(str(tiny_squad_file), tokenizer, is_training=False, version_2_with_negative=True,
                               **WINDOWS)
    data = json.loads(tiny_squad_file.read_text())["data"]
    keras.utils.set_random_seed(0)
    _, before = _score(ElectraForQuestionAnswering(_config(tokenizer.vocab_size)), evaluation, data)
    _config(tokenizer.vocab_size).to_json_file(str(out / "model.json"))
    result = run(build(SquadConfig, {
        "output_dir": str(out / "run"), "mode": "train_eval", "train_file": str(tiny_squad_file),
        "predict_file": str(tiny_squad_file), "vocab_file": str(tiny_vocab),
        "model.config_file": str(out / "model.json"),
        "version_2_with_negative": True, "learning_rate": 2e-3, "max_steps": 300,
        "train_batch_size": 16, "warmup_proportion": 0.1, "seed": 0, "xla": False, "log_every": 50,
        "export_dir": str(out / "saved_model"), **WINDOWS}))
    predictions = json.loads((out / "run" / "predictions.json").read_text())
    return dict(result=result, before=before, after=result["eval"], predictions=predictions, out=out)


def test_fine_tuning_learns_the_training_questions(trained):
    before, after = trained["before"], trained["after"]
    print("untrained", before, "trained", after)
    assert before["f1"] < 20.0
    assert after["f1"] > 75.0 and after["f1"] > before["f1"] + 50.0
    assert after["HasAns_f1"] > 70.0
    summary = trained["result"]["train"]
    assert summary["step"] == 300 and summary["checkpoint"].endswith("ckpt-300")
    log = [json.loads(line) for line in open(trained["out"] / "run" / "train_log.jsonl")]
    log = [r for r in log if r["type"] == "train"]
    assert log[-1]["step"] == 300 and log[-1]["loss"] < log[0]["loss"]


def test_saved_model_reproduces_predictions(trained, tiny_squad_file):
    export_dir = trained["result"]["export_dir"]
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

"""Item-level answers and errors: ``electra.squad.inference.Predictor`` with a model in memory, and
``electra-predict`` on a real SavedModel export of the same model."""
import json

import keras
import numpy as np
import pytest

from electra.export import export_saved_model
from electra.modeling import ElectraForQuestionAnswering
from electra.squad.inference import Predictor
from electra.tokenization import load_tokenizer
from tests.conftest import tiny_config
from tests.squad.squad_helpers import TINY_SQUAD, squad_texts, write_word_vocab

from electra.commands import predict

SETTINGS = dict(max_seq_length=64, doc_stride=16, max_query_length=16, version_2_with_negative=True)
CONTEXT = ("The Kestrel Point lighthouse was built in 1872 by the engineer Marta Ilves. Its lamp burned whale oil "
           "until 1911, when it was converted to kerosene.")
GOOD = {"id": "good", "question": "Who built the lighthouse?", "context": CONTEXT}
BAD_ITEMS = [
    ({"id": "e1", "question": "Who built it?", "context": ""}, "item 'e1': 'context' is empty"),
    ({"id": "e2", "question": "Who built it?", "context": " \n\t "},
     "item 'e2': 'context' is empty (only white space)"),
    ({"id": "e3", "question": "", "context": CONTEXT}, "item 'e3': 'question' is empty"),
    ({"id": "e4", "question": "Who built it?"}, "item 'e4': 'context' is missing"),
    ({"id": "e5", "question": 7, "context": CONTEXT}, "item 'e5': 'question' must be a string, got int"),
    ({"id": "e6", "question": "Who built it?", "context": "\u200b\u200b"},
     "item 'e6': 'context' has no tokens"),
    ({"id": "good", "question": "Again?", "context": CONTEXT}, "item 'good': 'id' repeats the id of item 0"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    vocab = write_word_vocab(root / "vocab", squad_texts())
    tokenizer = load_tokenizer(str(vocab))
    keras.utils.set_random_seed(0)
    model = ElectraForQuestionAnswering(tiny_config(vocab_size=tokenizer.vocab_size, max_position_embeddings=64))
    return dict(root=root, vocab=vocab, model=model, predictor=Predictor.from_model(model, tokenizer, **SETTINGS))


def _check_answer(result, item):
    assert "error" not in result, result
    assert result["id"] == item["id"] and result["question"] == item["question"]
    if result["answer"]:
        assert item["context"][result["start_char"]:result["end_char"]] == result["answer"]
    else:
        assert result["start_char"] == result["end_char"] == -1
    assert np.isfinite(result["score"]) and "null_score_diff" in result


def test_every_item_gets_its_answer_or_its_own_error(tiny):
    items = [GOOD] + [item for item, _ in BAD_ITEMS] + [{"id": "last", "question": "What did the lamp burn?",
                                                          "context": CONTEXT}]
    results = tiny["predictor"].answer_items(items)
    assert [r["id"] for r in results] == [str(item["id"]) for item in items]
    _check_answer(results[0], GOOD)
    _check_answer(results[-1], items[-1])
    for result, (_, message) in zip(results[1:-1], BAD_ITEMS):
        assert message in result["error"] and "answer" not in result
    # bad neighbours change nothing for the good items
    alone = tiny["predictor"].answer_items([GOOD, items[-1]])
    assert alone == [results[0], results[-1]]


def test_only_bad_items_never_call_the_model(tiny):
    def boom(inputs, batch_size):
        raise AssertionError("no features: the model must not run")
    predictor = Predictor(tiny["predictor"].tokenizer, SETTINGS, boom)
    results = predictor.answer_items([item for item, _ in BAD_ITEMS[:6]])
    assert all("error" in r for r in results)
    with pytest.raises(ValueError, match="item '0': 'context' is empty"):
        predictor.answer("Who built it?", "   ")


def test_answer_matches_answer_items(tiny):
    answer = tiny["predictor"].answer(GOOD["question"], GOOD["context"])
    (result,) = tiny["predictor"].answer_items([{**GOOD, "id": "0"}])
    assert answer["text"] == result["answer"] and answer["score"] == pytest.approx(result["score"])


@pytest.fixture(scope="module")
def exported(tiny):
    return export_saved_model(tiny["model"], str(tiny["root"] / "saved_model"), str(tiny["vocab"]),
                              **{k: v for k, v in SETTINGS.items()})


def test_predict_script_answers_good_items_and_flags_bad_ones(tiny, exported, tmp_path, capsys):
    items = [GOOD] + [item for item, _ in BAD_ITEMS] + [["not", "an", "object"]]
    input_file, output_file = tmp_path / "items.json", tmp_path / "answers.json"
    input_file.write_text(json.dumps(items), encoding="utf-8")
    code = predict.main(["--saved_model", exported, "--input_file", str(input_file), "--output_file",
                         str(output_file)])
    out, err = capsys.readouterr()
    assert code == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == json.loads(output_file.read_text(encoding="utf-8"))
    assert len(lines) == len(items)
    _check_answer(lines[0], GOOD)
    for result, (_, message) in zip(lines[1:], BAD_ITEMS):
        assert message in result["error"]
    assert "item '8': expected an object with 'question' and 'context', got list" in lines[-1]["error"]
    assert f"{len(items) - 1} of {len(items)} item(s) could not be answered" in err and "Traceback" not in err
    # the SavedModel answers what the model in memory answers
    expected = tiny["predictor"].answer_items([GOOD])[0]
    assert lines[0]["answer"] == expected["answer"] and lines[0]["start_char"] == expected["start_char"]
    assert lines[0]["score"] == pytest.approx(expected["score"], abs=1e-4)


def test_predict_script_squad_file_and_single_question(exported, capsys):
    assert predict.main(["--saved_model", exported, "--input_file", str(TINY_SQUAD)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    data = json.loads(TINY_SQUAD.read_text(encoding="utf-8"))
    ids = [qa["id"] for article in data["data"] for p in article["paragraphs"] for qa in p["qas"]]
    assert [line["id"] for line in lines] == ids and not any("error" in line for line in lines)
    assert predict.main(["--saved_model", exported, "--question", GOOD["question"], "--context", CONTEXT]) == 0
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    _check_answer(line, {**GOOD, "id": "0"})


@pytest.mark.parametrize("args,message", [
    (["--question", "", "--context", CONTEXT], "--question is empty"),
    (["--question", "Who?", "--context", ""], "--context is empty"),
    (["--question", "Who?", "--context", "  \n"], "--context is empty (only white space)"),
    (["--question", "   ", "--context", CONTEXT], "--question is empty (only white space)"),
    (["--question", "Who?"], "--context is missing"),
    (["--context", CONTEXT], "--question is missing"),
    ([], "give one of: --question and --context, --text [--text_pair], or --input_file"),
    (["--question", "Who?", "--context", CONTEXT, "--input_file", "x.json"], "give one of:"),
])
def test_empty_or_missing_flags_are_named(args, message, capsys):
    assert predict.main(["--saved_model", "unused", *args]) == 2
    assert message in capsys.readouterr().err


def test_unusable_input_file_names_it(exported, tmp_path, capsys):
    for name, body in (("object.json", {"question": "q"}), ("empty.json", []), ("broken.json", None)):
        path = tmp_path / name
        path.write_text("{not json" if body is None else json.dumps(body), encoding="utf-8")
        assert predict.main(["--saved_model", exported, "--input_file", str(path)]) == 2
        err = capsys.readouterr().err
        assert name in err and "Traceback" not in err


# ---- other heads: the export records the head, predict.py decodes it as the model in memory does -------------

ITEMS = [GOOD, {"id": "lamp", "question": "What did the lamp burn?", "context": CONTEXT},
         {"id": "year", "question": "When was it converted to kerosene?", "context": CONTEXT},
         {"id": "long", "question": "Who built the lighthouse?", "context": " ".join([CONTEXT] * 4)}]


def _spread(model):
    """Scale the heads' output kernels so that scores are far apart (no near-ties between export and memory)."""
    scales = {"qa_outputs/kernel": 40.0, "start_logits/dense/kernel": 40.0, "end_logits/dense_1/kernel": 40.0,
              "answer_class/dense_1/kernel": 1000.0}
    for name, variable in model.named_variables().items():
        if name in scales:
            variable.assign(variable.numpy() * scales[name])


@pytest.mark.slow
@pytest.mark.parametrize("head", [dict(joint=True, answerability=True, beam_size=4), dict(answerability=True)],
                         ids=["joint", "plain_answerability"])
def test_predict_script_decodes_other_heads_as_the_model_in_memory(tiny, head, tmp_path, capsys):
    tokenizer = load_tokenizer(str(tiny["vocab"]))
    keras.utils.set_random_seed(1)
    model = ElectraForQuestionAnswering(tiny_config(vocab_size=tokenizer.vocab_size, max_position_embeddings=64),
                                        **head)
    _spread(model)
    export = export_saved_model(model, str(tmp_path / "saved_model"), str(tiny["vocab"]), **SETTINGS)
    expected = Predictor.from_model(model, tokenizer, **SETTINGS).answer_items(ITEMS)
    input_file = tmp_path / "items.json"
    input_file.write_text(json.dumps(ITEMS), encoding="utf-8")
    assert predict.main(["--saved_model", export, "--input_file", str(input_file)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == len(ITEMS)
    for line, want, item in zip(lines, expected, ITEMS):
        _check_answer(line, item)
        assert (line["answer"], line["start_char"], line["end_char"]) == \
            (want["answer"], want["start_char"], want["end_char"])
        assert line["score"] == pytest.approx(want["score"], abs=1e-4)
        assert line["null_score_diff"] == pytest.approx(want["null_score_diff"], abs=1e-4)
    if head.get("joint"):
        assert all(line["score"] <= 1e-6 for line in lines if line["answer"])     # log-probabilities
    assert any(line["answer"] for line in lines)

"""electra-finetune's tasks end to end on real excerpts with tiny models: what each writes, that the labels travel
with the model, that predict mode needs nothing but the run, and that bad input stops the job before any step."""
import csv
import json
import os

import numpy as np
import pytest

from electra.classification.data import DataError
from electra.commands.finetune import COMMAND
from electra.commands.predict import COMMAND as PREDICT
from electra.tasks.finetuning import run
from tests.tasks.finetune_helpers import GLUE, TAGGING, VOCAB, finetune_config, untouched


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _metadata(directory):
    with open(os.path.join(directory, "metadata.json"), encoding="utf-8") as f:
        return json.load(f)


def test_glue_run_writes_the_model_scores_predictions_submission_and_export(tmp_path, capsys):
    result = run(finetune_config(tmp_path / "out", task="glue/sst-2", export_dir=str(tmp_path / "export"), **{
        "data.train_file": str(GLUE / "SST-2" / "train.tsv"), "data.eval_file": str(GLUE / "SST-2" / "train.tsv"),
        "data.test_file": str(GLUE / "SST-2" / "test.tsv")}))
    out = tmp_path / "out"
    assert set(result["eval"]) == {"accuracy", "score"} and result["eval"]["score"] == result["eval"]["accuracy"]
    assert json.loads((out / "eval_results.json").read_text()) == result["eval"]
    meta = _metadata(out / "model")
    assert meta["task"] == "classification" and meta["labels"] == ["0", "1"]
    assert meta["finetune"]["glue_task"] == "sst-2" and meta["finetune"]["max_seq_length"] == 48
    test_rows = (GLUE / "SST-2" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    predictions = _lines(out / "predictions.jsonl")
    assert [p["id"] for p in predictions] == [row.split("\t")[0] for row in test_rows]
    for p in predictions:
        assert p["label"] in ("0", "1") and abs(sum(p["probabilities"].values()) - 1) < 1e-5
        assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)
    submission = (out / "glue_submission" / "SST-2.tsv").read_text().splitlines()
    assert submission[0] == "index\tprediction"
    assert submission[1:] == [f"{p['id']}\t{p['label']}" for p in predictions]
    # the export alone answers as the run did: electra-predict over the test sentences
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(row.split("\t", 1)[1].strip() + "\n" for row in test_rows), encoding="utf-8")
    capsys.readouterr()
    assert PREDICT.main([f"--saved_model={result['export_dir']}", f"--input_file={texts}"]) == 0
    served = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["label"] for s in served] == [p["label"] for p in predictions]
    for s, p in zip(served, predictions):
        assert max(abs(s["probabilities"][k] - p["probabilities"][k]) for k in p["probabilities"]) < 1e-5
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": "  "}\n', encoding="utf-8")
    assert PREDICT.main([f"--saved_model={result['export_dir']}", f"--input_file={mixed}"]) == 1
    out, err = capsys.readouterr()
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["a", "b"] and "item 'b': 'text'" in err
    assert PREDICT.main([f"--saved_model={result['export_dir']}", "--question=q", "--context=c"]) == 2
    assert "is a classification export" in capsys.readouterr().err


def _own_csv(tmp_path, rows=40):
    """SST-2's real rows as the user's own CSV with named columns and word labels."""
    source = (GLUE / "SST-2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:rows + 1]
    path = tmp_path / "reviews.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "review", "sentiment"])
        for i, row in enumerate(source):
            text, label = row.rsplit("\t", 1)
            writer.writerow([i, text.strip(), {"0": "negative", "1": "positive"}[label]])
    return path


def test_own_csv_labels_travel_with_the_model_to_predict_mode(tmp_path):
    data = _own_csv(tmp_path)
    flags = {"data.train_file": str(data), "data.eval_file": str(data), "data.text_column": "review",
             "data.label_column": "sentiment"}
    trained = run(finetune_config(tmp_path / "out", task="classification", **flags))
    assert set(trained["eval"]) >= {"accuracy", "macro_f1", "mcc", "f1", "score"}
    assert _metadata(tmp_path / "out" / "model")["labels"] == ["negative", "positive"]
    unlabeled = tmp_path / "new.jsonl"
    unlabeled.write_text("".join(json.dumps({"review": t}) + "\n" for t in ("a gorgeous film", "dull and flat")))
    predicted = run(finetune_config(tmp_path / "out", task="classification", mode="predict", **{
        "data.test_file": str(unlabeled), "data.text_column": "review"}))
    rows = _lines(predicted["predictions"]["predictions"])
    assert [r["id"] for r in rows] == ["new.jsonl:1", "new.jsonl:2"]
    assert all(set(r["probabilities"]) == {"negative", "positive"} for r in rows)


def test_regression_scores_pearson_and_spearman_and_predicts_numbers(tmp_path):
    stsb = str(GLUE / "STS-B" / "train.tsv")
    result = run(finetune_config(tmp_path / "out", task="glue/sts-b", **{
        "data.train_file": stsb, "data.eval_file": stsb, "data.test_file": str(GLUE / "STS-B" / "test.tsv")}))
    assert set(result["eval"]) == {"pearson", "spearman", "score"}
    assert result["eval"]["score"] == pytest.approx((result["eval"]["pearson"] + result["eval"]["spearman"]) / 2)
    assert _metadata(tmp_path / "out" / "model")["labels"] is None
    rows = _lines(tmp_path / "out" / "predictions.jsonl")
    assert all(isinstance(r["score"], float) for r in rows)
    submission = (tmp_path / "out" / "glue_submission" / "STS-B.tsv").read_text().splitlines()[1:]
    assert all(0.0 <= float(line.split("\t")[1]) <= 5.0 for line in submission)


@pytest.mark.parametrize("train, dev, entity", [("wnut17_train.conll", "wnut17_dev.conll", True),
                                                ("en_ewt-ud-train.conllu", "en_ewt-ud-dev.conllu", False)])
def test_tagging_scores_and_predicts_one_tag_per_word(tmp_path, capsys, train, dev, entity):
    result = run(finetune_config(tmp_path / "out", task="tagging", export_dir=str(tmp_path / "export"), **{
        "data.train_file": str(TAGGING / train), "data.eval_file": str(TAGGING / dev),
        "data.test_file": str(TAGGING / dev), "data.max_seq_length": 24, "data.stride": 8}))
    expected = {"accuracy", "score"} | ({"precision", "recall", "f1"} if entity else set())
    assert expected <= set(result["eval"])
    meta = _metadata(tmp_path / "out" / "model")
    assert meta["task"] == "tagging" and meta["labels"][0] == "O" if entity else meta["labels"][0] != "O"
    assert meta["finetune"]["stride"] == 8 and meta["finetune"]["tag_scheme"] == ("BIO" if entity else "none")
    rows = _lines(tmp_path / "out" / "predictions.jsonl")
    assert rows and all(len(r["words"]) == len(r["tags"]) and set(r["tags"]) <= set(meta["labels"]) for r in rows)
    sentences = tmp_path / "sentences.jsonl"
    sentences.write_text("".join(json.dumps({"id": r["id"], "words": r["words"]}) + "\n" for r in rows[:12]),
                         encoding="utf-8")
    capsys.readouterr()
    assert PREDICT.main([f"--saved_model={result['export_dir']}", f"--input_file={sentences}"]) == 0
    served = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(s["id"], s["tags"]) for s in served] == [(r["id"], r["tags"]) for r in rows[:12]]


BAD_INPUTS = {
    # kind: (file name, content, flags beyond the task, what the message must say)
    "label not in the set": ("dev.tsv", "sentence\tlabel\na fine film \t1\nnot good \tmaybe\n",
                             {"task": "glue/sst-2"}, r"dev\.tsv:3: column 'label': 'maybe' is not one of the labels"),
    "missing column": ("dev.csv", "text,stars\nfine,1\n", {"task": "classification", "data.label_column": "label"},
                       r"dev\.csv"),
    "empty text": ("dev.jsonl", '{"text": "fine", "label": "1"}\n{"text": "  ", "label": "0"}\n',
                   {"task": "classification"}, r"dev\.jsonl:2"),
    "non-numeric target": ("dev.csv", "text,label\nfine,2.5\nbad,high\n", {"task": "regression"}, r"dev\.csv:3"),
    "malformed tagging line": ("dev.conll", "EU\tB-location\nrejects\tO\tX\n", {"task": "tagging"},
                               r"dev\.conll:2"),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_held_out_input_stops_the_job_before_any_step(kind, tmp_path):
    name, content, flags, message = BAD_INPUTS[kind]
    bad = tmp_path / name
    bad.write_text(content, encoding="utf-8")
    train = {"glue/sst-2": GLUE / "SST-2" / "train.tsv", "tagging": TAGGING / "wnut17_train.conll"}.get(
        flags["task"])
    if train is None:
        good = tmp_path / "train.csv"
        good.write_text("text,label\n" + "".join(f"text {i},{i % 2 + 1}\n" for i in range(8)), encoding="utf-8")
        train = good
    flags = {**flags, "data.train_file": str(train), "data.eval_file": str(bad)}
    with pytest.raises(DataError, match=message):
        run(finetune_config(tmp_path / "out", **flags))
    untouched(tmp_path / "out")


def test_the_command_exits_2_naming_file_and_line(tmp_path, capsys):
    bad = tmp_path / "train.tsv"
    bad.write_text("sentence\tlabel\ngood \t1\nbad \t0\nugly \t2\n", encoding="utf-8")
    code = COMMAND.main(["--task=glue/sst-2", f"--data.train_file={bad}", f"--data.vocab_file={VOCAB}",
                         "--model.size=tiny", "--mode=train", f"--output_dir={tmp_path / 'out'}"])
    assert code == 2
    assert "train.tsv:4: column 'label': '2' is not one of the labels ['0', '1']" in capsys.readouterr().err
    untouched(tmp_path / "out")


def test_predict_mode_without_a_trained_model_names_what_is_missing(tmp_path):
    with pytest.raises((ValueError, OSError)):
        run(finetune_config(tmp_path / "out", task="classification", mode="predict", **{
            "data.test_file": str(_own_csv(tmp_path))}))


def test_eval_only_reproduces_the_training_run_score(tmp_path):
    sst = str(GLUE / "SST-2" / "train.tsv")
    trained = run(finetune_config(tmp_path / "out", task="glue/sst-2", **{"data.train_file": sst,
                                                                            "data.eval_file": sst}))
    again = run(finetune_config(tmp_path / "out", task="glue/sst-2", mode="eval", **{"data.eval_file": sst}))
    np.testing.assert_allclose(again["eval"]["accuracy"], trained["eval"]["accuracy"])


@pytest.mark.slow
def test_a_classifier_for_other_labels_starts_another_task_with_its_encoder(tmp_path, caplog):
    """As the ELECTRA paper starts RTE from an MNLI model: the encoder is taken, the head (other labels) starts
    fresh; a tagger can start from a sentence classifier the same way."""
    data = _own_csv(tmp_path)
    run(finetune_config(tmp_path / "first", task="classification", **{
        "data.train_file": str(data), "data.eval_file": str(data), "data.text_column": "review",
        "data.label_column": "sentiment"}))
    first = str(tmp_path / "first" / "model")
    sst = str(GLUE / "SST-2" / "train.tsv")
    with caplog.at_level("INFO", logger="electra.finetune"):
        result = run(finetune_config(tmp_path / "second", task="glue/sst-2", init=first, **{
            "data.train_file": sst, "data.eval_file": sst}))
    assert result["initialized_from"] == first
    assert "holds a classifier for the labels ['negative', 'positive']; its encoder starts this run" in caplog.text
    tagged = run(finetune_config(tmp_path / "third", task="tagging", init=first, **{
        "data.train_file": str(TAGGING / "wnut17_train.conll"), "data.eval_file": str(TAGGING / "wnut17_dev.conll"),
        "data.max_seq_length": 24}))
    assert "f1" in tagged["eval"]

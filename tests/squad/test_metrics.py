import json
import subprocess
import sys

import pytest

from electra.squad.metrics import evaluate, evaluate_files, exact_match, f1_score, normalize_answer


@pytest.mark.parametrize("text,expected", [
    ("The  Quick, brown-fox!", "quick brownfox"),
    ("An apple a day", "apple day"),
    ("theory of the Anthem", "theory of anthem"),   # articles only as whole words
    ("  A.  ", ""),
    ("Ünïcode\tTEXT\n", "ünïcode text"),
    ("“curly” quotes", "“curly” quotes"),           # only ASCII punctuation is removed, as in the official script
])
def test_normalize(text, expected):
    assert normalize_answer(text) == expected


def test_f1_and_exact_by_hand():
    assert f1_score("the cat sat", "a cat sat down") == pytest.approx(0.8)   # P 1, R 2/3
    assert f1_score("cat cat", "cat") == pytest.approx(2 * 0.5 * 1 / 1.5)   # counts clipped per token
    assert f1_score("dog", "cat") == 0.0
    assert exact_match("The Cat.", "cat") == 1
    # empty strings: v1.1 gives F1 0 (no common token), v2.0 gives 1 when both are empty, 0 when one is
    assert f1_score("", "the", version="1.1") == 0.0
    assert f1_score("", "the", version="2.0") == 1.0
    assert f1_score("", "cat", version="2.0") == 0.0


def _dataset(qas):
    return [{"title": "t", "paragraphs": [{"context": "ctx", "qas": qas}]}]


def test_v1_max_over_golds_and_missing():
    data = _dataset([
        {"id": "a", "question": "?", "answers": [{"text": "Denver Broncos", "answer_start": 0},
                                                 {"text": "the Broncos", "answer_start": 0}]},
        {"id": "b", "question": "?", "answers": [{"text": "blue whale", "answer_start": 0}]},
        {"id": "c", "question": "?", "answers": [{"text": "x", "answer_start": 0}]},
    ])
    result = evaluate(data, {"a": "Broncos", "b": "a whale"}, "1.1")
    # a: EM 1 against "the Broncos"; b: EM 0, F1 = 2·(1·0.5)/1.5 = 2/3; c: missing → 0
    assert result["exact"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert result["missing"] == 1 and result["total"] == 3


V2_DATA = _dataset([
    {"id": "q1", "question": "?", "answers": [{"text": "Paris", "answer_start": 0}], "is_impossible": False},
    {"id": "q2", "question": "?", "answers": [{"text": "big red dog", "answer_start": 0}], "is_impossible": False},
    {"id": "q3", "question": "?", "answers": [], "is_impossible": True},
    {"id": "q4", "question": "?", "answers": [], "is_impossible": True},
])
V2_PREDS = {"q1": "paris", "q2": "red dog", "q3": "", "q4": "something"}


def test_v2_breakdown():
    r = evaluate(V2_DATA, V2_PREDS, "2.0")
    assert r["exact"] == pytest.approx(50.0) and r["f1"] == pytest.approx(70.0)
    assert r["HasAns_exact"] == pytest.approx(50.0) and r["HasAns_f1"] == pytest.approx(90.0)
    assert r["NoAns_exact"] == pytest.approx(50.0) and r["NoAns_f1"] == pytest.approx(50.0)
    assert r["HasAns_total"] == 2 and r["NoAns_total"] == 2
    assert "best_f1" not in r


def test_v2_null_odds_thresholds():
    odds = {"q1": 0.1, "q2": 0.5, "q3": 2.0, "q4": 3.0}
    r = evaluate(V2_DATA, V2_PREDS, "2.0", na_probs=odds)
    # na > 1.0 → predicted unanswerable: q3 stays right, q4 becomes right
    assert r["exact"] == pytest.approx(75.0) and r["f1"] == pytest.approx(95.0)
    # start at 2 (all unanswerable), +1 at q1 (0.1), +0 / +0.8 at q2 (0.5), 0 at q3, −1 at q4
    assert r["best_exact"] == pytest.approx(75.0) and r["best_exact_thresh"] == pytest.approx(0.1)
    assert r["best_f1"] == pytest.approx(95.0) and r["best_f1_thresh"] == pytest.approx(0.5)


def test_v2_gold_that_normalizes_to_nothing_counts_as_unanswerable():
    data = _dataset([{"id": "q", "question": "?", "answers": [{"text": "The", "answer_start": 0}]}])
    assert evaluate(data, {"q": ""}, "2.0")["exact"] == 100.0
    assert evaluate(data, {"q": ""}, "1.1")["f1"] == 0.0


@pytest.mark.slow
def test_cli_matches_library(tmp_path):
    data_file, pred_file, odds_file = tmp_path / "d.json", tmp_path / "p.json", tmp_path / "o.json"
    data_file.write_text(json.dumps({"version": "v2.0", "data": V2_DATA}))
    pred_file.write_text(json.dumps(V2_PREDS))
    odds_file.write_text(json.dumps({"q1": 0.1, "q2": 0.5, "q3": 2.0, "q4": 3.0}))
    out = subprocess.run([sys.executable, "run_scripts/evaluate_squad.py", str(data_file), str(pred_file),
                          "--na_prob_file", str(odds_file)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == evaluate_files(str(data_file), str(pred_file), str(odds_file))
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    out = subprocess.run([sys.executable, "run_scripts/evaluate_squad.py", str(data_file), str(bad)],
                         capture_output=True, text=True)
    assert out.returncode != 0 and str(bad) in out.stderr and "Traceback" not in out.stderr


def test_structural_errors_name_the_files(tmp_path):
    data_file, pred_file = tmp_path / "d.json", tmp_path / "p.json"
    data_file.write_text(json.dumps({"data": [{"paragraphs": [{"qas": [{"question": "no id"}]}]}]}))
    pred_file.write_text("{}")
    with pytest.raises(ValueError, match="d.json"):
        evaluate_files(str(data_file), str(pred_file))


def _file(path, data, version=None):
    body = {"data": data} if version is None else {"version": version, "data": data}
    path.write_text(json.dumps(body), encoding="utf-8")
    return str(path)


# v2.0 scoring drops gold texts that normalize to nothing and reports HasAns_*; v1.1 does neither
ANSWERABLE_ONLY = _dataset([{"id": "q", "question": "?", "answers": [{"text": "The", "answer_start": 0}]}])


@pytest.mark.parametrize("declared,expected", [("v2.0", "2.0"), ("2.0", "2.0"), (2.0, "2.0"), (" V2.0 ", "2.0"),
                                               ("v1.1", "1.1"), ("1.1", "1.1"), (1.1, "1.1"), (None, "1.1")])
def test_declared_version_is_parsed(tmp_path, declared, expected):
    data_file = _file(tmp_path / "d.json", ANSWERABLE_ONLY, declared)
    pred_file = tmp_path / "p.json"
    pred_file.write_text(json.dumps({"q": ""}))
    result = evaluate_files(data_file, str(pred_file))
    if expected == "2.0":       # a v2.0 file without unanswerable questions is still scored as v2.0
        assert result["exact"] == 100.0 and result["NoAns_total"] == 1
    else:
        assert result["f1"] == 0.0 and "HasAns_total" not in result and "NoAns_total" not in result
    assert evaluate_files(data_file, str(pred_file), version=f"v{expected}") == evaluate(
        ANSWERABLE_ONLY, {"q": ""}, expected)


def test_unknown_declared_version_names_the_file(tmp_path):
    pred_file = tmp_path / "p.json"
    pred_file.write_text("{}")
    for declared in ("v3.0", "2", "squad", ""):
        data_file = _file(tmp_path / "odd_version.json", ANSWERABLE_ONLY, declared)
        with pytest.raises(ValueError, match=r"odd_version.json: unknown \"version\": '.*' \(expected"):
            evaluate_files(data_file, str(pred_file))
    with pytest.raises(ValueError, match="unknown SQuAD version '3'"):
        evaluate_files(_file(tmp_path / "d.json", ANSWERABLE_ONLY), str(pred_file), version="3")


def test_impossible_questions_make_a_file_v2(tmp_path):
    pred_file = tmp_path / "p.json"
    pred_file.write_text(json.dumps(V2_PREDS))
    for declared in (None, "1.1"):
        result = evaluate_files(_file(tmp_path / "d.json", V2_DATA, declared), str(pred_file))
        assert result == evaluate(V2_DATA, V2_PREDS, "2.0")


DUPLICATE_IDS = [{"id": "a", "question": "?", "answers": [{"text": "x", "answer_start": 0}]},
                 {"id": "b", "question": "?", "answers": [{"text": "y", "answer_start": 0}]},
                 {"id": "a", "question": "?", "answers": [{"text": "z", "answer_start": 0}]}]


def test_duplicate_question_ids_are_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"1 question id\(s\) appear more than once: 'a' \(2 times\)"):
        evaluate(_dataset(DUPLICATE_IDS), {"a": "x", "b": "y"})
    pred_file = tmp_path / "p.json"
    pred_file.write_text(json.dumps({"a": "x", "b": "y"}))
    data_file = _file(tmp_path / "dups.json", _dataset(DUPLICATE_IDS), "v1.1")
    with pytest.raises(ValueError, match=r"dups.json.*'a' \(2 times\)"):
        evaluate_files(data_file, str(pred_file))


@pytest.mark.slow
def test_duplicate_question_ids_are_named_by_the_script_without_traceback(tmp_path):
    """The command line fails naming the file and the id, without a traceback (a fresh process: slow)."""
    pred_file = tmp_path / "p.json"
    pred_file.write_text(json.dumps({"a": "x", "b": "y"}))
    data_file = _file(tmp_path / "dups.json", _dataset(DUPLICATE_IDS), "v1.1")
    out = subprocess.run([sys.executable, "run_scripts/evaluate_squad.py", data_file, str(pred_file)],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "dups.json" in out.stderr and "'a'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("value", ["false", "true", 0, None])
def test_is_impossible_must_be_a_json_boolean(tmp_path, value):
    qas = [{"id": "q1", "question": "?", "answers": [{"text": "x", "answer_start": 0}], "is_impossible": value}]
    with pytest.raises(ValueError, match=r"question 'q1': 'is_impossible' must be a JSON boolean"):
        evaluate(_dataset(qas), {"q1": "x"}, "2.0")
    pred_file = tmp_path / "p.json"
    pred_file.write_text(json.dumps({"q1": "x"}))
    for declared in ("v2.0", None):
        with pytest.raises(ValueError, match=r"strict.json.*question 'q1': 'is_impossible' must be a JSON boolean"):
            evaluate_files(_file(tmp_path / "strict.json", _dataset(qas), declared), str(pred_file))

"""electra.tagging.metrics against seqeval's default-mode values stored in tests/fixtures/metrics/tagging.json
(computed on real WNUT-17 and UD EWT tag sequences by make_metric_fixtures.py), plus hand-checked cases."""
import json
import pathlib

import pytest

from electra.tagging.metrics import entity_scores, extract_entities, tagging_scores, token_accuracy

FIXTURE = json.loads((pathlib.Path(__file__).parents[1] / "fixtures" / "metrics" / "tagging.json")
                     .read_text(encoding="utf-8"))
CASES = FIXTURE["cases"]
TOL = 1e-12


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_entity_scores_equal_seqeval(case):
    expected = case["expected"]
    ours = entity_scores(case["true"], case["pred"])
    assert set(ours) == {"precision", "recall", "f1", "per_type"}
    for name in ("precision", "recall", "f1"):
        assert abs(ours[name] - expected[name]) <= TOL, (name, ours[name], expected[name])
    assert list(ours["per_type"]) == list(expected["per_type"])   # same types, sorted
    for type_, row in expected["per_type"].items():
        mine = ours["per_type"][type_]
        assert mine["support"] == row["support"], type_
        for name in ("precision", "recall", "f1"):
            assert abs(mine[name] - row[name]) <= TOL, (type_, name, mine[name], row[name])
    assert sum(row["support"] for row in ours["per_type"].values()) == expected["micro_support"]
    assert abs(token_accuracy(case["true"], case["pred"]) - expected["accuracy"]) <= TOL


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_tagging_scores_by_scheme(case):
    ours = tagging_scores(case["true"], case["pred"], case["scheme"])
    if case["scheme"] == "none":
        assert ours == {"accuracy": pytest.approx(case["expected"]["accuracy"], abs=TOL)}
    else:
        assert set(ours) == {"precision", "recall", "f1", "per_type", "accuracy"}
        assert abs(ours["f1"] - case["expected"]["f1"]) <= TOL


def test_fixture_is_not_trivial():
    real = [c for c in CASES if c["name"] in ("wnut_bio", "wnut_bioes")]
    assert all(0.2 < c["expected"]["f1"] < 0.9 for c in real)
    assert sum(row["support"] for row in real[0]["expected"]["per_type"].values()) >= 50


def test_extraction_by_hand():
    assert extract_entities(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC"]) == [
        ("PER", 0, 1), ("LOC", 3, 4), ("LOC", 5, 5)]
    assert extract_entities(["I-PER", "I-LOC", "E-LOC", "S-ORG", "B-MISC"]) == [
        ("PER", 0, 0), ("LOC", 1, 2), ("ORG", 3, 3), ("MISC", 4, 4)]
    assert extract_entities(["B-creative-work", "I-creative-work"]) == [("creative-work", 0, 1)]
    assert extract_entities(["E-X", "E-X", "I-X"]) == [("X", 0, 0), ("X", 1, 1), ("X", 2, 2)]
    assert extract_entities(["O", "O"]) == []


def test_scores_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["I-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    scores = tagging_scores(true, pred, "BIO")
    # true PER, LOC, ORG (the I- start is an entity); predicted PER, ORG(0,3), ORG(1,0): hits PER and ORG
    assert scores["precision"] == scores["recall"] == scores["f1"] == 2 / 3
    assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["per_type"]["ORG"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert scores["accuracy"] == 4 / 6
    nothing = entity_scores(true, [["O"] * 4, ["O"] * 2])
    assert (nothing["precision"], nothing["recall"], nothing["f1"]) == (0.0, 0.0, 0.0)
    assert entity_scores([["O"]], [["O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "per_type": {}}


def test_bad_input():
    with pytest.raises(ValueError, match="2 true sentences but 1 predicted"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0: 2 true tags but 1 predicted"):
        token_accuracy([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="not an entity scheme"):
        tagging_scores([["O"]], [["O"]], "BILOU")
    with pytest.raises(ValueError, match="empty tag"):
        entity_scores([[""]], [["O"]])
    with pytest.raises(ValueError, match="no tokens"):
        token_accuracy([[]], [[]])

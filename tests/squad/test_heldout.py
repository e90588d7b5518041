"""Held-out SQuAD sets from whole articles (electra.squad.heldout), per-question scores and the verdict."""
import json

import pytest

from electra.squad import heldout
from electra.squad.metrics import evaluate
from tests.squad.squad_helpers import REAL_SQUAD


def test_article_split_shares_nothing_and_refuses_overlap(tmp_path):
    train, held_out = heldout.article_split(str(REAL_SQUAD), (2, 3, 4, 8), (0, 7))
    assert heldout.titles(held_out) == ["University_of_Notre_Dame", "IPod"]
    assert heldout.count_questions(train) == 670 and heldout.count_questions(held_out) == 596
    assert not heldout.question_ids(train) & heldout.question_ids(held_out)
    with pytest.raises(ValueError, match=r"articles \[3\] are in both"):
        heldout.article_split(str(REAL_SQUAD), (2, 3), (3,))
    with pytest.raises(ValueError, match="has 12 articles; no article \\[12\\]"):
        heldout.article_split(str(REAL_SQUAD), (2,), (12,))
    train_file, held_out_file = heldout.write_split(str(tmp_path), train, held_out)
    assert json.loads(open(held_out_file, encoding="utf-8").read()) == held_out and train_file.endswith("train.json")


def test_per_question_scores_average_to_the_official_scores():
    _, held_out = heldout.article_split(str(REAL_SQUAD), (2,), (3,))
    questions = [qa for p in held_out["data"][0]["paragraphs"] for qa in p["qas"]]
    predictions = {qa["id"]: (qa["answers"][0]["text"] if i % 3 == 0 else "the United Nations genocide")
                   for i, qa in enumerate(questions) if i % 7}                  # some questions missing
    scores = heldout.per_question_scores(held_out, predictions)
    official = evaluate(held_out["data"], predictions, "1.1")
    assert len(scores) == official["total"] == len(questions)
    assert 100 * sum(e for e, _ in scores.values()) / len(scores) == pytest.approx(official["exact"])
    assert 100 * sum(f for _, f in scores.values()) / len(scores) == pytest.approx(official["f1"])


def test_verdict_names_a_winner_only_outside_the_noise():
    better, worse = [1.0, 0.8, 0.6, 1.0] * 50, [0.0, 0.2, 0.1, 0.0] * 50
    assert heldout.verdict(better, worse).startswith("→ pretraining won")
    assert heldout.verdict(worse, better).startswith("→ random initialization won")
    noisy = heldout.verdict([1.0, 0.0] * 50, [0.0, 1.0] * 50)
    assert noisy.startswith("→ no clear winner") and "within noise" in noisy
    mean, low, high = heldout.paired_bootstrap([1.0, 0.0] * 50, [0.0, 1.0] * 50)
    assert mean == 0.0 and low < 0 < high

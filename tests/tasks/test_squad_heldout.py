"""Fine-tuning on real SQuAD articles, scored on other articles (never its training questions), for both heads."""
import json

import numpy as np
import pytest

from benchmarks.squad_heldout import HELD_OUT_ARTICLES, TRAIN_ARTICLES, held_out_run
from tests.squad.squad_helpers import article_split, v2_style

pytestmark = pytest.mark.slow


def test_the_split_shares_no_article_paragraph_or_question():
    train, held_out = article_split(TRAIN_ARTICLES, HELD_OUT_ARTICLES)
    contexts = {p["context"] for a in train["data"] for p in a["paragraphs"]}
    ids = {qa["id"] for a in train["data"] for p in a["paragraphs"] for qa in p["qas"]}
    assert not {a["title"] for a in train["data"]} & {a["title"] for a in held_out["data"]}
    assert not contexts & {p["context"] for a in held_out["data"] for p in a["paragraphs"]}
    assert not ids & {qa["id"] for a in held_out["data"] for p in a["paragraphs"] for qa in p["qas"]}
    v2 = v2_style(held_out, 1)
    impossible = [qa for a in v2["data"] for p in a["paragraphs"] for qa in p["qas"] if qa.get("is_impossible")]
    assert impossible and all(qa["answers"] == [] for qa in impossible)
    assert len({qa["id"] for a in v2["data"] for p in a["paragraphs"] for qa in p["qas"]}) == \
        sum(len(p["qas"]) for a in v2["data"] for p in a["paragraphs"])


@pytest.mark.parametrize("head", ["plain", "joint"])
def test_fine_tuning_on_real_articles_answers_every_held_out_question(head, tmp_path):
    """A tiny randomly initialized model fine-tuned on 1,235 questions of 6 articles and scored on the 596 questions
    of 2 others: every held-out question gets an answer and the fine-tuned model's held-out numbers are its own.
    Random initialization learns nothing that transfers here, and this test does not pretend otherwise: measured
    (seed 0, 2-core AMD EPYC with AVX2) held-out F1 5.35 → 5.59 plain and 3.93 → 3.71 joint, within a few questions
    of chance, while the held-out span loss on the gold answers rises (5.54 → 6.48 plain, 4.94 → 5.86 joint: it
    memorizes its articles). Transfer is what pretraining is for; the quickstart compares the two on held-out
    articles."""
    untrained = held_out_run(str(tmp_path), head, "1.1", 0)
    trained = held_out_run(str(tmp_path), head, "1.1", 300)
    print(json.dumps({"untrained": untrained, "trained": trained}))
    assert trained["held_out_questions"] == untrained["held_out_questions"] == trained["total"] == 596
    assert trained["missing"] == untrained["missing"] == 0
    assert all(np.isfinite(r["held_out_span_loss"]) for r in (trained, untrained))
    assert abs(trained["held_out_span_loss"] - untrained["held_out_span_loss"]) > 0.05   # the weights did change
    assert 0.0 <= trained["exact"] <= trained["f1"] <= 100.0

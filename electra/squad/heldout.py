"""Held-out SQuAD sets from whole articles: fine-tune on some articles, score on others (no shared article,
paragraph or question), and SQuAD 2.0-style copies with unanswerable questions made by pairing.

    from electra.squad.heldout import article_split, v2_style, write_split
    train, held_out = article_split("train-v1.1-12-articles.json", (2, 3, 4), (0, 7))

The repository's real subset is ``tests/fixtures/squad/train-v1.1-12-articles.json`` (12 articles of the SQuAD v1.1
training set, CC BY-SA 4.0; see the README beside it). ``TRAIN_ARTICLES`` / ``HELD_OUT_ARTICLES`` are the split
``benchmarks/squad_heldout.py`` uses.
"""
from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Sequence

from electra.io import atomic_write

TRAIN_ARTICLES = (2, 3, 4, 6, 8, 9)     # Montana, Genocide, Antibiotics, Sino-Tibetan, Zelda, Spectre
HELD_OUT_ARTICLES = (0, 7)              # University_of_Notre_Dame, IPod


def article_split(path: str, train_articles: Sequence[int], held_out_articles: Sequence[int]) -> tuple[dict, dict]:
    """Two SQuAD datasets made of whole articles of ``path`` (by index): no question, paragraph or article of the
    held-out set is seen in training. ``ValueError`` when the two selections overlap or share a paragraph or a
    question id, or an index is out of range."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)["data"]
    overlap = set(train_articles) & set(held_out_articles)
    if overlap:
        raise ValueError(f"articles {sorted(overlap)} are in both the training and the held-out selection")
    outside = [i for i in (*train_articles, *held_out_articles) if not 0 <= i < len(data)]
    if outside:
        raise ValueError(f"{path} has {len(data)} articles; no article {outside}")
    train = {"version": "1.1", "data": [data[i] for i in train_articles]}
    held_out = {"version": "1.1", "data": [data[i] for i in held_out_articles]}
    shared_contexts = _contexts(train) & _contexts(held_out)
    shared_ids = question_ids(train) & question_ids(held_out)
    if shared_contexts or shared_ids:
        raise ValueError(f"{path}: the selections share {len(shared_contexts)} paragraph(s) and "
                         f"{len(shared_ids)} question id(s)")
    return train, held_out


def v2_style(dataset: dict, seed: int) -> dict:
    """A SQuAD 2.0-style copy: every paragraph also gets questions of other articles (``is_impossible``, no answer),
    half as many as its own. Unanswerable questions made by pairing, not written adversarially as in SQuAD 2.0."""
    rng = random.Random(seed)
    out = copy.deepcopy(dataset)
    pools = [[qa for p in a["paragraphs"] for qa in p["qas"]] for a in dataset["data"]]
    for ai, article in enumerate(out["data"]):
        others = [qa for j, pool in enumerate(pools) if j != ai for qa in pool]
        for pi, paragraph in enumerate(article["paragraphs"]):
            for k, qa in enumerate(rng.sample(others, max(1, len(paragraph["qas"]) // 2))):
                paragraph["qas"].append({"id": f"{qa['id']}-unanswerable-{ai}-{pi}-{k}", "question": qa["question"],
                                         "answers": [], "is_impossible": True})
    out["version"] = "v2.0"
    return out


def question_ids(dataset: dict) -> set[str]:
    return {qa["id"] for a in dataset["data"] for p in a["paragraphs"] for qa in p["qas"]}


def count_questions(dataset: dict) -> int:
    return sum(len(p["qas"]) for a in dataset["data"] for p in a["paragraphs"])


def titles(dataset: dict) -> list[str]:
    return [a["title"] for a in dataset["data"]]


def write_split(directory: str, train: dict, held_out: dict, suffix: str = "") -> tuple[str, str]:
    """Write the two sets as ``train{suffix}.json`` and ``held_out{suffix}.json`` under ``directory``; their paths."""
    paths = []
    for name, data in (("train", train), ("held_out", held_out)):
        path = os.path.join(directory, f"{name}{suffix}.json")
        with atomic_write(path) as f:
            json.dump(data, f)
        paths.append(path)
    return paths[0], paths[1]


def _contexts(dataset: dict) -> set[str]:
    return {p["context"] for a in dataset["data"] for p in a["paragraphs"]}


def per_question_scores(dataset: dict, predictions: dict, version: str = "1.1") -> dict[str, tuple[float, float]]:
    """``{question id: (exact, f1)}`` (0/1 and 0..1) of ``predictions`` (``{id: text}``, a missing one scores 0),
    as the official scorer computes them per question."""
    from electra.squad.metrics import parse_version, question_scores
    exact, f1, _, _ = question_scores(dataset["data"], predictions, parse_version(version))
    return {qid: (exact[qid], f1[qid]) for qid in exact}


def paired_bootstrap(first, second, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``first − second`` (paired per question) and its 95 % percentile bootstrap interval, resampling the
    questions: how much the difference would move with another sample of questions like these (not with another
    fine-tuning seed, which the interval does not cover)."""
    import numpy as np
    difference = np.asarray(first, np.float64) - np.asarray(second, np.float64)
    if difference.size == 0:
        raise ValueError("no questions to compare")
    rng = np.random.default_rng(seed)
    means = difference[rng.integers(0, difference.size, size=(resamples, difference.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(difference.mean()), float(low), float(high)


def verdict(pretrained_f1, random_f1, label_a: str = "pretraining", resamples: int = 2000, seed: int = 0,
            metric: str = "F1", items: str = "questions") -> str:
    """One sentence on which fine-tuning won on ``metric`` (per-item scores in 0..1, paired by item: a question's
    F1, a sentence's correctness), judged by the paired bootstrap interval of the difference: a win only when the
    interval excludes zero."""
    mean, low, high = paired_bootstrap(pretrained_f1, random_f1, resamples, seed)
    interval = (f"{metric} difference {100 * mean:+.1f} points, 95% bootstrap interval over {items} "
                f"[{100 * low:+.1f}, {100 * high:+.1f}]")
    if low > 0:
        return f"→ {label_a} won: the pretrained model scored higher on the held-out {items} ({interval})."
    if high < 0:
        return (f"→ random initialization won: {label_a} made the held-out score worse ({interval}).")
    return (f"→ no clear winner: the difference is within noise ({interval}); {label_a} did not measurably help "
            f"here.")

"""SQuAD EM/F1, following the definitions of the official v1.1 and v2.0 evaluation scripts.

Normalization (both versions): lower-case, drop ASCII punctuation (``string.punctuation``), drop the
articles ``a``/``an``/``the`` as whole words, collapse whitespace. EM and F1 take the maximum over the gold
answers. The versions differ in two places:

* v1.1: every gold text counts; F1 is 0 when prediction and gold share no token (so two empty strings
  score F1 0, EM 1).
* v2.0: gold texts that normalize to nothing are dropped and an unanswerable question has gold ``[""]``;
  F1 is ``1`` when both token lists are empty and ``0`` when only one is. With ``na_probs`` (our
  ``null_odds.json``), a question whose value exceeds ``na_prob_thresh`` counts as predicted unanswerable;
  ``best_exact``/``best_f1`` search the threshold over the ``na_probs`` values, as the official script does.

Stricter than the official scripts: a question id that appears twice in the dataset (one prediction would be
scored twice and the other question lost) and an ``is_impossible`` that is not a JSON boolean (``"false"`` would
be true) are errors naming the ids; a file's ``"version"`` must be ``"v1.1"``/``"1.1"``/``"v2.0"``/``"2.0"``.
"""
from __future__ import annotations

import collections
import re
import string
from typing import Iterable, Mapping

from electra.squad.data import load_json

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def exact_match(prediction: str, gold: str) -> int:
    return int(normalize_answer(prediction) == normalize_answer(gold))


def f1_score(prediction: str, gold: str, version: str = "2.0") -> float:
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if version == "2.0" and (not pred or not ref):
        return float(pred == ref)
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def gold_answers(qa: Mapping, version: str) -> list[str]:
    texts = [a["text"] for a in qa.get("answers", [])]
    if version == "2.0":
        texts = [t for t in texts if normalize_answer(t)]
        return texts or [""]
    return texts


def _questions(dataset: Iterable[Mapping]):
    for article in dataset:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield qa


def _checked_questions(dataset: Iterable[Mapping]) -> list[Mapping]:
    """Every question, after checking that ids are unique (a repeated id would let one prediction score twice and
    hide the other question) and that ``is_impossible``, where given, is a JSON boolean (``"false"`` is not)."""
    questions, seen, repeated = [], set(), {}
    for qa in _questions(dataset):
        qid = qa["id"]
        impossible = qa.get("is_impossible", False)
        if not isinstance(impossible, bool):
            raise ValueError(f"question {qid!r}: 'is_impossible' must be a JSON boolean (true or false), got "
                             f"{impossible!r}")
        if qid in seen:
            repeated[qid] = repeated.get(qid, 1) + 1
        seen.add(qid)
        questions.append(qa)
    if repeated:
        listed = ", ".join(f"{q!r} ({n} times)" for q, n in list(repeated.items())[:5])
        raise ValueError(f"{len(repeated)} question id(s) appear more than once: {listed}"
                         f"{', …' if len(repeated) > 5 else ''}; each question needs its own id")
    return questions


def _summary(exact: Mapping[str, float], f1: Mapping[str, float], qids: list[str] | None = None) -> dict:
    qids = list(exact) if qids is None else qids
    n = len(qids)
    if not n:
        return {"exact": 0.0, "f1": 0.0, "total": 0}
    return {"exact": 100.0 * sum(exact[q] for q in qids) / n, "f1": 100.0 * sum(f1[q] for q in qids) / n,
            "total": n}


def _best_threshold(predictions, scores, na_probs, has_answer):
    """The official search: start with every question predicted unanswerable, walk questions by increasing
    ``na_probs`` and switch each to its answer; the best running score and the ``na_probs`` value it is
    reached at."""
    current = best = float(sum(1 for q in scores if not has_answer[q]))
    threshold = 0.0
    for qid in sorted(scores, key=lambda q: na_probs[q]):
        if has_answer[qid]:
            delta = scores[qid]
        else:
            delta = -1.0 if predictions[qid] else 0.0
        current += delta
        if current > best:
            best, threshold = current, na_probs[qid]
    return 100.0 * best / max(1, len(scores)), threshold


def question_scores(dataset: Iterable[Mapping], predictions: Mapping[str, str], version: str
                    ) -> tuple[dict, dict, dict, list]:
    """Per question, as the official scripts score it: ``(exact {qid: 0/1}, f1 {qid: 0..1}, has_answer {qid: bool},
    missing [qid])``; a question without a prediction scores 0. ``version``: '1.1' or '2.0' (parsed)."""
    exact, f1, has_answer, missing = {}, {}, {}, []
    for qa in _checked_questions(dataset):
        qid = qa["id"]
        golds = gold_answers(qa, version)
        has_answer[qid] = bool(golds) and golds != [""]
        if qid not in predictions:
            missing.append(qid)
            exact[qid] = f1[qid] = 0.0
            continue
        pred = predictions[qid]
        exact[qid] = float(max((exact_match(pred, g) for g in golds), default=0))
        f1[qid] = max((f1_score(pred, g, version) for g in golds), default=0.0)
    return exact, f1, has_answer, missing


def evaluate(dataset: Iterable[Mapping], predictions: Mapping[str, str], version: str = "1.1",
             na_probs: Mapping[str, float] | None = None, na_prob_thresh: float = 1.0) -> dict:
    """``dataset``: the ``data`` list of a SQuAD file; ``predictions``: ``{qid: text}``.

    Returns ``exact``, ``f1``, ``total`` (percentages), ``missing`` (questions without a prediction, scored 0);
    for v2 also ``HasAns_*``/``NoAns_*`` and, with ``na_probs``, ``best_exact``/``best_f1`` and their thresholds.
    A question id that appears twice in ``dataset``, or an ``is_impossible`` that is not a JSON boolean, is a
    ``ValueError`` naming the id(s).
    """
    if version is None:
        raise ValueError("version must be '1.1' or '2.0' (or 'v1.1' / 'v2.0'), got None")
    version = parse_version(version)
    exact, f1, has_answer, missing = question_scores(dataset, predictions, version)
    if version == "1.1":
        return {**_summary(exact, f1), "missing": len(missing)}

    raw_exact, raw_f1 = dict(exact), dict(f1)
    if na_probs is not None:
        for qid in exact:
            if na_probs.get(qid, 0.0) > na_prob_thresh:
                exact[qid] = f1[qid] = float(not has_answer[qid])
    result = {**_summary(exact, f1), "missing": len(missing)}
    has = [q for q in exact if has_answer[q]]
    no = [q for q in exact if not has_answer[q]]
    for prefix, qids in (("HasAns", has), ("NoAns", no)):
        if qids:
            for key, value in _summary(exact, f1, qids).items():
                result[f"{prefix}_{key}"] = value
    if na_probs is not None:
        preds = {q: predictions.get(q, "") for q in exact}
        probs = {q: na_probs.get(q, 0.0) for q in exact}
        result["best_exact"], result["best_exact_thresh"] = _best_threshold(preds, raw_exact, probs, has_answer)
        result["best_f1"], result["best_f1_thresh"] = _best_threshold(preds, raw_f1, probs, has_answer)
    return result


def parse_version(version) -> str | None:
    """``"1.1"``/``"v1.1"`` → ``"1.1"``, ``"2.0"``/``"v2.0"`` → ``"2.0"`` (numbers 1.1 and 2.0 too), None → None;
    anything else is a ``ValueError``."""
    if version is None:
        return None
    text = str(version).strip().lower()
    text = text[1:] if text.startswith("v") else text
    if text in ("1.1", "2.0"):
        return text
    raise ValueError(f"unknown SQuAD version {version!r}: expected '1.1' or '2.0' (also written 'v1.1', 'v2.0')")


def evaluate_files(dataset_file: str, prediction_file: str, na_prob_file: str | None = None,
                   version: str | None = None, na_prob_thresh: float = 1.0) -> dict:
    """EM/F1 of a predictions.json against a SQuAD file. The version is ``version`` when given, else the file's
    ``"version"`` (``"v2.0"``/``"2.0"``/``"v1.1"``/``"1.1"``; any other value is an error naming the file). A
    file with a question marked ``"is_impossible": true`` is scored as v2.0 whatever it declares (v1.1 scoring
    has no notion of an unanswerable question: it would score 0 whatever the prediction)."""
    version = parse_version(version)
    data = load_json(dataset_file, "SQuAD file")
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"SQuAD file {dataset_file}: expected an object with a 'data' list")
    try:
        if version is None:
            declared = data.get("version")
            try:
                version = parse_version(declared)
            except ValueError:
                raise ValueError(f"unknown \"version\": {declared!r} (expected \"v1.1\", \"1.1\", \"v2.0\" or "
                                 f"\"2.0\")") from None
            if version != "2.0":
                version = "2.0" if _has_impossible(data["data"]) else "1.1"
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ValueError(f"SQuAD file {dataset_file}: {_describe(e)}") from e
    predictions = load_json(prediction_file, "predictions file")
    if not isinstance(predictions, dict):
        raise ValueError(f"predictions file {prediction_file}: expected an object {{question id: text}}")
    na_probs = load_json(na_prob_file, "null-odds file") if na_prob_file else None
    try:
        return evaluate(data["data"], predictions, version, na_probs, na_prob_thresh)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ValueError(f"SQuAD file {dataset_file} / predictions {prediction_file}: {_describe(e)}") from e


def _describe(error: Exception) -> str:
    if isinstance(error, ValueError):
        return str(error)
    return (f"unexpected structure ({type(error).__name__}: {error}); expected SQuAD JSON and "
            f"{{question id: text}}")


def _has_impossible(dataset) -> bool:
    return any(qa.get("is_impossible") is True for qa in _questions(dataset))

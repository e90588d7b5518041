"""The rules both SQuAD decoders share (``postprocess`` for the span head's logits, ``beam`` for the joint head's
beam): which token spans of a window are candidates, an example's n-best list, and the v2 no-answer decision.
Windows are the rows of ``electra.squad.data.Features`` (``N`` of them, each ``[S]`` tokens)."""
from __future__ import annotations

import collections
import math

import numpy as np

FORCED_NULL_ODDS = 1e9      # null_odds of a v2 question with no valid span at all


def _softmax(scores):
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def windows_by_example(features) -> dict[int, list[int]]:
    """``{example index: [feature indices]}``, windows in feature order."""
    by_example = collections.defaultdict(list)
    for i, example_index in enumerate(features.arrays["example_index"]):
        by_example[int(example_index)].append(i)
    return by_example


def valid_span(offsets, max_context, s: int, e: int, max_answer_length: int) -> bool:
    """Start and end are context tokens of the window, ``e >= s``, at most ``max_answer_length`` tokens, and the
    window is the max-context window of the start token."""
    return (0 <= s < len(offsets) and 0 <= e < len(offsets) and offsets[s] is not None and offsets[e] is not None
            and bool(max_context[s]) and s <= e and e - s + 1 <= max_answer_length)


def check_rows(features, name: str, array, shape_tail: tuple = ()) -> np.ndarray:
    """``array`` as numpy with one row per feature (and the given trailing shape), or a ``ValueError`` naming it."""
    array = np.asarray(array)
    expected = (len(features),) + tuple(shape_tail)
    if array.shape[:1] != expected[:1] or (shape_tail and array.shape[1:] != expected[1:]):
        raise ValueError(f"{name} has shape {array.shape}; expected {expected} (one row per feature)")
    return array


def assemble(example, candidates, n_best_size: int, null_entry: tuple[float, float] | None):
    """``(nbest, best_non_null)`` from ``candidates`` ``[(score, start_logit, end_logit, start_char, end_char)]``:
    best first, one entry per distinct text, at most ``n_best_size``, plus the ``""`` entry ``null_entry``
    (``(start_logit, end_logit)``) when given; probabilities are the softmax of start + end over the list."""
    candidates = sorted(candidates, key=lambda c: -c[0])
    nbest, seen = [], set()
    for _, s_logit, e_logit, c_start, c_end in candidates:
        text = example.context[c_start:c_end]
        if text in seen:
            continue
        seen.add(text)
        nbest.append({"text": text, "start_logit": s_logit, "end_logit": e_logit, "start_char": c_start,
                      "end_char": c_end})
        if len(nbest) >= n_best_size:
            break
    if null_entry is not None and "" not in seen:
        nbest.append({"text": "", "start_logit": float(null_entry[0]), "end_logit": float(null_entry[1]),
                      "start_char": -1, "end_char": -1})
    if not nbest:
        nbest.append({"text": "", "start_logit": 0.0, "end_logit": 0.0, "start_char": -1, "end_char": -1})
    for entry, p in zip(nbest, _softmax([e["start_logit"] + e["end_logit"] for e in nbest])):
        entry["probability"] = p
    nbest.sort(key=lambda e: -(e["start_logit"] + e["end_logit"]))
    return nbest, next((e for e in nbest if e["text"]), None)


def answerable_null_score(answerable_logits: np.ndarray, windows: list[int]) -> float | None:
    """The "no answer" score of an example from its windows' answerable logits: ``min(-logit)``."""
    if not windows:
        return None
    return float(min(-float(answerable_logits[i]) for i in windows))


def decide(qas_id: str, best: dict | None, null_diff, has_windows: bool, version_2_with_negative: bool,
           threshold: float, predictions: dict, null_odds: dict) -> None:
    """The answer of one question: the best span's text, or for v2 "" when ``null_diff(best)`` (the no-answer score
    the decision uses, also written to ``null_odds``) exceeds ``threshold``; no valid span gives "" either way."""
    if not version_2_with_negative:
        predictions[qas_id] = best["text"] if best else ""
    elif best is None:
        predictions[qas_id] = ""
        null_odds[qas_id] = FORCED_NULL_ODDS if has_windows else 0.0
    else:
        null_odds[qas_id] = null_diff(best)
        predictions[qas_id] = "" if null_odds[qas_id] > threshold else best["text"]

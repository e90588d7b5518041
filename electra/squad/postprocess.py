"""Logits of every window → answers: n-best spans, the v2 null decision, and the official output files.

For each example, every window contributes its ``n_best_size`` highest start and end logits; a candidate span
must lie inside the context part of the window, end at or after its start, be at most ``max_answer_length``
tokens, and start at a token for which this window is the max-context window. Its score is start + end logit and
its text is the exact substring of the original context between the first token's start and the last token's
end character. The null score is the smallest ``[CLS]`` start + end over the windows; for v2 the prediction is
``""`` when ``null_score - best_span_score > null_score_diff_threshold`` and ``null_odds.json`` holds that
difference per question (the ``na_probs`` the official evaluation takes).
"""
from __future__ import annotations

import collections
import json
import math
import os

import numpy as np

from electra.io import atomic_write


def _top(logits: np.ndarray, n: int) -> list[int]:
    return [int(i) for i in np.argsort(-logits, kind="stable")[:n]]


def _softmax(scores):
    if not scores:
        return []
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def postprocess(features, start_logits: np.ndarray, end_logits: np.ndarray, *, n_best_size: int = 20,
                max_answer_length: int = 30, version_2_with_negative: bool = False,
                null_score_diff_threshold: float = 0.0):
    """Returns ``(predictions, nbest, null_odds)``: ``{qid: text}``, ``{qid: [{text, probability, start_logit,
    end_logit, start_char, end_char}, …]}`` and ``{qid: score_diff}`` (empty for v1.1)."""
    by_example = collections.defaultdict(list)
    for i, example_index in enumerate(features.arrays["example_index"]):
        by_example[int(example_index)].append(i)
    predictions, all_nbest, null_odds = {}, {}, {}
    for example_index, example in enumerate(features.examples):
        candidates = []
        null_score, null_start, null_end = None, 0.0, 0.0
        for i in by_example.get(example_index, []):
            starts, ends = start_logits[i], end_logits[i]
            offsets, max_context = features.token_offsets[i], features.max_context[i]
            score = float(starts[0] + ends[0])
            if null_score is None or score < null_score:
                null_score, null_start, null_end = score, float(starts[0]), float(ends[0])
            for s in _top(starts, n_best_size):
                if s >= len(offsets) or offsets[s] is None or not max_context[s]:
                    continue
                for e in _top(ends, n_best_size):
                    if e >= len(offsets) or offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                        continue
                    candidates.append((float(starts[s] + ends[e]), float(starts[s]), float(ends[e]),
                                       offsets[s][0], offsets[e][1]))
        candidates.sort(key=lambda c: -c[0])
        nbest, seen = [], set()
        for total, s_logit, e_logit, c_start, c_end in candidates:
            text = example.context[c_start:c_end]
            if text in seen:
                continue
            seen.add(text)
            nbest.append({"text": text, "start_logit": s_logit, "end_logit": e_logit, "start_char": c_start,
                          "end_char": c_end})
            if len(nbest) >= n_best_size:
                break
        if version_2_with_negative and null_score is not None and "" not in seen:
            nbest.append({"text": "", "start_logit": null_start, "end_logit": null_end, "start_char": -1,
                          "end_char": -1})
        if not nbest:
            nbest.append({"text": "", "start_logit": 0.0, "end_logit": 0.0, "start_char": -1, "end_char": -1})
        for entry, p in zip(nbest, _softmax([e["start_logit"] + e["end_logit"] for e in nbest])):
            entry["probability"] = p
        nbest.sort(key=lambda e: -(e["start_logit"] + e["end_logit"]))
        best_non_null = next((e for e in nbest if e["text"]), None)
        if version_2_with_negative:
            if best_non_null is None:
                diff = float("inf") if null_score is not None else 0.0
                predictions[example.qas_id] = ""
                null_odds[example.qas_id] = 1e9 if math.isinf(diff) else diff
            else:
                diff = (null_score if null_score is not None else -1e9) - (
                    best_non_null["start_logit"] + best_non_null["end_logit"])
                null_odds[example.qas_id] = diff
                predictions[example.qas_id] = "" if diff > null_score_diff_threshold else best_non_null["text"]
        else:
            predictions[example.qas_id] = best_non_null["text"] if best_non_null else ""
        all_nbest[example.qas_id] = nbest
    return predictions, all_nbest, null_odds


def _write_json(path: str, value) -> None:
    with atomic_write(path) as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_predictions(output_dir: str, predictions, nbest, null_odds=None) -> dict[str, str]:
    """``predictions.json`` ({qid: text}), ``nbest_predictions.json`` ({qid: [entries]}) and, for v2,
    ``null_odds.json`` ({qid: score diff}), written atomically."""
    os.makedirs(output_dir, exist_ok=True)
    paths = {"predictions": os.path.join(output_dir, "predictions.json"),
             "nbest": os.path.join(output_dir, "nbest_predictions.json")}
    _write_json(paths["predictions"], predictions)
    _write_json(paths["nbest"], nbest)
    if null_odds:
        paths["null_odds"] = os.path.join(output_dir, "null_odds.json")
        _write_json(paths["null_odds"], null_odds)
    return paths

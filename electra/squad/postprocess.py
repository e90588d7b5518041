"""Logits of every window → answers: n-best spans, the v2 null decision, and the official output files.

``postprocess`` decodes the plain span head's ``start_logits`` / ``end_logits``; ``electra.squad.beam`` decodes the
joint head's beam; ``decode`` picks between them from a model's inference outputs. Both return
``(predictions, nbest, null_odds)`` in the same shapes and apply the rules below (``electra.squad.spans``).

For each example, every window contributes its ``n_best_size`` highest start and end logits; a candidate span
must lie inside the context part of the window, end at or after its start, be at most ``max_answer_length``
tokens, and start at a token for which this window is the max-context window. Its score is start + end logit and
its text is the exact substring of the original context between the first token's start and the last token's
end character.

v2 no-answer decision, ``score_diff > null_score_diff_threshold`` predicts ``""``, and ``null_odds.json`` holds
``score_diff`` per question (the ``na_probs`` the official evaluation takes):

* span logits alone: ``score_diff = null_score - best_span_score``, the null score being the smallest ``[CLS]``
  start + end over the windows (BERT's and NVIDIA's plain head);
* with the answerability head's ``answerable_logits`` (google-research's ``answerable_classifier``):
  ``score_diff = min over windows of -answerable_logit``, the "no answer" logit of the window most sure it holds
  the answer (google-research's ``qa_metrics``: the null score is the answerable logit alone, trained there on
  ``is_impossible``, here on ``1 - is_impossible``, hence the sign). The threshold 0 is P(answerable) = 0.5.

A question none of whose windows yields a valid span predicts ``""`` with ``null_odds`` 1e9 (v2).
"""
from __future__ import annotations

import json
import os
from typing import Mapping

import numpy as np

from electra.io import atomic_write
from electra.squad.beam import beam_postprocess
from electra.squad.spans import (answerable_null_score, assemble, check_rows, decide, valid_span,
                                 windows_by_example)


def _top(logits: np.ndarray, n: int) -> list[int]:
    return [int(i) for i in np.argsort(-logits, kind="stable")[:n]]


def postprocess(features, start_logits: np.ndarray, end_logits: np.ndarray, *, n_best_size: int = 20,
                max_answer_length: int = 30, version_2_with_negative: bool = False,
                null_score_diff_threshold: float = 0.0, answerable_logits: np.ndarray | None = None):
    """Returns ``(predictions, nbest, null_odds)``: ``{qid: text}``, ``{qid: [{text, probability, start_logit,
    end_logit, start_char, end_char}, …]}`` and ``{qid: score_diff}`` (empty for v1.1).

    ``answerable_logits`` ``[N]`` (the plain model's answerability head): for v2, the no-answer decision and
    ``null_odds`` use ``min over windows of -answerable_logit`` instead of the ``[CLS]`` span score (see the module
    docstring); ignored for v1.1."""
    start_logits = check_rows(features, "start_logits", start_logits)
    end_logits = check_rows(features, "end_logits", end_logits)
    if answerable_logits is not None:
        answerable_logits = check_rows(features, "answerable_logits", answerable_logits)
    by_example = windows_by_example(features)
    predictions, all_nbest, null_odds = {}, {}, {}
    for example_index, example in enumerate(features.examples):
        candidates = []
        null_score, null_start, null_end = None, 0.0, 0.0
        windows = by_example.get(example_index, [])
        for i in windows:
            starts, ends = start_logits[i], end_logits[i]
            offsets, max_context = features.token_offsets[i], features.max_context[i]
            score = float(starts[0] + ends[0])
            if null_score is None or score < null_score:
                null_score, null_start, null_end = score, float(starts[0]), float(ends[0])
            for s in _top(starts, n_best_size):
                for e in _top(ends, n_best_size):
                    if valid_span(offsets, max_context, s, e, max_answer_length):
                        candidates.append((float(starts[s] + ends[e]), float(starts[s]), float(ends[e]),
                                           offsets[s][0], offsets[e][1]))
        v2 = version_2_with_negative
        nbest, best = assemble(example, candidates, n_best_size,
                               (null_start, null_end) if v2 and null_score is not None else None)
        if answerable_logits is not None:
            def null_diff(best):
                return answerable_null_score(answerable_logits, windows)
        else:
            def null_diff(best):
                return (null_score if null_score is not None else -1e9) - (best["start_logit"] + best["end_logit"])
        decide(example.qas_id, best, null_diff, bool(windows), v2, null_score_diff_threshold, predictions, null_odds)
        all_nbest[example.qas_id] = nbest
    return predictions, all_nbest, null_odds


BEAM_KEYS = ("start_top_log_probs", "start_top_index", "end_top_log_probs", "end_top_index")


def decode(features, outputs: Mapping[str, np.ndarray], **settings):
    """``(predictions, nbest, null_odds)`` from a model's inference outputs (``predict_logits``, or a SavedModel's
    decoding signature): the beam decoder when ``outputs`` holds the joint head's beam (``start_top_index`` …),
    else ``postprocess`` on ``start_logits`` / ``end_logits``; ``answerable_logits``, when present, enters the v2
    decision either way. ``settings``: ``n_best_size``, ``max_answer_length``, ``version_2_with_negative``,
    ``null_score_diff_threshold``."""
    if "start_top_index" in outputs:
        return beam_postprocess(features, *(outputs[k] for k in BEAM_KEYS),
                                answerable_logits=outputs.get("answerable_logits"), **settings)
    return postprocess(features, outputs["start_logits"], outputs["end_logits"],
                       answerable_logits=outputs.get("answerable_logits"), **settings)


def _write_json(path: str, value) -> None:
    with atomic_write(path) as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_predictions(output_dir: str, predictions, nbest, null_odds=None) -> dict[str, str]:
    """``predictions.json`` ({qid: text}), ``nbest_predictions.json`` ({qid: [entries]}) and, for v2,
    ``null_odds.json`` ({qid: score diff}), written atomically; a full disk or a read-only directory is a
    ``StorageError`` naming the file."""
    paths = {"predictions": os.path.join(output_dir, "predictions.json"),
             "nbest": os.path.join(output_dir, "nbest_predictions.json")}
    _write_json(paths["predictions"], predictions)
    _write_json(paths["nbest"], nbest)
    if null_odds:
        paths["null_odds"] = os.path.join(output_dir, "null_odds.json")
        _write_json(paths["null_odds"], null_odds)
    return paths

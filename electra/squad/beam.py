"""The joint head's beam → answers (NVIDIA's ``get_answers`` with ``joint_head``, google-research's
``joint_prediction`` scorer), in ``postprocess``'s shapes so callers can switch.

Per window the model gives the top ``K`` starts (``start_top_log_probs`` / ``start_top_index`` ``[N, K]``) and for
each the top ``K`` ends given it (``end_top_log_probs`` / ``end_top_index`` ``[N, K, K]``). Every (start ``k``, end
``j``) pair of every window of an example is a candidate, valid when both tokens are context tokens of the window,
``end >= start``, the span has at most ``max_answer_length`` tokens and the window is the start token's
max-context window (the rule of ``postprocess``). Its score is ``start_log_prob + end_log_prob`` (a log
probability within its window), and its text the exact context substring between the first token's start and the
last token's end character. The n-best list keeps one entry per distinct text, best first, at most
``n_best_size``; its ``start_logit`` / ``end_logit`` fields hold the two log-probabilities.

v2 (NVIDIA's ``squad_utils``, XLNet's and google-research's ``qa_metrics``): the no-answer score is the answer
class alone, ``score_null = min over windows of -answerable_logit`` (NVIDIA's ``cls_logits`` are trained on
``is_impossible``; ours, like the plain head's ``answerable_logits``, on ``1 - is_impossible``, hence the sign).
The prediction is ``""`` when ``score_null > null_score_diff_threshold``, else the best valid span; the span score
chooses *which* span, the answer class *whether* there is one. ``null_odds`` holds ``score_null``, the value the
decision used; the ``""`` n-best entry carries ``log P(no answer) = log sigmoid(score_null)`` as its
``start_logit`` (``end_logit`` 0), in the spans' log-probability scale. A question with no valid span predicts
``""`` with ``null_odds`` 1e9.
"""
from __future__ import annotations

import numpy as np

from electra.squad.spans import (answerable_null_score, assemble, check_rows, decide, valid_span,
                                 windows_by_example)


def _log_sigmoid(x: float) -> float:
    return float(-np.logaddexp(0.0, -x))


def beam_candidates(features, i: int, start_top_log_probs, start_top_index, end_top_log_probs, end_top_index,
                    max_answer_length: int) -> list[tuple]:
    """The valid candidates of window ``i``: ``(score, start_log_prob, end_log_prob, start_char, end_char)``, in
    beam order (start-major)."""
    offsets, max_context = features.token_offsets[i], features.max_context[i]
    out = []
    for k, s in enumerate(start_top_index[i]):
        s = int(s)
        for j, e in enumerate(end_top_index[i, k]):
            e = int(e)
            if valid_span(offsets, max_context, s, e, max_answer_length):
                s_lp, e_lp = float(start_top_log_probs[i, k]), float(end_top_log_probs[i, k, j])
                out.append((s_lp + e_lp, s_lp, e_lp, offsets[s][0], offsets[e][1]))
    return out


def beam_postprocess(features, start_top_log_probs, start_top_index, end_top_log_probs, end_top_index,
                     answerable_logits=None, *, n_best_size: int = 20, max_answer_length: int = 30,
                     version_2_with_negative: bool = False, null_score_diff_threshold: float = 0.0):
    """Returns ``(predictions, nbest, null_odds)`` as ``electra.squad.postprocess.postprocess`` does, from the joint
    head's inference outputs over all windows (``[N, K]``, ``[N, K]``, ``[N, K, K]``, ``[N, K, K]``; ``N`` =
    ``len(features)``). ``answerable_logits`` ``[N]`` is required for v2 (the joint model built with
    ``answerability``) and ignored for v1.1."""
    start_top_log_probs = check_rows(features, "start_top_log_probs", start_top_log_probs)
    k = start_top_log_probs.shape[1] if start_top_log_probs.ndim == 2 else -1
    if k < 1:
        raise ValueError(f"start_top_log_probs has shape {start_top_log_probs.shape}; expected [N, K]")
    start_top_index = check_rows(features, "start_top_index", start_top_index, (k,))
    end_top_log_probs = check_rows(features, "end_top_log_probs", end_top_log_probs, (k, k))
    end_top_index = check_rows(features, "end_top_index", end_top_index, (k, k))
    if version_2_with_negative:
        if answerable_logits is None:
            raise ValueError("v2 decoding of the joint head needs answerable_logits: build the model with "
                             "answerability=True (the answer-class pooler) or decode as v1.1")
        answerable_logits = check_rows(features, "answerable_logits", answerable_logits)
    by_example = windows_by_example(features)
    predictions, all_nbest, null_odds = {}, {}, {}
    for example_index, example in enumerate(features.examples):
        windows = by_example.get(example_index, [])
        candidates = []
        for i in windows:
            candidates += beam_candidates(features, i, start_top_log_probs, start_top_index, end_top_log_probs,
                                          end_top_index, max_answer_length)
        score_null = answerable_null_score(answerable_logits, windows) if version_2_with_negative else None
        nbest, best = assemble(example, candidates, n_best_size,
                               None if score_null is None else (_log_sigmoid(score_null), 0.0))
        decide(example.qas_id, best, lambda best: score_null, bool(windows), version_2_with_negative,
               null_score_diff_threshold, predictions, null_odds)
        all_nbest[example.qas_id] = nbest
    return predictions, all_nbest, null_odds


__all__ = ["beam_candidates", "beam_postprocess"]

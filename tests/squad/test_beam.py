"""Decoding the joint head's beam (``electra.squad.beam``) against an exhaustive search over the same candidates,
the v2 answer-class decision, and the answerability logit in the plain decoder (``postprocess``)."""
import math

import numpy as np
import pytest

from electra.squad.beam import beam_postprocess
from electra.squad.data import SquadExample, convert_examples_to_features
from electra.squad.postprocess import BEAM_KEYS, decode, postprocess
from electra.squad.spans import FORCED_NULL_ODDS
from electra.tokenization import load_tokenizer
from tests.squad.squad_helpers import write_word_vocab
from tests.squad.test_features import CONTEXT

QUESTIONS = ("how many bridges", "where does the river rise")
K = 4


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """Two questions over one context, several windows each (40 tokens, stride 10)."""
    tokenizer = load_tokenizer(str(write_word_vocab(tmp_path_factory.mktemp("v"), [CONTEXT, *QUESTIONS])))
    examples = [SquadExample(f"q{i}", q, CONTEXT) for i, q in enumerate(QUESTIONS)]
    features = convert_examples_to_features(examples, tokenizer, max_seq_length=40, doc_stride=10,
                                            max_query_length=8)
    for e in range(len(examples)):
        assert (features.arrays["example_index"] == e).sum() > 2
    return features


def _random_beam(features, seed, k=K):
    """Random beams whose indices hit the question, [CLS], [SEP], padding and context tokens alike."""
    rng = np.random.default_rng(seed)
    n, length = features.arrays["input_ids"].shape
    start_index = np.stack([rng.choice(length, k, replace=False) for _ in range(n)]).astype(np.int32)
    end_index = np.zeros((n, k, k), np.int32)
    for i in range(n):
        for a in range(k):      # ends near the start, so that many pairs are valid
            near = np.clip(start_index[i, a] + rng.integers(-2, 6, size=4 * k), 0, length - 1)
            end_index[i, a] = rng.choice(np.unique(near), k, replace=len(np.unique(near)) < k)
    start_lp = np.sort(rng.normal(-2.0, 1.5, size=(n, k)), axis=1)[:, ::-1].astype(np.float32)
    end_lp = np.sort(rng.normal(-2.0, 1.5, size=(n, k, k)), axis=2)[:, :, ::-1].astype(np.float32)
    return start_lp, start_index, end_lp, end_index


def _exhaustive(features, beam, max_answer_length):
    """Every (window, start k, end j) of each example scored and filtered from first principles: ``{qid: [(score,
    start_char, end_char)]}`` sorted best first, and the number of pairs the max-context rule alone rejected."""
    start_lp, start_index, end_lp, end_index = beam
    out, rejected_by_max_context = {}, 0
    for example_index, example in enumerate(features.examples):
        spans = []
        for i in np.flatnonzero(features.arrays["example_index"] == example_index):
            offsets, best_window = features.token_offsets[i], features.max_context[i]
            context = features.arrays["segment_ids"][i].astype(bool)
            for a in range(start_index.shape[1]):
                for b in range(end_index.shape[2]):
                    s, e = int(start_index[i, a]), int(end_index[i, a, b])
                    is_context = all(p < len(offsets) and offsets[p] is not None and context[p] for p in (s, e))
                    if not is_context or e < s or e - s + 1 > max_answer_length:
                        continue
                    if not best_window[s]:
                        rejected_by_max_context += 1
                        continue
                    spans.append((float(start_lp[i, a]) + float(end_lp[i, a, b]), offsets[s][0], offsets[e][1]))
        out[example.qas_id] = sorted(spans, key=lambda x: -x[0])
    return out, rejected_by_max_context


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_answer_length", [1, 3, 30])
def test_beam_equals_exhaustive_search(features, seed, max_answer_length):
    beam = _random_beam(features, seed)
    predictions, nbest, null_odds = beam_postprocess(features, *beam, n_best_size=5,
                                                     max_answer_length=max_answer_length)
    expected, rejected = _exhaustive(features, beam, max_answer_length)
    assert null_odds == {}
    if max_answer_length == 30:
        assert rejected > 0, "the max-context rule was never exercised"
    for example in features.examples:
        spans = expected[example.qas_id]
        texts, scores, seen = [], [], set()
        for score, c_start, c_end in spans:
            text = CONTEXT[c_start:c_end]
            if text not in seen:
                seen.add(text)
                texts.append(text)
                scores.append(score)
        assert predictions[example.qas_id] == (texts[0] if texts else "")
        got = nbest[example.qas_id]
        if not texts:
            assert [e["text"] for e in got] == [""]
            continue
        assert [e["text"] for e in got] == texts[:5]
        np.testing.assert_allclose([e["start_logit"] + e["end_logit"] for e in got], scores[:5], rtol=1e-6)
        for entry in got:
            assert CONTEXT[entry["start_char"]:entry["end_char"]] == entry["text"]
            assert len(entry["text"].split()) <= max_answer_length
        assert sum(e["probability"] for e in got) == pytest.approx(1.0)


def _locate(features, text, example_index=0, max_context=True):
    """(feature, start token, end token) of ``text`` in a window of the example where its first token is (or is
    not) at max context."""
    char_start = CONTEXT.index(text)
    char_end = char_start + len(text)
    for i in np.flatnonzero(features.arrays["example_index"] == example_index):
        offsets = features.token_offsets[i]
        tokens = {o: t for t, o in enumerate(offsets) if o is not None}
        s = next((t for o, t in tokens.items() if o[0] == char_start), None)
        e = next((t for o, t in tokens.items() if o[1] == char_end), None)
        if s is not None and e is not None and bool(features.max_context[i][s]) == max_context:
            return int(i), s, e
    raise AssertionError(text)


def _flat_beam(features, k=2):
    """A beam that points at [CLS] everywhere, with low log-probabilities (invalid candidates only)."""
    n = len(features)
    return (np.full((n, k), -9.0, np.float32), np.zeros((n, k), np.int32), np.full((n, k, k), -9.0, np.float32),
            np.zeros((n, k, k), np.int32))


def test_crafted_beam_obeys_max_context_and_length(features):
    start_lp, start_index, end_lp, end_index = _flat_beam(features)
    i, s, e = _locate(features, "seven stone bridges")
    start_index[i, 1], end_index[i, 1] = s, [e, e + 1]
    start_lp[i, 1], end_lp[i, 1] = -1.0, [-0.5, -0.1]       # e + 1 is better but makes a 4-token answer
    j, s2, e2 = _locate(features, "the port of Wend", max_context=False)
    start_index[j, 0], end_index[j, 0] = s2, [e2, e2]
    start_lp[j, 0], end_lp[j, 0] = -0.01, [-0.01, -0.01]    # the best score, but not the max-context window
    beam = (start_lp, start_index, end_lp, end_index)
    predictions, nbest, _ = beam_postprocess(features, *beam, max_answer_length=3)
    assert predictions["q0"] == "seven stone bridges"
    assert nbest["q0"][0]["start_logit"] == -1.0 and nbest["q0"][0]["end_logit"] == -0.5
    predictions, _, _ = beam_postprocess(features, *beam, max_answer_length=4)
    assert predictions["q0"] == "seven stone bridges and"
    predictions, nbest, _ = beam_postprocess(features, *_flat_beam(features))   # nothing valid
    assert predictions == {"q0": "", "q1": ""} and [e["text"] for e in nbest["q0"]] == [""]


def _answerable(features, example_logits):
    """Per-window answerable logits: ``example_logits[e]`` for every window of example ``e``."""
    return np.asarray([example_logits[int(e)] for e in features.arrays["example_index"]], np.float32)


def test_v2_answer_class_decides(features):
    start_lp, start_index, end_lp, end_index = _flat_beam(features)
    i, s, e = _locate(features, "seven stone bridges")
    start_index[i, 1], end_index[i, 1, 0], start_lp[i, 1], end_lp[i, 1, 0] = s, e, -0.2, -0.3
    beam = (start_lp, start_index, end_lp, end_index)

    # a high "no answer" score in every window: ""; null_odds is that score, min over windows of -logit
    answerable = _answerable(features, {0: -6.0, 1: -6.0})
    answerable[np.flatnonzero(features.arrays["example_index"] == 0)[-1]] = -4.0
    predictions, nbest, null_odds = beam_postprocess(features, *beam, answerable, version_2_with_negative=True)
    assert predictions["q0"] == "" and null_odds["q0"] == pytest.approx(4.0)
    null = next(x for x in nbest["q0"] if x["text"] == "")
    assert null["start_logit"] == pytest.approx(math.log(1 / (1 + math.exp(-4.0)))) and null["end_logit"] == 0.0
    assert nbest["q0"][0]["text"] == "" and nbest["q0"][1]["text"] == "seven stone bridges"
    assert predictions["q1"] == "" and null_odds["q1"] == FORCED_NULL_ODDS     # no valid span at all

    # the threshold moves the decision; the span score never enters it
    predictions, _, _ = beam_postprocess(features, *beam, answerable, version_2_with_negative=True,
                                         null_score_diff_threshold=4.5)
    assert predictions["q0"] == "seven stone bridges"

    # one window sure of an answer is enough (the minimum over windows)
    answerable[i] = 3.0
    predictions, _, null_odds = beam_postprocess(features, *beam, answerable, version_2_with_negative=True)
    assert predictions["q0"] == "seven stone bridges" and null_odds["q0"] == pytest.approx(-3.0)
    outputs = dict(zip(BEAM_KEYS, beam), answerable_logits=answerable, start_logits=None, end_logits=None)
    assert decode(features, outputs, version_2_with_negative=True) == \
        beam_postprocess(features, *beam, answerable, version_2_with_negative=True)

    # v1.1 ignores the answer class
    assert beam_postprocess(features, *beam, answerable)[0]["q0"] == "seven stone bridges"


def test_beam_refuses_what_it_cannot_decode(features):
    beam = _flat_beam(features)
    with pytest.raises(ValueError, match="needs answerable_logits"):
        beam_postprocess(features, *beam, version_2_with_negative=True)
    with pytest.raises(ValueError, match=r"end_top_index has shape \(\d+, 2, 3\)"):
        beam_postprocess(features, *beam[:3], np.zeros((len(features), 2, 3), np.int32))
    with pytest.raises(ValueError, match="one row per feature"):
        beam_postprocess(features, *(x[:-1] for x in beam))


# ---- the plain head's answerability logit in the v2 decision (google-research's answerable_classifier) --------

def _span_logits(features):
    n, seq = features.arrays["input_ids"].shape
    start, end = np.full((n, seq), -10.0, np.float32), np.full((n, seq), -10.0, np.float32)
    i, s, e = _locate(features, "seven stone bridges")
    start[i, s], end[i, e] = 5.0, 5.0            # best span 10
    start[:, 0], end[:, 0] = 1.0, 1.0            # [CLS] null score 2: the span logits alone answer
    return start, end


def test_plain_answerability_changes_the_decision(features):
    start, end = _span_logits(features)
    predictions, nbest, null_odds = postprocess(features, start, end, version_2_with_negative=True)
    assert predictions["q0"] == "seven stone bridges" and null_odds["q0"] == pytest.approx(2.0 - 10.0)

    # the classifier says "no answer" in every window: "" although the span score is far above [CLS]
    answerable = _answerable(features, {0: -2.5, 1: -2.5})
    answerable[np.flatnonzero(features.arrays["example_index"] == 0)[0]] = -1.5
    predictions, nbest_a, null_odds = postprocess(features, start, end, version_2_with_negative=True,
                                                  answerable_logits=answerable)
    assert predictions["q0"] == "" and null_odds["q0"] == pytest.approx(1.5)    # min over windows of -logit
    assert nbest_a == nbest                     # the n-best list is the span head's either way
    predictions, _, _ = postprocess(features, start, end, version_2_with_negative=True,
                                    answerable_logits=answerable, null_score_diff_threshold=1.6)
    assert predictions["q0"] == "seven stone bridges"

    # and "answer" although [CLS] beats every span
    start[:, 0], end[:, 0] = 9.0, 9.0
    assert postprocess(features, start, end, version_2_with_negative=True)[0]["q0"] == ""
    answerable = _answerable(features, {0: 0.5, 1: 0.5})
    predictions, _, null_odds = postprocess(features, start, end, version_2_with_negative=True,
                                            answerable_logits=answerable)
    assert predictions["q0"] == "seven stone bridges" and null_odds["q0"] == pytest.approx(-0.5)
    assert decode(features, {"start_logits": start, "end_logits": end, "answerable_logits": answerable},
                  version_2_with_negative=True) == postprocess(features, start, end, version_2_with_negative=True,
                                                               answerable_logits=answerable)

    # v1.1 ignores it
    assert postprocess(features, start, end, answerable_logits=_answerable(features, {0: -9.0, 1: -9.0}))[0][
        "q0"] == "seven stone bridges"
    with pytest.raises(ValueError, match="answerable_logits has shape"):
        postprocess(features, start, end, version_2_with_negative=True, answerable_logits=answerable[:-1])

import json

import numpy as np
import pytest

from electra.squad.data import convert_examples_to_features, SquadExample
from electra.squad.postprocess import postprocess, write_predictions
from electra.tokenization import load_tokenizer
from tests.squad.squad_helpers import write_word_vocab
from tests.squad.test_features import CONTEXT

ANSWER = "seven stone bridges"


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    tokenizer = load_tokenizer(str(write_word_vocab(tmp_path_factory.mktemp("v"), [CONTEXT, "how many bridges"])))
    examples = [SquadExample("q", "how many bridges", CONTEXT)]
    return convert_examples_to_features(examples, tokenizer, max_seq_length=40, doc_stride=10, max_query_length=8)


def _locate(features, text):
    """(feature, start token, end token) of ``text`` in the window where its first token has max context."""
    char_start = CONTEXT.index(text)
    char_end = char_start + len(text)
    for i, offsets in enumerate(features.token_offsets):
        tokens = {o: t for t, o in enumerate(offsets) if o is not None}
        s = next((t for o, t in tokens.items() if o[0] == char_start), None)
        e = next((t for o, t in tokens.items() if o[1] == char_end), None)
        if s is not None and e is not None and features.max_context[i][s]:
            return i, s, e
    raise AssertionError(text)


def _logits(features):
    n, seq = features.arrays["input_ids"].shape
    return np.full((n, seq), -10.0, np.float32), np.full((n, seq), -10.0, np.float32)


def test_best_span_maps_to_exact_text(features):
    assert len(features) > 2
    i, s, e = _locate(features, ANSWER)
    start, end = _logits(features)
    start[i, s], end[i, e] = 5.0, 5.0
    predictions, nbest, odds = postprocess(features, start, end)
    assert predictions == {"q": ANSWER} and odds == {}
    top = nbest["q"][0]
    assert CONTEXT[top["start_char"]:top["end_char"]] == ANSWER
    assert top["start_logit"] == 5.0 and top["end_logit"] == 5.0
    assert sum(entry["probability"] for entry in nbest["q"]) == pytest.approx(1.0)
    assert len(nbest["q"]) <= 20


def test_constraints(features):
    i, s, e = _locate(features, ANSWER)
    start, end = _logits(features)
    start[i, s], end[i, e] = 5.0, 5.0
    end[i, s - 1] = 9.0                 # ends before the start: never chosen
    end[i, 0] = 9.0                     # [CLS] is not a context token
    predictions, _, _ = postprocess(features, start, end)
    assert predictions["q"] == ANSWER
    predictions, _, _ = postprocess(features, start, end, max_answer_length=e - s)   # one token too short
    assert predictions["q"] != ANSWER


def test_v2_null_threshold(features, tmp_path):
    i, s, e = _locate(features, ANSWER)
    start, end = _logits(features)
    start[i, s], end[i, e] = 5.0, 5.0
    start[:, 0], end[:, 0] = 6.0, 6.0   # null score 12 in every window; best span 10
    start[0, 0] = 7.0                   # the null score is the minimum over windows
    predictions, nbest, odds = postprocess(features, start, end, version_2_with_negative=True)
    assert predictions["q"] == "" and odds["q"] == pytest.approx(2.0)
    assert any(entry["text"] == "" for entry in nbest["q"])
    predictions, _, _ = postprocess(features, start, end, version_2_with_negative=True,
                                    null_score_diff_threshold=2.5)
    assert predictions["q"] == ANSWER
    paths = write_predictions(str(tmp_path), predictions, nbest, odds)
    assert json.loads(open(paths["predictions"]).read()) == {"q": ANSWER}
    assert json.loads(open(paths["null_odds"]).read()) == {"q": pytest.approx(2.0)}
    entries = json.loads(open(paths["nbest"]).read())["q"]
    assert {"text", "probability", "start_logit", "end_logit"} <= set(entries[0])

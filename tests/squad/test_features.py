import gc
import json
import tracemalloc

import numpy as np
import pytest

from electra.squad import data as squad_data
from electra.squad.data import SquadFormatError, load_features, read_examples
from electra.tokenization import load_tokenizer
from tests.squad import squad_helpers
from tests.squad.squad_helpers import squad_texts, write_word_vocab

CONTEXT = ("The river Osk rises in the Pell hills and flows north for ninety kilometers. Near the village of "
           "Tarn it turns east, passes under seven stone bridges and joins the sea at the port of Wend. Salmon "
           "swim up the river every autumn, and a ferry has crossed it at Tarn since 1820. The lighthouse at "
           "Wend guides boats into the estuary.")
ANSWERS = ["Pell hills", "ninety kilometers", "seven stone bridges", "the port of Wend", "every autumn", "1820",
           "the estuary", "Osk"]
SETTINGS = dict(max_seq_length=40, doc_stride=10, max_query_length=8)


def _write(path, qas, context=CONTEXT, version="v2.0"):
    path.write_text(json.dumps({"version": version, "data": [{"title": "x", "paragraphs": [
        {"context": context, "qas": qas}]}]}), encoding="utf-8")
    return str(path)


def _qas():
    qas = [{"id": f"a{i}", "question": f"where is answer number {i} in the text", "is_impossible": False,
            "answers": [{"text": a, "answer_start": CONTEXT.index(a)}]} for i, a in enumerate(ANSWERS)]
    qas.append({"id": "imp", "question": "who painted the bridges", "answers": [], "is_impossible": True})
    return qas


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = write_word_vocab(tmp_path_factory.mktemp("v"), list(squad_texts()) + [CONTEXT])
    return load_tokenizer(str(path))


def test_multi_window_answers_round_trip(tmp_path, tokenizer):
    path = _write(tmp_path / "s.json", _qas())
    features = load_features(path, tokenizer, is_training=True, version_2_with_negative=True, **SETTINGS)
    arrays = features.arrays
    assert features.stats.not_round_trip == 0 and features.stats.skipped_questions == 0
    assert arrays["input_ids"].shape[1] == 40
    for example_index, example in enumerate(features.examples):
        rows = np.flatnonzero(arrays["example_index"] == example_index)
        assert len(rows) > 2, "the context must span several windows"
        hits = 0
        for i in rows:
            ids = arrays["input_ids"][i]
            assert ids[0] == tokenizer.cls_id
            assert (ids == tokenizer.sep_id).sum() == 2
            s, e = arrays["start_positions"][i], arrays["end_positions"][i]
            if example.is_impossible or arrays["is_impossible"][i]:
                assert s == e == 0
                continue
            hits += 1
            offsets = features.token_offsets[i]
            assert example.context[offsets[s][0]:offsets[e][1]] == example.answer_text
            assert arrays["segment_ids"][i][s] == 1 and arrays["segment_ids"][i][e] == 1
        assert hits >= (0 if example.is_impossible else 1)
        # every context token is the max-context token of exactly one window
        count = {}
        for i in rows:
            for offset, best in zip(features.token_offsets[i], features.max_context[i]):
                if offset is not None and best:
                    count[offset] = count.get(offset, 0) + 1
        assert set(count.values()) == {1}


def test_non_round_trip_answer_is_counted_and_skipped(tmp_path, tokenizer):
    start = CONTEXT.index("lighthouse")
    qas = _qas() + [{"id": "part", "question": "what light", "answers": [{"text": "light", "answer_start": start}]}]
    features = load_features(_write(tmp_path / "s.json", qas), tokenizer, is_training=True,
                             version_2_with_negative=True, **SETTINGS)
    assert features.stats.not_round_trip == 1
    assert "part" not in {e.qas_id for e in features.examples}


def test_long_query_truncated(tmp_path, tokenizer, caplog):
    qas = [{"id": "long", "question": " ".join(["river"] * 30), "answers": [{"text": "Osk", "answer_start": 10}]}]
    features = load_features(_write(tmp_path / "s.json", qas, version="1.1"), tokenizer, is_training=True,
                             **SETTINGS)
    assert features.stats.truncated_queries == 1
    first_sep = list(features.arrays["input_ids"][0]).index(tokenizer.sep_id)
    assert first_sep == 1 + SETTINGS["max_query_length"]
    assert "truncated" in caplog.text


def test_bad_files_raise_clear_errors(tmp_path, tokenizer):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"data": [', encoding="utf-8")
    with pytest.raises(SquadFormatError, match="bad.json.*malformed JSON"):
        read_examples(str(bad_json), is_training=True)
    latin = tmp_path / "latin.json"
    latin.write_bytes(json.dumps({"data": []}).encode()[:-1] + b"\xe9}")
    with pytest.raises(SquadFormatError, match="latin.json.*not UTF-8"):
        read_examples(str(latin), is_training=True)
    no_data = tmp_path / "nodata.json"
    no_data.write_text('{"version": "1.1"}')
    with pytest.raises(SquadFormatError, match="nodata.json.*'data'"):
        read_examples(str(no_data), is_training=True)
    no_id = _write(tmp_path / "noid.json", [{"question": "q?", "answers": []}])
    with pytest.raises(SquadFormatError, match="noid.json"):
        read_examples(no_id, is_training=True)
    with pytest.raises(SquadFormatError, match="missing.json.*cannot read"):
        read_examples(str(tmp_path / "missing.json"), is_training=True)


def test_bad_questions_are_skipped_and_counted(tmp_path, tokenizer, caplog):
    qas = _qas()[:2] + [
        {"id": "outside", "question": "q?", "answers": [{"text": "Osk", "answer_start": 10_000}]},
        {"id": "wrong", "question": "q?", "answers": [{"text": "Osk", "answer_start": 0}]},
        {"id": "notext", "question": "q?", "answers": [{"answer_start": 3}]},
    ]
    path = _write(tmp_path / "s.json", qas)
    features = load_features(path, tokenizer, is_training=True, version_2_with_negative=True, **SETTINGS)
    assert features.stats.skipped_questions == 3
    assert [e.qas_id for e in features.examples] == ["a0", "a1"]
    for qid in ("outside", "wrong", "notext"):
        assert qid in caplog.text
    empty = _write(tmp_path / "empty.json", [{"id": "e", "question": "q?", "answers": []}], context="  ")
    with pytest.raises(SquadFormatError, match="empty.json.*no usable questions"):
        read_examples(empty, is_training=False)


def test_cache_hit_and_key(tmp_path, tokenizer, monkeypatch):
    path = _write(tmp_path / "s.json", _qas())
    cache = tmp_path / "cache"
    first = load_features(path, tokenizer, is_training=True, version_2_with_negative=True, cache_dir=str(cache),
                          **SETTINGS)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"

    def boom(*a, **k):
        raise AssertionError("should have come from the cache")
    monkeypatch.setattr(squad_data, "convert_examples_to_features", boom)
    second = load_features(path, tokenizer, is_training=True, version_2_with_negative=True, cache_dir=str(cache),
                           **SETTINGS)
    for k in first.arrays:
        np.testing.assert_array_equal(first.arrays[k], second.arrays[k])
    assert first.token_offsets == second.token_offsets and first.max_context == second.max_context
    assert [e.qas_id for e in first.examples] == [e.qas_id for e in second.examples]
    monkeypatch.undo()
    load_features(path, tokenizer, is_training=True, version_2_with_negative=True, cache_dir=str(cache),
                  **{**SETTINGS, "doc_stride": 12})
    assert len(list(cache.iterdir())) == 2
    assert not [p for p in cache.iterdir() if ".tmp" in p.name]



@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_cache_is_rebuilt_with_a_warning_naming_it(damage, tmp_path, tokenizer, caplog):
    path = _write(tmp_path / "s.json", _qas())
    cache = tmp_path / "cache"
    first = load_features(path, tokenizer, is_training=True, version_2_with_negative=True, cache_dir=str(cache),
                          **SETTINGS)
    (cached,) = cache.iterdir()
    good = cached.read_bytes()
    cached.write_bytes(good[: len(good) // 2] if damage == "truncated" else b"PK\x03\x04" + bytes(range(256)) * 4)
    again = load_features(path, tokenizer, is_training=True, version_2_with_negative=True, cache_dir=str(cache),
                          **SETTINGS)
    assert f"unreadable feature cache {cached}" in caplog.text and "rebuilding" in caplog.text
    for k in first.arrays:
        np.testing.assert_array_equal(first.arrays[k], again.arrays[k])
    rebuilt = squad_data._load_cache(str(cached))      # replaced by a whole file
    assert [e.qas_id for e in rebuilt.examples] == [e.qas_id for e in first.examples]

def test_max_context_rule():
    spans = squad_data._windows(18, 10, 4)
    assert spans == [(0, 10), (4, 10), (8, 10)]
    best = squad_data._best_windows(spans, 18)
    # token 9: min(9, 0) + .1 = .1 in window 0; min(5, 4) + .1 = 4.1 in window 1; min(1, 8) + .1 = 1.1 in window 2
    assert best[9] == 1
    assert list(best[:3]) == [0, 0, 0] and list(best[-3:]) == [2, 2, 2]
    assert best[6] == 0      # window 0: min(6, 3) = 3; window 1: min(2, 7) = 2


def _best_windows_reference(spans, num_tokens):
    """Google BERT's ``_check_is_max_context``, token by token over every window (quadratic, for checking)."""
    best = []
    for position in range(num_tokens):
        best_score, best_index = None, 0
        for index, (start, length) in enumerate(spans):
            end = start + length - 1
            if not start <= position <= end:
                continue
            score = min(position - start, end - position) + 0.01 * length
            if best_score is None or score > best_score:
                best_score, best_index = score, index
        best.append(best_index)
    return best


def test_best_windows_match_brute_force_on_random_layouts():
    rng = np.random.default_rng(0)
    for _ in range(300):
        num_tokens = int(rng.integers(1, 120))
        if rng.random() < 0.5:   # the layouts the feature builder makes
            spans = squad_data._windows(num_tokens, int(rng.integers(1, 40)), int(rng.integers(1, 40)))
        else:                    # arbitrary overlapping windows, equal lengths (ties) and uncovered tokens included
            spans = []
            for _ in range(int(rng.integers(1, 12))):
                start = int(rng.integers(0, num_tokens))
                length = int(rng.choice([4, 8, rng.integers(1, num_tokens - start + 1)]))
                spans.append((start, min(length, num_tokens - start)))
        assert squad_data._best_windows(spans, num_tokens).tolist() == _best_windows_reference(spans, num_tokens), \
            (spans, num_tokens)


def _contexts():
    data = json.loads(squad_helpers.TINY_SQUAD.read_text(encoding="utf-8"))
    return [p["context"] for article in data["data"] for p in article["paragraphs"]]


def test_megabyte_context_featurizes_in_linear_memory(tmp_path, tokenizer):
    """A 1 MB paragraph (≈ 200k tokens): the dense windows × tokens max-context arrays took gigabytes here."""
    text = " ".join(_contexts())
    context = " ".join([text] * (1_000_000 // (len(text) + 1) + 1))
    assert len(context) >= 1_000_000
    middle = context.index("Marta Ilves", len(context) // 2)
    last = context.rindex("Marta Ilves")
    qas = [{"id": f"q{i}", "question": "Who built the Kestrel Point lighthouse?", "is_impossible": False,
            "answers": [{"text": "Marta Ilves", "answer_start": start}]} for i, start in enumerate((middle, last))]
    path = _write(tmp_path / "long.json", qas, context=context)
    gc.collect()
    tracemalloc.start()
    try:
        features = load_features(path, tokenizer, is_training=True, version_2_with_negative=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    tokens = len(tokenizer.encode_with_offsets(context)[0])
    windows = len(features) // 2
    assert tokens > 150_000 and windows > 1000
    # linear: under 0.1 GiB here; one dense [windows, tokens] float64 array alone is windows × tokens × 8 ≈ 2 GiB
    assert peak < 400 * 2**20 < windows * tokens * 8 / 4, f"peak {peak / 2**20:.0f} MiB"
    arrays = features.arrays
    for example_index, start in enumerate((middle, last)):
        rows = np.flatnonzero((arrays["example_index"] == example_index) & (arrays["is_impossible"] == 0))
        assert len(rows) >= 1
        for i in rows:
            offsets = features.token_offsets[i]
            s, e = arrays["start_positions"][i], arrays["end_positions"][i]
            assert (offsets[s][0], offsets[e][1]) == (start, start + len("Marta Ilves"))


def test_cache_stores_a_shared_context_once(tmp_path, tokenizer):
    path = _write(tmp_path / "s.json", _qas())
    cache = tmp_path / "cache"
    features = load_features(path, tokenizer, is_training=False, version_2_with_negative=True, cache_dir=str(cache),
                             **SETTINGS)
    (cached,) = cache.iterdir()
    with np.load(cached) as data:
        meta = json.loads(bytes(data["meta"]).decode("utf-8"))
    assert meta["contexts"] == [CONTEXT] and {e["context"] for e in meta["examples"]} == {0}
    again = load_features(path, tokenizer, is_training=False, version_2_with_negative=True, cache_dir=str(cache),
                          **SETTINGS)
    assert [e.context for e in again.examples] == [e.context for e in features.examples]
    assert all(e.context == CONTEXT for e in again.examples)


def test_duplicate_question_ids_are_rejected(tmp_path):
    qas = _qas()
    qas[3]["id"] = "a1"
    with pytest.raises(SquadFormatError, match=r"dup.json: question id 'a1' appears twice \(article 0 paragraph 0 "
                                               r"and article 0 paragraph 0\)"):
        read_examples(_write(tmp_path / "dup.json", qas), is_training=False, version_2_with_negative=True)
    path = tmp_path / "dup2.json"     # across paragraphs, and an int id equal to a string id
    path.write_text(json.dumps({"data": [{"paragraphs": [
        {"context": CONTEXT, "qas": [{"id": "7", "question": "q?", "answers": []}]},
        {"context": CONTEXT, "qas": [{"id": 7, "question": "q?", "answers": []}]}]}]}), encoding="utf-8")
    with pytest.raises(SquadFormatError, match=r"dup2.json: question id '7' appears twice \(article 0 paragraph 0 "
                                               r"and article 0 paragraph 1\)"):
        read_examples(str(path), is_training=False)


@pytest.mark.parametrize("value", ["false", "true", 0, 1, None])
def test_is_impossible_must_be_a_json_boolean(tmp_path, value):
    qas = _qas()
    qas[2]["is_impossible"] = value
    with pytest.raises(SquadFormatError, match=r"s.json, question 'a2': 'is_impossible' must be a JSON boolean"):
        read_examples(_write(tmp_path / "s.json", qas), is_training=True, version_2_with_negative=True)


def test_no_usable_context_gives_empty_arrays(tokenizer):
    examples = [squad_data.SquadExample("x", "where?", "\u200b\u200b")]   # characters that make no token
    features = squad_data.convert_examples_to_features(examples, tokenizer, **SETTINGS)
    assert len(features) == 0 and features.stats.skipped_questions == 1
    assert features.arrays["input_ids"].shape == (0, 40) and features.arrays["example_index"].shape == (0,)


class _OffsetsTokenizer:
    """Stands in for a tokenizer whose offsets are given (monotone or not, zero-width tokens included)."""

    def __init__(self, offsets):
        self.offsets = offsets

    def encode_with_offsets(self, text):
        return list(range(len(self.offsets))), self.offsets


def test_answer_token_search_matches_a_full_scan():
    rng = np.random.default_rng(1)
    for trial in range(200):
        offsets, position = [], 0
        for _ in range(int(rng.integers(1, 40))):
            position += int(rng.integers(0, 3))
            width = int(rng.integers(0, 4))          # zero-width tokens happen
            offsets.append((position, position + width))
            position += width
        if trial % 4 == 0:                           # not monotone: the search must fall back to a scan
            rng.shuffle(offsets)
        paragraph = squad_data._Paragraph("x" * (position + 2), _OffsetsTokenizer(offsets), doc_stride=8)
        for _ in range(10):
            a_start = int(rng.integers(0, position + 1))
            a_end = a_start + int(rng.integers(1, 6))
            expected = [i for i, (s, e) in enumerate(offsets) if s < a_end and e > a_start and e > s]
            assert paragraph.answer_tokens(a_start, a_end) == expected, (offsets, a_start, a_end)

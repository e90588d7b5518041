"""FlatEncoder gives exactly the ids of the tokenizer's own encode_batch (it only reorganizes the work)."""
import pathlib

import numpy as np
import pytest

from benchmarks.bert_reference import FullTokenizer
from data_prep.flat_encoder import FlatEncoder
from electra.tokenization import MAX_INPUT_CHARS_PER_WORD, load_tokenizer

BERT_VOCAB = pathlib.Path(__file__).parents[1] / "fixtures" / "vocab" / "bert-uncased-vocab.txt"

TEXTS = [
    "Hello, World!  The cafe's naive résumé...", "CAFÉ Café café cafe\u0301 CAFE\u0301", "Straße STRASSE straße",
    "中国人 日本の人 かな 中国,人", "ΟΔΟΣ οδος ΟΔΟΣ.", "İ i \u0130x", "a\u0000b\u0001c\u007fd\u200be\ufeff f\ufffdg",
    "tab\there\u00a0nbsp\u3000ideo\u2003em\u2028ls\u2029ps\x0bvt\x0cff\x85nel\x1cfs\x1fus\rcr", "", "   ", "\x07",
    "x" * 99 + " " + "x" * 100 + " " + "x" * 101 + " " + "ab" * 60, "unaffable unaff ##able ##s [CLS] [MASK]",
    "¿Qué? ¡Sí! «quoted» — dash – en… “curly” ‘single’", "$5.00 + 3 = 8 | a<b>c ~x~ `tick` @user #tag 100% ^caret",
    "emoji 😀 🇫🇷 ok", "Zürich Ångström naïve façade coöperate", "soft\u00adhyphen zero\u200bwidth \u2060joiner",
    "The Lighthouse was UNAFFABLE; it's 3.14 (e.g. U.S.) — “yes”…", "plain ascii sentence number one",
    "Another ASCII one, with punctuation: a/b c-d e_f {x} [1].", "curly “quotes” only ‘here’ – and dashes—",
]


def _flat(lists):
    return [i for ids in lists for i in ids], [len(ids) for ids in lists]


@pytest.mark.parametrize("lower", [True, False])
def test_same_ids_as_encode_batch(lower):
    tokenizer = load_tokenizer(BERT_VOCAB, lower_case=lower)
    encoder = FlatEncoder(tokenizer)
    batches = [TEXTS, TEXTS[-3:], TEXTS[-3:-1], [t for t in TEXTS if t.isascii()], TEXTS * 3, ["one"], []]
    for texts in batches:       # mixed, fast-path only, ASCII only, repeated (cached chunks), tiny, empty
        ids, lengths = encoder.encode(texts)
        assert isinstance(ids, np.ndarray) and isinstance(lengths, np.ndarray)
        assert (ids.tolist(), lengths.tolist()) == _flat(tokenizer.encode_batch(texts))


def test_texts_with_newlines_and_other_tokenizers_take_encode_batch(tmp_path):
    tokenizer = load_tokenizer(BERT_VOCAB)
    texts = ["two\nlines here", "fine"]
    ids, lengths = FlatEncoder(tokenizer).encode(texts)
    assert (ids.tolist(), lengths.tolist()) == _flat(tokenizer.encode_batch(texts))

    class Other:
        def encode_batch(self, texts):
            return [[len(t)] * 2 for t in texts]
    ids, lengths = FlatEncoder(Other()).encode(["ab", "c"])
    assert ids.tolist() == [2, 2, 1, 1] and lengths.tolist() == [2, 2]


def test_same_ids_as_googles_pure_python_full_tokenizer():
    """The benchmark's peer (google-research/bert's FullTokenizer) and ours agree on ordinary text."""
    tokenizer = load_tokenizer(BERT_VOCAB)
    peer = FullTokenizer(str(BERT_VOCAB), max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD)
    texts = [t for t in TEXTS if "\u0130" not in t]   # 'İ': BERT's lower() gives two characters (see tokenization)
    ids, lengths = FlatEncoder(tokenizer).encode(texts)
    assert (ids.tolist(), lengths.tolist()) == _flat([peer.convert_tokens_to_ids(peer.tokenize(t)) for t in texts])


def test_many_distinct_chunks_grow_the_tables_and_keep_the_ids():
    """Enough distinct ASCII chunks (1–40 bytes: the numpy key table and the dictionary for longer ones) to grow
    the hash tables several times and collide in them, over several batches with repeats."""
    tokenizer = load_tokenizer(BERT_VOCAB)
    encoder = FlatEncoder(tokenizer)
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:'()-\"!?/"))
    words = ["".join(rng.choice(letters, size=int(n))) for n in rng.integers(1, 41, size=60_000)]
    sentences = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
    for batch in (sentences[:2000], sentences, sentences[::-3] + ["  ", "the end."]):
        ids, lengths = encoder.encode(batch)
        assert (ids.tolist(), lengths.tolist()) == _flat(tokenizer.encode_batch(batch))


def test_key_table_gives_each_key_one_entry_and_numbers_new_keys_in_order():
    from data_prep.flat_encoder import _KeyTable
    rng = np.random.default_rng(1)
    table, known, first = _KeyTable(bits=2), {}, 0       # 4 slots: grows and probes from the first batch on
    for size in (3, 50, 2000, 20_000):
        # small key values: many repeats within and across batches
        low = rng.integers(0, 3 * size, size=size, dtype=np.uint64)
        high = rng.integers(0, 2, size=size, dtype=np.uint64)
        entries = table.find(low, high)
        expected = np.array([known.get((int(a), int(b)), -1) for a, b in zip(low, high)])
        assert (entries == expected).all()
        absent = np.flatnonzero(entries < 0)
        entries[absent], added = table.add(low[absent], high[absent], first)
        assert len({(int(a), int(b)) for a, b in added}) == len(added)
        for number, (a, b) in enumerate(added.tolist(), start=first):
            assert (a, b) not in known
            known[(a, b)] = number
        first += len(added)
        assert entries.tolist() == [known[(int(a), int(b))] for a, b in zip(low, high)]
        assert 2 * table.count <= len(table.entry) and table.count == len(known)


def test_word_kinds_follow_the_tokenizer_pattern_and_refuse_what_they_cannot_express():
    import re

    from data_prep.flat_encoder import _END, _RUN, _SINGLE, _SKIPPED, _fast_path_parts, _word_kinds
    kinds = _fast_path_parts(load_tokenizer(BERT_VOCAB))[5]
    assert kinds[0] == _END and kinds[ord("a")] == kinds[ord("Z")] == kinds[ord("7")] == _RUN
    assert kinds[ord(".")] == kinds[ord("'")] == kinds[ord("~")] == _SINGLE
    assert kinds[ord(" ")] == kinds[0x7F] == kinds[0xC3] == _SKIPPED
    # letters and digits as two separate runs: "a1" would be two words, which the kinds cannot say
    assert _word_kinds(re.compile("[a-z]+|[0-9]+|[.]|\x00").findall) is None

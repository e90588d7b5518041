"""FlatEncoder gives exactly the ids of the tokenizer's own encode_batch (it only reorganizes the work)."""
import pathlib

import numpy as np
import pytest

from data_prep.bert_reference import FullTokenizer
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

"""The Rust-backed WordPiece tokenizer against a plain-Python reference of BERT's algorithm, offsets, the
SentencePiece backend and the loader's errors."""
import os
import pathlib
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from electra.tokenization import (SPECIAL_TOKENS, SentencePieceTokenizer, TokenizerError, WordPieceTokenizer,
                                  load_tokenizer)

# ----------------------------------------------------------------------------------------------------------
# Reference: BERT's BasicTokenizer + WordpieceTokenizer, written out plainly (character classes, cleaning,
# CJK spacing, whitespace split, lower + NFD + drop Mn when uncased, punctuation split, greedy longest match).

_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _ref_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _ref_control(ch):
    return ch not in "\t\n\r" and unicodedata.category(ch)[0] == "C"


def _ref_punctuation(ch):
    code = ord(ch)
    ascii_symbol = 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126
    return ascii_symbol or unicodedata.category(ch)[0] == "P"


def _ref_cjk(ch):
    return any(lo <= ord(ch) <= hi for lo, hi in _CJK_RANGES)


def reference_basic_tokens(text, lower):
    kept = []
    for ch in text:
        if ord(ch) in (0, 0xFFFD) or _ref_control(ch):
            continue
        if _ref_whitespace(ch):
            kept.append(" ")
        elif _ref_cjk(ch):
            kept.extend((" ", ch, " "))
        else:
            kept.append(ch)
    pieces = []
    for word in "".join(kept).split():
        if lower:
            word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
        current = ""
        for ch in word:
            if _ref_punctuation(ch):
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(ch)
            else:
                current += ch
        if current:
            pieces.append(current)
    return " ".join(pieces).split()


def reference_wordpiece(word, vocab, max_chars=100):
    if len(word) > max_chars:
        return ["[UNK]"]
    out, start = [], 0
    while start < len(word):
        end, match = len(word), None
        while end > start:
            candidate = word[start:end] if start == 0 else "##" + word[start:end]
            if candidate in vocab:
                match = candidate
                break
            end -= 1
        if match is None:
            return ["[UNK]"]
        out.append(match)
        start = end
    return out


def reference_tokenize(text, vocab, lower=True):
    return [p for w in reference_basic_tokens(text, lower) for p in reference_wordpiece(w, vocab)]


# ----------------------------------------------------------------------------------------------------------

WORDS = ["the", "a", "un", "##aff", "##able", "cafe", "resume", "naive", "hello", "world", "##s", "##ing", "run",
         "go", "i", "x", "##x", "ο", "##δ", "##ο", "##ς", "##σ", "straße", "stra", "##ße", "é", "e", "##e", "ñ",
         "n", "中", "国", "人", "の", "日", "本", "か", "##な", "ab", "##cd", "cd", "2", "##0", "##1", "0", "1", "3",
         "a", "b", "c", "d", "##a", "##b", "##c", "##d", "Hello", "World", "Cafe", "Café", "The", "ς", "σ"]
PUNCT = list(".,!?;:'\"()[]{}-_/\\@#$%^&*+=<>|~`") + ["¿", "¡", "«", "»", "—", "–", "…", "“", "”", "‘", "’", "・"]

TRICKY = [
    "Hello, World!  The cafe's naive résumé...",
    "CAFÉ Café café cafe\u0301 CAFE\u0301",                       # precomposed and combining accents
    "Straße STRASSE straße",
    "中国人 日本の人 かな 中国,人",                                    # CJK ideographs split, kana not
    "ΟΔΟΣ οδος ΟΔΟΣ.",                                           # word-final capital sigma
    "İ i \u0130x",                                               # dotted capital I (lower case is 2 chars)
    "a\u0000b\u0001c\u007fd\u200be\ufeff f\ufffdg",              # NUL, controls, zero-width, BOM, U+FFFD
    "tab\there\nnew\r\nline\u00a0nbsp\u3000ideo\u2003em\u2028ls\u2029ps\x0bvt\x0cff\x85nel",
    "   leading and trailing   ",
    "",
    " \t\n ",
    "x" * 99 + " " + "x" * 100 + " " + "x" * 101 + " " + "ab" * 60,   # 100 chars is fine, 101 → [UNK]
    "unaffable unaff ##able ##s [CLS] [MASK]",
    "¿Qué? ¡Sí! «quoted» — dash – en… “curly” ‘single’",
    "$5.00 + 3 = 8 | a<b>c ~x~ `tick` @user #tag 100% ^caret",
    "é" * 101 + " ñ",                                             # 101 chars before accent stripping
    "e\u0301" * 60,                                              # 120 chars, 60 after stripping
    "emoji 😀 🇫🇷 ok",
    "Zürich Ångström naïve façade coöperate",
]


def _vocab_file(tmp_path, words=WORDS, name="vocab.txt"):
    tokens = list(SPECIAL_TOKENS) + [w for w in dict.fromkeys(words + PUNCT) if w not in SPECIAL_TOKENS]
    tokens = list(dict.fromkeys(tokens + ["x" * 99, "x" * 100, "ab", "##ab", "##ñ"]))
    path = tmp_path / name
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return path, {t: i for i, t in enumerate(tokens)}


@pytest.mark.parametrize("lower", [True, False], ids=["uncased", "cased"])
def test_wordpiece_matches_reference_bert(tmp_path, lower):
    path, vocab = _vocab_file(tmp_path)
    tok = WordPieceTokenizer(path, lower_case=lower)
    for text in TRICKY:
        expected = reference_tokenize(text, vocab, lower)
        assert tok.tokenize(text) == expected, repr(text)
        assert tok.encode(text) == [vocab[t] for t in expected], repr(text)
    assert tok.encode_batch(TRICKY) == [[vocab[t] for t in reference_tokenize(t, vocab, lower)] for t in TRICKY]


def test_long_words_and_specials(tmp_path):
    path, vocab = _vocab_file(tmp_path)
    tok = WordPieceTokenizer(path)
    assert tok.tokenize("x" * 100) == ["x" * 100]
    assert tok.tokenize("x" * 101) == ["[UNK]"]
    assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert tok.tokenize("unaffablez") == ["[UNK]"]           # one uncovered piece → the whole word is [UNK]
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.vocab_size == len(vocab)
    assert tok.convert_tokens_to_ids(["hello", "nope"]) == [vocab["hello"], tok.unk_id]
    assert tok.convert_ids_to_tokens([2, vocab["world"], 3]) == ["[CLS]", "world", "[SEP]"]
    with pytest.raises(IndexError):
        tok.convert_ids_to_tokens([len(vocab)])


def test_offsets_point_into_original_text(tmp_path):
    path, _ = _vocab_file(tmp_path)
    tok = WordPieceTokenizer(path)
    text = "  Héllo, CAFÉ!\tunaffable 中国 ΟΔΟΣ"
    ids, offsets = tok.encode_with_offsets(text)
    assert ids == tok.encode(text)
    assert [text[s:e] for s, e in offsets] == ["Héllo", ",", "CAFÉ", "!", "un", "aff", "able", "中", "国",
                                               "Ο", "Δ", "Ο", "Σ"]
    assert tok.convert_ids_to_tokens(ids) == ["hello", ",", "cafe", "!", "un", "##aff", "##able", "中", "国",
                                              "ο", "##δ", "##ο", "##ς"]


# ASCII, the punctuation, spaces and format characters the fast path also takes, and a few it must not take
FAST_PATH_CHARS = ([chr(c) for c in range(128)] + [chr(c) for c in range(0x80, 0xC0)]
                   + [chr(c) for c in range(0x2000, 0x2070)] + ["\ufeff", "\u00ad", "é", "中", "ß", "\u2028"])


@pytest.fixture(scope="module")
def prop_tokenizer(tmp_path_factory):
    path, _ = _vocab_file(tmp_path_factory.mktemp("vocab"))
    return WordPieceTokenizer(path), WordPieceTokenizer(path, lower_case=False)


def _normalized(tok, span):
    from tokenizers import normalizers
    from electra.tokenization import _bert_lower
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=tok.lower_case,
                                      lowercase=False)
    # a final sigma depends on the letters around the span, so σ and ς compare equal here
    return norm.normalize_str(_bert_lower(span) if tok.lower_case else span).strip().replace("ς", "σ")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
       | st.text(alphabet=st.characters(max_codepoint=127), max_size=60)      # the fast path
       | st.text(alphabet=st.sampled_from(FAST_PATH_CHARS), max_size=60)
       | st.lists(st.sampled_from(WORDS + PUNCT + [" ", "\t", "\u00a0", "\u0301", "\x00", "İ", "Σ", "x" * 50]),
                  max_size=20).map("".join))
def test_property_never_crashes_and_offsets_map_back(prop_tokenizer, text):
    """Also: the ASCII fast path of encode/encode_batch gives the ids of the full Rust pipeline."""
    for tok in prop_tokenizer:
        ids, offsets = tok.encode_with_offsets(text)
        assert ids == tok.encode(text) == tok.encode_batch([text])[0]
        assert len(ids) == len(offsets)
        tokens = tok.convert_ids_to_tokens(ids)
        previous_end = 0
        for token, (start, end) in zip(tokens, offsets):
            assert 0 <= start < end <= len(text)
            assert start >= previous_end                      # in order, not overlapping
            previous_end = end
            if token != "[UNK]":
                expected = token.removeprefix("##").replace("ς", "σ")
                assert _normalized(tok, text[start:end]) == expected, (text, token, start, end)


def test_lone_surrogates_do_not_crash(tmp_path):
    path, _ = _vocab_file(tmp_path)
    tok = WordPieceTokenizer(path)
    assert tok.tokenize("hello\ud800 world") == ["hello", "world"]   # dropped like a control character


# ---------------------------------------------------------------------------------------------------------- errors


def test_missing_vocab_file(tmp_path):
    with pytest.raises(TokenizerError, match="not found.*nope.txt"):
        load_tokenizer(tmp_path / "nope.txt")
    with pytest.raises(TokenizerError, match="not found"):
        WordPieceTokenizer(tmp_path / "vocab.txt")


def test_vocab_missing_special_tokens_names_file_and_tokens(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\nhello\n", encoding="utf-8")
    with pytest.raises(TokenizerError) as err:
        load_tokenizer(path)
    message = str(err.value)
    assert str(path) in message and "lacks the special token(s) [SEP], [MASK] (" in message


def test_unknown_file_type(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\x00")
    with pytest.raises(TokenizerError, match="cannot tell"):
        load_tokenizer(path)
    with pytest.raises(TokenizerError, match="no vocab.txt"):
        load_tokenizer(tmp_path)


def test_save_and_load_roundtrip(tmp_path):
    path, _ = _vocab_file(tmp_path)
    tok = WordPieceTokenizer(path, lower_case=False)
    saved = tok.save(tmp_path / "saved")
    assert os.path.basename(saved) == "vocab.txt"
    again = load_tokenizer(tmp_path / "saved")                 # directory; lower_case from the saved config
    assert isinstance(again, WordPieceTokenizer) and again.lower_case is False
    assert again.encode("Hello World") == tok.encode("Hello World")
    assert load_tokenizer(saved, lower_case=True).lower_case is True
    assert load_tokenizer(path).lower_case is True             # a bare vocab.txt defaults to uncased


# ---------------------------------------------------------------------------------------------------------- spm


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory):
    from data_prep.build_vocab import train_sentencepiece
    from data_prep.corpus import default_corpus_documents
    directory = tmp_path_factory.mktemp("spm")
    corpus = directory / "corpus.txt"
    with open(corpus, "w", encoding="utf-8") as f:
        for doc in default_corpus_documents(max_documents=12):
            f.write("\n".join(doc) + "\n\n")
    return train_sentencepiece([corpus], directory / "out", vocab_size=600, lower_case=True)


def test_sentencepiece_backend(spm_model):
    tok = load_tokenizer(spm_model)
    assert isinstance(tok, SentencePieceTokenizer)
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.vocab_size == 600
    text = "The Attribute  access of Python objects."
    ids, offsets = tok.encode_with_offsets(text)
    assert ids == tok.encode(text) == tok.encode_batch([text, "x"])[0]
    assert tok.convert_tokens_to_ids(tok.tokenize(text)) == ids
    for (start, end), piece in zip(offsets, tok.convert_ids_to_tokens(ids)):
        assert text[start:end].lower() == piece.lstrip("\u2581")
    assert tok.convert_tokens_to_ids(["[CLS]", "[SEP]", "[MASK]", "\u2581zzzqqq"]) == [2, 3, 4, tok.unk_id]
    assert tok.tokenize("ATTRIBUTE") == tok.tokenize("attribute")   # trained with case folding


def test_sentencepiece_save_and_errors(spm_model, tmp_path):
    tok = load_tokenizer(spm_model)
    saved = tok.save(tmp_path / "copy")
    assert load_tokenizer(tmp_path / "copy").encode("Python objects") == tok.encode("Python objects")
    assert os.path.basename(saved) == "spm.model"
    bad = tmp_path / "broken.model"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(TokenizerError, match="broken.model"):
        load_tokenizer(bad)


def test_vocab_with_a_duplicate_line_names_file_token_and_lines(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\nhello\n", encoding="utf-8")
    with pytest.raises(TokenizerError) as err:
        load_tokenizer(path)
    message = str(err.value)
    assert str(path) in message and "'hello' appears twice, on line 6 and line 8" in message
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n[UNK]\n", encoding="utf-8")   # a special token too
    with pytest.raises(TokenizerError, match=r"'\[UNK\]' appears twice, on line 2 and line 6"):
        WordPieceTokenizer(path)
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n\n\n", encoding="utf-8")  # trailing blank lines: fine
    assert load_tokenizer(path).vocab_size == 6


def test_real_bert_uncased_vocab_loads():
    path = pathlib.Path(__file__).parent / "fixtures" / "vocab" / "bert-uncased-vocab.txt"
    tok = load_tokenizer(path)
    assert tok.vocab_size == 30522 and len(tok.vocab) == 30522
    assert tok.special_ids == {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}
    assert tok.tokenize("The lighthouse was unaffable.") == ["the", "lighthouse", "was", "una", "##ffa", "##ble", "."]

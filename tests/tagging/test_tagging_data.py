"""Tagging data on real excerpts (WNUT-17, UD English EWT; tests/fixtures/tagging/README.md): readers, every
bad-input error, scheme detection, first-sub-token labels, stride windows and the merge back to one tag per word."""
import pathlib
import types

import numpy as np
import pytest

from electra.tagging.data import (DataError, Sentence, tag_label_set, encode, merge, merge_logits, read_conll,
                                  read_conllu, read_tagged, tag_scheme)
from electra.tokenization import load_tokenizer

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures"
TAGGING = FIXTURES / "tagging"
WNUT_TRAIN, WNUT_DEV = TAGGING / "wnut17_train.conll", TAGGING / "wnut17_dev.conll"
LAYOUT = TAGGING / "conll2003_layout.txt"
UD_TRAIN, UD_DEV = TAGGING / "en_ewt-ud-train.conllu", TAGGING / "en_ewt-ud-dev.conllu"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(FIXTURES / "vocab" / "bert-uncased-vocab.txt")


def word_pieces(tokenizer, word: str, limit: int) -> list[int]:
    """The ids a word should get, through tokenize() + convert_tokens_to_ids() (encode uses encode_batch)."""
    return (tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)) or [tokenizer.unk_id])[:limit]


def one_hot(labels: np.ndarray, num_labels: int) -> np.ndarray:
    logits = np.zeros(labels.shape + (num_labels,), np.float32)
    rows, columns = np.nonzero(labels >= 0)
    logits[rows, columns, labels[rows, columns]] = 1.0
    return logits


def write(tmp_path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return str(path)


# ------------------------------------------------------------------------------------------------------ readers
def test_read_wnut17():
    train = read_conll(WNUT_TRAIN)
    lines = WNUT_TRAIN.read_text(encoding="utf-8").splitlines()
    assert len(train) == 60
    assert sum(len(s.words) for s in train) == sum(1 for line in lines if line.strip()) == 1143
    first, last = train[0], train[-1]
    assert (first.line, first.source, len(first.words)) == (1, str(WNUT_TRAIN), 27)
    assert first.words[:4] == ("@paulwalk", "It", "'s", "the")
    empire = first.words.index("Empire")
    assert first.tags[empire:empire + 3] == ("B-location", "I-location", "I-location")
    assert (last.line, len(last.words), last.words[:2], last.words[-1]) == (1172, 31, ("Yo", "kids"), "!")
    for sentence in train:                     # each word's line in the file is sentence.line + its position
        assert lines[sentence.line - 1 + len(sentence.words) - 1].split("\t") == [sentence.words[-1],
                                                                                 sentence.tags[-1]]
    dev = read_tagged(WNUT_DEV)
    assert len(dev) == 61 and dev[0].words[:2] == ("Stabilized", "approach")
    assert dev[-1].line == 1116 and dev[-1].words[-2:] == ("\u2764", "\ufe0f")


def test_read_conll2003_layout():
    layout = read_conll(LAYOUT)
    wnut = read_conll(WNUT_TRAIN)[:30]
    assert len(layout) == 30 and [s.line for s in layout][:1] == [3]
    assert layout[15].line == 248                        # after the second -DOCSTART- line (246) and its blank
    assert all("-DOCSTART-" not in s.words for s in layout)
    assert [s.words for s in layout] == [s.words for s in wnut]
    to_bio = {"S": "B", "E": "I"}
    assert [tuple(to_bio.get(t[0], t[0]) + t[1:] for t in s.tags) for s in layout] == [s.tags for s in wnut]
    assert read_conll(LAYOUT, tag_column=3) == layout
    assert {t for s in read_conll(LAYOUT, tag_column=1) for t in s.tags} == {"_"}
    assert tag_scheme(layout) == "BIOES" and tag_scheme(wnut) == "BIO"


def test_read_conllu():
    train = read_conllu(UD_TRAIN)
    assert len(train) == 60 and sum(len(s.words) for s in train) == 1494
    first = train[0]
    assert (first.line, len(first.words)) == (5, 29)      # after the four comment lines
    assert first.words[:4] == ("Al", "-", "Zaman", ":") and first.tags[:4] == ("PROPN", "PUNCT", "PROPN", "PUNCT")
    assert (train[-1].line, len(train[-1].words), train[-1].words[-2:]) == (1646, 42, ("Jazeera", "."))
    dont = next(s for s in train if s.line == 187)        # "19-20 don't" is a multiword token: its words stay
    assert "don't" not in dont.words and dont.words[18:20] == ("do", "n't")
    assert read_conllu(UD_TRAIN, field="xpos")[0].tags[:4] == ("NNP", "HYPH", "NNP", ":")
    dev = read_tagged(UD_DEV)
    assert len(dev) == 60
    prophet = next(s for s in dev if s.line == 1594)      # the empty node "8.1 write" is skipped
    assert len(prophet.words) == 33 and prophet.words[7:9] == ("like", "about")
    words_only = read_conllu(UD_DEV, field=None)
    assert [s.words for s in words_only] == [s.words for s in dev] and words_only[0].tags is None


def test_read_tagged_format():
    assert read_tagged(UD_TRAIN) == read_conllu(UD_TRAIN)
    assert read_tagged(UD_TRAIN, field="xpos") == read_conllu(UD_TRAIN, field="xpos")
    assert read_tagged(LAYOUT, format="conll", tag_column=-1) == read_conll(LAYOUT)
    with pytest.raises(ValueError, match="format must be one of"):
        read_tagged(LAYOUT, format="iob")
    with pytest.raises(ValueError, match="field must be one of"):
        read_conllu(UD_TRAIN, field="lemma")


def test_conll_layout_tolerances(tmp_path):
    """Spaces or tabs, runs of blank (or whitespace-only) lines, CRLF, a BOM, no blank line at the end."""
    path = write(tmp_path, "t.conll", b"\xef\xbb\xbfEU B-ORG\r\nrejects  O\r\n\r\n\t\n \n-DOCSTART- O\n\n"
                                      b"Peter\tB-PER\nBlackburn\tI-PER")
    sentences = read_conll(path)
    assert sentences == [Sentence(("EU", "rejects"), ("B-ORG", "O"), 1, path),
                         Sentence(("Peter", "Blackburn"), ("B-PER", "I-PER"), 8, path)]


def test_unlabeled_input(tmp_path, tokenizer):
    path = write(tmp_path, "predict.txt", "Empire\nState\nBuilding\n\nESB\n")
    sentences = read_conll(path, tag_column=None)
    assert [(s.words, s.tags, s.line) for s in sentences] == [(("Empire", "State", "Building"), None, 1),
                                                             (("ESB",), None, 5)]
    assert read_conll(WNUT_TRAIN, tag_column=None)[0].tags is None     # a labelled file read for prediction
    labels = tag_label_set(read_conll(WNUT_TRAIN))
    features = encode(sentences, tokenizer, 16, labels, 8)
    assert (features["labels"] == -1).all()
    assert features["word_ids"][0, 1:4].tolist() == [0, 1, 2] and features["word_ids"][1, 1] == 0
    merged = merge(features, np.random.default_rng(0).normal(size=(2, 16, 5)), 2)
    assert [m.shape for m in merged] == [(3,), (1,)]
    with pytest.raises(DataError, match=r"predict\.txt:1: no tag column"):
        tag_label_set(sentences, path)


# -------------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("data, kw, message", [
    ("EU\tB-ORG\nrejects\n", {}, r":2: 1 column\(s\) where line 1 has 2; the tag column 2 is missing"),
    ("EU NNP B-NP B-ORG\nrejects VBZ B-VP\n", {}, r":2: 3 column\(s\) where line 1 has 4; the tag column 4"),
    ("EU\tB-ORG\n\n\tO\n", {}, r":3: column 1 \(the word\) is empty"),
    ("EU\tB-ORG\n", {"tag_column": 5}, r":1: tag_column=5 is beyond the 2 column\(s\) of the line"),
    ("EU\tB-ORG\n", {"tag_column": -3}, r":1: tag_column=-3 is beyond the 2 column\(s\)"),
    ("EU\nrejects\n", {}, r":1: tag_column=-1 is the word column .* unlabeled input takes tag_column=None"),
    ("EU\tB-ORG\n", {"tag_column": 0}, r":1: tag_column=0 is the word column"),
    (b"EU\tB-ORG\ncaf\xe9\tO\n", {}, r":2: not UTF-8 text \(byte 4 of the line\)"),
    ("\n\n-DOCSTART- -X- -X- O\n\n", {}, r": no sentences"),
])
def test_conll_errors(tmp_path, data, kw, message):
    path = write(tmp_path, "bad.conll", data)
    with pytest.raises(DataError, match=path.replace(".", r"\.") + message):
        read_conll(path, **kw)


UD_LINE = "1\tEU\tEU\tPROPN\tNNP\t_\t0\troot\t0:root\t_"


@pytest.mark.parametrize("data, kw, message", [
    ("# text = EU\n" + UD_LINE[:-2] + "\n", {}, r":2: 9 tab-separated field\(s\); a CoNLL-U word line has 10"),
    ("1 EU EU PROPN NNP _ 0 root 0:root _\n", {}, r":1: 1 tab-separated field\(s\)"),
    (UD_LINE.replace("1", "x", 1) + "\n", {}, r":1: column 'ID' 'x' is not a word number"),
    (UD_LINE + "\n" + UD_LINE.replace("\tEU\t", "\t\t", 1) + "\n", {}, r":2: column 'FORM' is empty"),
    (UD_LINE.replace("PROPN", "_") + "\n", {}, r":1: column 'UPOS' is '_' \(no tag\) for the word 'EU'"),
    (UD_LINE.replace("NNP", "") + "\n", {"field": "xpos"}, r":1: column 'XPOS' is '' \(no tag\)"),
    ("# only a comment\n\n", {}, r": no sentences"),
])
def test_conllu_errors(tmp_path, data, kw, message):
    path = write(tmp_path, "bad.conllu", data)
    with pytest.raises(DataError, match=path.replace(".", r"\.") + message):
        read_conllu(path, **kw)


def test_unknown_tag_names_file_line_word(tmp_path, tokenizer):
    labels = tag_label_set(read_conll(WNUT_TRAIN))
    path = write(tmp_path, "dev.conll", "EU\tB-location\n\nPeter\tO\nBlackburn\tB-PER\n")
    sentences = read_conll(path)
    message = r"dev\.conll:3: word 2 'Blackburn': column 'tag': 'B-PER' is not one of the labels \['O', 'B-corp"
    with pytest.raises(DataError, match=message):
        encode(sentences, tokenizer, 32, labels, 16)


def test_encode_reads_only_the_label_names(tokenizer):
    """Any label set with ``names`` (e.g. the classification one) serves: encode needs nothing else of it."""
    sentences = read_conllu(UD_DEV)
    labels = tag_label_set(sentences)
    features = encode(sentences, tokenizer, 16, labels, 8)
    names_only = encode(sentences, tokenizer, 16, types.SimpleNamespace(names=labels.names), 8)
    assert features.keys() == names_only.keys()
    assert all(np.array_equal(features[k], names_only[k]) for k in features)


# ------------------------------------------------------------------------------------------------ tag schemes
def test_label_set_and_schemes():
    wnut = read_conll(WNUT_TRAIN)
    labels = tag_label_set(wnut, str(WNUT_TRAIN))
    assert labels.names[0] == "O" and list(labels.names[1:]) == sorted(labels.names[1:])
    assert set(labels.names) == {t for s in wnut for t in s.tags}
    assert tag_scheme(wnut) == tag_scheme(labels.names) == "BIO"
    assert tag_scheme(read_conll(LAYOUT)) == "BIOES"
    assert tag_scheme(read_conllu(UD_TRAIN)) == tag_scheme(read_conllu(UD_TRAIN, field="xpos")) == "none"
    assert tag_scheme(["O", "I-PER", "I-PER", "O"]) == "BIO"      # IOB1 chunks start with I-, as seqeval reads
    assert tag_scheme(["O", "O"]) == "BIO" and tag_scheme([]) == "none"
    assert tag_scheme(["-LRB-", "NN", "PRP$", "``"]) == "none"


@pytest.mark.parametrize("tags, bad", [(["O", "B-PER", "B-"], "B-"), (["O", "B-PER", "X-PER"], "X-PER"),
                                       (["B-LOC", "PER"], "PER"), (["O", "b-per"], "b-per"),
                                       (["S-LOC", "E-"], "E-")])
def test_malformed_scheme_tags(tags, bad):
    with pytest.raises(DataError, match=f"tag '{bad}' is neither O nor B-, I-, E- or S-"):
        tag_scheme(tags)


def test_malformed_scheme_tag_names_its_place(tmp_path):
    path = write(tmp_path, "ner.conll", "EU\tB-ORG\nrejects\tO\n\nGerman\tX-MISC\n")
    with pytest.raises(DataError, match=r"ner\.conll:4: word 1 'German': tag 'X-MISC'"):
        tag_scheme(read_conll(path))


# ---------------------------------------------------------------------------------------------------- encode
@pytest.mark.parametrize("max_seq_length, stride", [(128, 64), (16, 8), (12, 3)])
def test_encode_windows(tokenizer, max_seq_length, stride):
    """Every window: [CLS] whole words [SEP] pad; the label on each word's first sub-token only; as many words as
    fit; the next window starts at most `stride` sub-tokens later (or at the next word) and leaves no gap."""
    sentences = read_conll(WNUT_TRAIN) + read_conll(WNUT_DEV)
    labels = tag_label_set(sentences)
    features = encode(sentences, tokenizer, max_seq_length, labels, stride)
    windows = len(features["sentence_ids"])
    assert {k: (v.dtype, v.shape) for k, v in features.items()} == {
        **{k: (np.int32, (windows, max_seq_length)) for k in ("input_ids", "input_mask", "segment_ids", "labels",
                                                              "word_ids")},
        "sentence_ids": (np.int32, (windows,))}
    assert (features["segment_ids"] == 0).all()
    assert (np.diff(features["sentence_ids"]) >= 0).all() and set(features["sentence_ids"]) == set(range(
        len(sentences)))
    budget = max_seq_length - 2
    previous = None
    for row in range(windows):
        sentence = sentences[features["sentence_ids"][row]]
        pieces = [word_pieces(tokenizer, word, budget) for word in sentence.words]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])])
        words = features["word_ids"][row][features["word_ids"][row] >= 0]
        first, end = int(words[0]), int(words[-1]) + 1
        assert words.tolist() == list(range(first, end))
        expected = [tokenizer.cls_id, *[i for p in pieces[first:end] for i in p], tokenizer.sep_id]
        length = int(features["input_mask"][row].sum())
        assert features["input_mask"][row, :length].all() and length == len(expected)
        assert features["input_ids"][row, :length].tolist() == expected
        assert (features["input_ids"][row, length:] == tokenizer.pad_id).all()
        starts = 1 + offsets[first:end] - offsets[first]
        assert (features["word_ids"][row, starts] == np.arange(first, end)).all()
        expected = [labels.names.index(sentence.tags[w]) for w in range(first, end)]
        assert features["labels"][row, starts].tolist() == expected
        others = np.ones(max_seq_length, bool)
        others[starts] = False
        assert (features["labels"][row, others] == -1).all() and (features["word_ids"][row, others] == -1).all()
        assert end == len(sentence.words) or offsets[end + 1] - offsets[first] > budget      # as full as fits
        if previous is not None and previous[0] is sentence:
            _, previous_first, previous_end = previous
            assert previous_first < first <= previous_end                                     # no gap
            assert offsets[first] - offsets[previous_first] <= stride or first == previous_first + 1
            assert first == previous_end or offsets[first + 1] - offsets[previous_first] > stride  # the last fit
        else:
            assert first == 0
        previous = (sentence, first, end)
        if end == len(sentence.words):
            previous = None
    if max_seq_length == 128:
        assert windows == len(sentences)
    else:
        assert windows > 2 * len(sentences)


def test_pathological_words(tokenizer):
    """A URL of 30 sub-tokens keeps the first 14 in a 16-token window; a word of only U+FE0F (no WordPiece) is
    [UNK], so it still has a first sub-token to carry its tag."""
    url = next(s for s in read_conll(WNUT_TRAIN) if "http://blogs.thescore.com/nfl/2010/09/17/pizzolaw2/" in s.words)
    at = url.words.index("http://blogs.thescore.com/nfl/2010/09/17/pizzolaw2/")
    assert len(tokenizer.tokenize(url.words[at])) > 14
    features = encode([url], tokenizer, 16, None, 8)
    rows = np.nonzero((features["word_ids"] == at).any(axis=1))[0]
    assert len(rows) == 1 and features["input_mask"][rows[0]].sum() == 16
    assert features["word_ids"][rows[0]].tolist() == [-1, at] + [-1] * 14
    assert features["input_ids"][rows[0], 1:15].tolist() == word_pieces(tokenizer, url.words[at], 14)
    selector = read_conll(WNUT_DEV)[-1]
    assert selector.words[-1] == "\ufe0f" and tokenizer.tokenize("\ufe0f") == []
    features = encode([selector], tokenizer, 128, None, 64)
    last = len(selector.words) - 1
    position = int(np.nonzero(features["word_ids"][0] == last)[0][0])
    assert features["input_ids"][0, position] == tokenizer.unk_id and features["input_ids"][0, position + 1] == \
        tokenizer.sep_id


def test_encode_settings(tokenizer):
    sentences = read_conll(WNUT_TRAIN)[:2]
    for bad in (2, 0, 16.0, True):
        with pytest.raises(ValueError, match="max_seq_length must be an int"):
            encode(sentences, tokenizer, bad, None, 8)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="stride must be a positive int"):
            encode(sentences, tokenizer, 16, None, bad)


# ----------------------------------------------------------------------------------------------------- merge
@pytest.mark.parametrize("max_seq_length, stride", [(16, 8), (12, 1), (24, 30), (128, 64)])
def test_merge_round_trip(tokenizer, max_seq_length, stride):
    """encode then merge of one-hot logits built from the labels gives back every word's tag index, including
    sentences cut into several windows."""
    for sentences in (read_conll(WNUT_TRAIN) + read_conll(WNUT_DEV), read_conllu(UD_TRAIN) + read_conllu(UD_DEV)):
        labels = tag_label_set(sentences)
        features = encode(sentences, tokenizer, max_seq_length, labels, stride)
        merged = merge(features, one_hot(features["labels"], len(labels.names)), len(sentences))
        assert len(merged) == len(sentences)
        for sentence, tags in zip(sentences, merged):
            assert tags.dtype == np.int32
            assert [labels.names[t] for t in tags] == list(sentence.tags)
        if max_seq_length < 128:
            assert np.bincount(features["sentence_ids"]).max() >= 3


def test_merge_takes_the_window_with_most_context(tokenizer):
    """Eight one-piece words in windows of 4 sub-tokens: stride 2 gives windows 0-3, 2-5, 4-7 and each word's
    min(left, right) context picks [0, 0, 0, 1, 1, 2, 2, 2]; stride 1 gives windows 0-3, 1-4, 2-5, 3-6, 4-7 and
    ties go to the earlier window."""
    sentence = Sentence(tuple("abcdefgh"), None, 1, "hand")
    for stride, expected in ((2, [0, 0, 0, 1, 1, 2, 2, 2]), (1, [0, 0, 0, 1, 2, 3, 4, 4])):
        features = encode([sentence], tokenizer, 6, None, stride)
        windows = len(features["sentence_ids"])
        logits = np.broadcast_to(np.eye(windows, dtype=np.float32)[:, None, :], (windows, 6, windows))
        assert merge(features, logits, 1)[0].tolist() == expected
        chosen = merge_logits(features, logits, 1)[0]
        assert chosen.dtype == np.float32 and chosen.shape == (8, windows)


def test_merge_logits_against_brute_force(tokenizer):
    """Which window each word's logits come from, on real sentences, against a direct search over the windows."""
    sentences = read_conllu(UD_DEV)
    features = encode(sentences, tokenizer, 16, None, 5)
    windows = len(features["sentence_ids"])
    logits = np.zeros((windows, 16, 1), np.float32) + np.arange(windows, dtype=np.float32)[:, None, None]
    merged = merge_logits(features, logits, len(sentences))
    for index, sentence in enumerate(sentences):
        for word in range(len(sentence.words)):
            best, best_context = None, -1
            for row in np.nonzero(features["sentence_ids"] == index)[0]:
                hits = np.nonzero(features["word_ids"][row] == word)[0]
                if len(hits):
                    pieces = int(features["input_mask"][row].sum()) - 2
                    context = min(hits[0] - 1, pieces - hits[0])
                    if context > best_context:
                        best, best_context = row, context
            assert merged[index][word, 0] == best


def test_merge_needs_every_window(tokenizer):
    sentences = read_conll(WNUT_TRAIN)[:3]
    features = encode(sentences, tokenizer, 16, None, 8)
    logits = np.zeros(features["word_ids"].shape + (2,), np.float32)
    partial = {k: v[1:] for k, v in features.items()}
    with pytest.raises(ValueError, match="sentence 0 is not covered by the windows given"):
        merge(partial, logits[1:], 3)
    with pytest.raises(ValueError, match="do not match the windows"):
        merge(features, logits[:, :8], 3)
    with pytest.raises(ValueError, match=r"sentence_ids outside \[0, 2\)"):
        merge(features, logits, 2)


def test_sentencepiece_round_trip(tmp_path):
    from data_prep.build_vocab import train_sentencepiece
    sentences = read_conllu(UD_TRAIN)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(" ".join(s.words) + "\n" for s in sentences), encoding="utf-8")
    tokenizer = load_tokenizer(train_sentencepiece([corpus], tmp_path / "spm", vocab_size=300))
    labels = tag_label_set(sentences)
    features = encode(sentences, tokenizer, 16, labels, 8)
    assert (features["input_ids"][:, 0] == tokenizer.cls_id).all()
    merged = merge(features, one_hot(features["labels"], len(labels.names)), len(sentences))
    assert [[labels.names[t] for t in tags] for tags in merged] == [list(s.tags) for s in sentences]

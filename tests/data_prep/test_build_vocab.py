import pytest

from data_prep.build_vocab import train_wordpiece
from data_prep.common import DataPrepError
from electra.tokenization import load_tokenizer


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from data_prep.corpus import pydoc_corpus_documents
    path = tmp_path_factory.mktemp("corpus") / "train.txt"
    path.write_text("".join("".join(s + "\n" for s in d) + "\n" for d in pydoc_corpus_documents(max_documents=20)),
                    encoding="utf-8")
    return path


def test_wordpiece_vocab_special_tokens_first_and_deterministic(corpus, tmp_path):
    path = train_wordpiece([corpus], tmp_path / "a", vocab_size=1200)
    tokens = path and open(path, encoding="utf-8").read().split("\n")[:-1]
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert 600 < len(tokens) <= 1200 and len(set(tokens)) == len(tokens)
    assert any(t.startswith("##") for t in tokens)
    assert all(t == t.lower() for t in tokens[5:])                 # uncased
    again = train_wordpiece([corpus], tmp_path / "b", vocab_size=1200)
    assert open(again, encoding="utf-8").read() == open(path, encoding="utf-8").read()
    tok = load_tokenizer(tmp_path / "a")
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.lower_case and tok.tokenize("The Object") == ["the", "object"]


def test_cased_vocab(corpus, tmp_path):
    path = train_wordpiece([corpus], tmp_path, vocab_size=800, lower_case=False)
    assert load_tokenizer(path).lower_case is False
    assert any(t[:1].isupper() for t in open(path, encoding="utf-8").read().split())


def test_vocab_errors(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataPrepError, match="no text"):
        train_wordpiece([empty], tmp_path / "out", 100)
    with pytest.raises(DataPrepError, match="not found"):
        train_wordpiece([tmp_path / "missing.txt"], tmp_path / "out", 100)
    assert not (tmp_path / "out" / "vocab.txt").exists()

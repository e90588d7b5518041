"""Helpers shared by the SQuAD tests."""
import json
import pathlib
import re

from electra.squad import heldout

TINY_SQUAD = pathlib.Path(__file__).parent.parent / "fixtures" / "squad" / "tiny_squad.json"


def write_word_vocab(directory: pathlib.Path, texts) -> pathlib.Path:
    """A WordPiece vocabulary holding every lower-cased word of ``texts`` whole, plus single characters and their
    ``##`` continuations (so any ASCII word still tokenizes, as pieces)."""
    words, chars = set(), set()
    for text in texts:
        for token in re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower()):
            words.add(token)
            chars.update(token)
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words)
    tokens += sorted(c for c in chars if c not in words) + sorted("##" + c for c in chars)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "vocab.txt"
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return path


def squad_texts(path=TINY_SQUAD):
    data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            yield paragraph["context"]
            for qa in paragraph["qas"]:
                yield qa["question"]


REAL_SQUAD = pathlib.Path(__file__).parent.parent / "fixtures" / "squad" / "train-v1.1-12-articles.json"


def article_split(train_articles, held_out_articles, path=REAL_SQUAD):
    """Two SQuAD datasets made of whole articles of the real subset (by index): no question, paragraph or article
    of the held-out set is seen in training (``electra.squad.heldout.article_split`` on the fixture)."""
    return heldout.article_split(str(path), train_articles, held_out_articles)


v2_style = heldout.v2_style


def tiny_squad_flags(output, vocab, train_file=TINY_SQUAD, log_every=1):
    """``run_squad.py`` flags of a tiny v2.0 fine-tuning run of 12 steps (checkpoints every 5)."""
    return [f"--output_dir={output}", "--mode=train", f"--train_file={train_file}", f"--vocab_file={vocab}",
            "--model_size=tiny", "--version_2_with_negative", "--max_seq_length=64", "--doc_stride=24",
            "--max_query_length=16", "--train_batch_size=4", "--max_steps=12", f"--trainer.log_every={log_every}",
            "--trainer.checkpoint_every=5", "--xla=false", "--learning_rate=1e-3"]

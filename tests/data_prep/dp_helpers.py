"""Helpers for the data_prep tests: a vocabulary of unique words, so every token in a TFRecord can be traced
back to the sentence and document it came from."""
import numpy as np
from electra.tokenization import SPECIAL_TOKENS

NUM_WORDS = 20000


def word_token(i: int) -> str:
    return f"w{i}"


def write_word_vocab(path):
    """vocab.txt: the 5 special tokens (ids 0-4), then w0 … w19999 (id of wN is N + 5)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(t + "\n" for t in [*SPECIAL_TOKENS, *(word_token(i) for i in range(NUM_WORDS))]),
                    encoding="utf-8")
    return path


def unique_word_documents(num_documents: int, seed: int = 0, max_sentence: int = 30, long_every: int = 0):
    """Documents of sentences made of consecutive unique words (w0 w1 w2 …), random sentence lengths;
    ``long_every``: every n-th sentence is very long (exercises truncation)."""
    rng = np.random.default_rng(seed)
    documents, next_word = [], 0
    for _ in range(num_documents):
        sentences = []
        for s in range(int(rng.integers(1, 12))):
            length = int(rng.integers(1, max_sentence))
            if long_every and s % long_every == long_every - 1:
                length = 150
            sentences.append(" ".join(word_token((next_word + k) % NUM_WORDS) for k in range(length)))
            next_word += length
        documents.append(sentences)
    assert next_word < NUM_WORDS, "the test corpus must not reuse words"
    return documents


def write_documents(path, documents) -> None:
    path.write_text("".join("".join(s + "\n" for s in d) + "\n" for d in documents), encoding="utf-8")

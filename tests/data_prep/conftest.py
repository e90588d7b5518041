import pytest

from tests.data_prep.dp_helpers import write_word_vocab


@pytest.fixture
def word_vocab(tmp_path):
    """vocab.txt with the special tokens (ids 0-4) and unique words w0 … w19999 (id of wN is N + 5)."""
    return write_word_vocab(tmp_path / "vocab" / "vocab.txt")

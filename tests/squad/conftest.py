import pathlib

import pytest

from tests.squad.squad_helpers import TINY_SQUAD, squad_texts, write_word_vocab


@pytest.fixture(scope="session")
def tiny_squad_file() -> pathlib.Path:
    return TINY_SQUAD


@pytest.fixture(scope="session")
def tiny_vocab(tmp_path_factory) -> pathlib.Path:
    return write_word_vocab(tmp_path_factory.mktemp("vocab"), squad_texts())

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import electra  # noqa: E402,F401  (before keras/TensorFlow: the oneDNN setting users get)

import json  # noqa: E402
import pathlib  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from electra.configs import ModelConfig  # noqa: E402
from tests.squad.squad_helpers import TINY_SQUAD, squad_texts, write_word_vocab  # noqa: E402

PARITY = pathlib.Path(__file__).parent / "fixtures" / "parity"


@pytest.fixture(autouse=True)
def _float32_policy():
    """Tests that switch precision must not leak their policy into others."""
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def parity_dir() -> pathlib.Path:
    return PARITY


@pytest.fixture(scope="session")
def parity_inputs():
    data = np.load(PARITY / "parity.npz")
    return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def parity_config() -> ModelConfig:
    from electra.interop import config_from_hf
    disc = json.loads((PARITY / "hf_discriminator" / "config.json").read_text())
    gen = json.loads((PARITY / "hf_generator" / "config.json").read_text())
    return config_from_hf(disc, gen)


def tiny_config(**overrides) -> ModelConfig:
    """Small enough for many models per test on 2 cores; embedding ≠ hidden so the projection is exercised."""
    values = dict(vocab_size=60, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, generator_hidden_size=24, generator_num_hidden_layers=2,
                  generator_num_attention_heads=2, generator_intermediate_size=48, max_position_embeddings=64)
    values.update(overrides)
    return ModelConfig(**values)


def masked_batch(config: ModelConfig, batch: int = 4, seq: int = 24, predictions: int = 5, seed: int = 0,
                 mask_id: int = 3) -> dict[str, np.ndarray]:
    """A fixed pretraining batch: [CLS]=1 ... [SEP]=2, some padding, ``predictions`` masked slots per row
    (the last row uses fewer and pads the rest with weight 0)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, config.vocab_size, size=(batch, seq)).astype(np.int32)
    mask = np.ones((batch, seq), np.int32)
    lengths = [seq] * (batch - 1) + [seq // 2]
    positions = np.zeros((batch, predictions), np.int32)
    weights = np.zeros((batch, predictions), np.float32)
    for row, length in enumerate(lengths):
        ids[row, 0], ids[row, length - 1] = 1, 2
        ids[row, length:], mask[row, length:] = 0, 0
        count = predictions if row < batch - 1 else predictions - 2
        positions[row, :count] = np.sort(rng.choice(np.arange(1, length - 1), count, replace=False))
        weights[row, :count] = 1.0
    labels = np.take_along_axis(ids, positions, 1) * (weights > 0)
    masked = ids.copy()
    for row in range(batch):
        for p, w in zip(positions[row], weights[row]):
            if w:
                masked[row, p] = mask_id
    segments = np.zeros_like(ids)
    segments[:, seq // 3:] = 1
    segments *= mask
    return {"input_ids": masked, "input_mask": mask, "segment_ids": segments, "masked_lm_positions": positions,
            "masked_lm_ids": labels.astype(np.int32), "masked_lm_weights": weights, "original_ids": ids}


@pytest.fixture(scope="session")
def tiny_squad_file() -> pathlib.Path:
    return TINY_SQUAD


@pytest.fixture(scope="session")
def tiny_vocab(tmp_path_factory) -> pathlib.Path:
    """A word-level WordPiece vocabulary covering tiny_squad.json."""
    return write_word_vocab(tmp_path_factory.mktemp("vocab"), squad_texts())

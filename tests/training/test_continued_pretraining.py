"""Continued pretraining from released checkpoints (google-research/electra issues #97, #103): run_pretraining
starts from a Google TF1 pretraining checkpoint or a Hugging Face discriminator + generator pair, weights only, with
a fresh optimizer and schedule; vocabulary and sizes are checked before any step. The tiny parity fixtures (made
by transformers and as a TF1 checkpoint) stand in for the released checkpoints."""
import os

import numpy as np
import pytest
import tensorflow as tf

from electra.cli import build
from electra.configs import PretrainConfig
from electra.interop.google import read_google_checkpoint
from electra.tasks.pretraining import run
from electra.interop.store import read_model_weights
from tests.conftest import PARITY
from tests.training.conftest import write_vocab

GOOGLE = f"google:{PARITY / 'google_ckpt' / 'model.ckpt'}"
HF_PAIR = f"hf:{PARITY / 'hf_discriminator'},{PARITY / 'hf_generator'}"


def _config(data, output, init, **values):
    settings = dict(output_dir=str(output), init=init, train_files=data["train"], vocab_file=data["vocab"],
                    max_seq_length=32, train_batch_size=4, total_steps=1, warmup_steps=0, learning_rate=1e-12,
                    xla=False, shuffle_buffer=16, checkpoint_every=1)
    settings.update(values)
    return build(PretrainConfig, settings)


@pytest.mark.slow
@pytest.mark.parametrize("init", [GOOGLE, HF_PAIR], ids=["google", "hf_pair"])
def test_starts_from_released_weights(pretraining_data, tmp_path, init):
    summary = run(_config(pretraining_data, tmp_path / "run", init))
    assert summary["initialized_from"] == init and summary["step"] == 1
    # one step at a vanishing learning rate: the checkpoint still holds the released weights, all of them
    ours = read_model_weights(tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")))
    released, _ = read_google_checkpoint(str(PARITY / "google_ckpt" / "model.ckpt"))
    assert set(ours) <= set(released)
    for name, value in ours.items():
        np.testing.assert_allclose(value, released[name], atol=1e-6, err_msg=name)
    assert len(ours) == 80        # discriminator, generator and both heads (shared embeddings once)


def test_sizes_and_vocabulary_are_checked_before_any_step(pretraining_data, tmp_path):
    with pytest.raises(ValueError, match="exceeds the model's max_position_embeddings=64"):
        run(_config(pretraining_data, tmp_path / "a", GOOGLE, max_seq_length=128))
    bigger = write_vocab(tmp_path / "vocab120.txt", words=115)
    with pytest.raises(ValueError, match="vocabulary has 120 tokens but the model's vocab_size is 100"):
        run(_config(pretraining_data, tmp_path / "b", HF_PAIR, vocab_file=bigger))
    for name in ("a", "b"):
        assert not os.path.exists(tmp_path / name / "checkpoints")


def test_a_discriminator_alone_is_not_a_pretraining_starting_point(pretraining_data, tmp_path):
    from electra.interop import WeightLoadError
    with pytest.raises(WeightLoadError, match="generator"):
        run(_config(pretraining_data, tmp_path / "a", f"hf:{PARITY / 'hf_discriminator'}"))

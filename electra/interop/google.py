"""Google's original TF1 ELECTRA checkpoints (google-research/electra) in.

Our weight names *are* Google's, so the table is the identity; what this module adds is reading the TF1
checkpoint format and skipping the optimizer state (Adam slots, ``global_step``) that training checkpoints carry.
"""
from __future__ import annotations

import os
import re
from typing import Mapping, Sequence

import tensorflow as tf

from electra.configs import ModelConfig, generator_fields
from electra.interop.weights import LoadReport, WeightLoadError, assign

OPTIMIZER_STATE = re.compile(r"(/adam_[mv]|/Adam(_1)?|/Momentum|/ExponentialMovingAverage)$|^global_step$|"
                             r"(^|/)(beta[12]_power|loss_scale\w*|good_steps|current_loss_scale)$")


def checkpoint_prefix(path: str) -> str:
    """A checkpoint prefix from a directory (its ``checkpoint`` file) or a prefix / ``.index`` path."""
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise WeightLoadError(f"{path}: no TF checkpoint in this directory (no 'checkpoint' file)")
        return latest
    if path.endswith(".index"):
        path = path[: -len(".index")]
    if not tf.io.gfile.exists(path + ".index"):
        raise WeightLoadError(f"{path}: no TF checkpoint here ({path}.index does not exist)")
    return path


def _reader(path: str):
    prefix = checkpoint_prefix(path)
    try:
        return prefix, tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise WeightLoadError(f"{prefix}: unreadable TF checkpoint ({e})") from e


def _is_weight(name: str) -> bool:
    return not (OPTIMIZER_STATE.search(name) or name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH"))


def read_google_checkpoint(path: str) -> tuple[dict, list[str]]:
    """``({name: array}, skipped optimizer-state names)`` of a TF1 checkpoint."""
    _, reader = _reader(path)
    names = list(reader.get_variable_to_shape_map())
    return ({name: reader.get_tensor(name) for name in names if _is_weight(name)},
            [name for name in names if not _is_weight(name)])


def load_google_checkpoint(model, path: str) -> LoadReport:
    """Load a google-research/electra pretraining (or fine-tuning) checkpoint into any of our models."""
    tensors, skipped = read_google_checkpoint(path)
    return assign(model, tensors, checkpoint_prefix(path), ignorable=skipped)


def checkpoint_shapes(path: str) -> dict[str, list[int]]:
    """``{name: shape}`` of a TF checkpoint's variables, optimizer state left out (reads the index only)."""
    _, reader = _reader(path)
    return {name: list(shape) for name, shape in reader.get_variable_to_shape_map().items() if _is_weight(name)}


def config_from_google(shapes: Mapping[str, Sequence[int]], source: str = "checkpoint", **overrides) -> ModelConfig:
    """A ``ModelConfig`` inferred from the variable shapes of a google-research/electra checkpoint.

    Sizes come from the shapes (vocabulary rows, embedding size, positions, token types, hidden size, layers, FFN
    size, and the generator's when it has generator variables). Shapes do not carry head counts: as
    google-research/electra derives them, they are ``max(1, hidden // 64)``. A checkpoint without a generator
    gets google-research's default generator (a quarter of the discriminator's width). ``overrides`` win.
    """
    def shape(name: str) -> Sequence[int]:
        if name not in shapes:
            raise WeightLoadError(f"{source}: no '{name}' in this checkpoint; cannot infer the model's sizes")
        return shapes[name]

    def encoder(scope: str) -> dict[str, int]:
        layers = {int(m.group(1)) for n in shapes if (m := re.match(rf"{scope}/encoder/layer_(\d+)/", n))}
        hidden = shape(f"{scope}/encoder/layer_0/attention/self/query/kernel")[1]
        return dict(hidden_size=int(hidden), num_hidden_layers=max(layers) + 1,
                    num_attention_heads=max(1, int(hidden) // 64),
                    intermediate_size=int(shape(f"{scope}/encoder/layer_0/intermediate/dense/kernel")[1]))

    word = shape("electra/embeddings/word_embeddings")
    discriminator = encoder("electra")
    values = dict(vocab_size=int(word[0]), embedding_size=int(word[1]),
                  max_position_embeddings=int(shape("electra/embeddings/position_embeddings")[0]),
                  type_vocab_size=int(shape("electra/embeddings/token_type_embeddings")[0]), **discriminator)
    if any(n.startswith("generator/encoder/layer_") for n in shapes):
        values.update({f"generator_{k}": v for k, v in encoder("generator").items()})
    else:
        values.update(generator_fields(discriminator["hidden_size"], discriminator["num_hidden_layers"], 0.25))
    values.update(overrides)
    return ModelConfig(**values)

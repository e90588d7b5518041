"""Output heads: a classifier head (replaced-token detection per token, SQuAD v2 answerability on [CLS]),
the tied masked-LM head and the SQuAD span head.

Every head returns float32 logits whatever the compute policy, so losses never run in fp16/bf16.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from electra.configs import ModelConfig
from electra.modeling.layers import (Embeddings, NamedVariables, activation, dense, dense_variables, layer_norm,
                                     layer_norm_variables)


class ClassifierHead(keras.layers.Layer):
    """dense(H) → activation → dense(1) → one float32 logit per token or per sequence.

    ``pool="none"``: ``[B, S, H]`` → per-token logits ``[B, S]`` (the discriminator's replaced-token head).
    ``pool="cls"``: the ``[CLS]`` vector of ``[B, S, H]`` → one logit per sequence ``[B]`` (SQuAD v2 answerability).
    Both modes hold the same two sub-layers, named ``dense`` and ``dense_1`` as in Google's checkpoints.
    """

    POOLS = ("none", "cls")

    def __init__(self, config: ModelConfig, pool: str = "none", **kwargs):
        super().__init__(**kwargs)
        if pool not in self.POOLS:
            raise ValueError(f"pool must be one of {self.POOLS}, got {pool!r}")
        self.hidden_size, self.pool = config.hidden_size, pool
        self.dense = dense(config.hidden_size, config, "dense", self.dtype_policy, config.hidden_act)
        self.dense_1 = dense(1, config, "dense_1", self.dtype_policy)

    def build(self, input_shape=None):
        shape = (None, self.hidden_size) if self.pool == "cls" else (None, None, self.hidden_size)
        self.dense.build(shape)
        self.dense_1.build(shape)
        self.built = True

    def call(self, hidden):
        if self.pool == "cls":
            hidden = hidden[:, 0]
        return tf.cast(tf.squeeze(self.dense_1(self.dense(hidden)), -1), tf.float32)

    def named_variables(self) -> NamedVariables:
        return {**dense_variables("dense", self.dense), **dense_variables("dense_1", self.dense_1)}


DiscriminatorHead = ClassifierHead  # the replaced-token detection head: ``ClassifierHead(config)``


class GeneratorHead(keras.layers.Layer):
    """``[..., Hg]`` → dense(E) → activation → LayerNorm → tied word embeddings + bias → ``[..., vocab_size]``.

    The bias has one entry per embedding row (padded vocab included); logits of padding rows are dropped.
    """

    def __init__(self, config: ModelConfig, embeddings: Embeddings, **kwargs):
        super().__init__(**kwargs)
        self.config, self.embeddings = config, embeddings
        self.dense = dense(config.embedding_size, config, "dense", self.dtype_policy, config.hidden_act)
        self.layer_norm = layer_norm(config, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.dense.build((None, None, self.config.generator_hidden_size))
        self.layer_norm.build((None, None, self.config.embedding_size))
        self.output_bias = self.add_weight(name="output_bias", shape=(self.config.embedding_vocab_size,),
                                           initializer="zeros")
        self.built = True

    def call(self, hidden):
        hidden = self.layer_norm(self.dense(hidden))
        table = tf.cast(self.embeddings.word_embeddings, hidden.dtype)
        logits = tf.matmul(hidden, table, transpose_b=True)
        vocab = self.config.vocab_size
        return tf.cast(logits[..., :vocab], tf.float32) + tf.cast(self.output_bias[:vocab], tf.float32)

    def named_variables(self) -> NamedVariables:
        return {**dense_variables("dense", self.dense), **layer_norm_variables("LayerNorm", self.layer_norm),
                "output_bias": self.output_bias}


class SpanHead(keras.layers.Layer):
    """``[B, S, H]`` → start and end logits ``[B, S]`` each (one dense layer of 2 units, as BERT/HF)."""

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = config.hidden_size
        self.dense = dense(2, config, "qa_outputs", self.dtype_policy)

    def build(self, input_shape=None):
        self.dense.build((None, None, self.hidden_size))
        self.built = True

    def call(self, hidden):
        logits = tf.cast(self.dense(hidden), tf.float32)
        return logits[..., 0], logits[..., 1]

    def named_variables(self) -> NamedVariables:
        return dense_variables("qa_outputs", self.dense)


__all__ = ["ClassifierHead", "DiscriminatorHead", "GeneratorHead", "SpanHead", "activation"]

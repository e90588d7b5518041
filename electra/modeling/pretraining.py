"""The ELECTRA pretraining model: a small generator does masked-LM, its samples replace the masked tokens,
and the discriminator detects which tokens were replaced (replaced-token detection, RTD).

Inputs are the dynamically masked batches of ``electra.data``: ``input_ids`` (with [MASK]s), ``input_mask``,
``segment_ids`` ``[B, S]`` and ``masked_lm_positions`` / ``masked_lm_ids`` / ``masked_lm_weights`` ``[B, P]``
(P = max predictions; padding entries have weight 0). Generator logits are computed only at the P masked
positions — gathering before the vocabulary projection is what keeps the generator cheap.
"""
from __future__ import annotations

from typing import Mapping

import keras
import tensorflow as tf

from electra.configs import ModelConfig
from electra.modeling.heads import DiscriminatorHead, GeneratorHead
from electra.modeling.layers import Encoder, NamedVariables, prefixed, uniform_like

FEATURES = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids", "masked_lm_weights")


def gather_positions(sequence: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    """``[B, S, ...]`` at ``positions [B, P]`` → ``[B, P, ...]``."""
    return tf.gather(sequence, tf.cast(positions, tf.int32), batch_dims=1)


def scatter_positions(ids: tf.Tensor, positions: tf.Tensor, updates: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """``ids [B, S]`` with ``updates [B, P]`` written at ``positions [B, P]`` where ``weights > 0``.

    Padding entries (weight 0, position 0 by convention) leave ``ids`` untouched, so [CLS] is never overwritten.
    """
    seq_length = tf.shape(ids)[1]
    hits = tf.one_hot(tf.cast(positions, tf.int32), seq_length, dtype=tf.int32)
    hits *= tf.cast(weights > 0, tf.int32)[..., tf.newaxis]                          # [B, P, S]
    written = tf.reduce_max(hits, axis=1)                                              # [B, S]
    values = tf.reduce_sum(hits * tf.cast(updates, tf.int32)[..., tf.newaxis], axis=1)
    return tf.cast(ids, tf.int32) * (1 - written) + values


def gumbel_sample(logits: tf.Tensor, temperature: float, seed) -> tf.Tensor:
    """Gumbel-max sample of ``softmax(logits / T)``: ids ``[...]``, with no gradient to the logits.

    ``seed``: a ``keras.random.SeedGenerator`` (advances; training) or an int tensor ``[2]`` (stateless; validation).
    """
    logits = tf.stop_gradient(tf.cast(logits, tf.float32)) / temperature
    uniform = uniform_like(logits, seed.next() if isinstance(seed, keras.random.SeedGenerator) else seed)
    gumbel = -tf.math.log(-tf.math.log(uniform + 1e-9) + 1e-9)
    return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)


def replaced_token_labels(original_ids: tf.Tensor, fake_ids: tf.Tensor, input_mask: tf.Tensor) -> tf.Tensor:
    """1.0 where the discriminator input differs from the original text; a sample equal to the original is real."""
    return tf.cast(tf.not_equal(original_ids, fake_ids), tf.float32) * tf.cast(input_mask, tf.float32)


class ElectraPretrainingModel(keras.Model):
    """Generator + discriminator sharing one embedding table; ``call(features)`` returns the logits of both
    networks and the generator's sample (the objective lives in ``electra.tasks.pretraining``).

    Weights are created in ``__init__`` so checkpoints can be loaded before the first step.
    """

    optional_scopes: tuple[str, ...] = ()

    def __init__(self, config: ModelConfig, temperature: float = 1.0, seed: int | None = None, **kwargs):
        kwargs.setdefault("name", "electra_pretraining")
        super().__init__(**kwargs)
        self.config, self.temperature = config, float(temperature)
        dt = self.dtype_policy
        self.discriminator = Encoder(config, config.discriminator, name="electra", dtype=dt)
        self.generator = Encoder(config, config.generator, embeddings=self.discriminator.embeddings,
                                 name="generator", dtype=dt)
        self.generator_head = GeneratorHead(config, self.discriminator.embeddings, name="generator_predictions",
                                            dtype=dt)
        self.discriminator_head = DiscriminatorHead(config, name="discriminator_predictions", dtype=dt)
        self.sampler_seed = keras.random.SeedGenerator(seed, name="sampler_seed")
        for layer in (self.discriminator, self.generator, self.generator_head, self.discriminator_head):
            layer.build()
        self.built = True

    def generator_logits(self, input_ids, input_mask, segment_ids, positions=None, training=False) -> tf.Tensor:
        """MLM logits ``[B, P, V]`` at ``positions``; ``[B, S, V]`` for every token when positions is None."""
        hidden = self.generator(input_ids, input_mask, segment_ids, training=training)
        if positions is not None:
            hidden = gather_positions(hidden, positions)
        return self.generator_head(hidden)

    def discriminator_logits(self, input_ids, input_mask, segment_ids, training=False) -> tf.Tensor:
        """Replaced-token logits ``[B, S]``."""
        return self.discriminator_head(self.discriminator(input_ids, input_mask, segment_ids, training=training))

    def call(self, features: Mapping[str, tf.Tensor], training=False, sample_seed=None,
             sampled_ids=None) -> dict[str, tf.Tensor]:
        """One RTD forward pass: ``gen_logits [B, P, V]`` at the masked positions, the generator's sample
        ``sampled_ids [B, P]``, the discriminator input ``fake_ids [B, S]``, its targets ``rtd_labels [B, S]`` (1.0 =
        replaced) and ``disc_logits [B, S]``; logits are float32 under every precision.

        ``sample_seed`` (int ``[2]``) makes the generator's sample stateless, so evaluation leaves the training
        RNG stream untouched; by default the model's own seed generator advances.

        ``sampled_ids`` (int ``[B, P]``, aligned with ``masked_lm_positions``) gives the generator's sample explicitly:
        it is used instead of the Gumbel draw (no RNG advances; ``temperature`` and ``sample_seed`` play no part).
        Entries with ``masked_lm_weights`` 0 are ignored, as for a drawn sample. For tests that replay a fixed
        sample (the step-parity fixtures); the sample is an integer input either way, so no gradient flows through it.
        """
        missing = [name for name in FEATURES if name not in features]
        if missing:
            raise KeyError(f"pretraining batch lacks feature(s) {missing}; expected {list(FEATURES)}")
        masked_ids = tf.cast(features["input_ids"], tf.int32)
        input_mask, segment_ids = features["input_mask"], tf.cast(features["segment_ids"], tf.int32)
        positions, mlm_ids = features["masked_lm_positions"], tf.cast(features["masked_lm_ids"], tf.int32)
        mlm_weights = tf.cast(features["masked_lm_weights"], tf.float32)

        gen_logits = self.generator_logits(masked_ids, input_mask, segment_ids, positions, training=training)
        if sampled_ids is None:
            sampled = gumbel_sample(gen_logits, self.temperature,
                                    self.sampler_seed if sample_seed is None else sample_seed)
        else:
            sampled = tf.ensure_shape(tf.cast(sampled_ids, tf.int32), positions.shape)
        original_ids = scatter_positions(masked_ids, positions, mlm_ids, mlm_weights)
        fake_ids = scatter_positions(masked_ids, positions, sampled, mlm_weights)
        return {"gen_logits": gen_logits,
                "sampled_ids": sampled,
                "fake_ids": fake_ids,
                "rtd_labels": replaced_token_labels(original_ids, fake_ids, input_mask),
                "disc_logits": self.discriminator_logits(fake_ids, input_mask, segment_ids, training=training)}

    def named_variables(self) -> NamedVariables:
        """Every weight under its Google TF1 checkpoint name (shared embeddings once, under ``electra/``)."""
        return {**prefixed("electra", self.discriminator.named_variables()),
                **prefixed("generator", self.generator.named_variables(include_embeddings=False)),
                **prefixed("generator_predictions", self.generator_head.named_variables()),
                **prefixed("discriminator_predictions", self.discriminator_head.named_variables())}

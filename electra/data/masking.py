"""Dynamic masking for replaced-token detection (fresh masks every epoch, as ELECTRA and RoBERTa do).

Per sequence: choose ``round(mask_prob × candidates)`` tokens (at least 1, at most ``max_predictions``) among
real, non-special tokens; replace ``mask_token_prob`` (85%) of them by ``[MASK]`` and keep the rest. Outputs
have fixed shapes so XLA compiles once. Randomness is stateless: the same ``seed`` gives the same masks, which
is what makes resumed runs exact.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class MaskingConfig:
    mask_prob: float = 0.15
    mask_token_prob: float = 0.85
    max_predictions: int | None = None  # default int((mask_prob + 0.005) × seq_length)

    def __post_init__(self) -> None:
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob}")
        if not 0.0 <= self.mask_token_prob <= 1.0:
            raise ValueError(f"mask_token_prob must be in [0, 1], got {self.mask_token_prob}")

    def predictions_for(self, seq_length: int) -> int:
        if self.max_predictions is not None:
            return self.max_predictions
        return max(1, int((self.mask_prob + 0.005) * seq_length))


def mask_tokens(input_ids: tf.Tensor, input_mask: tf.Tensor, seed: tf.Tensor, config: MaskingConfig,
                mask_id: int, special_ids: tuple[int, ...]) -> dict[str, tf.Tensor]:
    """``input_ids``/``input_mask`` ``[B, S]`` → masked ``input_ids [B, S]`` and ``masked_lm_positions``,
    ``masked_lm_ids`` (originals), ``masked_lm_weights`` ``[B, P]``; padding slots have position 0 and weight 0.

    ``seed``: int32/int64 ``[2]`` for ``tf.random.stateless_uniform``.
    """
    input_ids = tf.cast(input_ids, tf.int32)
    seq_length = input_ids.shape[1]
    if seq_length is None:
        raise ValueError("mask_tokens needs a static sequence length")
    predictions = config.predictions_for(seq_length)
    candidate = tf.cast(input_mask, tf.bool)
    for special in special_ids:
        candidate &= tf.not_equal(input_ids, special)
    count = tf.reduce_sum(tf.cast(candidate, tf.float32), axis=1)
    to_mask = tf.clip_by_value(tf.round(count * config.mask_prob), 1.0, float(predictions))
    to_mask = tf.minimum(to_mask, count)                                                    # [B]

    choose_seed, keep_seed = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2))
    scores = tf.random.stateless_uniform(tf.shape(input_ids), seed=choose_seed)
    scores = tf.where(candidate, scores, -1.0)
    _, order = tf.math.top_k(scores, k=predictions)                                         # [B, P]
    rank = tf.range(predictions, dtype=tf.float32)[tf.newaxis]
    weights = tf.cast(rank < to_mask[:, tf.newaxis], tf.float32)
    positions = tf.sort(tf.where(weights > 0, order, seq_length), axis=1)
    weights = tf.cast(positions < seq_length, tf.float32)
    positions = tf.where(weights > 0, positions, 0)
    originals = tf.gather(input_ids, positions, batch_dims=1) * tf.cast(weights, tf.int32)

    use_mask = tf.random.stateless_uniform(tf.shape(positions), seed=keep_seed) < config.mask_token_prob
    replace = tf.cast(use_mask, tf.int32) * tf.cast(weights, tf.int32)                       # [B, P]
    hits = tf.one_hot(positions, seq_length, dtype=tf.int32) * replace[..., tf.newaxis]    # [B, P, S]
    masked = tf.reduce_max(hits, axis=1)
    masked_ids = input_ids * (1 - masked) + mask_id * masked
    return {"input_ids": masked_ids, "masked_lm_positions": positions, "masked_lm_ids": originals,
            "masked_lm_weights": weights}

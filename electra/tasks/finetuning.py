"""The losses of the sentence and token fine-tuning tasks, as Hugging Face's ``ElectraForSequenceClassification``
/ ``ElectraForTokenClassification`` define them (``tests/training/test_step_parity.py`` holds them to transformers'
step)."""
from __future__ import annotations

import tensorflow as tf

IGNORED = -1     # the label of a position that carries none (special tokens, padding, a word's later sub-tokens)


def sequence_loss(logits: tf.Tensor, labels: tf.Tensor, regression: bool) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """``logits`` float32 ``[B, C]``; ``labels`` int ``[B]`` (a class) or float ``[B]`` (regression, ``C == 1``).
    Classification: mean softmax cross-entropy, metric ``accuracy``; regression: mean squared error, metric
    ``mse`` (the loss itself)."""
    if regression:
        error = tf.reduce_mean(tf.square(logits[:, 0] - tf.cast(labels, tf.float32)))
        return error, {"mse": error}
    labels = tf.cast(labels, tf.int32)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
    return loss, {"accuracy": tf.reduce_mean(correct)}


def token_loss(logits: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """``logits`` float32 ``[B, S, T]``; ``labels`` int ``[B, S]`` with ``IGNORED`` where a position carries no
    label. Mean cross-entropy over the labelled positions of the batch (0 when it has none), metric
    ``accuracy`` over the same positions."""
    labels = tf.cast(labels, tf.int32)
    valid = tf.not_equal(labels, IGNORED)
    weights = tf.cast(valid, tf.float32)
    count = tf.maximum(tf.reduce_sum(weights), 1.0)
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.where(valid, labels, 0), logits)
    correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
    return (tf.reduce_sum(per_token * weights) / count,
            {"accuracy": tf.reduce_sum(correct * weights) / count})

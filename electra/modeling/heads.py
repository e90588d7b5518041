"""Output heads: a classifier head (replaced-token detection per token, SQuAD v2 answerability on [CLS]),
the tied masked-LM head, the SQuAD span head, the SQuAD joint (XLNet-style) span head, and the fine-tuning heads
for sentence classification/regression and token tagging (Hugging Face's layouts and names).

Every head returns float32 logits whatever the compute policy, so losses never run in fp16/bf16.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

import keras
import tensorflow as tf

from electra.configs import ModelConfig
from electra.modeling.layers import (Dropout, Embeddings, NamedVariables, activation, dense, dense_variables,
                                     initializer, layer_norm, layer_norm_variables)


SPAN_SCOPE, ANSWER_SCOPE, JOINT_SCOPES = "qa_outputs", "answer_class", ("start_logits", "end_logits")


@dataclasses.dataclass(frozen=True)
class QAHead:
    """Which SQuAD head a model, a set of weights or an export has: the one answer every stage asks (what to build
    for a checkpoint, whether evaluation scores a trained head, what an export serves and records, how a reader
    decodes it).

    ``joint``: the joint head (weights ``start_logits/*``, ``end_logits/*``) or the plain span head
    (``qa_outputs/*``); ``answerability``: the answer class (``answer_class/*``) in either; ``beam_size``: the
    joint head's top-K (a decoding setting the weights do not hold; None for the plain head and for weights alone).
    """
    joint: bool = False
    answerability: bool = False
    beam_size: int | None = None

    @classmethod
    def of_weights(cls, names: Iterable[str]) -> "QAHead | None":
        """The head that weight names (our Google names, or their top scopes) hold; None without a SQuAD head."""
        scopes = {name.split("/", 1)[0] for name in names}
        joint = all(scope in scopes for scope in JOINT_SCOPES)
        if not joint and SPAN_SCOPE not in scopes:
            return None
        return cls(joint, ANSWER_SCOPE in scopes)

    @classmethod
    def from_record(cls, record: Mapping) -> "QAHead":
        """The head of an export's ``squad_settings.json`` ``"head"`` record."""
        return cls(bool(record["joint"]), bool(record["answerability"]), record.get("beam_size"))

    def record(self) -> dict:
        return {"joint": self.joint, "beam_size": self.beam_size if self.joint else None,
                "answerability": self.answerability}

    def __str__(self) -> str:
        kind = f"the joint head ({'/'.join(JOINT_SCOPES)})" if self.joint else f"the span head ({SPAN_SCOPE})"
        return f"{kind} {'with' if self.answerability else 'without'} an answer class"


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


class SequenceClassifierHead(keras.layers.Layer):
    """``[B, S, H]`` → the ``[CLS]`` vector → dropout → dense(H) → activation → dropout → dense(num_labels) →
    float32 logits ``[B, num_labels]`` (one column for regression).

    Hugging Face's ``ElectraClassificationHead`` (``classifier.dense``, ``classifier.out_proj``; GELU), so
    ``ElectraForSequenceClassification`` weights load and export one-to-one. ``activation_name="tanh"`` gives TF
    Model Garden's ``ClassificationHead`` (a tanh dense on ``[CLS]``) with the same two layers. (google-research/
    electra puts one dense layer on the dropped-out ``[CLS]`` vector, without the inner dense.)
    """

    def __init__(self, config: ModelConfig, num_labels: int, activation_name: str = "gelu", **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.num_labels = config.hidden_size, num_labels
        self.dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)
        self.dense = dense(config.hidden_size, config, "dense", self.dtype_policy, activation_name)
        self.out_proj = dense(num_labels, config, "out_proj", self.dtype_policy)

    def build(self, input_shape=None):
        self.dense.build((None, self.hidden_size))
        self.out_proj.build((None, self.hidden_size))
        self.built = True

    def call(self, hidden, training=False):
        x = self.dropout(hidden[:, 0], training=training)
        x = self.dropout(self.dense(x), training=training)
        return tf.cast(self.out_proj(x), tf.float32)

    def named_variables(self) -> NamedVariables:
        return {**dense_variables("dense", self.dense), **dense_variables("out_proj", self.out_proj)}


class TokenClassifierHead(keras.layers.Layer):
    """``[B, S, H]`` → dropout → dense(num_labels) → float32 logits ``[B, S, num_labels]``: Hugging Face's
    ``ElectraForTokenClassification`` head (``classifier``) and google-research/electra's tagging head."""

    def __init__(self, config: ModelConfig, num_labels: int, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.num_labels = config.hidden_size, num_labels
        self.dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)
        self.dense = dense(num_labels, config, "classifier", self.dtype_policy)

    def build(self, input_shape=None):
        self.dense.build((None, None, self.hidden_size))
        self.built = True

    def call(self, hidden, training=False):
        return tf.cast(self.dense(self.dropout(hidden, training=training)), tf.float32)

    def named_variables(self) -> NamedVariables:
        return {"kernel": self.dense.kernel, "bias": self.dense.bias}


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
        leading = tf.shape(hidden)[:-1]
        logits = tf.matmul(tf.reshape(hidden, [-1, self.config.embedding_size]), table, transpose_b=True)
        logits = tf.reshape(logits, tf.concat([leading, [self.config.embedding_vocab_size]], axis=0))
        vocab, bias = self.config.vocab_size, self.output_bias
        if vocab != self.config.embedding_vocab_size:      # (a slice of the whole logits costs a copy each way)
            logits, bias = logits[..., :vocab], bias[:vocab]
        return tf.cast(logits, tf.float32) + tf.cast(bias, tf.float32)

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


MASKED_LOGIT = -1e30   # float32 logit of a position that cannot start or end an answer (NVIDIA's p_mask value)


def answer_positions(input_mask: tf.Tensor, segment_ids: tf.Tensor) -> tf.Tensor:
    """``[B, S]`` bool: the positions that may start or end an answer.

    Context tokens (``segment_ids`` 1) except the ``[SEP]`` that closes the context (the last position of
    ``input_mask``), and ``[CLS]`` (position 0), where v2 "no answer" and the v1.1 windows without the answer point.
    Question tokens, the first ``[SEP]`` and padding are excluded. This is NVIDIA's ``p_mask`` (``1 - token_type``,
    ``[SEP]`` masked, ``[CLS]`` kept), derived here from the inputs every caller already has, so serving needs no
    extra input."""
    mask = tf.cast(input_mask, tf.int32)
    context = tf.logical_and(tf.cast(segment_ids, tf.int32) > 0, mask > 0)
    next_valid = tf.concat([mask[:, 1:], tf.zeros_like(mask[:, :1])], axis=1) > 0   # the closing [SEP] has none
    first = tf.range(tf.shape(mask)[1])[tf.newaxis, :] == 0
    return tf.logical_or(tf.logical_and(context, next_valid), first)


def mask_logits(logits: tf.Tensor, allowed: tf.Tensor) -> tf.Tensor:
    """float32 ``logits`` with the positions that are not ``allowed`` set to ``MASKED_LOGIT``."""
    logits = tf.cast(logits, tf.float32)
    return tf.where(allowed, logits, tf.constant(MASKED_LOGIT, tf.float32))


class JointSpanHead(keras.layers.Layer):
    """The joint (XLNet-style) SQuAD head of NVIDIA's TF2 ELECTRA and google-research's ``joint_prediction``.

    * start: ``dense(1)`` over ``[B, S, H]`` → start logits ``[B, S]``.
    * end, given a start state ``s`` (``[B, H]`` or ``[B, K, H]``): ``dense_0(H)`` over ``concat(hidden, s)`` →
      tanh → LayerNorm → ``dense_1(1)`` → end logits ``[B, S]`` (``[B, K, S]``).
    * answer class (``answerability``): ``dense_0(H)`` over ``concat(s, hidden[:, 0])`` → tanh → ``dense_1(1)``
      without bias → one logit per window ``[B]``.

    All logits are float32, with the positions that cannot start/end an answer (``answer_positions``) at
    ``MASKED_LOGIT``. ``dense_0`` of the end pooler is one ``[2H, H]`` kernel (NVIDIA's shape); it is applied as
    ``hidden @ W[:H] + s @ W[H:] + b``, the same sum as the dense over the concatenation, so at inference the
    hidden part is computed once for all ``K`` starts.

    Variable names (``named_variables()``), one-to-one with NVIDIA's Keras scopes (theirs in brackets)::

        start_logits/dense/{kernel,bias}       [start_logits/start_logit_pooler_dense]
        end_logits/dense_0/{kernel,bias}       [end_logits/end_logit_pooler_dense_0]
        end_logits/LayerNorm/{gamma,beta}      [end_logits/end_logit_pooler_LayerNorm]
        end_logits/dense_1/{kernel,bias}       [end_logits/end_logit_pooler_dense_1]
        answer_class/dense_0/{kernel,bias}     [answer_class/pooler_answer_class_dense_0]
        answer_class/dense_1/kernel            [answer_class/pooler_answer_class_dense_1]

    Our answer-class logit is "this window holds an answer" (trained on ``1 - is_impossible``, as the plain head's
    ``answerable_logits``); NVIDIA's ``cls_logits`` is trained on ``is_impossible``, so importing their weights
    negates ``answer_class/dense_1/kernel``.
    """

    def __init__(self, config: ModelConfig, answerability: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size, self.answerability = config.hidden_size, answerability
        dt, h = self.dtype_policy, config.hidden_size
        self.start_dense = dense(1, config, "start_logits_dense", dt)
        self.end_dense_0 = dense(h, config, "end_logits_dense_0", dt)
        self.end_layer_norm = layer_norm(config, "end_logits_LayerNorm", dt)
        self.end_dense_1 = dense(1, config, "end_logits_dense_1", dt)
        self.answer_dense_0 = self.answer_dense_1 = None
        if answerability:
            self.answer_dense_0 = dense(h, config, "answer_class_dense_0", dt)
            self.answer_dense_1 = keras.layers.Dense(1, use_bias=False, kernel_initializer=initializer(config),
                                                     name="answer_class_dense_1", dtype=dt)

    def build(self, input_shape=None):
        h = self.hidden_size
        self.start_dense.build((None, None, h))
        self.end_dense_0.build((None, None, 2 * h))
        self.end_layer_norm.build((None, None, h))
        self.end_dense_1.build((None, None, h))
        if self.answerability:
            self.answer_dense_0.build((None, 2 * h))
            self.answer_dense_1.build((None, h))
        self.built = True

    # --- the three poolers ------------------------------------------------------------------------------------
    def start_logits(self, hidden, allowed):
        """``[B, S, H]`` → masked float32 ``[B, S]``."""
        return mask_logits(tf.squeeze(self.start_dense(hidden), -1), allowed)

    def end_logits(self, hidden, start_states, allowed):
        """``hidden`` ``[B, S, H]`` and start states ``[B, H]`` → ``[B, S]``, or ``[B, K, H]`` → ``[B, K, S]``;
        masked float32."""
        dtype, h = self.compute_dtype, self.hidden_size
        kernel = tf.cast(self.end_dense_0.kernel, dtype)
        bias = tf.cast(self.end_dense_0.bias, dtype)
        from_hidden = tf.einsum("bsh,hd->bsd", hidden, kernel[:h]) + bias         # [B, S, H]
        from_start = tf.einsum("b...h,hd->b...d", tf.cast(start_states, dtype), kernel[h:])
        if start_states.shape.rank == 3:                                          # [B, K, H]: one row per start
            x = from_hidden[:, tf.newaxis] + from_start[:, :, tf.newaxis]        # [B, K, S, H]
            allowed = allowed[:, tf.newaxis]
        else:
            x = from_hidden + from_start[:, tf.newaxis]                           # [B, S, H]
        x = self.end_layer_norm(tf.tanh(x))
        return mask_logits(tf.squeeze(self.end_dense_1(x), -1), allowed)

    def answer_logits(self, hidden, start_states):
        """``concat(start state [B, H], [CLS] state)`` → float32 ``[B]``."""
        x = tf.concat([tf.cast(start_states, self.compute_dtype), hidden[:, 0]], axis=-1)
        x = tf.tanh(self.answer_dense_0(x))
        return tf.cast(tf.squeeze(self.answer_dense_1(x), -1), tf.float32)

    # --- training and inference -------------------------------------------------------------------------------
    def teacher_forced(self, hidden, allowed, start_positions) -> dict[str, tf.Tensor]:
        """Training: the end logits (and answer class) given the gold start token's hidden state.
        ``start_logits`` and ``end_logits`` ``[B, S]``, ``answerable_logits`` ``[B]``."""
        start_states = tf.gather(hidden, tf.cast(start_positions, tf.int32), axis=1, batch_dims=1)   # [B, H]
        outputs = {"start_logits": self.start_logits(hidden, allowed),
                   "end_logits": self.end_logits(hidden, start_states, allowed)}
        if self.answerability:
            outputs["answerable_logits"] = self.answer_logits(hidden, start_states)
        return outputs

    def beam(self, hidden, allowed, beam_size: int) -> dict[str, tf.Tensor]:
        """Inference: the top ``K`` starts by log-probability, and for each the top ``K`` ends given it.

        ``start_top_log_probs`` ``[B, K]``, ``start_top_index`` ``[B, K]`` int32, ``end_top_log_probs`` and
        ``end_top_index`` ``[B, K, K]`` (row ``k``: the ends given start ``k``), ``start_logits`` ``[B, S]``,
        ``end_logits`` ``[B, S]`` (given the top start), and ``answerable_logits`` ``[B]`` with the start state the
        softmax(start)-weighted mean of the hidden states."""
        start_logits = self.start_logits(hidden, allowed)
        length = hidden.shape[1]
        k = beam_size if length is None else min(beam_size, length)
        start_top_log_probs, start_top_index = tf.math.top_k(tf.nn.log_softmax(start_logits, -1), k=k)
        start_states = tf.gather(hidden, start_top_index, axis=1, batch_dims=1)            # [B, K, H]
        end_logits = self.end_logits(hidden, start_states, allowed)                        # [B, K, S]
        end_top_log_probs, end_top_index = tf.math.top_k(tf.nn.log_softmax(end_logits, -1), k=k)
        outputs = {"start_logits": start_logits, "end_logits": end_logits[:, 0],
                   "start_top_log_probs": start_top_log_probs, "start_top_index": start_top_index,
                   "end_top_log_probs": end_top_log_probs, "end_top_index": end_top_index}
        if self.answerability:
            weights = tf.cast(tf.nn.softmax(start_logits, -1), self.compute_dtype)
            expected_start = tf.einsum("bsh,bs->bh", hidden, weights)
            outputs["answerable_logits"] = self.answer_logits(hidden, expected_start)
        return outputs

    def named_variables(self) -> NamedVariables:
        names = {**dense_variables("start_logits/dense", self.start_dense),
                 **dense_variables("end_logits/dense_0", self.end_dense_0),
                 **layer_norm_variables("end_logits/LayerNorm", self.end_layer_norm),
                 **dense_variables("end_logits/dense_1", self.end_dense_1)}
        if self.answerability:
            names.update(dense_variables("answer_class/dense_0", self.answer_dense_0))
            names["answer_class/dense_1/kernel"] = self.answer_dense_1.kernel
        return names


__all__ = ["ClassifierHead", "DiscriminatorHead", "GeneratorHead", "JointSpanHead", "MASKED_LOGIT", "SpanHead",
           "activation", "answer_positions", "mask_logits"]

"""Discriminator-only models: the RTD discriminator on its own, the SQuAD question-answering model, and the
sentence classification/regression and token tagging models."""
from __future__ import annotations

from typing import Mapping

import keras
import tensorflow as tf

from electra.configs import ModelConfig
from electra.modeling.heads import (ClassifierHead, JointSpanHead, QAHead, SequenceClassifierHead, SpanHead,
                                    TokenClassifierHead, answer_positions)
from electra.modeling.layers import Encoder, NamedVariables, prefixed


class ElectraDiscriminator(keras.Model):
    """The pretrained discriminator as a standalone model: ids ``[B, S]`` → replaced-token logits ``[B, S]``."""

    optional_scopes = ("discriminator_predictions",)  # absent from BERT / ElectraModel files

    def __init__(self, config: ModelConfig, **kwargs):
        kwargs.setdefault("name", "electra_discriminator")
        super().__init__(**kwargs)
        self.config = config
        self.encoder = Encoder(config, config.discriminator, name="electra", dtype=self.dtype_policy)
        self.head = ClassifierHead(config, name="discriminator_predictions", dtype=self.dtype_policy)
        self.encoder.build()
        self.head.build()
        self.built = True

    def call(self, features: Mapping[str, tf.Tensor], training=False) -> tf.Tensor:
        hidden = self.encoder(features["input_ids"], features["input_mask"], features["segment_ids"],
                              training=training)
        return self.head(hidden)

    def named_variables(self) -> NamedVariables:
        return {**prefixed("electra", self.encoder.named_variables()),
                **prefixed("discriminator_predictions", self.head.named_variables())}


class ElectraForQuestionAnswering(keras.Model):
    """Encoder + a SQuAD head: the plain span head (``joint=False``) or the joint head (``joint=True``).

    ``ElectraForQuestionAnswering(config, answerability=False, joint=False, beam_size=5)``. ``features``: a dict
    with ``input_ids``, ``input_mask``, ``segment_ids`` int32 ``[B, S]`` (other keys are ignored, except
    ``start_positions`` for the joint head). Every output is float32 whatever the dtype policy, except the int32
    indices.

    **Plain head** (``joint=False``, what BERT / Hugging Face QA checkpoints hold; weights ``qa_outputs/*``):
    ``start_logits``, ``end_logits`` ``[B, S]`` (unmasked), and with ``answerability`` ``answerable_logits``
    ``[B]`` (a classifier on ``[CLS]``, weights ``answer_class/dense``, ``answer_class/dense_1``). The same
    outputs in training and inference. Decode with ``electra.squad.postprocess.postprocess`` (passing
    ``answerable_logits`` makes it enter the v2 no-answer decision, as google-research's
    ``answerable_classifier``).

    **Joint head** (``joint=True``, NVIDIA's TF2 ELECTRA and google-research's ``joint_prediction``; see
    ``electra.modeling.heads.JointSpanHead`` for the layers and weight names). Start and end logits are masked
    (``MASKED_LOGIT``) outside the context tokens and ``[CLS]``; ``answerability`` adds the answer-class pooler
    (SQuAD v2). Two modes, chosen by whether ``features`` holds ``start_positions`` (int ``[B]``):

    * with ``start_positions`` (training; the loss): ``start_logits`` ``[B, S]``, ``end_logits`` ``[B, S]`` given
      the gold start token's hidden state, and with ``answerability`` ``answerable_logits`` ``[B]`` (start state:
      the gold start's). Loss: ``(CE(start_logits, start_positions) + CE(end_logits, end_positions)) / 2 +
      w × BCE(answerable_logits, 1 - is_impossible)`` (w = 0.5 in NVIDIA's recipe).
    * without (inference, ``K = min(beam_size, S)``): ``start_top_log_probs`` ``[B, K]`` and ``start_top_index``
      ``[B, K]`` int32 (top starts by log-softmax), ``end_top_log_probs`` and ``end_top_index`` ``[B, K, K]``
      (row ``k``: the top ends given start ``k``), ``answerable_logits`` ``[B]`` (start state: the
      softmax(start)-weighted mean of the hidden states), and ``start_logits`` / ``end_logits`` ``[B, S]`` with
      the end logits given the top-1 start (what the two-output serving contract carries). Decode with
      ``electra.squad.beam.beam_postprocess`` (or ``electra.squad.postprocess.decode``, which picks the decoder
      from the outputs).

    ``answerable_logits`` is "this window holds an answer" in both heads (label ``1 - is_impossible``).
    """

    optional_scopes = ("qa_outputs", "answer_class", "start_logits", "end_logits")  # a pretrained checkpoint lacks them

    def __init__(self, config: ModelConfig, answerability: bool = False, joint: bool = False, beam_size: int = 5,
                 **kwargs):
        kwargs.setdefault("name", "electra_qa")
        super().__init__(**kwargs)
        if not isinstance(beam_size, int) or isinstance(beam_size, bool) or beam_size < 1:
            raise ValueError(f"beam_size must be a positive int, got {beam_size!r}")
        self.config = config
        self.answerability, self.joint, self.beam_size = bool(answerability), bool(joint), beam_size
        self.encoder = Encoder(config, config.discriminator, name="electra", dtype=self.dtype_policy)
        self.span_head = self.answer_head = self.joint_head = None
        if joint:
            self.joint_head = JointSpanHead(config, answerability=answerability, name="joint_head",
                                            dtype=self.dtype_policy)
        else:
            self.span_head = SpanHead(config, name="span_head", dtype=self.dtype_policy)
            if answerability:
                self.answer_head = ClassifierHead(config, pool="cls", name="answer_class", dtype=self.dtype_policy)
        for layer in (self.encoder, self.span_head, self.answer_head, self.joint_head):
            if layer is not None:
                layer.build()
        self.built = True

    @property
    def qa_head(self) -> QAHead:
        return QAHead(self.joint, self.answerability, self.beam_size if self.joint else None)

    def call(self, features: Mapping[str, tf.Tensor], training=False) -> dict[str, tf.Tensor]:
        hidden = self.encoder(features["input_ids"], features["input_mask"], features["segment_ids"],
                              training=training)
        if self.joint_head is not None:
            allowed = answer_positions(features["input_mask"], features["segment_ids"])
            if "start_positions" in features:
                return self.joint_head.teacher_forced(hidden, allowed, features["start_positions"])
            return self.joint_head.beam(hidden, allowed, self.beam_size)
        start, end = self.span_head(hidden)
        outputs = {"start_logits": start, "end_logits": end}
        if self.answer_head is not None:
            outputs["answerable_logits"] = self.answer_head(hidden)
        return outputs

    def named_variables(self) -> NamedVariables:
        names = prefixed("electra", self.encoder.named_variables())
        if self.joint_head is not None:
            names.update(self.joint_head.named_variables())
            return names
        names.update(self.span_head.named_variables())
        if self.answer_head is not None:
            names.update(prefixed("answer_class", self.answer_head.named_variables()))
        return names


class _ElectraWithClassifier(keras.Model):
    """Encoder + a ``classifier`` head whose ``logits`` are the one output (``[B, num_labels]`` per sequence or
    ``[B, S, num_labels]`` per token). Weights: ``electra/...`` and ``classifier/...``, Hugging Face's
    ``electra.*`` and ``classifier.*``."""

    optional_scopes = ("classifier",)    # a pretrained or other-task checkpoint lacks it

    def __init__(self, config: ModelConfig, num_labels: int, head_factory, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
        self.config, self.num_labels = config, num_labels
        self.encoder = Encoder(config, config.discriminator, name="electra", dtype=self.dtype_policy)
        self.classifier = head_factory(name="classifier", dtype=self.dtype_policy)
        self.encoder.build()
        self.classifier.build()
        self.built = True

    def call(self, features: Mapping[str, tf.Tensor], training=False) -> dict[str, tf.Tensor]:
        hidden = self.encoder(features["input_ids"], features["input_mask"], features["segment_ids"],
                              training=training)
        return {"logits": self.classifier(hidden, training=training)}

    def named_variables(self) -> NamedVariables:
        return {**prefixed("electra", self.encoder.named_variables()),
                **prefixed("classifier", self.classifier.named_variables())}


class ElectraForSequenceClassification(_ElectraWithClassifier):
    """Sentence (pair) classification, or regression with ``num_labels=1``: ``features`` (``input_ids``,
    ``input_mask``, ``segment_ids`` int32 ``[B, S]``) → ``{"logits": float32 [B, num_labels]}``.
    ``pooler_activation``: ``gelu`` (Hugging Face) or ``tanh`` (TF Model Garden)."""

    def __init__(self, config: ModelConfig, num_labels: int, pooler_activation: str = "gelu", **kwargs):
        kwargs.setdefault("name", "electra_sequence_classification")
        self.pooler_activation = pooler_activation
        super().__init__(config, num_labels, lambda **kw: SequenceClassifierHead(
            config, num_labels, pooler_activation, **kw), **kwargs)


class ElectraForTokenClassification(_ElectraWithClassifier):
    """Token tagging (NER, POS): ``features`` → ``{"logits": float32 [B, S, num_labels]}``."""

    def __init__(self, config: ModelConfig, num_labels: int, **kwargs):
        kwargs.setdefault("name", "electra_token_classification")
        super().__init__(config, num_labels, lambda **kw: TokenClassifierHead(config, num_labels, **kw), **kwargs)

"""Discriminator-only models: the RTD discriminator on its own, and the SQuAD question-answering model."""
from __future__ import annotations

from typing import Mapping

import keras
import tensorflow as tf

from electra.configs import ModelConfig
from electra.modeling.heads import ClassifierHead, SpanHead
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
    """Encoder + span head (+ SQuAD v2 answerability head).

    ``call`` returns ``start_logits`` and ``end_logits`` ``[B, S]`` and, with ``answerability``,
    ``answerable_logits`` ``[B]``; all float32.
    """

    optional_scopes = ("qa_outputs", "answer_class")  # new heads: a pretrained checkpoint lacks them

    def __init__(self, config: ModelConfig, answerability: bool = False, **kwargs):
        kwargs.setdefault("name", "electra_qa")
        super().__init__(**kwargs)
        self.config = config
        self.encoder = Encoder(config, config.discriminator, name="electra", dtype=self.dtype_policy)
        self.span_head = SpanHead(config, name="span_head", dtype=self.dtype_policy)
        self.answer_head = ClassifierHead(config, pool="cls", name="answer_class", dtype=self.dtype_policy) \
            if answerability else None
        for layer in (self.encoder, self.span_head, self.answer_head):
            if layer is not None:
                layer.build()
        self.built = True

    def call(self, features: Mapping[str, tf.Tensor], training=False) -> dict[str, tf.Tensor]:
        hidden = self.encoder(features["input_ids"], features["input_mask"], features["segment_ids"],
                              training=training)
        start, end = self.span_head(hidden)
        outputs = {"start_logits": start, "end_logits": end}
        if self.answer_head is not None:
            outputs["answerable_logits"] = self.answer_head(hidden)
        return outputs

    def named_variables(self) -> NamedVariables:
        names = {**prefixed("electra", self.encoder.named_variables()), **self.span_head.named_variables()}
        if self.answer_head is not None:
            names.update(prefixed("answer_class", self.answer_head.named_variables()))
        return names

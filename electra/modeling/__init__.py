"""ELECTRA networks in Keras 3 (TensorFlow backend): encoder, heads, pretraining and fine-tuning models."""
from electra.modeling.discriminative import (ElectraDiscriminator, ElectraForQuestionAnswering,
                                            ElectraForSequenceClassification, ElectraForTokenClassification)
from electra.modeling.layers import Embeddings, Encoder, TransformerBlock
from electra.modeling.pretraining import ElectraPretrainingModel

__all__ = ["ElectraDiscriminator", "ElectraForQuestionAnswering", "ElectraForSequenceClassification",
           "ElectraForTokenClassification", "ElectraPretrainingModel", "Embeddings", "Encoder",
           "TransformerBlock"]

"""Analytic model FLOPs of one pretraining step (multiply-add = 2 FLOPs; backward = 2 × forward)."""
from __future__ import annotations

from electra.configs import EncoderConfig, ModelConfig


def encoder_forward_flops(encoder: EncoderConfig, embedding_size: int, tokens: int, seq_length: int) -> float:
    h, f = encoder.hidden_size, encoder.intermediate_size
    per_token = encoder.num_hidden_layers * (2 * (4 * h * h + 2 * h * f) + 4 * seq_length * h)
    if embedding_size != h:
        per_token += 2 * embedding_size * h
    return float(tokens * per_token)


def pretraining_step_flops(config: ModelConfig, batch: int, seq_length: int, predictions: int) -> float:
    """Generator (encoder + MLM head at ``predictions`` positions) + discriminator (encoder + RTD head), × 3."""
    tokens = batch * seq_length
    gen = encoder_forward_flops(config.generator, config.embedding_size, tokens, seq_length)
    gen += batch * predictions * 2 * (config.generator_hidden_size * config.embedding_size
                                      + config.embedding_size * config.embedding_vocab_size)
    disc = encoder_forward_flops(config.discriminator, config.embedding_size, tokens, seq_length)
    disc += tokens * 2 * (config.hidden_size * config.hidden_size + config.hidden_size)
    return 3.0 * (gen + disc)

"""fp32 / mixed_float16 / mixed_bfloat16 and eager / XLA give the same numbers (within each format's precision)."""
import numpy as np
import pytest
import tensorflow as tf

from electra.modeling import ElectraForQuestionAnswering, ElectraPretrainingModel
from electra.tasks.pretraining import rtd_objective
from tests.conftest import masked_batch, tiny_config


def _copy_weights(source, target):
    for name, variable in source.named_variables().items():
        target.named_variables()[name].assign(variable)


@pytest.mark.parametrize("policy,atol", [("mixed_float16", 2e-2), ("mixed_bfloat16", 1.5e-1)])
def test_mixed_precision_matches_fp32(policy, atol):
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    reference = ElectraPretrainingModel(config, seed=0)
    model = ElectraPretrainingModel(config, seed=0, dtype=policy)
    _copy_weights(reference, model)
    assert model.discriminator.blocks[0].query.compute_dtype == policy.split("_")[1]
    assert model.discriminator.embeddings.word_embeddings.dtype == "float32"  # fp32 master weights
    batch = masked_batch(config)
    args = (batch["input_ids"], batch["input_mask"], batch["segment_ids"])
    ours, theirs = model.discriminator_logits(*args), reference.discriminator_logits(*args)
    assert ours.dtype == tf.float32
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=atol)
    gen = model.generator_logits(*args, positions=batch["masked_lm_positions"])
    assert gen.dtype == tf.float32
    np.testing.assert_allclose(gen.numpy(), reference.generator_logits(
        *args, positions=batch["masked_lm_positions"]).numpy(), atol=atol * 2)
    loss, metrics = rtd_objective(model(batch, training=True), batch, 1.0, 50.0)
    for value in (loss, metrics["mlm_loss"], metrics["disc_loss"]):
        assert value.dtype == tf.float32 and np.isfinite(value.numpy())


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_training_step_under_each_policy_has_finite_gradients(policy):
    config = tiny_config()
    model = ElectraPretrainingModel(config, seed=0, dtype=policy)
    batch = masked_batch(config)
    with tf.GradientTape() as tape:
        loss, _ = rtd_objective(model(batch, training=True), batch, 1.0, 50.0)
        scaled = loss * 128.0 if policy == "mixed_float16" else loss
    grads = tape.gradient(scaled, model.trainable_variables)
    assert all(g is not None and g.dtype == tf.float32 for g in grads)
    assert all(np.isfinite(tf.convert_to_tensor(g).numpy()).all() for g in grads)


def test_xla_forward_equals_eager():
    config = tiny_config()
    model = ElectraPretrainingModel(config, seed=0)
    batch = {k: tf.constant(v) for k, v in masked_batch(config).items()}
    args = (batch["input_ids"], batch["input_mask"], batch["segment_ids"])
    eager = model.discriminator_logits(*args)
    compiled = tf.function(lambda *a: model.discriminator_logits(*a), jit_compile=True)(*args)
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), atol=1e-5)
    gen_eager = model.generator_logits(*args, positions=batch["masked_lm_positions"])
    gen_xla = tf.function(lambda *a: model.generator_logits(*a, positions=batch["masked_lm_positions"]),
                          jit_compile=True)(*args)
    np.testing.assert_allclose(gen_xla.numpy(), gen_eager.numpy(), atol=1e-5)


def test_xla_training_step_runs_and_matches_eager_losses():
    config = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = ElectraPretrainingModel(config, seed=0)
    batch = {k: tf.constant(v) for k, v in masked_batch(config).items()}
    # Sampling is random, so compare the deterministic MLM loss (it does not depend on the sample).
    def losses(b):
        return rtd_objective(model(b, training=True), b, 1.0, 50.0)
    _, eager = losses(batch)
    loss, compiled = tf.function(losses, jit_compile=True)(batch)
    np.testing.assert_allclose(compiled["mlm_loss"].numpy(), eager["mlm_loss"].numpy(), rtol=1e-5)
    assert np.isfinite(loss.numpy())


def test_question_answering_model_outputs():
    config = tiny_config(pad_vocab_to_multiple_of=8)
    model = ElectraForQuestionAnswering(config, answerability=True, dtype="mixed_bfloat16")
    batch = masked_batch(config)
    out = model(batch)
    assert set(out) == {"start_logits", "end_logits", "answerable_logits"}
    assert out["start_logits"].shape == (4, 24) and out["answerable_logits"].shape == (4,)
    assert all(v.dtype == tf.float32 for v in out.values())
    plain = ElectraForQuestionAnswering(config)
    assert set(plain(batch)) == {"start_logits", "end_logits"}
    assert not any(n.startswith("answer_class") for n in plain.named_variables())


def test_padded_vocab_gives_logits_for_the_real_vocab_only():
    config = tiny_config(vocab_size=61, pad_vocab_to_multiple_of=8)
    model = ElectraPretrainingModel(config)
    assert model.discriminator.embeddings.word_embeddings.shape == (64, 16)
    batch = masked_batch(config)
    logits = model.generator_logits(batch["input_ids"], batch["input_mask"], batch["segment_ids"])
    assert logits.shape[-1] == 61

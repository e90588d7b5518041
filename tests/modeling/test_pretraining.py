import keras
import numpy as np
import pytest
import tensorflow as tf

from electra.modeling import ElectraPretrainingModel
from electra.modeling.pretraining import gather_positions, gumbel_sample, replaced_token_labels, scatter_positions
from electra.tasks.pretraining import rtd_objective
from tests.conftest import masked_batch, tiny_config


def test_sample_equal_to_original_is_labelled_real():
    original = tf.constant([[1, 7, 8, 9, 2, 0]])
    fake = tf.constant([[1, 7, 5, 9, 2, 0]])  # position 1 resampled to itself, position 2 replaced
    labels = replaced_token_labels(original, fake, tf.constant([[1, 1, 1, 1, 1, 0]]))
    np.testing.assert_array_equal(labels.numpy(), [[0, 0, 1, 0, 0, 0]])


def test_scatter_never_writes_padding_entries():
    ids = tf.constant([[1, 3, 3, 2]])
    out = scatter_positions(ids, tf.constant([[1, 2, 0]]), tf.constant([[7, 8, 9]]), tf.constant([[1.0, 1.0, 0.0]]))
    np.testing.assert_array_equal(out.numpy(), [[1, 7, 8, 2]])


def test_gumbel_sampling_has_no_gradient_and_follows_the_distribution():
    logits = tf.Variable([[0.0, np.log(3.0)]])
    seed = keras.random.SeedGenerator(0)
    with tf.GradientTape() as tape:
        sample = gumbel_sample(tf.tile(logits, [4000, 1]), 1.0, seed)
        proxy = tf.reduce_sum(tf.cast(sample, tf.float32))
    assert tape.gradient(proxy, logits) is None
    np.testing.assert_allclose(sample.numpy().mean(), 0.75, atol=0.03)  # p(1) = 3 / (1 + 3)
    cold = gumbel_sample(tf.tile(logits, [4000, 1]), 0.05, seed)
    assert cold.numpy().mean() > 0.99  # low temperature → argmax


def test_generator_logits_only_at_masked_positions_equal_full_gathered():
    config = tiny_config()
    model = ElectraPretrainingModel(config, seed=0)
    batch = masked_batch(config)
    args = (batch["input_ids"], batch["input_mask"], batch["segment_ids"])
    full = model.generator_logits(*args)
    masked_only = model.generator_logits(*args, positions=batch["masked_lm_positions"])
    assert full.shape == (4, 24, config.vocab_size) and masked_only.shape == (4, 5, config.vocab_size)
    np.testing.assert_allclose(masked_only.numpy(), gather_positions(full, batch["masked_lm_positions"]).numpy(),
                               atol=1e-5)


def test_forward_reconstructs_originals_and_labels_replacements():
    config = tiny_config()
    model = ElectraPretrainingModel(config, seed=0)
    batch = masked_batch(config)
    out = model(batch, training=False)
    fake, labels = out["fake_ids"].numpy(), out["rtd_labels"].numpy()
    original = batch["original_ids"]
    np.testing.assert_array_equal(labels, (fake != original) * batch["input_mask"])
    # only masked positions can differ from the original text
    unmasked = np.ones_like(original, bool)
    for row in range(len(original)):
        unmasked[row, batch["masked_lm_positions"][row][batch["masked_lm_weights"][row] > 0]] = False
    np.testing.assert_array_equal(fake[unmasked], original[unmasked])
    weights = batch["masked_lm_weights"] > 0
    positions = batch["masked_lm_positions"]
    np.testing.assert_array_equal(np.take_along_axis(fake, positions, 1)[weights], out["sampled_ids"].numpy()[weights])
    assert "loss" not in out    # models return outputs; the objective is the task's
    loss, metrics = rtd_objective(out, batch, 1.0, 50.0)
    np.testing.assert_allclose(loss.numpy(), (metrics["mlm_loss"] + 50.0 * metrics["disc_loss"]).numpy(), rtol=1e-6)
    for key in ("mlm_loss", "disc_loss", "gen_accuracy", "disc_accuracy", "disc_precision", "disc_recall"):
        assert metrics[key].dtype == tf.float32 and metrics[key].shape == ()


def test_generator_certain_of_the_original_makes_every_label_real():
    config = tiny_config()
    model = ElectraPretrainingModel(config, seed=0)
    batch = masked_batch(config)
    # A huge bias on one token makes the generator sample it everywhere; put that token at every masked slot.
    token = 11
    bias = np.zeros(config.embedding_vocab_size, np.float32)
    bias[token] = 1e4
    model.generator_head.output_bias.assign(bias)
    original = batch["original_ids"].copy()
    weights = batch["masked_lm_weights"] > 0
    for row in range(len(original)):
        original[row, batch["masked_lm_positions"][row][weights[row]]] = token
    batch["masked_lm_ids"] = np.where(weights, token, 0).astype(np.int32)
    out = model(batch)
    assert (out["sampled_ids"].numpy()[weights] == token).all()
    assert out["rtd_labels"].numpy().sum() == 0
    _, metrics = rtd_objective(out, batch, 1.0, 50.0)
    assert metrics["gen_accuracy"].numpy() == pytest.approx(1.0, abs=1e-5)


def test_missing_feature_is_named():
    config = tiny_config()
    batch = masked_batch(config)
    del batch["masked_lm_weights"]
    with pytest.raises(KeyError, match="masked_lm_weights"):
        ElectraPretrainingModel(config)(batch)


def test_weights_are_shared_not_duplicated():
    model = ElectraPretrainingModel(tiny_config())
    ids = [id(v) for v in model.trainable_variables]
    assert len(ids) == len(set(ids)) == len(model.named_variables())
    assert model.generator.embeddings is model.discriminator.embeddings


@pytest.mark.slow
def test_fifty_steps_on_a_fixed_batch_halve_the_loss():
    keras.utils.set_random_seed(1)
    config = tiny_config()
    model = ElectraPretrainingModel(config, seed=1)
    batch = {k: tf.constant(v) for k, v in masked_batch(config, batch=8, seq=32, predictions=5, seed=3).items()}
    optimizer = keras.optimizers.AdamW(learning_rate=5e-3, weight_decay=0.01)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss, _ = rtd_objective(model(batch, training=True), batch, 1.0, 50.0)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses = [float(step()) for _ in range(50)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses

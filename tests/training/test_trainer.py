"""The optimizer step: accumulation, precision, loss scaling, XLA, LAMB and the schedule."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from electra.modeling import ElectraPretrainingModel
from electra.tasks.pretraining import METRICS, rtd_objective
from electra.training.optimization import Lamb, WarmupPolyDecay, make_optimizer, no_decay_variables
from electra.training.trainer import Trainer
from tests.conftest import masked_batch, tiny_config
from tests.training.hvd_equivalence import global_batch


def _trainer(config, accumulation=1, xla=False, policy="float32", optimizer="lamb", temperature=1e-4, seed=0):
    keras.utils.set_random_seed(seed)
    model = ElectraPretrainingModel(config, temperature=temperature, seed=seed, dtype=policy)
    opt = make_optimizer(optimizer, WarmupPolyDecay(1e-2, 10, 0), model.named_variables(),
                         loss_scale=policy == "mixed_float16")
    return model, Trainer(model, opt, pretraining_loss, METRICS, accumulation_steps=accumulation, xla=xla)


def pretraining_loss(model, batch):
    return rtd_objective(model(batch, training=True), batch, 1.0, 50.0)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["lamb", "adamw"])
def test_accumulation_equals_the_larger_batch(optimizer):
    config, batch = global_batch()
    big_model, big = _trainer(config, optimizer=optimizer)
    small_model, small = _trainer(config, accumulation=2, optimizer=optimizer)
    halves = [{k: v[:2] for k, v in batch.items()}, {k: v[2:] for k, v in batch.items()}]
    for _ in range(3):
        a, b = big.train_step([batch]), small.train_step(halves)
        np.testing.assert_allclose(b["loss"], a["loss"], atol=1e-5)
        np.testing.assert_allclose(b["grad_norm"], a["grad_norm"], rtol=1e-5)
    for x, y in zip(big_model.trainable_variables, small_model.trainable_variables):
        np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-5)


@pytest.mark.slow
def test_xla_and_eager_take_the_same_steps():
    config, batch = global_batch()
    _, eager = _trainer(config)
    _, compiled = _trainer(config, xla=True)
    for _ in range(3):
        np.testing.assert_allclose(compiled.train_step([batch])["loss"], eager.train_step([batch])["loss"], atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_steps_are_finite_and_learn(policy):
    config = tiny_config()
    batch = masked_batch(config, batch=8, seq=32)
    batch.pop("original_ids")
    model, trainer = _trainer(config, policy=policy, temperature=1.0)
    losses = [float(trainer.train_step([batch])["loss"]) for _ in range(15)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < losses[0]
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    if policy == "mixed_float16":
        assert float(trainer.optimizer.dynamic_scale) > 1.0


@pytest.mark.slow
def test_forced_overflow_is_skipped_by_the_loss_scaler():
    config = tiny_config()
    batch = masked_batch(config)
    batch.pop("original_ids")
    model, trainer = _trainer(config, policy="mixed_float16")
    trainer.optimizer.dynamic_scale.assign(2.0 ** 120)  # fp16 gradients of loss × 2^120 overflow
    before = [v.numpy().copy() for v in model.trainable_variables]
    out = trainer.train_step([batch])
    assert not np.isfinite(float(out["grad_norm"]))
    for b, v in zip(before, model.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), b)       # the step was skipped
    assert float(trainer.optimizer.dynamic_scale) == 2.0 ** 119   # and the scale halved
    trainer.optimizer.dynamic_scale.assign(2.0 ** 10)
    trainer.train_step([batch])
    assert any(not np.array_equal(v.numpy(), b) for b, v in zip(before, model.trainable_variables))


def test_schedule_warmup_then_polynomial_decay():
    schedule = WarmupPolyDecay(peak=1.0, total_steps=110, warmup_steps=10, power=0.5, end=0.1)
    assert float(schedule(0)) == 0.0
    np.testing.assert_allclose(float(schedule(5)), 0.5)
    np.testing.assert_allclose(float(schedule(10)), 1.0)
    np.testing.assert_allclose(float(schedule(60)), 0.9 * np.sqrt(0.5) + 0.1, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(110)), 0.1)
    np.testing.assert_allclose(float(schedule(500)), 0.1)
    restarted = WarmupPolyDecay(peak=1.0, total_steps=110, warmup_steps=10, offset=1000)
    np.testing.assert_allclose(float(restarted(1005)), 0.5)


def test_lamb_update_by_hand_and_exclusions():
    w = keras.Variable(np.array([3.0, 4.0], np.float32))        # |w| = 5
    bias = keras.Variable(np.array([1.0, 0.0], np.float32))
    opt = Lamb(learning_rate=0.1, beta_1=0.9, beta_2=0.999, epsilon=0.0, weight_decay_rate=0.5, exclude=[bias])
    opt.build([w, bias])
    g = np.array([1.0, -1.0], np.float32)
    opt.apply([tf.constant(g), tf.constant(g)], [w, bias])
    # step 1: m_hat = g, v_hat = g² → adam update = sign(g); plus decay 0.5·w for w only
    update = np.sign(g) + 0.5 * np.array([3.0, 4.0])
    expected_w = np.array([3.0, 4.0]) - 0.1 * (5.0 / np.linalg.norm(update)) * update
    np.testing.assert_allclose(w.numpy(), expected_w, rtol=1e-5)
    np.testing.assert_allclose(bias.numpy(), np.array([1.0, 0.0]) - 0.1 * np.sign(g), rtol=1e-5)  # no decay/ratio


def test_layer_norm_and_bias_are_exempt_from_decay():
    model = ElectraPretrainingModel(tiny_config())
    exempt = {id(v) for v in no_decay_variables(model.named_variables())}
    names = model.named_variables()
    assert id(names["electra/encoder/layer_0/output/LayerNorm/gamma"]) in exempt
    assert id(names["generator_predictions/output_bias"]) in exempt
    assert id(names["electra/encoder/layer_0/output/dense/kernel"]) not in exempt
    assert id(names["electra/embeddings/word_embeddings"]) not in exempt


def test_wrong_number_of_micro_batches():
    config, batch = global_batch()
    _, trainer = _trainer(config, accumulation=2)
    with pytest.raises(ValueError, match="expected 2 micro-batches"):
        trainer.train_step([batch])

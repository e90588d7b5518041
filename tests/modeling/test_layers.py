"""``electra.modeling.layers.dense_product``: the blocked kernel gradient is the one product's gradient."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from electra.modeling import layers


@pytest.mark.parametrize("units_in, units_out, expected", [
    (256, 1024, ([256], [256, 256, 256, 256])),        # ELECTRA-small's intermediate kernel
    (1024, 256, ([256, 256, 256, 256], [256])),        # ... and its output kernel
    (200, 1100, ([200], [256, 256, 256, 256, 76])),    # a last block that is not full
    (256, 768, None),                                  # Q/K/V-sized: not long enough
    (768, 3072, None),                                 # base: not narrow
    (64, 256, None),                                   # the small generator's FFN
])
def test_which_kernels_are_blocked(units_in, units_out, expected):
    assert layers._kernel_grad_blocks(units_in, units_out) == expected


def _gradients(units_in, units_out, use_bias, block):
    rng = np.random.default_rng(units_in + units_out)
    x = tf.constant(rng.normal(size=(96, units_in)), tf.float32)
    kernel = tf.Variable(rng.normal(size=(units_in, units_out)) * 0.05, dtype=tf.float32)
    bias = tf.Variable(rng.normal(size=(units_out,)), dtype=tf.float32) if use_bias else None
    weights = tf.constant(rng.normal(size=(96, units_out)), tf.float32)
    old, layers.KERNEL_GRAD_BLOCK = layers.KERNEL_GRAD_BLOCK, block
    try:
        @tf.function
        def run():
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = layers.dense_product(x, tf.convert_to_tensor(kernel),
                                           None if bias is None else tf.convert_to_tensor(bias))
                loss = tf.reduce_sum(tf.tanh(out) * weights)
            return out, tape.gradient(loss, [x, kernel] + ([bias] if use_bias else []))
        graph = run.get_concrete_function().graph
        matmuls = sum(op.type in ("MatMul", "BatchMatMulV2") for op in graph.get_operations())
        out, grads = run()
        return out.numpy(), [g.numpy() for g in grads], matmuls
    finally:
        layers.KERNEL_GRAD_BLOCK = old


@pytest.mark.parametrize("units_in, units_out", [(256, 1024), (1024, 256), (200, 1100)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_blocked_kernel_gradient_equals_one_product(units_in, units_out, use_bias):
    out, grads, matmuls = _gradients(units_in, units_out, use_bias, block=256)
    ref_out, ref_grads, ref_matmuls = _gradients(units_in, units_out, use_bias, block=0)
    assert ref_matmuls == 3                  # forward, input gradient, kernel gradient
    rows, cols = layers._kernel_grad_blocks(units_in, units_out)
    assert matmuls == 2 + max(len(rows), len(cols))   # ... the kernel gradient in blocks
    np.testing.assert_array_equal(out, ref_out)
    for got, want in zip(grads, ref_grads):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_dense_layer_uses_it_and_keeps_keras_semantics():
    """A ``[B, S, in]`` input through ``layers.Dense`` (GELU, bias) equals Keras' own Dense with the same
    weights, forward and gradients."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 24, 256)), tf.float32)
    ours = layers.Dense(1024, activation=layers.activation("gelu"))
    keras_dense = keras.layers.Dense(1024, activation=layers.activation("gelu"))
    ours.build(x.shape)
    keras_dense.build(x.shape)
    keras_dense.set_weights(ours.get_weights())
    results = []
    for layer in (ours, keras_dense):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        results.append((y.numpy(), [g.numpy() for g in tape.gradient(loss, [x, *layer.trainable_variables])]))
    (y, grads), (y_ref, grads_ref) = results
    assert y.shape == (2, 24, 1024)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, grads_ref):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("shape", [(8, 4, 64, 64), (3, 5, 7)])   # an even and an odd number of elements
def test_dropout_16bit_mask_scale_and_rate(shape):
    x = tf.random.stateless_uniform(shape, [3, 4], minval=0.5, maxval=1.5)
    seed = tf.constant([7, 11], tf.int64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layers.dropout_16bit(x, 0.1, seed)
    grad = tape.gradient(y, x).numpy()
    threshold = round(0.1 * 65536)
    scale = 65536 / (65536 - threshold)
    y, x = y.numpy(), x.numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] * scale, rtol=1e-6)
    np.testing.assert_allclose(grad, kept * scale, rtol=1e-6)
    np.testing.assert_array_equal(layers.dropout_16bit(x, 0.1, seed).numpy(), y)       # stateless: same seed
    assert not np.array_equal(layers.dropout_16bit(x, 0.1, seed + 1).numpy(), y)
    n, drop = kept.size, threshold / 65536
    assert abs((n - kept.sum()) / n - drop) < 5 * np.sqrt(drop * (1 - drop) / n) + 1e-9


def test_dropout_layer_draws_from_its_keras_seed_generator():
    layer = layers.Dropout(0.25, seed=5)
    x = tf.ones([64, 256])
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    state = layer.seed_generator.state.numpy().copy()
    first = layer(x, training=True).numpy()
    assert (layer.seed_generator.state.numpy() != state).any()        # one draw per call, as Keras' Dropout
    second = layer(x, training=True).numpy()
    assert not np.array_equal(first, second)
    layer.seed_generator.state.assign(state)                            # a restored RNG state repeats the masks
    np.testing.assert_array_equal(layer(x, training=True).numpy(), first)
    assert set(np.unique(first)) == {0.0, np.float32(65536 / (65536 - round(0.25 * 65536)))}

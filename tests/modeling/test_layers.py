"""``electra.modeling.layers``: the training formulations (blocked feed-forward layer, fused softmax + dropout,
written-out GELU and LayerNorm gradients) equal the plain ones they replace, forward and backward."""
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from electra.configs import EncoderConfig, ModelConfig
from electra.runtime import native_bf16, onednn_enabled
from electra.modeling import layers


def _assert_close(got, want, rtol=1e-5, atol=0.0):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=max(atol, rtol * float(np.abs(want).max())))


@pytest.mark.parametrize("hidden, intermediate, expected", [
    (256, 1024, [256, 256, 256, 256]),      # ELECTRA-small's feed-forward layer (and base's generator)
    (200, 1100, [256, 256, 256, 256, 76]),  # a last block that is not full
    (256, 768, None),                       # not long enough
    (768, 3072, None),                      # base: not narrow
    (64, 256, None),                        # the small generator
])
def test_which_feed_forward_layers_are_blocked(hidden, intermediate, expected):
    assert layers.ffn_blocks(hidden, intermediate) == expected


def _block(hidden, intermediate, act="gelu", heads=4, attention_dropout=0.0, hidden_dropout=0.0, seed=0):
    config = ModelConfig(hidden_size=hidden, intermediate_size=intermediate, hidden_act=act,
                         attention_probs_dropout_prob=attention_dropout, hidden_dropout_prob=hidden_dropout)
    keras.utils.set_random_seed(seed)
    block = layers.TransformerBlock(config, EncoderConfig(hidden, 1, heads, intermediate))
    block.build()
    rng = np.random.default_rng(seed)
    for v in block.trainable_variables:     # biases and LayerNorm parameters away from 0 and 1 too
        v.assign(v + rng.normal(size=v.shape).astype(np.float32) * 0.05)
    return block


@pytest.mark.parametrize("hidden, intermediate, act", [
    (256, 1024, "gelu"), (200, 1100, "gelu_new"), (64, 256, "gelu"), (64, 256, "relu")])
def test_training_feed_forward_equals_the_two_dense_layers(hidden, intermediate, act):
    """The training formulation (blocks on a CPU, GELU's gradient written out) against the inference one
    (``intermediate`` then ``output_dense``, Keras-autodiff gradients), and the number of products it runs."""
    block = _block(hidden, intermediate, act)
    x = tf.constant(np.random.default_rng(1).normal(size=(96, hidden)), tf.float32)
    weights = tf.constant(np.random.default_rng(2).normal(size=(96, hidden)), tf.float32)
    variables = [block.intermediate.kernel, block.intermediate.bias, block.output_dense.kernel,
                 block.output_dense.bias]

    def run(training):
        @tf.function
        def f():
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = block.feed_forward(x, training=training)
                loss = tf.reduce_sum(tf.tanh(out) * weights)
            return out, tape.gradient(loss, [x, *variables])
        matmuls = sum(op.type == "MatMul" for op in f.get_concrete_function().graph.get_operations())
        out, grads = f()
        return out.numpy(), [g.numpy() for g in grads], matmuls

    out, grads, matmuls = run(training=True)
    ref_out, ref_grads, ref_matmuls = run(training=False)
    assert ref_matmuls == 6                          # two products, each with an input and a kernel gradient
    assert matmuls == 6 * len(layers.ffn_blocks(hidden, intermediate) or [intermediate])
    _assert_close(out, ref_out)
    for got, want in zip(grads, ref_grads):
        _assert_close(got, want, rtol=2e-5)


def test_gelu_with_gradient_equals_tf_gelu():
    x = tf.constant(np.linspace(-8, 8, 4001), tf.float32)
    upstream = tf.constant(np.random.default_rng(0).normal(size=4001), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, ref = layers.gelu_with_gradient(x), tf.nn.gelu(x, approximate=False)
    _assert_close(ours.numpy(), ref.numpy(), rtol=1e-6)
    _assert_close(tape.gradient(ours, x, upstream).numpy(), tape.gradient(ref, x, upstream).numpy(), rtol=1e-6)


def test_gelu_is_the_erf_form_and_runs_fused_into_the_product():
    """The exact GELU is built with erf, whatever ``tf.nn.gelu`` builds (erfc from TF 2.21: no ONNX operator), and
    oneDNN still fuses it with the product and bias before it."""
    x = tf.constant(np.linspace(-8, 8, 4001), tf.float32)
    _assert_close(layers.gelu(x).numpy(), tf.nn.gelu(x, approximate=False).numpy(), rtol=1e-6)
    rng = np.random.default_rng(0)
    kernel, bias = (tf.constant(rng.normal(size=shape), tf.float32) for shape in ((64, 256), (256,)))

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def dense(x):
        return layers.activation("gelu")(tf.nn.bias_add(tf.matmul(x, kernel), bias))
    built = {op.type for op in dense.get_concrete_function().graph.get_operations()}
    assert "Erf" in built and "Erfc" not in built, built
    if onednn_enabled():
        ran = " ".join(_executed_ops(dense, tf.constant(rng.normal(size=(128, 64)), tf.float32)))
        assert "_MklNativeFusedMatMul" in ran and ":Erf" not in ran, ran


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_layer_norm_training_gradient_equals_keras(policy):
    rng = np.random.default_rng(0)
    ours = layers.LayerNormalization(epsilon=1e-12, dtype=policy)
    ref = keras.layers.LayerNormalization(epsilon=1e-12, dtype=policy)
    gamma, beta = rng.normal(size=(2, 48)).astype(np.float32)
    for layer in (ours, ref):
        layer.build((None, None, 48))
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    x = tf.constant(rng.normal(size=(3, 20, 48)) * 4 + 2, tf.float32)
    upstream = tf.constant(rng.normal(size=(3, 20, 48)), tf.float32)
    results = []
    for layer, training in ((ours, True), (ref, True), (ours, False)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
        results.append((y, tape.gradient(loss, [x, layer.gamma, layer.beta])))
    (y, grads), (y_ref, grads_ref), (y_inference, _) = results
    assert y.dtype == y_ref.dtype == (tf.bfloat16 if policy == "mixed_bfloat16" else tf.float32)
    rtol = 1e-5 if policy == "float32" else 1e-2
    _assert_close(tf.cast(y, tf.float32).numpy(), tf.cast(y_ref, tf.float32).numpy(), rtol=rtol)
    np.testing.assert_array_equal(y_inference.numpy(), y_ref.numpy())      # inference is Keras' own
    for got, want in zip(grads, grads_ref):
        _assert_close(got.numpy(), want.numpy(), rtol=rtol)


@pytest.mark.parametrize("shape", [(2, 3, 40, 40), (3, 5, 7)])   # an even and an odd number of elements
def test_softmax_dropout_is_softmax_then_dropout_16bit(shape):
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=shape) * 3, tf.float32)
    upstream = tf.constant(rng.normal(size=shape), tf.float32)
    seed = tf.constant([7, 11], tf.int64)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        kept, scale = layers.softmax_dropout(logits, 0.1, seed)
        scaled = kept * scale
        ref = layers.dropout_16bit(tf.nn.softmax(logits, axis=-1), 0.1, seed)
    assert scale == 65536 / (65536 - round(0.1 * 65536))
    np.testing.assert_array_equal(scaled.numpy(), ref.numpy())      # the same mask, the same values
    assert 0 < np.mean(kept.numpy() == 0) < 0.2
    _assert_close(tape.gradient(scaled, logits, upstream).numpy(), tape.gradient(ref, logits, upstream).numpy())
    probs, scale = layers.softmax_dropout(logits, 0.0, seed)
    assert scale == 1.0
    np.testing.assert_array_equal(probs.numpy(), tf.nn.softmax(logits, axis=-1).numpy())


def _reference_block(block, hidden, bias):
    """The block as Keras and TensorFlow write it: separate Q/K/V products, softmax then dropout, the two Dense
    layers of the feed-forward layer, Keras' LayerNormalization; dropout masks drawn in the block's order."""
    def keras_norm(layer, x):
        return keras.layers.LayerNormalization.call(layer, x)

    def heads(x):
        return tf.transpose(tf.reshape(x, [x.shape[0], -1, block.heads, block.head_size]), [0, 2, 1, 3])

    q, k, v = (heads(layer(hidden)) for layer in (block.query, block.key, block.value))
    scores = tf.matmul(q, k, transpose_b=True) / np.sqrt(block.head_size) + bias
    probs = tf.nn.softmax(scores, axis=-1)
    probs = layers.dropout_16bit(probs, block.attention_dropout.rate, block.attention_dropout.seed_generator.next())
    context = tf.reshape(tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]), hidden.shape)
    drop = block.hidden_dropout
    attended = layers.dropout_16bit(block.attention_output(context), drop.rate, drop.seed_generator.next())
    x = keras_norm(block.attention_layer_norm, attended + hidden)
    ffn = layers.dropout_16bit(block.output_dense(block.intermediate(x)), drop.rate, drop.seed_generator.next())
    return keras_norm(block.output_layer_norm, ffn + x)


def test_transformer_block_training_step_equals_the_plain_formulation():
    """Forward and gradients of a whole block in training (dropout on, blocked feed-forward layer, fused softmax
    + dropout, written-out gradients) against the plain formulation with the same dropout masks."""
    block = _block(256, 1024, attention_dropout=0.1, hidden_dropout=0.1, seed=3)
    rng = np.random.default_rng(4)
    hidden = tf.constant(rng.normal(size=(2, 40, 256)), tf.float32)
    mask = np.ones((2, 40), np.int32)
    mask[1, 30:] = 0
    bias = layers.attention_bias(tf.constant(mask))
    upstream = tf.constant(rng.normal(size=(2, 40, 256)), tf.float32)
    generators = [block.attention_dropout.seed_generator, block.hidden_dropout.seed_generator]
    states = [g.state.numpy().copy() for g in generators]
    results = []
    for fn in (lambda: block(hidden, bias, training=True), lambda: _reference_block(block, hidden, bias)):
        for g, state in zip(generators, states):
            g.state.assign(state)
        with tf.GradientTape() as tape:
            tape.watch(hidden)
            out = fn()
        results.append((out.numpy(), tape.gradient(out, [hidden, *block.trainable_variables], upstream)))
    (out, grads), (ref_out, ref_grads) = results
    _assert_close(out, ref_out, rtol=2e-5)
    assert len(grads) == len(block.trainable_variables) + 1 == 17
    for got, want in zip(grads, ref_grads):     # (the key bias's gradient is 0 up to rounding: atol)
        _assert_close(got.numpy(), want.numpy(), rtol=1e-4, atol=2e-6)


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


def test_dropout_16bit_mask_is_the_same_eagerly_in_a_graph_and_under_xla():
    """The mask depends on the seed only: drawn eagerly, in a ``tf.function`` and inside an XLA-compiled step (the
    trainer's ``--xla``), the same elements are dropped, and the gradient uses that mask."""
    x = tf.random.stateless_uniform([6, 50, 33], [1, 2], minval=0.5, maxval=1.5)
    seed = tf.constant([5, 9], tf.int64)

    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layers.dropout_16bit(x, 0.2, seed)
        return y, tape.gradient(y, x)
    eager = run(x)
    for fn in (tf.function(run), tf.function(run, jit_compile=True)):
        for got, want in zip(fn(x), eager):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    y, grad = (t.numpy() for t in eager)
    np.testing.assert_array_equal(grad != 0, y != 0)


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
    layer.seed_generator.state.assign(state)                            # softmax() draws the same mask
    probs, scale = layer.softmax(tf.zeros([64, 256]), training=True)
    np.testing.assert_array_equal(probs.numpy() * scale * 256 != 0, first != 0)


def test_dense_layer_keeps_keras_semantics():
    """A ``[B, S, in]`` input through ``layers.Dense`` (one 2-D product) equals Keras' own Dense with the same
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


def _executed_ops(fn, *args) -> list[str]:
    """The kernels TensorFlow ran for one call of ``fn`` (after its graph rewrites), from a profiler trace."""
    import tempfile

    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    fn(*args)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        fn(*args)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        for path in pathlib.Path(logdir).rglob("*.xplane.pb"):
            space.ParseFromString(path.read_bytes())
    names = []
    for plane in space.planes:
        metadata = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if line.name.startswith("tf_Compute"):
                names += [metadata.get(event.metadata_id, "") for event in line.events]
    return [name.rsplit(":", 1)[-1] for name in names if ":" in name]


def _norm_pair(rng, width=48):
    ours, ref = layers.LayerNormalization(epsilon=1e-12), keras.layers.LayerNormalization(epsilon=1e-12)
    gamma, beta = rng.normal(size=(2, width)).astype(np.float32)
    for layer in (ours, ref):
        layer.build((None, None, width))
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    return ours, ref


@pytest.mark.parametrize("shape", [(60, 48), (3, 20, 48)])
def test_onednn_inference_equal_keras_and_run_as_one_onednn_kernel(shape):
    """Inside ``onednn_inference``, a graph with an unknown batch runs each inference LayerNorm as oneDNN's
    ``_MklLayerNorm`` (the rewrite the form is written for: if a TensorFlow upgrade stops matching it, this fails)
    with Keras' values; outside it, or in training, the graph holds Keras' ops and no ``FusedBatchNormV3``."""
    assert onednn_enabled()                             # importing electra turned it on (tests/test_runtime.py)
    rng = np.random.default_rng(0)
    ours, ref = _norm_pair(rng, shape[-1])
    x = tf.constant(rng.normal(size=shape) * 4 + 2, tf.float32)
    spec = tf.TensorSpec([None, *shape[1:]], tf.float32)

    def fused(x):
        with layers.onednn_inference():
            return ours(x, training=False)
    fused = tf.function(fused, input_signature=[spec])
    plain = tf.function(lambda x: ours(x, training=False), input_signature=[spec])
    want = ref(x).numpy()
    _assert_close(fused(x).numpy(), want, rtol=2e-6)
    _assert_close(plain(x).numpy(), want, rtol=1e-6)
    ran = _executed_ops(fused, x)
    assert "_MklLayerNorm" in ran and "Mean" not in ran, ran
    graph_ops = {op.type for op in fused.get_concrete_function().graph.get_operations()}
    assert "FusedBatchNormV3" in graph_ops
    assert "FusedBatchNormV3" not in {op.type for op in plain.get_concrete_function().graph.get_operations()}

    with layers.onednn_inference(), tf.GradientTape() as tape:   # training keeps its own gradient
        tape.watch(x)
        y = ours(x, training=True)
    _assert_close(y.numpy(), want, rtol=1e-5)
    assert tape.gradient(y, x) is not None


def test_onednn_inference_run_bf16_as_one_onednn_kernel_within_bf16_rounding():
    """mixed_bfloat16 inference LayerNorms run as one bf16 ``_MklLayerNorm`` on a CPU that computes bf16 natively
    (statistics in fp32 inside oneDNN, γ and β in bf16, as Keras' autocast reads them too); on AVX2 alone
    TensorFlow's rewrite leaves the one bf16 ``FusedBatchNormV3`` it replaces. Either is as exact as Keras' own.
    Against the float64 LayerNorm
    of the bf16 input, in bf16 ulps of each output's terms ``|n·γ| + |β|``: at most 2.5 (half an ulp for each
    rounding the kernel may make: the normalized value, γ, β, the product and the sum; a kernel with bf16
    statistics is off by tens), and on average within 5 % of Keras' own mean error. Measured with TF 2.18 and 2.21
    alike: on AVX-512 BF16 (Zen 4) at most 2 and below Keras' mean; on AVX2 alone (Zen 3), where oneDNN emulates
    bf16, at most 2.02 and a mean of 0.398 against Keras' 0.385 (Keras' own largest error there: 37)."""
    rng = np.random.default_rng(1)
    layer = layers.LayerNormalization(epsilon=1e-12, dtype="mixed_bfloat16")
    layer.build((None, 48))
    gamma, beta = rng.normal(1.0, 0.3, 48), rng.normal(0.0, 0.3, 48)
    layer.gamma.assign(gamma.astype(np.float32))
    layer.beta.assign(beta.astype(np.float32))
    x = tf.constant(rng.normal(size=(200, 48)) * 4 + 2, tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, 48], tf.float32)])
    def fused(x):
        with layers.onednn_inference():
            return layer(x, training=False)
    got, keras_own = fused(x), layer(x, training=False)      # Keras' own outside the context
    assert got.dtype == keras_own.dtype == tf.bfloat16
    x64 = tf.cast(tf.cast(x, tf.bfloat16), tf.float64).numpy()
    normalized = (x64 - x64.mean(-1, keepdims=True)) / x64.std(-1, keepdims=True)
    exact = normalized * gamma + beta
    ulps = 2.0 ** (np.floor(np.log2(np.abs(normalized * gamma) + np.abs(beta))) - 7)   # bf16's spacing there
    errors = {name: np.abs(tf.cast(y, tf.float64).numpy() - exact) / ulps
              for name, y in (("fused", got), ("keras", keras_own))}
    assert errors["fused"].max() <= 2.5 and errors["fused"].mean() <= 1.05 * errors["keras"].mean(), \
        {name: (e.max(), e.mean()) for name, e in errors.items()}
    ran = _executed_ops(fused, x)
    assert ("_MklLayerNorm" if native_bf16() else "FusedBatchNormV3") in ran and "Mean" not in ran, ran


def test_onednn_inference_leave_float16_to_keras():
    rng = np.random.default_rng(1)
    layer = layers.LayerNormalization(epsilon=1e-12, dtype="mixed_float16")
    layer.build((None, 48))
    x = tf.constant(rng.normal(size=(10, 48)), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, 48], tf.float32)])
    def f(x):
        with layers.onednn_inference():
            return layer(x)
    assert "FusedBatchNormV3" not in {op.type for op in f.get_concrete_function().graph.get_operations()}
    np.testing.assert_array_equal(f(x).numpy(), layer(x).numpy())


def test_bf16_inference_attention_takes_the_softmax_in_bf16_within_bf16_rounding():
    """In mixed_bfloat16 inference inside ``onednn_inference`` the block's attention softmax runs on the bf16
    scores (no casts of ``[B, N, S, S]``) and is as close to the fp32 block as the fp32 softmax; training and
    graphs traced outside the context (exports) keep the fp32 softmax."""
    block = _block(64, 256, seed=5)
    config = ModelConfig(hidden_size=64, intermediate_size=256, attention_probs_dropout_prob=0.0,
                         hidden_dropout_prob=0.0)
    bf16 = layers.TransformerBlock(config, EncoderConfig(64, 1, 4, 256), dtype="mixed_bfloat16")
    bf16.build()
    for src, dst in zip(block.weights, bf16.weights):
        dst.assign(src)
    rng = np.random.default_rng(6)
    hidden = tf.constant(rng.normal(size=(2, 24, 64)), tf.float32)
    mask = np.ones((2, 24), np.int32)
    mask[1, 17:] = 0
    bias = layers.attention_bias(tf.constant(mask))
    spec = tf.TensorSpec([None, 24, 64], tf.float32)
    def softmax_types(fn):
        graph = fn.get_concrete_function().graph
        return {op.get_attr("T").name for op in graph.get_operations() if op.type == "Softmax"}

    def inside(h):
        with layers.onednn_inference():
            return bf16(h, bias, training=False)
    infer = tf.function(inside, input_signature=[spec])
    assert softmax_types(infer) == {"bfloat16"}
    exported = tf.function(lambda h: bf16(h, bias, training=False), input_signature=[spec])
    assert softmax_types(exported) == {"float32"}
    got = tf.cast(infer(hidden), tf.float32).numpy()
    fp32_softmax = tf.function(lambda h: tf.cast(bf16(h, bias, training=True), tf.float32),   # dropout 0
                               input_signature=[spec])
    assert softmax_types(fp32_softmax) == {"float32"}
    want = block(hidden, bias, training=False).numpy()                # the fp32 block, same weights
    error, error_fp32_softmax = (np.abs(y - want).mean() for y in (got, fp32_softmax(hidden).numpy()))
    assert error < 1.5 * error_fp32_softmax and error < 2.0 ** -7 * np.abs(want).mean()

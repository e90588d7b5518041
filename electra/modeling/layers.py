"""Building blocks of the ELECTRA encoder: embeddings, self-attention, post-LN transformer blocks.

Sub-layers carry the names of Google's TF1 checkpoints (``attention/self/query``, ``output/LayerNorm`` …),
and every layer lists its variables under those names in ``named_variables()``. The weight maps in
``electra.interop`` are therefore tables over these names, independent of how Keras builds paths.

Shapes: ``B`` batch, ``S`` sequence, ``E`` embedding size, ``H`` hidden size, ``N`` heads, ``D = H / N``.
"""
from __future__ import annotations

import contextlib
import contextvars

import keras
import tensorflow as tf

from electra.configs import EncoderConfig, ModelConfig
from electra.runtime import onednn_enabled

NamedVariables = dict[str, keras.Variable]


def initializer(config: ModelConfig) -> keras.initializers.Initializer:
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


_SQRT_2 = 1.4142135623730951


def gelu(x: tf.Tensor) -> tf.Tensor:
    """Exact GELU in its erf form, ``0.5 · x · (1 + erf(x / √2))``: Hugging Face's and PyTorch's definition, and the
    subgraph ``tf.nn.gelu`` built in TensorFlow 2.18. TensorFlow 2.21's ``tf.nn.gelu`` builds ``0.5 · x · erfc(−x /
    √2)``, which ONNX has no operator for (tf2onnx cannot convert the export: "No Op registered for Erfc").
    oneDNN's graph rewrite fuses either form into the preceding product (``_MklNativeFusedMatMul``), which
    ``tests/modeling/test_layers.py`` checks."""
    return 0.5 * x * (1.0 + tf.math.erf(x / tf.cast(_SQRT_2, x.dtype)))


def activation(name: str):
    """``gelu`` is the exact erf form (Hugging Face's default), ``gelu_new`` the tanh form Google's TF1 code used."""
    if name == "gelu":
        return gelu
    if name == "gelu_new":
        return lambda x: tf.nn.gelu(x, approximate=True)
    if name == "relu":
        return tf.nn.relu
    if name == "tanh":
        return tf.tanh
    raise ValueError(f"unknown activation {name!r}")




_SQRT_HALF, _INV_SQRT_2PI = 0.7071067811865476, 0.3989422804014327


def _gelu_cdf(x: tf.Tensor) -> tf.Tensor:
    return 0.5 * (1.0 + tf.math.erf(x * _SQRT_HALF))


def _gelu_forward(x: tf.Tensor) -> tf.Tensor:
    return x * _gelu_cdf(x)


def _gelu_backward(x: tf.Tensor, upstream: tf.Tensor) -> tf.Tensor:
    return upstream * (_gelu_cdf(x) + x * (tf.exp(-0.5 * tf.square(x)) * _INV_SQRT_2PI))


_gelu_forward_fused = tf.function(_gelu_forward, jit_compile=True)
_gelu_backward_fused = tf.function(_gelu_backward, jit_compile=True)


def gelu_with_gradient(x: tf.Tensor) -> tf.Tensor:
    """Exact GELU ``x · Φ(x)`` whose gradient ``Φ(x) + x · φ(x)`` is written out, each direction compiled by XLA
    into one element-wise loop. TensorFlow runs the same formulas as 4 (forward) and 8 (backward) separate passes
    over ``[T, I]``. Φ is recomputed backward instead of kept. Used where a gradient is taken (training);
    inference keeps ``gelu``, which oneDNN fuses into the preceding product, and exported graphs hold no XLA."""
    @tf.custom_gradient
    def gelu(x):
        def grad(upstream):
            return _gelu_backward_fused(x, upstream)
        return _gelu_forward_fused(x), grad
    return gelu(x)


FFN_BLOCK = 256   # see ``TransformerBlock.feed_forward``; 0 turns the blocking off


def ffn_blocks(hidden: int, intermediate: int) -> list[int] | None:
    """The sizes of the blocks of intermediate units a training feed-forward layer is computed in, or None for one
    product each way: on a CPU (no GPU visible), narrow, long feed-forward layers (hidden ≤ ``FFN_BLOCK``,
    intermediate ≥ 4 · ``FFN_BLOCK``) are blocked."""
    block = FFN_BLOCK
    if not block or hidden > block or intermediate < 4 * block:
        return None
    if tf.config.list_logical_devices("GPU"):
        return None
    return [block] * (intermediate // block) + ([intermediate % block] if intermediate % block else [])


class Dense(keras.layers.Dense):
    """``keras.layers.Dense`` computed as one 2-D GEMM ``[B*S, in] × [in, out]`` whatever the input's rank.

    On a ``[B, S, in]`` input the TensorFlow backend emits a broadcasting ``BatchMatMulV2`` whose kernel gradient
    is B small GEMMs followed by a reduction over B; flattening first makes forward and both gradients single
    GEMMs (with the fused Q/K/V product below and the compiled optimizer update, the largest saving of the CPU
    train step: benchmarks/README.md)."""

    def call(self, inputs, training=None):
        if inputs.shape.rank is None or self.lora_enabled or self.quantization_mode:
            return super().call(inputs, training=training)
        leading = None
        if inputs.shape.rank > 2:
            leading = tf.shape(inputs)[:-1]
            inputs = tf.reshape(inputs, [-1, inputs.shape[-1]])
        outputs = tf.matmul(tf.cast(inputs, self.compute_dtype), tf.cast(self.kernel, self.compute_dtype))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, self.compute_dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs if leading is None else tf.reshape(outputs, tf.concat([leading, [self.units]], axis=0))


def _drop_threshold(rate: float) -> int:
    """Dropped when the 16-bit number is below this (0: nothing is dropped)."""
    return int(round(rate * 65536))


def int32_seed(seed: tf.Tensor) -> tf.Tensor:
    """A ``[2]`` stateless seed of any integer type as the int32 XLA wants (as Keras' own dropout)."""
    if seed.dtype != tf.int32:
        seed = tf.cast(tf.math.floormod(seed, tf.constant(2 ** 31 - 1, seed.dtype)), tf.int32)
    return seed


def _numbers_16bit(shape: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """``[shape]`` uint16 random numbers, two from each 32-bit output of the Threefry-2x32 counter-based generator
    (JAX's default; the same bits on every device). Called inside XLA-compiled functions, where Threefry is
    cheaper per bit than TensorFlow's Philox kernel on a CPU and fuses with its consumer."""
    count = tf.reduce_prod(shape)
    bits = tf.random.stateless_uniform([(count + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32,
                                       alg="threefry")
    return tf.reshape(tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:count], shape)


@tf.function(jit_compile=True)
def _uniform_like(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    return tf.random.stateless_uniform(tf.shape(x), seed, alg="threefry")


def uniform_like(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """float32 uniform ``[0, 1)`` numbers shaped as ``x``, from Threefry under XLA (see ``_numbers_16bit``), for
    large draws such as the generator's ``[B·P, V]`` Gumbel noise. ``seed``: ``[2]`` integers (a stateless seed)."""
    return _uniform_like(x, int32_seed(seed))


@tf.function(jit_compile=True)
def _dropped(inputs: tf.Tensor, seed: tf.Tensor, threshold: int, scale: float) -> tuple[tf.Tensor, tf.Tensor]:
    """``(keep · inputs · scale, keep)``: drawing the mask, comparing and selecting in one XLA loop."""
    keep = _numbers_16bit(tf.shape(inputs), seed) >= tf.constant(threshold, tf.uint16)
    return _masked(inputs, keep, scale), keep


def _masked(x: tf.Tensor, keep: tf.Tensor, scale: float) -> tf.Tensor:
    return tf.where(keep, x * tf.cast(scale, x.dtype), tf.zeros([], x.dtype))


_kept = tf.function(_masked, jit_compile=True)   # the dropout's gradient: the upstream through the kept mask


def _scale(threshold: int) -> float:
    return 65536.0 / (65536 - threshold)


def dropout_16bit(inputs: tf.Tensor, rate: float, seed: tf.Tensor) -> tf.Tensor:
    """Inverted dropout of ``inputs`` (any shape) whose keep mask is drawn as 16-bit random numbers, two from each
    32-bit output of Threefry (``_numbers_16bit``): half the random-number work of TensorFlow's
    ``stateless_dropout``, which draws one 32-bit float per element, and drawn, compared and applied in one
    XLA-compiled loop (with the mask kept for the gradient). An element is kept when its number is at least
    ``t = round(rate * 65536)``, so the drop probability is ``t / 65536`` (0.100006 for 0.1), and kept elements
    are scaled by ``65536 / (65536 - t)``, which keeps the expectation exactly ``inputs``. ``seed``: ``[2]``
    integers (a stateless seed)."""
    threshold = _drop_threshold(rate)
    if threshold <= 0:
        return inputs
    scale, seed = _scale(threshold), int32_seed(seed)

    @tf.custom_gradient
    def dropout(inputs):
        outputs, keep = _dropped(inputs, seed, threshold, scale)
        return outputs, lambda upstream: _kept(upstream, keep, scale)
    return dropout(inputs)


def softmax_dropout(logits: tf.Tensor, rate: float, seed: tf.Tensor) -> tuple[tf.Tensor, float]:
    """``softmax(logits, -1)`` followed by ``dropout_16bit`` (the same keep mask for the same seed), returned as
    ``(probabilities with the dropped ones zeroed, scale)``: the caller applies the ``1 / (1 - rate)`` scale to a
    smaller tensor (in attention, the values ``[B, N, S, D]`` rather than the probabilities ``[B, N, S, S]``).

    Why: with dropout ``y = keep · p``, the softmax gradient ``p · (dp − Σ dp·p)`` is ``g·y − p · Σ g·y`` for
    the incoming gradient ``g``. Written so, the backward pass over ``[B, N, S, S]`` is three element-wise passes
    and a row sum instead of six and a row sum (TensorFlow's separate dropout and softmax gradients), and the
    forward pass the softmax and one fused draw-and-select. In attention on a CPU that is most of the element-wise
    work of the step."""
    threshold = _drop_threshold(rate)
    if threshold <= 0:
        return tf.nn.softmax(logits, axis=-1), 1.0
    seed = int32_seed(seed)

    @tf.custom_gradient
    def fused(logits):
        probs = tf.nn.softmax(logits, axis=-1)
        kept, _ = _dropped(probs, seed, threshold, 1.0)

        def grad(upstream):
            product = upstream * kept
            return product - probs * tf.reduce_sum(product, axis=-1, keepdims=True)
        return kept, grad

    return fused(logits), _scale(threshold)


class Dropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` with the keep mask of ``dropout_16bit``, drawn from the layer's own Keras seed
    generator, so the RNG state that checkpoints save (and an exact resume restores) is the same as Keras'.

    Why: the dropout masks were the largest element-wise cost of a CPU train step (most of it the attention
    probabilities' ``[B, N, S, S]``); half the random bits make that mask cheaper (``benchmarks/squad.py``
    measures the step)."""

    def call(self, inputs, training=False):
        if not training or not self.rate or self.noise_shape is not None:
            return super().call(inputs, training=training)
        return dropout_16bit(inputs, self.rate, self.seed_generator.next())

    def softmax(self, logits: tf.Tensor, training=False) -> tuple[tf.Tensor, float]:
        """``softmax(logits, -1)`` then this dropout, as ``softmax_dropout``'s ``(probabilities, scale)``."""
        if not training or not self.rate:
            return tf.nn.softmax(logits, axis=-1), 1.0
        return softmax_dropout(logits, self.rate, self.seed_generator.next())


def dense(units: int, config: ModelConfig, name: str, dtype=None, activation_name: str | None = None):
    return Dense(units, kernel_initializer=initializer(config), name=name, dtype=dtype,
                 activation=None if activation_name is None else activation(activation_name))


def layer_norm_with_gradient(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float) -> tf.Tensor:
    """LayerNorm over the last axis of ``x [T, H]`` (fp32), ``γ · x̂ + β`` with ``x̂ = (x − μ) / σ``, whose
    gradient is written out: ``dx = (g − mean(g) − x̂ · mean(g · x̂)) / σ`` for ``g = γ · dy``, in fewer
    element-wise passes than TensorFlow derives from Keras' formula (which broadcasts the scale and shift to
    ``[T, H]`` and differentiates through them)."""
    @tf.custom_gradient
    def norm(x, gamma, beta):
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        inv = tf.math.rsqrt(variance + epsilon)
        normed = (x - mean) * inv
        def grad(upstream):
            d_normed = upstream * gamma
            d_x = inv * (d_normed - tf.reduce_mean(d_normed, -1, keepdims=True)
                         - normed * tf.reduce_mean(d_normed * normed, -1, keepdims=True))
            return d_x, tf.reduce_sum(upstream * normed, 0), tf.reduce_sum(upstream, 0)
        return normed * gamma + beta, grad
    return norm(x, tf.convert_to_tensor(gamma), tf.convert_to_tensor(beta))


_ONEDNN_INFERENCE = contextvars.ContextVar("electra_onednn_inference", default=False)


@contextlib.contextmanager
def onednn_inference():
    """Within it, inference is traced in the forms oneDNN runs fastest, on a CPU with oneDNN on
    (``electra.runtime.onednn_enabled``) and no GPU visible; elsewhere it changes nothing:

    * LayerNorms (fp32 and bf16) as ``layer_norm_for_onednn``, which oneDNN runs as one kernel;
    * under ``mixed_bfloat16``, the attention softmax on the bf16 scores (oneDNN's bf16 softmax accumulates in
      fp32), without casting ``[B, N, S, S]`` to fp32 and back.

    For graphs TensorFlow itself runs (``electra.squad.inference.inference_function``); exported graphs keep
    Keras' ops and the fp32 softmax, which OpenVINO and ONNX Runtime fuse their own way."""
    token = _ONEDNN_INFERENCE.set(onednn_enabled() and not tf.config.list_logical_devices("GPU"))
    try:
        yield
    finally:
        _ONEDNN_INFERENCE.reset(token)


def layer_norm_for_onednn(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float) -> tf.Tensor:
    """LayerNorm over the last axis of ``x [T, H]`` (fp32, or bf16 with γ and β in bf16) written as the subgraph
    TensorFlow's oneDNN graph rewrite (grappler's remapper) replaces by one ``_MklLayerNorm`` kernel: ``x`` as ``[1,
    T, H, 1]`` normalized per "channel" ``T`` by a training-mode ``FusedBatchNormV3`` (unit scale, zero offset,
    empty statistics), then ``· γ + β``. The rewrite needs ``T`` unknown when the graph is built (a known ``T``
    folds the ``Fill``s into constants and the pattern no longer matches), so trace with a ``None`` batch. Keras'
    formula runs as ~10 element-wise passes and reductions over ``[T, H]``, a visible share of CPU inference
    (benchmarks/README.md); fused it is one kernel. The epsilon is the op's own (the Python ``fused_batch_norm``
    wrapper would raise 1e-12 to 1.001e-5). bf16 is normalized as bf16: with a bf16 → fp32 cast in front of it the
    rewrite did not happen (TensorFlow 2.18, with or without grappler's arithmetic optimizer), and oneDNN keeps the
    statistics in fp32 anyway (``tests/modeling/test_layers.py`` checks the result against the exact LayerNorm and
    Keras' own)."""
    tokens = tf.shape(x)[0]
    width = x.shape[-1]
    channels = tf.reshape(tokens, [1])
    normed = tf.raw_ops.FusedBatchNormV3(
        x=tf.reshape(x, tf.stack([1, tokens, width, 1])), scale=tf.fill(channels, 1.0),
        offset=tf.fill(channels, 0.0), mean=tf.constant([], tf.float32), variance=tf.constant([], tf.float32),
        epsilon=epsilon, data_format="NCHW", is_training=True)[0]
    return tf.reshape(normed, tf.shape(x)) * gamma + beta


class LayerNormalization(keras.layers.LayerNormalization):
    """``keras.layers.LayerNormalization`` over the last axis whose training gradient is
    ``layer_norm_with_gradient``'s, and whose inference inside ``onednn_inference`` (fp32 or bf16) is
    ``layer_norm_for_onednn``; other inference, other axes and RMS scaling are Keras' own."""

    def _last_axis(self, inputs) -> bool:
        return not self.rms_scaling and self.center and self.scale \
            and self.axis in (-1, [-1], [inputs.shape.rank - 1])

    def call(self, inputs, training=None):
        if not training and _ONEDNN_INFERENCE.get() and self.compute_dtype in ("float32", "bfloat16") \
                and self._last_axis(inputs):
            x = tf.cast(inputs if inputs.shape.rank == 2 else tf.reshape(inputs, [-1, inputs.shape[-1]]),
                        self.compute_dtype)
            y = layer_norm_for_onednn(x, tf.cast(self.gamma, x.dtype), tf.cast(self.beta, x.dtype), self.epsilon)
            return y if inputs.shape.rank == 2 else tf.reshape(y, tf.shape(inputs))
        if not training or not self._last_axis(inputs):
            return super().call(inputs)
        shape = tf.shape(inputs)
        x = tf.reshape(tf.cast(inputs, tf.float32), [-1, inputs.shape[-1]])          # [T, H], fp32 as Keras
        y = layer_norm_with_gradient(x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32),
                                     self.epsilon)
        return tf.cast(tf.reshape(y, shape), self.compute_dtype)


def layer_norm(config: ModelConfig, name: str = "LayerNorm", dtype=None) -> keras.layers.LayerNormalization:
    return LayerNormalization(epsilon=config.layer_norm_eps, name=name, dtype=dtype)


def dense_variables(prefix: str, layer: keras.layers.Dense) -> NamedVariables:
    return {f"{prefix}/kernel": layer.kernel, f"{prefix}/bias": layer.bias}


def layer_norm_variables(prefix: str, layer: keras.layers.LayerNormalization) -> NamedVariables:
    return {f"{prefix}/gamma": layer.gamma, f"{prefix}/beta": layer.beta}


def prefixed(prefix: str, variables: NamedVariables) -> NamedVariables:
    return {f"{prefix}/{name}": v for name, v in variables.items()}


class Embeddings(keras.layers.Layer):
    """Word + position + token-type embeddings, LayerNorm and dropout: ids ``[B, S]`` → ``[B, S, E]``.

    One instance is shared by the generator and the discriminator, so the word table also serves as the
    generator's (tied) output projection.
    """

    def __init__(self, config: ModelConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.layer_norm = layer_norm(config, dtype=self.dtype_policy)
        self.dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        c, init = self.config, initializer(self.config)
        self.word_embeddings = self.add_weight(
            name="word_embeddings", shape=(c.embedding_vocab_size, c.embedding_size), initializer=init)
        self.position_embeddings = self.add_weight(
            name="position_embeddings", shape=(c.max_position_embeddings, c.embedding_size), initializer=init)
        self.token_type_embeddings = self.add_weight(
            name="token_type_embeddings", shape=(c.type_vocab_size, c.embedding_size), initializer=init)
        self.layer_norm.build((None, None, c.embedding_size))
        self.built = True

    def call(self, input_ids, segment_ids, training=False):
        seq_length = tf.shape(input_ids)[1]
        words = tf.gather(self.word_embeddings, input_ids)
        positions = self.position_embeddings[:seq_length][tf.newaxis]
        types = tf.gather(self.token_type_embeddings, segment_ids)
        x = tf.cast(words + positions + types, self.compute_dtype)
        return self.dropout(self.layer_norm(x, training=training), training=training)

    def named_variables(self) -> NamedVariables:
        return {"word_embeddings": self.word_embeddings,
                "position_embeddings": self.position_embeddings,
                "token_type_embeddings": self.token_type_embeddings,
                **layer_norm_variables("LayerNorm", self.layer_norm)}


def attention_bias(input_mask: tf.Tensor) -> tf.Tensor:
    """``[B, S]`` 1/0 mask → additive bias ``[B, 1, 1, S]`` in fp32 (softmax runs in fp32)."""
    mask = tf.cast(input_mask, tf.float32)
    return (1.0 - mask)[:, tf.newaxis, tf.newaxis, :] * -10000.0


class TransformerBlock(keras.layers.Layer):
    """One post-LN block: self-attention → add & LayerNorm → FFN (GELU) → add & LayerNorm, ``[B, S, H]``."""

    def __init__(self, config: ModelConfig, encoder: EncoderConfig, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.head_size = encoder.num_attention_heads, encoder.head_size
        h, dt = encoder.hidden_size, self.dtype_policy
        self.query = dense(h, config, "query", dt)
        self.key = dense(h, config, "key", dt)
        self.value = dense(h, config, "value", dt)
        self.attention_output = dense(h, config, "attention_output", dt)
        self.attention_layer_norm = layer_norm(config, "attention_LayerNorm", dt)
        self.intermediate = dense(encoder.intermediate_size, config, "intermediate", dt,
                                  activation_name=config.hidden_act)
        self.output_dense = dense(h, config, "output_dense", dt)
        self.output_layer_norm = layer_norm(config, "output_LayerNorm", dt)
        self.attention_dropout = Dropout(config.attention_probs_dropout_prob, dtype=dt)
        self.hidden_dropout = Dropout(config.hidden_dropout_prob, dtype=dt)
        self.hidden_size, self.intermediate_size = h, encoder.intermediate_size
        self.activation_name = config.hidden_act

    def build(self, input_shape=None):
        h = (None, None, self.hidden_size)
        for layer in (self.query, self.key, self.value, self.attention_output, self.intermediate):
            layer.build(h)
        self.output_dense.build((None, None, self.intermediate_size))
        self.attention_layer_norm.build(h)
        self.output_layer_norm.build(h)
        self.built = True

    def call(self, hidden, bias, training=False):
        shape, dtype = tf.shape(hidden), self.compute_dtype
        batch, seq = shape[0], shape[1]
        flat = tf.reshape(hidden, [-1, self.hidden_size])                                      # [B*S, H]
        # One GEMM for Q, K and V over the three checkpoint-named kernels (concatenated per call: the variables,
        # and so the weight tables, stay as Google and Hugging Face name them). The 1/√D of the scores is folded
        # into the query's kernel and bias ([H, H] and [H] per call, not [B, N, S, D]); with D a power of 4 it is
        # a power of 2, so q is bit for bit the same. Why: on a CPU grappler otherwise fuses the scale and the
        # mask bias into oneDNN's scores product, which then runs slower than the plain product and a separate
        # bias add.
        root = tf.cast(self.head_size ** -0.5, dtype)
        kernel = tf.concat([tf.cast(self.query.kernel, dtype) * root, tf.cast(self.key.kernel, dtype),
                            tf.cast(self.value.kernel, dtype)], axis=1)                       # [H, 3H]
        qkv_bias = tf.concat([tf.cast(self.query.bias, dtype) * root, tf.cast(self.key.bias, dtype),
                              tf.cast(self.value.bias, dtype)], axis=0)                       # [3H]
        qkv = tf.nn.bias_add(tf.matmul(flat, kernel), qkv_bias)                                # [B*S, 3H]
        qkv = tf.reshape(qkv, [batch, seq, 3, self.heads, self.head_size])
        q, k, v = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4]))                              # 3 × [B, N, S, D]
        scores = tf.matmul(q, k, transpose_b=True)                                             # [B, N, S, S]
        # softmax and dropout as one function with one gradient; the dropout's 1 / (1 - rate) scales v. In fp32,
        # except bf16 inference inside onednn_inference: the scores are bf16 already and the probabilities go to the
        # context product as bf16 anyway, so fp32 only added two casts and twice the bytes over [B, N, S, S]
        bf16_softmax = not training and dtype == tf.bfloat16 and _ONEDNN_INFERENCE.get()
        softmax_dtype = dtype if bf16_softmax else tf.float32
        probs, scale = self.attention_dropout.softmax(tf.cast(scores, softmax_dtype) + tf.cast(bias, softmax_dtype),
                                                      training=training)                       # [B, N, S, S]
        if scale != 1.0:
            v = v * tf.cast(scale, dtype)
        probs = tf.cast(probs, dtype)
        context = tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3])                             # [B, S, N, D]
        # [B*S, H] as flat's own shape: with an unknown batch, grappler then sees the residual sum's operands as
        # equal shapes and fuses it into the attention output product
        context = tf.reshape(context, tf.shape(flat))
        attended = self.hidden_dropout(self.attention_output(context), training=training)
        flat = self.attention_layer_norm(attended + flat, training=training)
        ffn = self.hidden_dropout(self.feed_forward(flat, training), training=training)
        return tf.reshape(self.output_layer_norm(ffn + flat, training=training), shape)

    def feed_forward(self, flat: tf.Tensor, training=False) -> tf.Tensor:
        """intermediate → activation → output dense, ``[T, H]`` → ``[T, H]`` for ``T`` = batch × sequence tokens.

        Inference is the two Dense layers (oneDNN fuses bias and GELU into the first product). Training computes
        the same arithmetic as ``Σ_b act(x · W1_b + b1_b) · W2_b`` over blocks ``b`` of intermediate units, with
        GELU's gradient written out (``gelu_with_gradient``). On a CPU, narrow, long layers (``ffn_blocks``:
        ELECTRA-small's 256 → 1024 → 256, base's generator) use blocks of 256; everything else one block. Why:
        oneDNN computes the kernel gradients ``xᵀ · dy`` of whole ``[256, 1024]`` and ``[1024, 256]`` kernels
        (sums over thousands of tokens) at about half the speed of four 256-wide products (benchmarks/README.md);
        blocking the layer, rather than only its kernel gradients, also avoids copying the ``[T, 1024]``
        activations into blocks. Wider layers (base's 768 → 3072) run at full speed whole, and GPUs are not
        blocked."""
        if not training or self.intermediate.lora_enabled or self.intermediate.quantization_mode:
            return self.output_dense(self.intermediate(flat))
        blocks = ffn_blocks(self.hidden_size, self.intermediate_size) or [self.intermediate_size]
        dtype = self.compute_dtype
        kernels_in = tf.split(tf.cast(self.intermediate.kernel, dtype), blocks, axis=1)    # [H, b] each
        biases_in = tf.split(tf.cast(self.intermediate.bias, dtype), blocks)
        kernels_out = tf.split(tf.cast(self.output_dense.kernel, dtype), blocks, axis=0)   # [b, H] each
        act = gelu_with_gradient if self.activation_name == "gelu" else self.intermediate.activation
        parts = [tf.matmul(act(tf.nn.bias_add(tf.matmul(flat, k_in), b_in)), k_out)        # [T, H] each
                 for k_in, b_in, k_out in zip(kernels_in, biases_in, kernels_out)]
        return tf.nn.bias_add(tf.add_n(parts), tf.cast(self.output_dense.bias, dtype))

    def named_variables(self) -> NamedVariables:
        return {**dense_variables("attention/self/query", self.query),
                **dense_variables("attention/self/key", self.key),
                **dense_variables("attention/self/value", self.value),
                **dense_variables("attention/output/dense", self.attention_output),
                **layer_norm_variables("attention/output/LayerNorm", self.attention_layer_norm),
                **dense_variables("intermediate/dense", self.intermediate),
                **dense_variables("output/dense", self.output_dense),
                **layer_norm_variables("output/LayerNorm", self.output_layer_norm)}


class Encoder(keras.layers.Layer):
    """Embeddings (possibly shared) → projection to ``H`` when ``E != H`` → ``L`` transformer blocks.

    ``call`` returns ``[B, S, H]``, or with ``output_hidden_states`` a list of ``L + 1`` such tensors
    (the projected embedding output first), as Hugging Face's ``hidden_states``.
    """

    def __init__(self, config: ModelConfig, encoder: EncoderConfig, embeddings: Embeddings | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.config, self.encoder_config = config, encoder
        self.owns_embeddings = embeddings is None
        self.embeddings = Embeddings(config, name="embeddings", dtype=self.dtype_policy) if embeddings is None \
            else embeddings
        self.embeddings_project = None
        if config.embedding_size != encoder.hidden_size:
            self.embeddings_project = dense(encoder.hidden_size, config, "embeddings_project", self.dtype_policy)
        self.blocks = [TransformerBlock(config, encoder, name=f"layer_{i}", dtype=self.dtype_policy)
                       for i in range(encoder.num_hidden_layers)]

    def build(self, input_shape=None):
        if not self.embeddings.built:
            self.embeddings.build()
        if self.embeddings_project is not None:
            self.embeddings_project.build((None, None, self.config.embedding_size))
        for block in self.blocks:
            block.build()
        self.built = True

    def call(self, input_ids, input_mask, segment_ids, training=False, output_hidden_states=False):
        hidden = self.embeddings(input_ids, segment_ids, training=training)
        if self.embeddings_project is not None:
            hidden = self.embeddings_project(hidden)
        bias = attention_bias(input_mask)
        states = [hidden]
        for block in self.blocks:
            hidden = block(hidden, bias, training=training)
            states.append(hidden)
        return states if output_hidden_states else hidden

    def named_variables(self, include_embeddings: bool = True) -> NamedVariables:
        names: NamedVariables = {}
        if include_embeddings:
            names.update(prefixed("embeddings", self.embeddings.named_variables()))
        if self.embeddings_project is not None:
            names.update(dense_variables("embeddings_project", self.embeddings_project))
        for i, block in enumerate(self.blocks):
            names.update(prefixed(f"encoder/layer_{i}", block.named_variables()))
        return names


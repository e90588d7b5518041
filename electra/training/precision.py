"""The warning a bf16 run gets on a CPU that would make it slower: the slowdown is measured on the spot, on one
ELECTRA-small transformer block, because it depends on the CPU and the TensorFlow build."""
from __future__ import annotations

import time

from electra.runtime import cpu_info, native_bf16


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bf16_slowdown(batch: int = 16, seq: int = 128, repeats: int = 5) -> float:
    """Time of one ELECTRA-small transformer block (``electra.modeling.TransformerBlock``, ``[batch, seq, 256]``,
    forward and backward with dropout, as in training) under the ``mixed_bfloat16`` policy over the same in
    ``float32``, on this CPU, best of ``repeats``: attention, softmax, LayerNorm and the casts count, not only
    the matrix products, so the ratio says what a bf16 run costs here (> 1: bf16 is slower)."""
    import tensorflow as tf

    from electra.configs import preset
    from electra.modeling.layers import TransformerBlock, attention_bias
    config = preset("small")
    best = {}
    with tf.device("/CPU:0"):
        hidden = tf.random.stateless_normal([batch, seq, config.hidden_size], seed=[1, 2])
        bias = attention_bias(tf.ones([batch, seq], tf.int32))
        for policy in ("float32", "mixed_bfloat16"):
            block = TransformerBlock(config, config.discriminator, dtype=policy)
            block.build()

            @tf.function
            def step(hidden, block=block):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(tf.cast(block(hidden, bias, training=True), tf.float32))
                return tape.gradient(loss, block.trainable_variables)

            step(hidden)[0].numpy()
            best[policy] = min(_seconds(lambda: step(hidden)[0].numpy()) for _ in range(repeats))
    return best["mixed_bfloat16"] / best["float32"]


def bf16_warning(precision: str) -> str | None:
    """The warning for ``precision == "bf16"`` on a CPU-only run without native bf16, with the slowdown measured
    here and now; ``None`` when bf16 is not asked for, a GPU is visible, or the CPU has native bf16."""
    if precision != "bf16":
        return None
    import tensorflow as tf
    if tf.config.list_physical_devices("GPU"):
        return None
    info = cpu_info()
    if native_bf16(info):
        return None
    ratio = bf16_slowdown()
    return (f"--trainer.precision=bf16 on a CPU without native bf16 ({info['model']}: no AVX-512 BF16 or AMX): an "
            f"ELECTRA-small transformer block (forward and backward) took {ratio:.2f}x as long in bf16 as in fp32 "
            f"on this machine just now (bf16 arithmetic is converted to fp32 here; it pays off only with native "
            f"bf16); --trainer.precision=fp32 is the setting to compare with")

"""The machine a benchmark ran on, for its JSON: a speed figure means nothing without the CPU model and ISA
flags (AVX-512 BF16 and AMX change bf16 and int8 speed by multiples), so every benchmark records them."""
from __future__ import annotations

import os
import platform
import time

ISA_FLAGS = ("avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_info() -> dict:
    """``{"model", "logical_cpus", "isa": {flag: bool}, "amx"}`` from ``/proc/cpuinfo`` (Linux)."""
    model, flags = None, None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model is None:
                    model = value.strip()
                elif key.strip() == "flags" and flags is None:
                    flags = set(value.split())
    except OSError:
        pass
    flags = flags or set()
    return {"model": model or platform.processor() or "unknown", "logical_cpus": os.cpu_count(),
            "isa": {flag: flag in flags for flag in ISA_FLAGS},
            "amx": any(flag.startswith("amx") for flag in flags)}


def native_bf16(info: dict | None = None) -> bool:
    """Whether this CPU computes bf16 matrix products natively (AVX-512 BF16 or AMX). Without it oneDNN converts
    to fp32 and back, and bf16 is slower than fp32, not faster."""
    info = info or cpu_info()
    return bool(info["isa"].get("avx512_bf16") or info["isa"].get("amx_bf16"))


def onednn_enabled() -> bool:
    """Whether this TensorFlow process runs oneDNN's CPU kernels and graph rewrites (``TF_ENABLE_ONEDNN_OPTS``, read
    when TensorFlow loaded; importing ``electra`` first turns it on, see the package docstring)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return False


def matmul_flops_per_second(dtype: str = "fp32", size: int = 2048, repeats: int = 5) -> float:
    """The best FLOP/s of a ``[size, size] × [size, size]`` TensorFlow matrix product on the CPU in ``fp32`` or
    ``bf16`` (after one untimed run): the machine's measured matmul peak, the denominator of ``achieved/peak``."""
    import tensorflow as tf
    with tf.device("/CPU:0"):
        a = tf.cast(tf.random.stateless_normal([size, size], seed=[1, 2]), {"fp32": tf.float32,
                                                                              "bf16": tf.bfloat16}[dtype])
        best = min(_seconds(lambda: tf.linalg.matmul(a, a).numpy()) for _ in range(repeats + 1))
    return 2.0 * size ** 3 / best


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bf16_slowdown(batch: int = 16, seq: int = 128, repeats: int = 5) -> float:
    """Time of one ELECTRA-small transformer block (``electra.modeling.TransformerBlock``, ``[batch, seq, 256]``,
    forward and backward with dropout, as in training) under the ``mixed_bfloat16`` policy over the same in
    ``float32``, on this CPU, best of ``repeats``: attention, softmax, LayerNorm and the casts count, not only
    the matrix products, so the ratio says what a bf16 run costs here (> 1: bf16 is slower). About a second."""
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


def resolve_xla(setting: bool | None) -> bool:
    """``--trainer.xla``: an explicit true/false stands; unset means on with a GPU, off on a CPU-only machine
    (XLA's CPU backend is slower there than TensorFlow's oneDNN kernels: ``benchmark_pretraining.py``)."""
    if setting is not None:
        return bool(setting)
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))

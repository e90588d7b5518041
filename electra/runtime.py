"""What this process runs on, and the defaults that follow from it: the CPU's ISA (native bf16 or not), whether
TensorFlow loaded oneDNN's CPU kernels, and whether XLA is on when ``--trainer.xla`` is unset."""
from __future__ import annotations

import os
import platform

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


def resolve_xla(setting: bool | None) -> bool:
    """``--trainer.xla``: an explicit true/false stands; unset means on with a GPU, off on a CPU-only machine
    (XLA's CPU backend is slower there than TensorFlow's oneDNN kernels: benchmarks/README.md)."""
    if setting is not None:
        return bool(setting)
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))

"""The machine a benchmark ran on, for its JSON: a speed figure means nothing without the CPU model and ISA
flags (AVX-512 BF16 and AMX change bf16 and int8 speed by multiples), so every benchmark records them."""
from __future__ import annotations

import os
import platform

ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


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

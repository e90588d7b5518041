"""The machine facts benchmarks and runs rely on: the measured matmul peak, the bf16 warning for CPUs without
native bf16, and the XLA default."""
from electra import machine


def test_matmul_peak_is_a_plausible_rate():
    rate = machine.matmul_flops_per_second("fp32", size=256, repeats=2)
    assert 1e8 < rate < 1e14


def test_bf16_warning_names_the_cpu_and_the_measured_ratio(monkeypatch):
    without = {"model": "Test CPU", "logical_cpus": 2, "isa": {"avx2": True, "avx512_bf16": False,
                                                               "amx_bf16": False}, "amx": False}
    monkeypatch.setattr(machine, "cpu_info", lambda: without)
    monkeypatch.setattr(machine, "bf16_slowdown", lambda: 1.87)
    message = machine.bf16_warning("bf16")
    assert "Test CPU" in message and "1.87x" in message and "--trainer.precision=fp32" in message
    assert machine.bf16_warning("fp32") is None
    native = {**without, "isa": {**without["isa"], "avx512_bf16": True}}
    monkeypatch.setattr(machine, "cpu_info", lambda: native)
    assert machine.bf16_warning("bf16") is None


def test_bf16_slowdown_is_measured():
    ratio = machine.bf16_slowdown(batch=2, seq=16, repeats=1)
    assert 0.05 < ratio < 50


def test_xla_default_follows_the_device(monkeypatch):
    import tensorflow as tf
    assert machine.resolve_xla(True) is True and machine.resolve_xla(False) is False
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert machine.resolve_xla(None) is False
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu"] if kind == "GPU" else [])
    assert machine.resolve_xla(None) is True

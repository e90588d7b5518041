"""``electra.training.precision``: the bf16 warning for CPUs without native bf16 and the slowdown it measures."""
from electra.training import precision


def test_bf16_warning_names_the_cpu_and_the_measured_ratio(monkeypatch):
    without = {"model": "Test CPU", "logical_cpus": 2, "isa": {"avx2": True, "avx512_bf16": False,
                                                               "amx_bf16": False}, "amx": False}
    monkeypatch.setattr(precision, "cpu_info", lambda: without)
    monkeypatch.setattr(precision, "bf16_slowdown", lambda: 1.87)
    message = precision.bf16_warning("bf16")
    assert "Test CPU" in message and "1.87x" in message and "--trainer.precision=fp32" in message
    assert precision.bf16_warning("fp32") is None
    native = {**without, "isa": {**without["isa"], "avx512_bf16": True}}
    monkeypatch.setattr(precision, "cpu_info", lambda: native)
    assert precision.bf16_warning("bf16") is None


def test_bf16_slowdown_is_measured():
    ratio = precision.bf16_slowdown(batch=2, seq=16, repeats=1)
    assert 0.05 < ratio < 50

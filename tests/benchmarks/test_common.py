"""``benchmarks.common`` and ``benchmarks.peer``: alternating rounds, the ratio, a peer that is absent, the measured
matmul peak, and the machine record the benchmarks write."""
import json
import os
import statistics
import subprocess
import sys

import pytest

from benchmarks import common, peer as peer_worker

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _FakePeer:
    """Answers ``run`` with the next of ``seconds``; appends "peer" to ``order`` (when given) at each call."""
    available = True

    def __init__(self, seconds, order=None):
        self.seconds, self.calls, self.order = list(seconds), [], order

    def call(self, cmd, **args):
        self.calls.append((cmd, args))
        if self.order is not None:
            self.order.append("peer")
        return {"seconds": [self.seconds.pop(0)] * args["steps"]}


def test_alternate_interleaves_and_takes_the_median_of_per_round_ratios():
    order = []
    ours = iter([1.0, 2.0, 1.0])
    peer = _FakePeer([3.0, 3.0, 1.5], order)

    def our_round(steps):
        order.append("ours")
        return next(ours)
    out = common.alternate(our_round, peer, rounds=3, steps=2)
    assert order == ["ours", "peer"] * 3
    assert out["ours_median_seconds_per_step"] == 1.0 and out["peer_median_seconds_per_step"] == 3.0
    assert out["speedup_over_peer"] == 1.5          # ratios 3, 1.5, 1.5: not 3.0 / 1.0 of the two medians


def test_other_runtimes_run_in_the_same_rounds_and_are_compared_round_by_round():
    order = []
    ours, onnx = iter([1.0, 2.0, 1.0]), iter([0.5, 2.0, 2.0])
    peer = _FakePeer([3.0, 3.0, 1.5], order)
    out = common.alternate(lambda steps: order.append("ours") or next(ours), peer, rounds=3, steps=2,
                                    others={"onnx": lambda steps: order.append("onnx") or next(onnx)})
    assert order == ["ours", "onnx", "peer"] * 3
    onnx_entry = out["others"]["onnx"]
    assert onnx_entry["seconds_per_step"] == [0.5, 2.0, 2.0] and onnx_entry["median_seconds_per_step"] == 2.0
    assert onnx_entry["speed_relative_to_ours"] == 1.0      # ours/it per round: 2, 1, 0.5
    assert onnx_entry["speedup_over_peer"] == 1.5           # peer/it per round: 6, 1.5, 0.75
    assert out["speedup_over_peer"] == 1.5                  # ours against the peer is unchanged by the others


def test_the_peak_is_measured_right_after_ours_in_every_round_and_the_fraction_is_taken_round_by_round():
    order = []
    ours, peaks = iter([2.0, 4.0, 2.0]), iter([100.0, 50.0, 160.0])
    peer = _FakePeer([3.0, 3.0, 3.0], order)
    out = common.alternate(lambda steps: order.append("ours") or next(ours), peer, rounds=3, steps=1,
                                    peak=lambda: order.append("peak") or next(peaks))
    assert order == ["ours", "peak", "peer"] * 3
    assert out["peak_flops_per_second"] == [100.0, 50.0, 160.0]
    # 100 FLOP a step: per round 50/100, 25/50, 50/160 -> median 0.5, where the median step (2 s) against the
    # best peak (160) would give 0.3125: the slow round's peak moved with its step
    fraction = common.fraction_of_peak_by_round(100.0, out["ours_seconds_per_step"],
                                                         out["peak_flops_per_second"])
    assert fraction == 0.5
    with pytest.raises(ValueError):
        common.fraction_of_peak_by_round(100.0, [1.0, 2.0], [10.0])


def test_the_peer_runs_bf16_only_where_the_cpu_computes_it_natively():
    plain = {"model": "Plain", "isa": {"avx2": True, "avx512_bf16": False, "amx_bf16": False}}
    native = {"model": "Zen 4", "isa": {"avx2": True, "avx512_bf16": True, "amx_bf16": False}}
    for cpu in (plain, native):
        assert common.peer_skip_reason("fp32", cpu) is None
    assert common.peer_skip_reason("bf16", native) is None
    assert "native bf16" in common.peer_skip_reason("bf16", plain)
    assert "fp16" in common.peer_skip_reason("fp16", native)
    assert peer_worker.PEER_PRECISIONS == ("fp32", "bf16")


def test_matmul_peak_is_a_plausible_rate():
    rate = common.matmul_flops_per_second("fp32", size=256, repeats=2)
    assert 1e8 < rate < 1e14


def test_the_machine_record_names_the_cpu_its_isa_and_the_versions():
    record = common.machine_record(fresh_pages=False)
    assert record["cpu"]["logical_cpus"] >= 1 and record["cpu"]["isa"].keys() >= {"avx2", "avx512_bf16"}
    assert record["date"].endswith("+00:00") and len(record["load_average"]) == 3
    assert common.versions("no-such-package-xyz") == {**common.versions(), "no-such-package-xyz": None}


def test_without_a_peer_only_ours_is_reported():
    out = common.alternate(lambda steps: 2.0, None, rounds=2, steps=1)
    assert out["ours_seconds_per_step"] == [2.0, 2.0] and "speedup_over_peer" not in out


def test_a_python_without_torch_reports_the_peer_unavailable(tmp_path):
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; sys.modules[\"torch\"] = None; "
                    f"sys.argv = sys.argv[1:]; exec(open(sys.argv[0]).read())' \"$@\"\n")
    fake.chmod(0o755)
    peer = common.Peer(str(fake))
    assert not peer.available and "torch" in peer.info["reason"]
    assert not common.Peer(None).available


_REFAULTS = """
import resource, sys
from benchmarks import peer
if sys.argv[1] == "reuse":
    print(peer.reuse_freed_memory(), file=sys.stderr)
size = 64 << 20
block = bytearray(size)                    # a large block, written page by page, then freed
del block
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = bytearray(size)                    # the next step's block of the same size
block[::4096] = b"\\1" * (size // 4096)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and Linux page-fault counts")
def test_the_peers_malloc_setting_reuses_a_freed_large_block_instead_of_faulting_in_fresh_pages():
    def refaults(mode):
        run = subprocess.run([sys.executable, "-c", _REFAULTS, mode], cwd=ROOT, check=True, capture_output=True,
                             text=True)
        return int(run.stdout), run.stderr
    pages = (64 << 20) // 4096
    default, _ = refaults("default")
    reused, said = refaults("reuse")
    assert default > pages // 2                  # glibc gave the block back to the kernel: every page faults again
    assert reused < pages // 20 and said.startswith("glibc heap reused")
    assert common.fresh_page_microseconds(megabytes=8, repeats=1) >= 0


@pytest.mark.slow
def test_pretraining_benchmark_writes_the_machine_the_peak_and_our_fraction_of_it(tmp_path):
    path = tmp_path / "out.json"
    subprocess.run([sys.executable, "benchmarks/pretraining.py", "--sizes=tiny", "--seq_lengths=32",
                    "--batch_size=4", "--rounds=2", "--steps=1", "--warmup_steps=1", "--peer_python=none",
                    f"--output={path}"], cwd=ROOT, check=True, capture_output=True)
    document = json.loads(path.read_text())
    assert document["machine"]["cpu"]["isa"].keys() >= {"avx2", "avx512_bf16", "amx_bf16"}
    assert document["machine"]["fresh_page_microseconds"] >= 0
    assert document["peer"]["available"] is False
    peak = document["matmul_peak_flops_per_second"]["best"]["fp32"]
    (result,) = document["results"]
    ours = result["ours"]
    assert ours["achieved_over_peak"] == pytest.approx(ours["achieved_flops_per_second"] / peak)
    timing = result["timing"]
    assert len(timing["ours_seconds_per_step"]) == 2 and "targets" not in result
    assert len(timing["peak_flops_per_second"]) == 2 and all(p > 1e8 for p in timing["peak_flops_per_second"])
    assert ours["achieved_over_peak_same_round"] == pytest.approx(statistics.median(
        ours["model_flops_per_step"] / s / p
        for s, p in zip(timing["ours_seconds_per_step"], timing["peak_flops_per_second"])))


@pytest.mark.slow
def test_squad_benchmark_times_the_exported_model_in_the_serving_runtimes_in_the_same_rounds():
    result = subprocess.run([sys.executable, "benchmarks/squad.py", "--model_sizes=tiny",
                             "--max_seq_length=32", "--predict_batch_size=2", "--rounds=2", "--steps=1",
                             "--warmup_steps=1", "--skip_training", "--peer_python=none"],
                            cwd=ROOT, check=True, capture_output=True, text=True)
    machine, inference = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert machine["task"] == "machine" and inference["task"] == "inference"
    peak = machine["matmul_peak_flops_per_second"]["best"]["fp32"]
    assert set(inference["runtimes"]) == {"saved_model", "openvino", "onnxruntime"}
    for name, runtime in inference["runtimes"].items():
        seconds = inference["timing"]["others"][name]["seconds_per_step"]
        assert len(seconds) == 2 and runtime["seq_per_s"] == pytest.approx(2 / statistics.median(seconds))
        assert runtime["achieved_over_peak"] == pytest.approx(runtime["achieved_flops_per_second"] / peak)
        ratios = [o / s for o, s in zip(inference["timing"]["ours_seconds_per_step"], seconds)]
        assert runtime["speed_relative_to_ours"] == pytest.approx(statistics.median(ratios))
        assert "speedup_over_peer" not in runtime
    bound = inference["matmul_bound"]                  # the products alone, in the same rounds
    seconds = inference["timing"]["others"]["matmul_bound"]["seconds_per_step"]
    assert len(seconds) == 2 and bound["seq_per_s"] == pytest.approx(2 / statistics.median(seconds))
    assert bound["achieved_flops_per_second"] == pytest.approx(inference["model_flops_per_step"] / statistics.median(
        seconds))

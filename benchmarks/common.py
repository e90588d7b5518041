"""What every benchmark shares: the record of the machine and versions it ran on (a speed figure means nothing
without the CPU model and ISA flags: AVX-512 BF16 and AMX change bf16 speed by multiples), the peer process and the
alternation of timed rounds with it (a drift in clock speed or load moves both sides), the measured matrix-product
peak, and the JSON output."""
from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from functools import partial

from benchmarks.peer import PEER_PRECISIONS, timed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def versions(*extra: str) -> dict:
    """Python's version and the installed versions of TensorFlow, Keras, NumPy, electra and ``extra`` packages
    (``None``: not installed)."""
    from importlib import metadata
    out = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "numpy", "electra", *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine_record(fresh_pages: bool = True) -> dict:
    """The machine a benchmark ran on: CPU model and ISA flags, platform, load average, UTC time, the oneDNN switch
    TensorFlow read at start-up and (when TensorFlow is loaded) whether oneDNN is in fact on, and with
    ``fresh_pages`` what writing a fresh page costs (the peer's allocator pays it on every step)."""
    from electra.runtime import cpu_info, onednn_enabled
    record = {"cpu": cpu_info(), "platform": platform.platform(), "load_average": os.getloadavg(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}
    if "tensorflow" in sys.modules:
        record["onednn"] = onednn_enabled()
    if fresh_pages:
        record["fresh_page_microseconds"] = fresh_page_microseconds()
    return record


def fresh_page_microseconds(megabytes: int = 64, repeats: int = 3) -> float:
    """What writing a freshly mapped page costs over rewriting a page already mapped, in microseconds (the
    best of ``repeats``): private anonymous ``mmap`` regions of ordinary pages, as glibc maps a large block."""
    import mmap

    import numpy as np
    size, page = megabytes << 20, mmap.PAGESIZE
    fresh, again = [], []
    for _ in range(repeats):
        region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        pages = np.frombuffer(region, dtype=np.uint8)
        fresh.append(timed(partial(pages.fill, 1)))
        again.append(timed(partial(pages.fill, 2)))
        del pages                                     # the buffer's last user: the region can close
        region.close()
    return max(0.0, (min(fresh) - min(again)) / (size // page) * 1e6)


def matmul_flops_per_second(dtype: str = "fp32", size: int = 2048, repeats: int = 5) -> float:
    """The best FLOP/s of a ``[size, size] × [size, size]`` TensorFlow matrix product on the CPU in ``fp32`` or
    ``bf16`` (after one untimed run): the machine's measured matmul peak, the denominator of ``achieved/peak``."""
    import tensorflow as tf
    with tf.device("/CPU:0"):
        a = tf.cast(tf.random.stateless_normal([size, size], seed=[1, 2]), {"fp32": tf.float32,
                                                                              "bf16": tf.bfloat16}[dtype])
        best = min(timed(lambda: tf.linalg.matmul(a, a).numpy()) for _ in range(repeats + 1))
    return 2.0 * size ** 3 / best


def comma_list(text: str) -> list[str]:
    """``--sizes=small,base`` → ``["small", "base"]`` (blanks dropped): the list flags of every benchmark."""
    return [part.strip() for part in text.split(",") if part.strip()]


def write_json(document: dict, path: str | None) -> None:
    """Print ``document`` and, with ``path``, write it there (parent folders made)."""
    text = json.dumps(document, indent=2)
    print(text)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text + "\n")


def emit_line(record: dict, path: str | None) -> None:
    """Print ``record`` as one JSON line and, with ``path``, append it there."""
    line = json.dumps(record)
    print(line, flush=True)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class Peer:
    """The peer process (``benchmarks/peer.py``), started with ``python`` (``None``: the peer is switched off).
    ``available`` and ``info`` say what started; ``call(cmd, **args)`` returns its reply or raises with its error."""

    def __init__(self, python: str | None):
        self.process, self.info = None, {"available": False, "reason": "switched off (--peer_python=none)"}
        import tensorflow as tf
        if python and tf.config.list_physical_devices("GPU"):
            # The worker runs PyTorch on the CPU: beside our GPU step its figure would mean nothing.
            self.info["reason"] = "a GPU is visible: the CPU peer is not comparable (see NVIDIA's published figures)"
            return
        if not python:
            return
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        self.process = subprocess.Popen([python, os.path.join(ROOT, "benchmarks", "peer.py")],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = self.process.stdout.readline()
        self.info = json.loads(line) if line else {"available": False, "reason": f"{python} exited"}
        if not self.available:
            self.close()

    @property
    def available(self) -> bool:
        return bool(self.info.get("available"))

    def call(self, cmd: str, **args) -> dict:
        self.process.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        if "error" in reply:
            raise RuntimeError(f"peer {cmd}: {reply['error']}")
        return reply

    def close(self):
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)
        self.process = None


def alternate(ours, peer: Peer | None, rounds: int, steps: int, others: dict | None = None, peak=None) -> dict:
    """``rounds`` rounds of ``steps`` timed steps: ours, then each of ``others`` (name -> a round function like
    ours: the same work in another runtime), then the peer's. ``ours(steps)`` returns seconds per step over the
    round. Returns the per-round seconds per step of all and the median of the per-round ratios peer/ours
    (> 1: ours is faster); for each of ``others`` the median of its per-round ratios ours/it
    (``speed_relative_to_ours``, > 1: it is faster than ours) and peer/it. ``peak()`` (optional) returns the
    machine's matrix-product FLOP/s; it runs right after ours in every round (``peak_flops_per_second``), so
    achieved/peak can be taken round by round, as the ratio to the peer is."""
    others = others or {}
    ours_rounds, peer_rounds, peak_rounds, other_rounds = [], [], [], {name: [] for name in others}
    for _ in range(rounds):
        ours_rounds.append(ours(steps))
        if peak is not None:
            peak_rounds.append(peak())
        for name, other in others.items():
            other_rounds[name].append(other(steps))
        if peer is not None and peer.available:
            peer_rounds.append(statistics.fmean(peer.call("run", steps=steps)["seconds"]))
    out = {"rounds": rounds, "steps_per_round": steps, "ours_seconds_per_step": ours_rounds,
           "ours_median_seconds_per_step": statistics.median(ours_rounds)}
    if peak_rounds:
        out["peak_flops_per_second"] = peak_rounds
    if peer_rounds:
        out.update(peer_seconds_per_step=peer_rounds, peer_median_seconds_per_step=statistics.median(peer_rounds),
                   speedup_over_peer=statistics.median(p / o for p, o in zip(peer_rounds, ours_rounds)))
    if others:
        out["others"] = {}
        for name, seconds in other_rounds.items():
            entry = {"seconds_per_step": seconds, "median_seconds_per_step": statistics.median(seconds),
                     "speed_relative_to_ours": statistics.median(o / s for o, s in zip(ours_rounds, seconds))}
            if peer_rounds:
                entry["speedup_over_peer"] = statistics.median(p / s for p, s in zip(peer_rounds, seconds))
            out["others"][name] = entry
    return out


def matmul_peaks(peer: Peer | None, size: int = 2048, before: dict | None = None) -> dict:
    """This machine's measured fp32 and bf16 matrix-product FLOP/s, with TensorFlow (ours) and PyTorch (the peer,
    when available); ``best`` is the highest of each dtype, the denominator of ``achieved/peak``. With ``before``
    (an earlier measurement in the same run) each figure is the higher of the two: the benchmarks measure the
    peak before and after their rounds, so a slow moment cannot lower the bar."""
    peaks = {"size": size, "tensorflow": {d: matmul_flops_per_second(d, size) for d in ("fp32", "bf16")}}
    if peer is not None and peer.available:
        peaks["pytorch"] = {d: peer.call("matmul_peak", dtype=d, size=size)["flops_per_second"]
                            for d in ("fp32", "bf16")}
    for lib in ("tensorflow", "pytorch"):
        if before and lib in before and lib in peaks:
            peaks[lib] = {d: max(peaks[lib][d], before[lib][d]) for d in peaks[lib]}
    peaks["best"] = {d: max(peaks[lib][d] for lib in ("tensorflow", "pytorch") if lib in peaks)
                     for d in ("fp32", "bf16")}
    return peaks


def peer_skip_reason(precision: str, cpu: dict | None = None) -> str | None:
    """Why the peer does not run beside ours in ``precision`` (``None``: it does). It runs fp32 everywhere and
    bf16 (autocast) where the CPU computes bf16 natively: elsewhere PyTorch's bf16 products crawl (a small
    fraction of its fp32 rate) and the ratio would only measure that."""
    from electra.runtime import native_bf16
    if precision == "bf16" and not native_bf16(cpu):
        return "the peer runs bf16 only on a CPU with native bf16 (AVX-512 BF16 or AMX); this one has neither"
    if precision not in PEER_PRECISIONS:
        return f"the peer runs {' and '.join(PEER_PRECISIONS)} (asked: {precision})"
    return None


def round_peak(peer: Peer | None, dtype: str, repeats: int = 5) -> float:
    """The best matrix-product FLOP/s of TensorFlow and (when available) the peer's PyTorch in ``dtype``, measured
    now, as ``matmul_peaks`` measures it: ``alternate``'s ``peak`` for one round."""
    rates = [matmul_flops_per_second(dtype, repeats=repeats)]
    if peer is not None and peer.available:
        rates.append(peer.call("matmul_peak", dtype=dtype, repeats=repeats)["flops_per_second"])
    return max(rates)


def fraction_of_peak_by_round(flops: float, seconds: list[float], peaks: list[float]) -> float:
    """The median over rounds of (``flops`` / that round's seconds) / that round's peak: achieved/peak measured
    side by side, so a slow stretch of the machine lowers both sides of each ratio."""
    return statistics.median(flops / s / p for s, p in zip(seconds, peaks, strict=True))


def add_fractions_of_peak(sides: list[dict], peaks: dict, precision: str) -> None:
    """``achieved_over_peak`` on each side that has ``achieved_flops_per_second`` (bf16 runs against the bf16
    peak, fp32 and fp16 against fp32)."""
    peak = peaks["best"]["bf16" if precision == "bf16" else "fp32"]
    for side in sides:
        if "achieved_flops_per_second" in side:
            side["achieved_over_peak"] = side["achieved_flops_per_second"] / peak


def squad_batch(rng, batch: int, seq: int, vocab: int, training: bool) -> dict:
    """Random SQuAD features ``[batch, seq]`` (int32), with span labels when ``training``."""
    import numpy as np
    ids = rng.integers(5, vocab, size=(batch, seq)).astype(np.int32)
    out = {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)}
    out["segment_ids"][:, 64:] = 1
    if training:
        out["start_positions"] = rng.integers(0, seq, size=batch).astype(np.int32)
        out["end_positions"] = np.minimum(out["start_positions"] + 3, seq - 1).astype(np.int32)
        out["is_impossible"] = np.zeros(batch, np.int32)
    return out


def fine_tune_trainer(model, precision: str = "fp32", xla: bool = False):
    """The fine-tuning step the SQuAD benchmarks time: the fine-tuning optimizer at 1e-5 and the span loss."""
    from electra.tasks.squad import SquadTask, span_loss
    from electra.training.optimization import make_optimizer
    from electra.training.trainer import Trainer
    optimizer = make_optimizer("layerwise_adamw", 1e-5, model.named_variables(), loss_scale=precision == "fp16")
    return Trainer(model, optimizer, lambda m, b: span_loss(m(b, training=True), b), SquadTask.metric_names, xla=xla)

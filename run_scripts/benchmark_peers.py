"""The peer the benchmarks compare with, measured in the same run: Hugging Face transformers ELECTRA on PyTorch.

The benchmark scripts start this file as a second process (``--peer_python``; default: the interpreter running
the benchmark) and alternate timed rounds with it, ours then the peer's, so both see the same machine at the same
time: a drift in clock speed or a neighbour's load moves both, and the median of the per-round ratios is the
figure reported. A separate process keeps the two frameworks' thread pools from competing; it imports neither
TensorFlow nor this package, so the peer may live in another virtual environment.

What the peer runs (the same shapes and hyper-parameters as ours, sent by the parent as our ``ModelConfig``):

* ``pretraining``: ``ElectraForMaskedLM`` (generator) + ``ElectraForPreTraining`` (discriminator) sharing the
  embeddings and tying the generator's output to the word table, as Hugging Face's ELECTRA pretraining example;
  the generator samples the replacements at the masked positions; loss = MLM + 50 × RTD; ``torch.optim.AdamW``
  with global-norm clipping at 1.0. Hugging Face computes the generator's vocabulary logits at every position
  (ours: at the masked ones only), so its model FLOPs are reported separately.
* ``squad_train``: ``ElectraForQuestionAnswering``, start/end cross-entropy, AdamW, clipping.
* ``squad_infer``: ``ElectraForQuestionAnswering`` under ``torch.inference_mode()``.
* ``matmul_peak``: the best FLOP/s of a square fp32 or bf16 matrix product (PyTorch's BLAS).

Precision: fp32, or ``bf16`` as PyTorch's CPU mixed precision (``torch.autocast``: fp32 weights and optimizer,
the forward pass in bf16), which is what Keras' ``mixed_bfloat16`` policy does on our side. The benchmarks run
the bf16 peer only where the CPU computes bf16 natively (``peer_skip_reason``).

Memory: the peer keeps freed memory for reuse (``reuse_freed_memory``: glibc's malloc without ``mmap`` for large
blocks and without trimming), what Intel's PyTorch CPU guides get from jemalloc/tcmalloc, without an extra
library. PyTorch allocates every large activation afresh, and glibc hands blocks over 32 MB back to the kernel
on free, so each step would fault in new pages; on a virtual machine a fresh page can cost microseconds
(``machine_record``'s ``fresh_page_microseconds``). On this workplace's VM that once made the peer's SQuAD
inference 1.7× and its pretraining step 1.4× slower. Ours runs as shipped (TensorFlow reuses its buffers).

Protocol: one JSON object per line each way. The first line the worker writes says whether the peer is
available (``{"available": false, "reason": ...}`` when torch/transformers do not import).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from functools import partial

PEER = "Hugging Face transformers ElectraFor* on PyTorch (eager), torch.optim.AdamW"
PEER_PRECISIONS = ("fp32", "bf16")   # bf16: torch.autocast on the CPU, fp32 weights (Keras' mixed_bfloat16)


# ----------------------------------------------------------------------------------------------- the worker side
def _hf_config(model: dict, generator: bool):
    from transformers import ElectraConfig
    prefix = "generator_" if generator else ""
    return ElectraConfig(
        vocab_size=model["vocab_size"], embedding_size=model["embedding_size"],
        hidden_size=model[prefix + "hidden_size"], num_hidden_layers=model[prefix + "num_hidden_layers"],
        num_attention_heads=model[prefix + "num_attention_heads"],
        intermediate_size=model[prefix + "intermediate_size"], hidden_act=model["hidden_act"],
        hidden_dropout_prob=model["hidden_dropout_prob"],
        attention_probs_dropout_prob=model["attention_probs_dropout_prob"],
        max_position_embeddings=model["max_position_embeddings"], type_vocab_size=model["type_vocab_size"],
        layer_norm_eps=model["layer_norm_eps"], initializer_range=model["initializer_range"])


class _Worker:
    def __init__(self):
        import torch
        import transformers
        self.torch, self.step = torch, None
        torch.manual_seed(0)
        self.info = {"available": True, "peer": PEER, "torch": torch.__version__,
                     "transformers": transformers.__version__, "torch_threads": torch.get_num_threads(),
                     "python": sys.executable, "malloc": reuse_freed_memory()}

    def setup(self, task: str, model: dict, batch: int, seq: int, predictions: int = 0, lr: float = 1e-4,
              precision: str = "fp32"):
        torch = self.torch
        if precision not in PEER_PRECISIONS:
            raise ValueError(f"the peer runs {PEER_PRECISIONS}, not {precision!r}")
        # bf16 as PyTorch's own mixed precision on the CPU: fp32 weights and optimizer, the forward pass under
        # autocast (matrix products in bf16), as Keras' mixed_bfloat16 policy does on our side
        autocast = partial(torch.autocast, "cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
        from transformers import ElectraForMaskedLM, ElectraForPreTraining, ElectraForQuestionAnswering
        ids = torch.randint(5, model["vocab_size"], (batch, seq))
        mask = torch.ones(batch, seq, dtype=torch.long)
        segments = torch.zeros(batch, seq, dtype=torch.long)
        segments[:, seq // 6:] = 1
        if task == "pretraining":
            disc = ElectraForPreTraining(_hf_config(model, False))
            gen = ElectraForMaskedLM(_hf_config(model, True))
            gen.electra.embeddings = disc.electra.embeddings
            gen.generator_lm_head.weight = disc.electra.embeddings.word_embeddings.weight
            params = list({id(p): p for p in list(disc.parameters()) + list(gen.parameters())}.values())
            optimizer = torch.optim.AdamW(params, lr=lr, eps=1e-6, weight_decay=0.01)
            positions = torch.stack([torch.randperm(seq - 2)[:predictions] + 1 for _ in range(batch)])
            labels = torch.full((batch, seq), -100)
            labels.scatter_(1, positions, ids.gather(1, positions))
            masked = ids.clone()
            masked.scatter_(1, positions, 103)
            disc.train()
            gen.train()

            def step():
                with autocast():
                    out = gen(input_ids=masked, attention_mask=mask, token_type_ids=segments, labels=labels)
                    with torch.no_grad():
                        logits = out.logits.gather(1, positions[..., None].expand(-1, -1, out.logits.shape[-1]))
                        sampled = torch.distributions.Categorical(logits=logits.float()).sample()
                        fake = masked.clone()
                        fake.scatter_(1, positions, sampled)
                        replaced = (fake != ids).float()
                    loss = out.loss + 50.0 * disc(input_ids=fake, attention_mask=mask, token_type_ids=segments,
                                                  labels=replaced).loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                return float(loss.detach())
        elif task in ("squad_train", "squad_infer"):
            qa = ElectraForQuestionAnswering(_hf_config(model, False))
            if task == "squad_train":
                optimizer = torch.optim.AdamW(qa.parameters(), lr=lr, eps=1e-6, weight_decay=0.01)
                starts = torch.randint(0, seq - 4, (batch,))
                qa.train()

                def step():
                    with autocast():
                        loss = qa(input_ids=ids, attention_mask=mask, token_type_ids=segments,
                                  start_positions=starts, end_positions=starts + 3).loss
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(qa.parameters(), 1.0)
                    optimizer.step()
                    return float(loss.detach())
            else:
                qa.eval()

                def step():
                    with torch.inference_mode(), autocast():
                        out = qa(input_ids=ids, attention_mask=mask, token_type_ids=segments)
                    return float(out.start_logits[0, 0])
        else:
            raise ValueError(f"unknown peer task {task!r}")
        self.step = step
        return {"task": task, "precision": precision}

    def run(self, steps: int):
        seconds = []
        for _ in range(steps):
            start = time.perf_counter()
            self.step()
            seconds.append(time.perf_counter() - start)
        return {"seconds": seconds}

    def matmul_peak(self, dtype: str, size: int = 2048, repeats: int = 5):
        torch = self.torch
        kind = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
        # A CPU without native bf16 may run PyTorch's bf16 product at well under 1 GFLOP/s: probe a small
        # product first and shrink the size when one product would take over two seconds.
        probe = torch.randn(512, 512).to(kind)
        rate = 2.0 * 512 ** 3 / min(_timed(lambda: torch.mm(probe, probe)) for _ in range(3))
        if 2.0 * size ** 3 / rate > 2.0:
            size = max(256, int((rate * 1.0 / 2.0) ** (1 / 3)))
        a = torch.randn(size, size).to(kind)
        best = min(_timed(lambda: torch.mm(a, a)) for _ in range(repeats + 1))
        return {"flops_per_second": 2.0 * size ** 3 / best, "size": size}


def reuse_freed_memory() -> str:
    """glibc's malloc set to serve every block from its heap and never give freed memory back (``mallopt``
    ``M_MMAP_MAX`` 0, ``M_TRIM_THRESHOLD`` 2 GiB), so that a step's large buffers reuse the last step's pages
    instead of faulting in fresh ones. Returns what was set, or why nothing was."""
    import ctypes
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "unchanged: no glibc mallopt"
    m_trim_threshold, m_mmap_max = -1, -4
    if mallopt(m_mmap_max, 0) != 1 or mallopt(m_trim_threshold, 2 ** 31 - 1) != 1:
        return "unchanged: mallopt refused"
    return "glibc heap reused (M_MMAP_MAX 0, M_TRIM_THRESHOLD 2 GiB)"


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
        fresh.append(_timed(partial(pages.fill, 1)))
        again.append(_timed(partial(pages.fill, 2)))
        del pages                                     # the buffer's last user: the region can close
        region.close()
    return max(0.0, (min(fresh) - min(again)) / (size // page) * 1e6)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def worker_main() -> int:
    out = sys.stdout
    sys.stdout = sys.stderr            # library chatter must not corrupt the protocol
    try:
        worker = _Worker()
    except Exception as error:         # the peer is optional: report why it is missing
        print(json.dumps({"available": False, "reason": f"{type(error).__name__}: {error}"}), file=out, flush=True)
        return 0
    print(json.dumps(worker.info), file=out, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        command = request.pop("cmd")
        if command == "quit":
            break
        try:
            reply = getattr(worker, command)(**request)
        except Exception as error:
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(reply), file=out, flush=True)
    return 0


# ----------------------------------------------------------------------------------------------- the parent side
class Peer:
    """The worker process, started with ``python`` (``None``: the peer is switched off). ``available`` and
    ``info`` say what started; ``call(cmd, **args)`` returns the worker's reply or raises with its error."""

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
        self.process = subprocess.Popen([python, os.path.abspath(__file__)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
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


def machine_record() -> dict:
    """The machine a benchmark ran on: CPU model and ISA flags, platform, load average, time, the oneDNN switch
    TensorFlow read at start-up and whether oneDNN is in fact on, and what writing a fresh page costs."""
    import platform

    from electra.machine import cpu_info, onednn_enabled
    return {"cpu": cpu_info(), "platform": platform.platform(), "load_average": os.getloadavg(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "onednn": onednn_enabled(),
            "fresh_page_microseconds": fresh_page_microseconds()}


def matmul_peaks(peer: Peer | None, size: int = 2048, before: dict | None = None) -> dict:
    """This machine's measured fp32 and bf16 matrix-product FLOP/s, with TensorFlow (ours) and PyTorch (the peer,
    when available); ``best`` is the highest of each dtype, the denominator of ``achieved/peak``. With ``before``
    (an earlier measurement in the same run) each figure is the higher of the two: the benchmarks measure the
    peak before and after their rounds, so a slow moment cannot lower the bar."""
    from electra.machine import matmul_flops_per_second
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
    bf16 (autocast) where the CPU computes bf16 natively: elsewhere PyTorch's bf16 products crawl (2.4 GFLOP/s
    against 149 in fp32 on an AVX2 EPYC) and the ratio would only measure that."""
    from electra.machine import native_bf16
    if precision == "bf16" and not native_bf16(cpu):
        return "the peer runs bf16 only on a CPU with native bf16 (AVX-512 BF16 or AMX); this one has neither"
    if precision not in PEER_PRECISIONS:
        return f"the peer runs {' and '.join(PEER_PRECISIONS)} (asked: {precision})"
    return None


def round_peak(peer: Peer | None, dtype: str, repeats: int = 5) -> float:
    """The best matrix-product FLOP/s of TensorFlow and (when available) the peer's PyTorch in ``dtype``, measured
    now, as ``matmul_peaks`` measures it: ``alternate``'s ``peak`` for one round (about 1.5 s in fp32)."""
    from electra.machine import matmul_flops_per_second
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


if __name__ == "__main__":
    sys.exit(worker_main())

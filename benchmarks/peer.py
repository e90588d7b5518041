"""The peer the benchmarks compare with, measured in the same run: Hugging Face transformers ELECTRA on PyTorch.

The benchmarks start this file as a second process (``benchmarks.common.Peer``, ``--peer_python``) and alternate
timed rounds with it (``benchmarks.common.alternate``). A separate process keeps the two frameworks' thread pools
apart; it imports neither TensorFlow nor this package, so the peer may live in another virtual environment.

What the peer runs (the same shapes and hyper-parameters as ours, sent by the parent as our ``ModelConfig``):

* ``pretraining``: ``ElectraForMaskedLM`` (generator) + ``ElectraForPreTraining`` (discriminator) sharing the
  embeddings and tying the generator's output to the word table, as Hugging Face's ELECTRA pretraining example;
  the generator samples the replacements at the masked positions; loss = MLM + 50 × RTD; ``torch.optim.AdamW``
  with global-norm clipping at 1.0. Hugging Face computes the generator's vocabulary logits at every position
  (ours: at the masked ones only), so its model FLOPs are reported separately.
* ``squad_train``: ``ElectraForQuestionAnswering``, start/end cross-entropy, AdamW, clipping.
* ``squad_infer``: ``ElectraForQuestionAnswering`` under ``torch.inference_mode()``.
* ``classify_train``, ``classify_infer``: the same for ``ElectraForSequenceClassification`` (``num_labels``
  classes, cross-entropy on random labels).
* ``matmul_peak``: the best FLOP/s of a square fp32 or bf16 matrix product (PyTorch's BLAS).

Precision: fp32, or ``bf16`` as PyTorch's CPU mixed precision (``torch.autocast``: fp32 weights and optimizer,
the forward pass in bf16), which is what Keras' ``mixed_bfloat16`` policy does on our side. The benchmarks run
the bf16 peer only where the CPU computes bf16 natively (``peer_skip_reason``).

Memory: the peer keeps freed memory for reuse (``reuse_freed_memory``), what Intel's PyTorch CPU guides get from
jemalloc/tcmalloc: PyTorch allocates every large activation afresh and glibc hands blocks over 32 MB back to the
kernel, so each step would fault in fresh pages (``fresh_page_microseconds`` in the machine record). Ours runs as
shipped (TensorFlow reuses its buffers).

Protocol: one JSON object per line each way. The first line the worker writes says whether the peer is
available (``{"available": false, "reason": ...}`` when torch/transformers do not import).
"""
from __future__ import annotations

import json
import sys
import time
from functools import partial

PEER = "Hugging Face transformers ElectraFor* on PyTorch (eager), torch.optim.AdamW"
PEER_PRECISIONS = ("fp32", "bf16")   # bf16: torch.autocast on the CPU, fp32 weights (Keras' mixed_bfloat16)


# ----------------------------------------------------------------------------------------------- the worker side
def _hf_config(model: dict, generator: bool, **extra):
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
        layer_norm_eps=model["layer_norm_eps"], initializer_range=model["initializer_range"], **extra)


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
              precision: str = "fp32", num_labels: int = 2):
        torch = self.torch
        if precision not in PEER_PRECISIONS:
            raise ValueError(f"the peer runs {PEER_PRECISIONS}, not {precision!r}")
        # bf16 as PyTorch's own mixed precision on the CPU: fp32 weights and optimizer, the forward pass under
        # autocast (matrix products in bf16), as Keras' mixed_bfloat16 policy does on our side
        autocast = partial(torch.autocast, "cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
        from transformers import (ElectraForMaskedLM, ElectraForPreTraining, ElectraForQuestionAnswering,
                                  ElectraForSequenceClassification)
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
        elif task in ("squad_train", "squad_infer", "classify_train", "classify_infer"):
            squad = task.startswith("squad")
            qa = (ElectraForQuestionAnswering(_hf_config(model, False)) if squad else
                  ElectraForSequenceClassification(_hf_config(model, False, num_labels=num_labels)))
            if task.endswith("_train"):
                optimizer = torch.optim.AdamW(qa.parameters(), lr=lr, eps=1e-6, weight_decay=0.01)
                starts = torch.randint(0, seq - 4, (batch,))
                targets = (dict(start_positions=starts, end_positions=starts + 3) if squad else
                           dict(labels=torch.randint(0, num_labels, (batch,))))
                qa.train()

                def step():
                    with autocast():
                        loss = qa(input_ids=ids, attention_mask=mask, token_type_ids=segments, **targets).loss
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
                    return float((out.start_logits if squad else out.logits)[0, 0])
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
        rate = 2.0 * 512 ** 3 / min(timed(lambda: torch.mm(probe, probe)) for _ in range(3))
        if 2.0 * size ** 3 / rate > 2.0:
            size = max(256, int((rate * 1.0 / 2.0) ** (1 / 3)))
        a = torch.randn(size, size).to(kind)
        best = min(timed(lambda: torch.mm(a, a)) for _ in range(repeats + 1))
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


def timed(fn) -> float:
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


if __name__ == "__main__":
    sys.exit(worker_main())

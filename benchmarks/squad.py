"""SQuAD throughput: fine-tuning and inference sequences/s against Hugging Face PyTorch measured in the same run, and
SavedModel latency/throughput. JSON lines on stdout (and ``--output``).

    .venv/bin/python benchmarks/squad.py             # small, fp32: fine-tune step (batch 8) and inference (batch 32)
    .venv/bin/python benchmarks/squad.py --model_sizes small,base --precisions fp32,bf16 --xla false,true
    .venv/bin/python benchmarks/squad.py --model_sizes small --steps 3 --saved_model true
    .venv/bin/python benchmarks/squad.py --model_sizes small --heads plain,joint --saved_model false   # joint vs plain

``--heads``: ``plain`` (Dense(2) span head), ``plain_v2`` (+ answerability classifier), ``joint`` (XLNet-style joint
head, beam ``--beam_size``, with its v2 answer class). Each record names the head and the CPU (model, ISA flags);
``ratio_to_plain`` compares a head with ``plain`` measured in the same run.

The peer (``benchmarks/peer.py``: Hugging Face's ``ElectraForQuestionAnswering``, same shapes) runs for the plain
head, alternating rounds with ours as benchmarks/README.md describes; the first record is the machine and its
measured matmul peak. Targets (small, fp32, CPU): inference ≥ 1.5× and fine-tuning ≥ 1.2× the peer.

Random token ids at ``--max_seq_length`` (384): the numbers measure the model, not the data pipeline. Inference
is ``electra.squad.inference.inference_function``, what ``predict_logits`` runs (oneDNN LayerNorms on a CPU). Each
configuration runs ``--warmup_steps`` untimed steps (tracing, XLA compilation) first.

``--runtimes`` (plain head, fp32, no XLA): the same inference batch through the same model exported as users
serve it, timed in the same rounds: TensorFlow's SavedModel signature (TF Serving's graph, Keras' LayerNorm ops),
OpenVINO (CPU, f32) and ONNX Runtime (CPU), each with ``speed_relative_to_ours`` (> 1: faster than ours) and
``speedup_over_peer``. A dedicated inference runtime on the same weights shows how much of the machine is left.

``--matmul_bound`` (plain head, fp32 or bf16, no XLA; on by default): the forward pass's matrix products alone,
nothing else, with TensorFlow's kernels (``matmul_bound``), in that precision, timed in the same rounds as the
runtimes, with the same ratios. Its ``speedup_over_peer`` is the most any implementation built on these kernels
could show against the peer here.
"""
from __future__ import annotations

import argparse
import itertools
import math
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import electra  # noqa: E402,F401  (before TensorFlow loads: turns its oneDNN CPU kernels on)
from benchmarks.common import comma_list  # noqa: E402


TARGETS = {"inference": 1.5, "fine_tune": 1.2}   # speedup over the peer, small / seq 384 / fp32, CPU
RUNTIMES = ("saved_model", "openvino", "onnxruntime")
MATMUL_BOUND = "matmul_bound"


def _bools(text: str) -> list[bool]:
    return [t.lower() in ("1", "true", "yes", "on") for t in comma_list(text)]


def forward_products(config, batch: int, seq: int) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    """The matrix products of one forward pass of ``ElectraForQuestionAnswering`` (plain span head) on ``[batch,
    seq]``, in order: (name, left operand shape, right operand shape as multiplied, ``[..., K, N]``). The
    benchmark's model FLOPs are theirs (``product_flops``); ``matmul_bound`` runs them alone."""
    c = config.discriminator
    h, f, n, d, e = c.hidden_size, c.intermediate_size, c.num_attention_heads, c.head_size, config.embedding_size
    t = batch * seq
    products = [("embeddings_project", (t, e), (e, h))] if e != h else []
    for _ in range(c.num_hidden_layers):
        products += [("query_key_value", (t, h), (h, 3 * h)), ("scores", (batch, n, seq, d), (batch, n, d, seq)),
                     ("context", (batch, n, seq, seq), (batch, n, seq, d)), ("attention_output", (t, h), (h, h)),
                     ("intermediate", (t, h), (h, f)), ("output_dense", (t, f), (f, h))]
    return products + [("span_head", (t, h), (h, 2))]


def product_flops(products) -> float:
    """Multiply-adds × 2 of ``forward_products``' products: each of the left operand's elements meets ``N`` columns."""
    return float(sum(2 * math.prod(left) * right[-1] for _, left, right in products))


def matmul_bound(config, batch: int, seq: int, precision: str = "fp32"):
    """One step of nothing but the forward pass's matrix products (``forward_products``: the same shapes, count,
    order and FLOPs), TensorFlow's CPU kernels, each layer's products fed by the one before. No softmax,
    LayerNorm, GELU, bias, mask, transpose or embedding lookup: the speed no implementation of this forward pass
    built on these kernels can pass. V is the QKV product's output reshaped (which copies nothing); Q and K are
    fixed per layer, since without a softmax scores made from the layer's input would make each layer cubic in
    it, and the activations would vanish or overflow within a few layers. Weights are scaled so that activations
    stay near 1. ``precision`` ``bf16``: operands and products in bf16 (what the ``mixed_bfloat16`` model's
    products compute in). Returns the ``tf.function`` ``() -> [batch * seq, 2]``."""
    import keras
    import tensorflow as tf

    from electra.configs import PRECISIONS
    c = config.discriminator
    h, f, n, d, e = c.hidden_size, c.intermediate_size, c.num_attention_heads, c.head_size, config.embedding_size
    t = batch * seq
    generator = tf.random.Generator.from_seed(0)
    compute_dtype = keras.DTypePolicy(PRECISIONS[precision]).compute_dtype     # what the model's products run in

    def normal(shape, fan_in=1):
        return tf.Variable(tf.cast(generator.normal(shape, stddev=fan_in ** -0.5), compute_dtype))
    embedded = normal([t, e])
    project = normal([e, h], e) if e != h else None
    # context entries grow as √(D · S) (scores √D, summed over S keys): the output kernel takes that back out
    layers = [(normal([h, 3 * h], h), normal([batch, n, seq, d]), normal([batch, n, seq, d]),
               normal([h, h], h * d * seq), normal([h, f], h), normal([f, h], f)) for _ in range(c.num_hidden_layers)]
    head = normal([h, 2], h)

    @tf.function
    def forward():
        x = embedded if project is None else tf.matmul(embedded, project)                       # [T, H]
        for qkv_kernel, q, k, output_kernel, intermediate_kernel, output_dense_kernel in layers:
            v = tf.unstack(tf.reshape(tf.matmul(x, qkv_kernel), [3, batch, n, seq, d]))[2]     # [B, N, S, D]
            context = tf.matmul(tf.matmul(q, k, transpose_b=True), v)                          # [B, N, S, D]
            x = tf.matmul(tf.matmul(tf.reshape(context, [t, h]), output_kernel), intermediate_kernel)
            x = tf.matmul(x, output_dense_kernel)                                              # [T, H]
        return tf.matmul(x, head)                                                              # [T, 2]

    return forward


def _time(fn, warmup: int, steps: int) -> float:
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / max(1, steps)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_sizes", default="small")
    parser.add_argument("--precisions", default="fp32")
    parser.add_argument("--xla", default="false", help="XLA settings (true is slower on CPU)")
    parser.add_argument("--max_seq_length", type=int, default=384)
    parser.add_argument("--train_batch_size", type=int, default=8)
    parser.add_argument("--predict_batch_size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds, ours then the peer's")
    parser.add_argument("--warmup_steps", type=int, default=2)
    parser.add_argument("--peer_python", default=sys.executable,
                        help="Python with torch + transformers for the Hugging Face peer; 'none' to skip it")
    parser.add_argument("--saved_model", type=_bools, default=[False], help="also time the exported SavedModel")
    parser.add_argument("--saved_model_batches", default="1,64")
    parser.add_argument("--skip_training", action="store_true")
    parser.add_argument("--heads", default="plain", help="comma-separated: plain, plain_v2, joint")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES),
                        help="inference of the exported model timed in the same rounds (plain head, fp32, no XLA): "
                             "comma-separated saved_model, openvino, onnxruntime; 'none' to skip")
    parser.add_argument("--matmul_bound", type=_bools, default=[True],
                        help="also time the forward pass's matrix products alone in the same rounds (plain head, "
                             "fp32 or bf16, no XLA): the speed no implementation on TensorFlow's kernels can pass")
    parser.add_argument("--beam_size", type=int, default=5)
    parser.add_argument("--output", help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    unknown = sorted({r for r in args.runtimes.split(",") if r} - {"none", *RUNTIMES})
    if unknown:
        parser.error(f"--runtimes: unknown {unknown}; choose from {', '.join(RUNTIMES)} or none")

    import tensorflow as tf

    from benchmarks.common import Peer, emit_line, machine_record, matmul_peaks
    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    common = {"device": device, "host": platform.node(), "tf": tf.__version__, "seq": args.max_seq_length}
    peer = Peer(None if args.peer_python.lower() == "none" else args.peer_python)
    try:
        peaks = matmul_peaks(peer)
        emit_line({**common, "task": "machine", **machine_record(), "peer": peer.info,
                   "matmul_peak_flops_per_second": peaks}, args.output)
        return _run(args, common, peer, peaks)
    finally:
        peer.close()


def _run(args, common, peer, peaks) -> int:
    import dataclasses

    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks.common import add_fractions_of_peak, alternate, emit_line, fine_tune_trainer, peer_skip_reason, \
        squad_batch
    from electra.configs import PRECISIONS, preset
    from electra.modeling import ElectraForQuestionAnswering
    from electra.squad.inference import inference_function
    plain_rates: dict = {}
    rng = np.random.default_rng(0)
    seq = args.max_seq_length

    def emit(record):
        emit_line({**common, **record}, args.output)

    def compare(run, task, batch, ours_step, flops, others=None):
        """Alternating rounds against the peer (plain head, fp32) or ours alone, with ``others`` (name -> one
        step in another runtime) timed in the same rounds; the record to emit."""
        others = others or {}
        skip = "the peer runs the plain head only" if run["head"] != "plain" else peer_skip_reason(run["precision"])
        use_peer = peer.available and skip is None
        if use_peer:
            peer.call("setup", task=f"squad_{'train' if task == 'fine_tune' else 'infer'}",
                      model=dataclasses.asdict(config), batch=batch, seq=seq, lr=1e-5, precision=run["precision"])
            peer.call("run", steps=args.warmup_steps)
        for step in [ours_step, *others.values()]:
            for _ in range(args.warmup_steps):
                step()

        def round_of(step):
            return lambda steps: _time(step, 0, steps)
        timing = alternate(round_of(ours_step), peer if use_peer else None, args.rounds, args.steps,
                           {name: round_of(step) for name, step in others.items()})
        seconds = timing["ours_median_seconds_per_step"]
        ours = {"step_s": seconds, "seq_per_s": batch / seconds, "achieved_flops_per_second": flops / seconds}
        record = {**run, "task": task, "batch": batch, **ours, "model_flops_per_step": flops, "timing": timing}
        if use_peer:
            peer_s = timing["peer_median_seconds_per_step"]
            record["peer"] = {"step_s": peer_s, "seq_per_s": batch / peer_s,
                              "achieved_flops_per_second": flops / peer_s}
            record["speedup_over_peer"] = timing["speedup_over_peer"]
            if run["model_size"] == "small" and seq == 384 and run["precision"] == "fp32":
                target = TARGETS[task]
                record["target"] = {"speedup_over_peer": target, "met": record["speedup_over_peer"] >= target}
        elif peer.available:
            record["peer"] = {"skipped": skip}
        for name, entry in timing.get("others", {}).items():
            side = {"seq_per_s": batch / entry["median_seconds_per_step"],
                    "achieved_flops_per_second": flops / entry["median_seconds_per_step"],
                    **{k: entry[k] for k in ("speed_relative_to_ours", "speedup_over_peer") if k in entry}}
            if name == MATMUL_BOUND:
                record[name] = side
            else:
                record.setdefault("runtimes", {})[name] = side
        add_fractions_of_peak([record, record.get("peer", {}), *record.get("runtimes", {}).values(),
                               record.get(MATMUL_BOUND, {})], peaks, run["precision"])
        return record

    heads = {"plain": dict(), "plain_v2": dict(answerability=True),
             "joint": dict(joint=True, answerability=True, beam_size=args.beam_size)}
    for size, precision, xla, head in itertools.product(
            comma_list(args.model_sizes), comma_list(args.precisions),
            _bools(args.xla), comma_list(args.heads)):
        keras.mixed_precision.set_global_policy("float32")
        model = ElectraForQuestionAnswering(preset(size), dtype=PRECISIONS[precision], **heads[head])
        run = {"model_size": size, "precision": precision, "xla": xla, "head": head}
        config = model.config
        per_sequence = product_flops(forward_products(config, 1, seq))
        if not args.skip_training:
            trainer = fine_tune_trainer(model, precision, xla)
            batch = {k: tf.constant(v) for k, v in
                     squad_batch(rng, args.train_batch_size, seq, model.config.vocab_size, True).items()}
            emit(_with_ratio(compare(run, "fine_tune", args.train_batch_size,
                                     lambda: float(trainer.train_step([batch])["loss"]),
                                     3 * per_sequence * args.train_batch_size), plain_rates))
        arrays = squad_batch(rng, args.predict_batch_size, seq, model.config.vocab_size, False)
        infer = inference_function(model, arrays, xla)     # what predict_logits runs
        batch = {k: tf.constant(v) for k, v in arrays.items()}
        others = {}
        if head == "plain" and not xla:
            if precision == "fp32":
                others = {name: (lambda fn=fn: fn(arrays)) for name, fn in _runtimes(args, model).items()}
            if args.matmul_bound[0] and precision in ("fp32", "bf16"):
                bound = matmul_bound(config, args.predict_batch_size, seq, precision)
                others[MATMUL_BOUND] = lambda: bound().numpy()
        emit(_with_ratio(compare(run, "inference", args.predict_batch_size,
                                 lambda: infer(batch)["start_logits"].numpy(),
                                 per_sequence * args.predict_batch_size, others), plain_rates))
        if args.saved_model[0] and not xla:
            _saved_model(model, run, args, rng, emit)
    return 0


def _runtimes(args, model) -> dict:
    """``model`` exported and run in the runtimes users serve it with (``benchmarks.serving.serving_runtimes``:
    TensorFlow's SavedModel signature, OpenVINO CPU f32 with the latency hint, ONNX Runtime's CPU provider):
    name -> callable(inputs) -> (start, end) NumPy arrays. Empty, with a message on stderr, when a runtime's
    package is missing."""
    wanted = [r for r in args.runtimes.split(",") if r and r != "none"]
    if not wanted:
        return {}
    from benchmarks.serving import serving_runtimes
    try:
        with tempfile.TemporaryDirectory(prefix="electra-squad-bench-") as work_dir:   # the runtimes hold the models
            built, _ = serving_runtimes(model, work_dir, args.max_seq_length)
    except ImportError as error:
        print(f"--runtimes skipped: {error}", file=sys.stderr)
        return {}
    built["saved_model"] = built.pop("tensorflow")
    return {name: built[name] for name in wanted}


def _with_ratio(record: dict, plain_rates: dict) -> dict:
    """Adds ``ratio_to_plain``: this head's sequences/s over the plain head's, same size/precision/XLA/task, same
    run (the plain head must come first in ``--heads``)."""
    key = (record["model_size"], record["precision"], record["xla"], record["task"])
    if record["head"] == "plain":
        plain_rates[key] = record["seq_per_s"]
    elif key in plain_rates:
        record["ratio_to_plain"] = record["seq_per_s"] / plain_rates[key]
    return record


def _saved_model(model, run, args, rng, emit):
    import tensorflow as tf

    from benchmarks.common import squad_batch
    from electra.export import export_saved_model

    with tempfile.TemporaryDirectory() as tmp:
        vocab = os.path.join(tmp, "vocab.txt")
        with open(vocab, "w", encoding="utf-8") as f:
            f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
        export_dir = export_saved_model(model, os.path.join(tmp, "saved_model"), vocab,
                                        max_seq_length=args.max_seq_length, do_lower_case=True)
        serve = tf.saved_model.load(export_dir).signatures["serving_default"]
        for batch_size in [int(b) for b in args.saved_model_batches.split(",") if b]:
            batch = {k: tf.constant(v) for k, v in
                     squad_batch(rng, batch_size, args.max_seq_length, model.config.vocab_size, False).items()}
            seconds = _time(lambda: serve(**batch)["start_logits"].numpy(), args.warmup_steps, args.steps)
            emit({**run, "task": "saved_model", "batch": batch_size, "latency_ms": 1000 * seconds,
                  "seq_per_s": batch_size / seconds})


if __name__ == "__main__":
    sys.exit(main())

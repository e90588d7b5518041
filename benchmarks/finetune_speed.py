"""Sentence-classification fine-tuning step and inference, ours against Hugging Face PyTorch measured in the same
run, and inference against the forward pass's matrix-product bound. One JSON document on stdout (and ``--output``).

    .venv/bin/python benchmarks/finetune_speed.py --peer_python=$P --output benchmarks/results/finetune_speed_zen3.json

Ours: ``electra.modeling.ElectraForSequenceClassification`` (ELECTRA-small, ``--num_labels`` classes) through the
loop's compiled step (``electra.training.trainer.Trainer`` with ``electra.tasks.finetuning.sequence_loss``, what
``ClassificationTask.loss`` computes, and the optimizer and schedule of ``recipes/glue/sst-2_small.json`` as
``Task.build_optimizer`` makes them), and ``electra.squad.inference.inference_function``, what
``electra-finetune``'s evaluation and ``predict`` run. The peer (``benchmarks/peer.py`` ``classify_train`` /
``classify_infer``): transformers' ``ElectraForSequenceClassification``, same shapes, ``torch.optim.AdamW``.
Rounds alternate as benchmarks/README.md describes; random token ids at ``--max_seq_length``: the figures measure
the model, not the data pipeline.

``matmul_bound`` is ``benchmarks.squad.matmul_bound``: the encoder's products of this forward pass, chained, and
nothing else. Its head product is the span head's ``[B·S, H] × [H, 2]``; the classifier's two products
(``[B, H] × [H, H]`` and ``[B, H] × [H, C]``) differ from it by under 0.1 % of the pass's FLOPs at these shapes
(``flops`` and ``bound_flops`` in the JSON). ``over_matmul_bound`` is ours' sequences/s over the bound's, the median
of the per-round ratios.

Targets (small, seq 128, fp32, CPU): the step ≥ 1.3× the peer; inference ≥ 0.9 of the matmul bound's throughput.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import electra  # noqa: E402,F401  (before TensorFlow loads: turns its oneDNN CPU kernels on)
from benchmarks.common import ROOT  # noqa: E402

TARGETS = {"fine_tune": 1.3, "inference": 0.9}   # step: speedup over the peer; inference: fraction of the bound
RECIPE = os.path.join(ROOT, "recipes", "glue", "sst-2_small.json")


def classification_products(config, batch: int, seq: int, num_labels: int) -> list:
    """The matrix products of one forward pass of ``ElectraForSequenceClassification`` on ``[batch, seq]``, as
    ``benchmarks.squad.forward_products`` lists them: the encoder's, then the head's on ``[CLS]``."""
    from benchmarks.squad import forward_products
    h = config.hidden_size
    encoder = [p for p in forward_products(config, batch, seq) if p[0] != "span_head"]
    return encoder + [("classifier_dense", (batch, h), (h, h)), ("classifier_out_proj", (batch, h), (h, num_labels))]


def classification_batch(rng, batch: int, seq: int, vocab: int, num_labels: int) -> dict:
    """Random features ``[batch, seq]`` (int32, two segments) and labels ``[batch]``."""
    from benchmarks.common import squad_batch
    out = squad_batch(rng, batch, seq, vocab, training=False)
    out["labels"] = rng.integers(0, num_labels, size=batch).astype("int32")
    return out


def recipe_optimizer(total_steps: int, recipe: str = RECIPE):
    """The recipe's optimizer and schedule for a ``total_steps`` run as ``electra.tasks.base.Task.build_optimizer``
    makes them: ``(FinetuneOptimizer, schedule)``."""
    from electra.configs import FinetuneOptimizer
    from electra.training.optimization import WarmupPolyDecay
    with open(recipe, encoding="utf-8") as f:
        o = FinetuneOptimizer(**json.load(f)["optimizer"])
    return o, WarmupPolyDecay(o.learning_rate, total_steps, o.warmup_for(total_steps), o.poly_power,
                              o.end_learning_rate)


def classification_trainer(model, total_steps: int = 1000):
    """The step ``electra-finetune`` compiles for a classifier: ``Trainer`` over ``sequence_loss`` with the recipe's
    optimizer (``layerwise_adamw``, decay, clipping)."""
    from electra.tasks.finetuning import sequence_loss
    from electra.training.optimization import make_optimizer
    from electra.training.trainer import Trainer
    o, schedule = recipe_optimizer(total_steps)
    optimizer = make_optimizer(o.name, schedule, model.named_variables(), weight_decay=o.weight_decay,
                               beta_1=o.beta_1, beta_2=o.beta_2, epsilon=o.epsilon, clip_norm=o.grad_clip_norm,
                               layerwise_lr_decay=o.layerwise_lr_decay)
    return Trainer(model, optimizer, lambda m, b: sequence_loss(m(b, training=True)["logits"], b["labels"], False),
                   ("accuracy",))


def _round(step):
    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - start) / max(1, steps)
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_size", default="small")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--predict_batch_size", type=int, default=64)
    parser.add_argument("--num_labels", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds, ours then the peer's")
    parser.add_argument("--warmup_steps", type=int, default=2)
    parser.add_argument("--peer_python", default=sys.executable,
                        help="Python with torch + transformers for the Hugging Face peer; 'none' to skip it")
    parser.add_argument("--output", help="also write the JSON document here")
    args = parser.parse_args(argv)

    from benchmarks.common import Peer, machine_record, matmul_peaks, versions, write_json
    peer = Peer(None if args.peer_python.lower() == "none" else args.peer_python)
    document = {"benchmark": "finetune_classification_speed", "machine": machine_record(), "versions": versions(),
                "peer": peer.info}
    try:
        before = matmul_peaks(peer)
        document.update(_run(args, peer))
        peaks = document["matmul_peak_flops_per_second"] = matmul_peaks(peer, before=before)
    finally:
        peer.close()
    for side in (document["fine_tune"], document["inference"]):
        for entry in (side["ours"], side.get("peer", {}), side.get("matmul_bound", {})):
            if "flops_per_second" in entry:
                entry["achieved_over_peak"] = entry["flops_per_second"] / peaks["best"]["fp32"]
    document["targets"] = _targets(document, args)
    document["machine"]["load_average_at_end"] = os.getloadavg()
    write_json(document, args.output)
    return 0


def _run(args, peer) -> dict:
    import numpy as np
    import tensorflow as tf

    from benchmarks.common import alternate
    from benchmarks.squad import matmul_bound, product_flops
    from electra.configs import preset
    from electra.modeling import ElectraForSequenceClassification
    from electra.squad.inference import inference_function
    rng = np.random.default_rng(0)
    seq, labels = args.max_seq_length, args.num_labels
    model = ElectraForSequenceClassification(preset(args.model_size), labels)
    config = model.config
    shape = {"model_size": args.model_size, "precision": "fp32", "seq": seq, "num_labels": labels,
             "train_batch": args.train_batch_size, "predict_batch": args.predict_batch_size,
             "optimizer": {"ours": f"{recipe_optimizer(1)[0].name} ({os.path.relpath(RECIPE, ROOT)})",
                           "peer": "torch.optim.AdamW"}}
    out = {"shape": shape}

    def side(batch, seconds, flops):
        return {"step_s": seconds, "seq_per_s": batch / seconds, "flops_per_second": flops / seconds}

    def timed(task, batch, ours_step, flops, others=None):
        if peer.available:
            peer.call("setup", task=task, model=dataclasses.asdict(config), batch=batch, seq=seq, lr=1e-5,
                      num_labels=labels)
            peer.call("run", steps=args.warmup_steps)
        for step in [ours_step, *(others or {}).values()]:
            for _ in range(args.warmup_steps):
                step()
        timing = alternate(_round(ours_step), peer if peer.available else None, args.rounds, args.steps,
                           {name: _round(step) for name, step in (others or {}).items()})
        record = {"flops": flops, "ours": side(batch, timing["ours_median_seconds_per_step"], flops),
                  "timing": timing}
        if "peer_median_seconds_per_step" in timing:
            record["peer"] = side(batch, timing["peer_median_seconds_per_step"], flops)
            record["speedup_over_peer"] = timing["speedup_over_peer"]
        return record

    per_sequence = product_flops(classification_products(config, 1, seq, labels))
    b = args.train_batch_size
    trainer = classification_trainer(model)
    train_batch = {k: tf.constant(v) for k, v in classification_batch(rng, b, seq, config.vocab_size, labels).items()}
    out["fine_tune"] = timed("classify_train", b, lambda: float(trainer.train_step([train_batch])["loss"]),
                             3 * per_sequence * b)

    b = args.predict_batch_size
    arrays = classification_batch(rng, b, seq, config.vocab_size, labels)
    del arrays["labels"]
    infer = inference_function(model, arrays)
    batch = {k: tf.constant(v) for k, v in arrays.items()}
    bound = matmul_bound(config, b, seq, "fp32")
    record = timed("classify_infer", b, lambda: infer(batch)["logits"].numpy(), per_sequence * b,
                   {"matmul_bound": lambda: bound().numpy()})
    entry = record["timing"]["others"]["matmul_bound"]
    from benchmarks.squad import forward_products
    bound_flops = product_flops(forward_products(config, b, seq))
    record["matmul_bound"] = {**side(b, entry["median_seconds_per_step"], bound_flops), "bound_flops": bound_flops,
                              "speedup_over_peer": entry.get("speedup_over_peer")}
    timing = record["timing"]
    record["over_matmul_bound"] = statistics.median(
        s / o for o, s in zip(timing["ours_seconds_per_step"], entry["seconds_per_step"]))
    if "peer_seconds_per_step" in timing:
        record["peer"]["over_matmul_bound"] = statistics.median(
            s / p for p, s in zip(timing["peer_seconds_per_step"], entry["seconds_per_step"]))
    out["inference"] = record
    return out


def _targets(document: dict, args) -> dict | None:
    """Each target with its measured value (at the targets' shape only)."""
    if (args.model_size, args.max_seq_length) != ("small", 128):
        return None
    measured = {"fine_tune": document["fine_tune"].get("speedup_over_peer"),
                "inference": document["inference"]["over_matmul_bound"]}
    return {name: {"target": TARGETS[name], "measured": value,
                   "what": "speedup over the peer" if name == "fine_tune" else "ours / matmul bound, seq/s",
                   "met": None if value is None else value >= TARGETS[name]} for name, value in measured.items()}


if __name__ == "__main__":
    sys.exit(main())

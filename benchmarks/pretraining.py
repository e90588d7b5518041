"""Pretraining train-step speed, ours against Hugging Face PyTorch measured in the same run, as one JSON document.

  .venv/bin/python benchmarks/pretraining.py                   # small, seq 128, batch 32, fp32: ours vs HF PyTorch
  .venv/bin/python benchmarks/pretraining.py --sizes=small,base --seq_lengths=128,512 --precisions=fp32,bf16
  .venv/bin/python benchmarks/pretraining.py --reader          # input pipeline vs the tiny model

Rounds alternate with the peer (``benchmarks/peer.py``: the same shapes, AdamW, clipping) as benchmarks/README.md
describes. ``achieved/peak`` is reported two ways: the median step against the best peak measured before and after
the rounds (``achieved_over_peak``), and each round's step against the peak measured right after it in that round
(``achieved_over_peak_same_round``, the median over rounds; on a machine whose speed drifts, the first mixes a slow
stretch's steps with a fast moment's peak). Random token ids stand in for data (the step's cost does not depend on
the values); the first steps (tracing, compilation) are untimed. Targets (CPU, small / 128 / 32 / fp32): ≥ 1.5× the
peer and ≥ 50 % of the fp32 peak (checked both ways).
"""
import itertools
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import electra  # noqa: E402,F401  (before TensorFlow loads: turns its oneDNN CPU kernels on)

import argparse  # noqa: E402

from benchmarks.common import comma_list as _list  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=_list, default=["small"], help="Model presets (comma-separated).")
    p.add_argument("--seq_lengths", type=_list, default=["128"], help="Sequence lengths (comma-separated).")
    p.add_argument("--precisions", type=_list, default=["fp32"], help="fp32, bf16, fp16 (comma-separated).")
    p.add_argument("--xla", type=_list, default=["false"],
                   help="XLA settings of our forward/backward to measure (true is slower on CPU).")
    p.add_argument("--batch_size", type=int, default=32, help="Sequences per step.")
    p.add_argument("--optimizer", default="adamw", help="Ours: adamw (as the peer's torch.optim.AdamW) or lamb.")
    p.add_argument("--warmup_steps", type=int, default=2, help="Untimed steps (each side).")
    p.add_argument("--rounds", type=int, default=5, help="Alternating timed rounds, ours then the peer's.")
    p.add_argument("--steps", type=int, default=3, help="Timed steps per round (each side).")
    p.add_argument("--peer_python", default=sys.executable,
                   help="Python with torch + transformers for the Hugging Face peer; 'none' to skip it.")
    p.add_argument("--reader", action="store_true", help="Measure the TFRecord reader against the tiny model instead.")
    p.add_argument("--output", help="Also write the JSON document to this file.")
    return p.parse_args(argv)


FLAGS = argparse.Namespace()

# small / seq 128 / batch 32 / fp32 on CPU. The peak fraction is checked two ways: against the best peak of the run
# (``fraction_of_peak``, the strictest) and against the peak measured right after our steps in each round, median
# over rounds (``fraction_of_peak_same_round``, side by side, as the ratio to the peer).
TARGETS = {"speedup_over_peer": 1.5, "fraction_of_peak": 0.5, "fraction_of_peak_same_round": 0.5}


def random_batch(config, batch, seq, masking, tf):
    from electra.data import mask_tokens
    ids = tf.random.stateless_uniform([batch, seq], [1, 2], 5, config.vocab_size, tf.int32)
    ids = tf.concat([tf.fill([batch, 1], 101), ids[:, 1:-1], tf.fill([batch, 1], 102)], axis=1)
    mask = tf.ones_like(ids)
    out = mask_tokens(ids, mask, tf.constant([3, 4]), masking, 103, (0, 101, 102))
    return {**out, "input_mask": mask, "segment_ids": tf.zeros_like(ids)}


def rtd_loss(model, batch):
    from electra.tasks.pretraining import rtd_objective
    return rtd_objective(model(batch, training=True), batch, 1.0, 50.0)


def our_trainer(size, seq, precision, xla, tf):
    from electra.configs import PRECISIONS, preset
    from electra.data import MaskingConfig
    from electra.modeling import ElectraPretrainingModel
    from electra.training.optimization import WarmupPolyDecay, make_optimizer
    from electra.tasks.pretraining import METRICS
    from electra.training.trainer import Trainer
    config = preset(size)
    masking = MaskingConfig()
    model = ElectraPretrainingModel(config, seed=0, dtype=PRECISIONS[precision])
    optimizer = make_optimizer(FLAGS.optimizer, WarmupPolyDecay(1e-4, 1000, 10), model.named_variables(),
                               loss_scale=precision == "fp16")
    trainer = Trainer(model, optimizer, rtd_loss, METRICS, xla=xla)
    batch = random_batch(config, FLAGS.batch_size, seq, masking, tf)
    for _ in range(FLAGS.warmup_steps):
        trainer.train_step([batch])
    trainer.read_window()

    def timed_round(steps):
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step([batch])
        trainer.read_window()        # waits for the device, as the training loop does once per log interval
        return (time.perf_counter() - start) / steps
    return config, masking, timed_round


def train_step_rate(size, seq, precision, xla, tf, peer):
    import dataclasses

    from benchmarks.common import alternate, fraction_of_peak_by_round, peer_skip_reason, round_peak
    from benchmarks.flops import pretraining_step_flops
    config, masking, timed_round = our_trainer(size, seq, precision, xla, tf)
    predictions = masking.predictions_for(seq)
    skip = peer_skip_reason(precision)
    use_peer = peer is not None and peer.available and skip is None
    if use_peer:
        peer.call("setup", task="pretraining", model=dataclasses.asdict(config), batch=FLAGS.batch_size, seq=seq,
                  predictions=predictions, precision=precision)
        peer.call("run", steps=FLAGS.warmup_steps)
    dtype = "bf16" if precision == "bf16" else "fp32"
    timing = alternate(timed_round, peer if use_peer else None, FLAGS.rounds, FLAGS.steps,
                       peak=lambda: round_peak(peer, dtype))
    seconds, peaks = timing["ours_median_seconds_per_step"], timing["peak_flops_per_second"]
    flops = pretraining_step_flops(config, FLAGS.batch_size, seq, predictions)
    out = {"benchmark": "pretraining_train_step", "size": size, "seq_length": seq, "batch_size": FLAGS.batch_size,
           "precision": precision, "xla": xla, "optimizer": FLAGS.optimizer,
           "ours": {"seconds_per_step": seconds, "sequences_per_second": FLAGS.batch_size / seconds,
                    "model_flops_per_step": flops, "achieved_flops_per_second": flops / seconds,
                    "achieved_over_peak_same_round": fraction_of_peak_by_round(
                        flops, timing["ours_seconds_per_step"], peaks)},
           "timing": timing}
    if use_peer:
        peer_seconds = timing["peer_median_seconds_per_step"]
        # Hugging Face's generator computes vocabulary logits at all positions: its own model FLOPs are larger.
        peer_flops = pretraining_step_flops(config, FLAGS.batch_size, seq, seq)
        out["peer"] = {"seconds_per_step": peer_seconds, "sequences_per_second": FLAGS.batch_size / peer_seconds,
                       "model_flops_per_step": peer_flops, "achieved_flops_per_second": peer_flops / peer_seconds,
                       "achieved_over_peak_same_round": fraction_of_peak_by_round(
                           peer_flops, timing["peer_seconds_per_step"], peaks)}
        out["speedup_over_peer"] = timing["speedup_over_peer"]
    elif peer is not None and peer.available:
        out["peer"] = {"skipped": skip}
    return out


def add_targets(result: dict) -> None:
    """The issue's targets, for the configuration they are set for."""
    if (result["size"], result["seq_length"], result["batch_size"], result["precision"]) != ("small", 128, 32, "fp32"):
        return
    checks = {"fraction_of_peak": result["ours"]["achieved_over_peak"],
              "fraction_of_peak_same_round": result["ours"]["achieved_over_peak_same_round"]}
    if "speedup_over_peer" in result:
        checks["speedup_over_peer"] = result["speedup_over_peer"]
    result["targets"] = {name: {"target": TARGETS[name], "measured": value, "met": value >= TARGETS[name]}
                         for name, value in checks.items()}


def reader_rate(tf, keras):
    """Masked batches/s from TFRecords vs optimizer steps/s of the tiny model on the same batch size."""
    import numpy as np

    from benchmarks.common import machine_record
    from electra.configs import preset
    from electra.data import MaskingConfig
    from electra.data.pretraining import SpecialIds, pretraining_dataset
    from electra.modeling import ElectraPretrainingModel
    from electra.training.optimization import WarmupPolyDecay, make_optimizer
    from electra.tasks.pretraining import METRICS
    from electra.training.trainer import Trainer
    seq, batch = 128, FLAGS.batch_size
    directory = tempfile.mkdtemp()
    rng = np.random.default_rng(0)
    paths = []
    for f in range(4):
        path = os.path.join(directory, f"part-{f}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for _ in range(2000):
                ids = np.concatenate([[101], rng.integers(1000, 30000, seq - 2), [102]])
                feature = {k: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                           for k, v in (("input_ids", ids), ("input_mask", np.ones(seq, int)),
                                        ("segment_ids", np.zeros(seq, int)))}
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        paths.append(path)
    ds = pretraining_dataset(paths, batch, seq, MaskingConfig(), SpecialIds(), seed=0)
    iterator = iter(ds)
    for _ in range(20):
        next(iterator)
    start, n = time.perf_counter(), 200
    for _ in range(n):
        next(iterator)
    reader = n / (time.perf_counter() - start)
    model = ElectraPretrainingModel(preset("tiny"), seed=0)
    trainer = Trainer(model, make_optimizer("lamb", WarmupPolyDecay(1e-4, 100, 1), model.named_variables()),
                      rtd_loss, METRICS, xla=True)
    sample = next(iterator)
    for _ in range(3):
        trainer.train_step([sample])
    start = time.perf_counter()
    for _ in range(20):
        trainer.train_step([sample])
    trainer.read_window()
    model_rate = 20 / (time.perf_counter() - start)
    return {"benchmark": "pretraining_reader", "seq_length": seq, "batch_size": batch, "reader_batches_per_second":
            reader, "tiny_model_steps_per_second": model_rate, "reader_over_model": reader / model_rate,
            "machine": machine_record()}


def main(argv=None) -> int:
    global FLAGS
    FLAGS = parse_args(argv)
    import keras  # noqa: F401
    import tensorflow as tf
    if FLAGS.reader:
        print(json.dumps(reader_rate(tf, keras)))
        return 0
    from benchmarks.common import Peer, add_fractions_of_peak, machine_record, matmul_peaks, versions, write_json
    peer = Peer(None if FLAGS.peer_python.lower() == "none" else FLAGS.peer_python)
    document = {"benchmark": "pretraining_train_step", "machine": machine_record(),
                "versions": versions(),
                "peer": peer.info}
    try:
        peaks_before = matmul_peaks(peer)
        document["results"] = []
        for size, seq, precision, xla in itertools.product(FLAGS.sizes, FLAGS.seq_lengths, FLAGS.precisions,
                                                           FLAGS.xla):
            result = train_step_rate(size, int(seq), precision, xla.lower() == "true", tf, peer)
            document["results"].append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
        peaks = document["matmul_peak_flops_per_second"] = matmul_peaks(peer, before=peaks_before)
        for result in document["results"]:
            add_fractions_of_peak([result["ours"], result.get("peer", {})], peaks, result["precision"])
            add_targets(result)
    finally:
        peer.close()
    document["machine"]["load_average_at_end"] = os.getloadavg()
    write_json(document, FLAGS.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

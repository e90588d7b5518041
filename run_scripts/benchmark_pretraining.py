"""Train-step throughput (sequences/s), model FLOPs per step and achieved FLOP/s, as JSON lines.

  python run_scripts/benchmark_pretraining.py                           # small, seq 128, batch 32, fp32, XLA on/off
  python run_scripts/benchmark_pretraining.py --sizes=small,base --seq_lengths=128,512 --precisions=fp32,bf16,fp16
  python run_scripts/benchmark_pretraining.py --reader                  # input pipeline vs the tiny model

Random token ids stand in for data (the step's cost does not depend on the values). The first steps (tracing,
XLA compilation) are excluded from the timing.
"""
import itertools
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

flags.DEFINE_list("sizes", ["small"], "Model presets.")
flags.DEFINE_list("seq_lengths", ["128"], "Sequence lengths.")
flags.DEFINE_list("precisions", ["fp32"], "fp32, bf16, fp16.")
flags.DEFINE_list("xla", ["true", "false"], "XLA settings to measure.")
flags.DEFINE_integer("batch_size", 32, "Sequences per step.")
flags.DEFINE_integer("warmup_steps", 3, "Untimed steps.")
flags.DEFINE_integer("steps", 10, "Timed steps.")
flags.DEFINE_bool("reader", False, "Measure the TFRecord reader against the tiny model instead.")
flags.DEFINE_string("output", None, "Also append the JSON lines to this file.")
FLAGS = flags.FLAGS


def machine():
    return {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d")}


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


def train_step_rate(size, seq, precision, xla, tf, keras):
    from electra.configs import PRECISIONS, preset
    from electra.data import MaskingConfig
    from electra.modeling import ElectraPretrainingModel
    from electra.training.flops import pretraining_step_flops
    from electra.training.optimization import WarmupPolyDecay, make_optimizer
    from electra.tasks.pretraining import METRICS
    from electra.training.trainer import Trainer
    config = preset(size)
    masking = MaskingConfig()
    model = ElectraPretrainingModel(config, seed=0, dtype=PRECISIONS[precision])
    optimizer = make_optimizer("lamb", WarmupPolyDecay(1e-4, 1000, 10), model.named_variables(),
                               loss_scale=precision == "fp16")
    trainer = Trainer(model, optimizer, rtd_loss, METRICS, xla=xla)
    batch = random_batch(config, FLAGS.batch_size, seq, masking, tf)
    for _ in range(FLAGS.warmup_steps):
        trainer.train_step([batch])
    trainer.read_window()
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
        trainer.train_step([batch])
    trainer.read_window()        # waits for the device, as the training loop does once per log interval
    seconds = (time.perf_counter() - start) / FLAGS.steps
    flops = pretraining_step_flops(config, FLAGS.batch_size, seq, masking.predictions_for(seq))
    return {"benchmark": "pretraining_train_step", "size": size, "seq_length": seq, "batch_size": FLAGS.batch_size,
            "precision": precision, "xla": xla, "seconds_per_step": seconds,
            "sequences_per_second": FLAGS.batch_size / seconds, "model_flops_per_step": flops,
            "achieved_flops_per_second": flops / seconds, **machine()}


def reader_rate(tf, keras):
    """Masked batches/s from TFRecords vs optimizer steps/s of the tiny model on the same batch size."""
    import numpy as np
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
            reader, "tiny_model_steps_per_second": model_rate, "reader_over_model": reader / model_rate, **machine()}


def main(argv):
    del argv
    import keras
    import tensorflow as tf
    results = []
    if FLAGS.reader:
        results.append(reader_rate(tf, keras))
    else:
        for size, seq, precision, xla in itertools.product(FLAGS.sizes, FLAGS.seq_lengths, FLAGS.precisions,
                                                           FLAGS.xla):
            results.append(train_step_rate(size, int(seq), precision, xla.lower() == "true", tf, keras))
            print(json.dumps(results[-1]), flush=True)
    if FLAGS.reader:
        print(json.dumps(results[-1]))
    if FLAGS.output:
        with open(FLAGS.output, "a", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in results)


if __name__ == "__main__":
    app.run(main)

"""The convergence benchmark's side of ours: the real pretraining job, a checkpoint every ``--eval_every`` steps, each
evaluated afterwards; step 0 is the initialization rebuilt as ``Experiment.build`` builds it. Also the data it reads
and the checks that the reference is fed exactly the batches this run consumed."""
from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np

from benchmarks.convergence_metrics import batch_digest, evaluate
from electra.io import file_sha256


def ours_config(args, seed: int, data: dict, output_dir: str):
    from electra.cli import build
    from electra.configs import PretrainConfig
    intervals = -(-args.steps // args.eval_every)
    values = {"model.size": args.model_size, "data.max_seq_length": args.seq_length,
              "data.train_batch_size": args.batch_size, "data.train_files": data["train_files"],
              "data.validation_files": data["validation_files"], "data.vocab_file": data["vocab_file"],
              "data.shuffle_buffer": args.shuffle_buffer,
              "optimizer.name": "adamw", "optimizer.learning_rate": args.learning_rate,
              "optimizer.warmup_steps": args.warmup_steps, "optimizer.poly_power": args.poly_power,
              "optimizer.end_learning_rate": 0.0, "optimizer.beta_1": args.beta_1, "optimizer.beta_2": args.beta_2,
              "optimizer.epsilon": args.epsilon, "optimizer.weight_decay": args.weight_decay,
              "optimizer.grad_clip_norm": args.clip_norm,
              "trainer.total_steps": args.steps, "trainer.xla": args.xla, "trainer.precision": "fp32",
              "trainer.seed": seed, "trainer.log_every": args.log_every, "trainer.eval_every": 0,
              "trainer.checkpoint_every": args.eval_every, "trainer.keep_checkpoints": intervals + 2,
              "trainer.restore": "none"}
    return build(PretrainConfig, values, output_dir=output_dir)


def prepared_task(config):
    from electra.tasks.pretraining import PretrainingTask
    from electra.training.distribution import Distributor
    task = PretrainingTask(config)
    task.prepare(Distributor())
    return task


def reference_stream(task, seed: int):
    """The masked training batches, made exactly as our run makes them: ``Experiment.build`` sets the global seeds
    (the shuffle ops' seeds combine with TF's global seed) before ``task.train_dataset(rank 0, 1 worker, seed)``."""
    import keras
    from electra.data.pretraining import pretraining_dataset
    c = task.config
    keras.utils.set_random_seed(seed)
    dataset = pretraining_dataset(task.files, c.data.train_batch_size, c.data.max_seq_length, task.masking,
                                  task.special, seed=seed, rank=0, num_workers=1, shuffle_buffer=c.data.shuffle_buffer,
                                  vocab_size=task.tokenizer.vocab_size)
    return dataset.as_numpy_iterator()


def check_first_batches(task, seed: int, count: int = 2) -> dict:
    """Our task's own training dataset (built after the global seed, as the loop builds it) vs the stream fed to
    the reference: the first ``count`` batches, every feature."""
    import keras
    keras.utils.set_random_seed(seed)
    theirs = task.train_dataset(0, 1, seed).as_numpy_iterator()
    mine = reference_stream(task, seed)
    equal = [batch_digest(next(theirs)) == batch_digest(next(mine)) for _ in range(count)]
    if not all(equal):
        raise AssertionError(f"seed {seed}: the reference's batches differ from PretrainingTask.train_dataset's: "
                             f"{equal}")
    return {"batches_compared": count, "equal": True}


def check_consumed_batches(task, run_dir: str, seed: int, reference_digests: list[str]) -> dict:
    """The input-iterator state our run saved with each checkpoint (after step k), restored into a fresh copy of
    the loop's iterator: its next batch (the one step k + 1 trained on) must be the reference's batch k + 1."""
    import keras
    import tensorflow as tf
    state = tf.train.get_checkpoint_state(os.path.join(run_dir, "checkpoints"))
    results = {}
    for path in state.all_model_checkpoint_paths if state else []:
        step = int(path.rsplit("-", 1)[1])
        keras.utils.set_random_seed(seed)
        iterator = iter(task.train_dataset(0, 1, seed).batch(1, drop_remainder=True).prefetch(2))
        tf.train.Checkpoint(iterator=iterator).read(
            os.path.join(run_dir, "checkpoints", "input", "rank0", f"ckpt-{step}")).expect_partial()
        batch = {k: v.numpy()[0] for k, v in next(iterator).items()}
        if step < len(reference_digests):
            results[step + 1] = batch_digest(batch) == reference_digests[step]
    if not results or not all(results.values()):
        raise AssertionError(f"seed {seed}: batches our run consumed differ from the reference's at steps "
                             f"{[s for s, ok in results.items() if not ok] or 'none checked'}")
    return {"steps_checked": sorted(results), "equal": True}


class OursEvaluator:
    def __init__(self, model, temperature: float):
        import tensorflow as tf
        self.model, self.temperature = model, temperature
        self._gen = tf.function(lambda ids, mask, seg, pos: model.generator_logits(ids, mask, seg, pos,
                                                                                   training=False),
                                reduce_retracing=True)
        self._disc = tf.function(lambda ids, mask, seg: model.discriminator_logits(ids, mask, seg, training=False),
                                 reduce_retracing=True)

    def evaluate(self, batches: list[dict]) -> dict:
        import tensorflow as tf

        def gen(b):
            return self._gen(*(tf.constant(b[k]) for k in ("input_ids", "input_mask", "segment_ids",
                                                            "masked_lm_positions"))).numpy()

        def disc(fake, b):
            return self._disc(tf.constant(fake, tf.int32), tf.constant(b["input_mask"]),
                              tf.constant(b["segment_ids"])).numpy()
        return evaluate(gen, disc, batches, self.temperature)


def run_ours(args, seed: int, data: dict, work: str, eval_batches: list[dict], default_data) -> dict:
    import keras
    from electra.modeling import ElectraPretrainingModel
    from electra.interop.store import resolve_source
    from electra.tasks.pretraining import run as run_pretraining
    from electra.training.logs import read_log
    run_dir = os.path.join(work, f"ours-seed{seed}")
    shutil.rmtree(run_dir, ignore_errors=True)
    config = ours_config(args, seed, data, run_dir)
    task = prepared_task(config)
    first = check_first_batches(task, seed)

    start = time.time()
    summary = run_pretraining(config, default_data)
    train_seconds = time.time() - start

    start = time.time()
    keras.utils.set_random_seed(seed)       # step 0: the initialization, as Experiment.build makes it
    initial = task.build_model(seed)
    keras.utils.set_random_seed(seed)
    again = task.build_model(seed)
    deterministic = all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(initial.weights, again.weights))
    parameters = int(sum(np.prod(v.shape) for v in initial.trainable_variables))
    temperature = config.objective.temperature
    curve = {0: OursEvaluator(initial, temperature).evaluate(eval_batches)}
    model, evaluator = None, None
    state_dir = os.path.join(run_dir, "checkpoints")
    import tensorflow as tf
    for path in tf.train.get_checkpoint_state(state_dir).all_model_checkpoint_paths:
        step = int(path.rsplit("-", 1)[1])
        source = resolve_source(path)
        if model is None:
            model = ElectraPretrainingModel(source.model_config, temperature=temperature)
            evaluator = OursEvaluator(model, temperature)
        source.load_into(model)
        curve[step] = evaluator.evaluate(eval_batches)
    eval_seconds = time.time() - start
    train_log = [{"step": r["step"], "loss": r["loss"], "learning_rate": r["learning_rate"]}
                 for r in read_log(os.path.join(run_dir, "train_log.jsonl")) if r.get("type") == "train"]
    return {"config": config, "task": task, "run_dir": run_dir, "curve": curve, "train_log": train_log,
            "summary": summary, "first_batches": first, "init_rebuild_deterministic": bool(deterministic),
            "parameters": parameters,
            "seconds": {"train": train_seconds, "train_loop": summary.get("seconds"), "evaluate": eval_seconds,
                        "per_step": (summary.get("seconds") or train_seconds) / args.steps}}


def describe_data(data: dict) -> dict:
    import tensorflow as tf
    from electra.data.pretraining import list_files
    out = {"source": data["source"], "vocab_file": os.path.basename(data["vocab_file"]),
           "vocab_sha256": file_sha256(data["vocab_file"])}
    with open(data["vocab_file"], encoding="utf-8") as f:
        out["vocab_lines"] = sum(1 for _ in f)
    for what in ("train", "validation"):
        files = list_files(data[f"{what}_files"], what)
        out[what] = [{"file": os.path.basename(p), "bytes": os.path.getsize(p), "sha256": file_sha256(p),
                      "records": sum(1 for _ in tf.data.TFRecordDataset(p))} for p in files]
        out[f"{what}_records"] = sum(f["records"] for f in out[what])
    dataset_json = data.get("dataset_json")
    if dataset_json and os.path.exists(dataset_json):
        with open(dataset_json, encoding="utf-8") as f:
            summary = json.load(f)
        out["prepared"] = {"settings": summary.get("settings"), "vocab_size": summary.get("vocab_size"),
                           "documents": (summary.get("corpus") or {}).get("documents"),
                           "train_sequences": (summary.get("train") or {}).get("sequences"),
                           "validation_sequences": (summary.get("validation") or {}).get("sequences")}
    return out


def held_out_batches(task, count: int) -> list[dict]:
    """The fixed held-out masked batches (validation records in order, ``training=False``: fixed masks), as
    ``PretrainingTask.evaluate`` reads them."""
    from electra.data.pretraining import list_files, pretraining_dataset
    c = task.config
    files = list_files(c.data.validation_files, "validation")
    dataset = pretraining_dataset(files, c.data.train_batch_size, c.data.max_seq_length, task.masking, task.special,
                                  training=False, vocab_size=task.tokenizer.vocab_size)
    return [{k: np.asarray(v) for k, v in b.items()} for b in dataset.take(count).as_numpy_iterator()]

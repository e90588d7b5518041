"""SQuAD fine-tuning and prediction: the library behind ``run_scripts/run_squad.py``.

``fine_tune(model, features, …)`` trains with span loss = mean of the start and end cross-entropies (v2: the
``[CLS]`` target for impossible questions, plus the answerability head's sigmoid cross-entropy when the model has
one), ``LayerwiseAdamW`` with warmup + linear decay, fp32/fp16/bf16, optional XLA and Horovod, a checkpoint per
epoch. ``predict_logits`` runs the model over features; ``answer`` = ``predict_logits`` + ``postprocess``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from electra.squad.optimization import make_finetuning_optimizer
from electra.training.distribution import Distributor
from electra.training.optimization import WarmupPolyDecay
from electra.training.trainer import Trainer

log = logging.getLogger("electra.squad")


@dataclasses.dataclass
class FineTuneConfig:
    learning_rate: float = 1e-4
    layerwise_lr_decay: float = 0.8
    weight_decay: float = 0.01
    warmup_proportion: float = 0.1
    num_train_epochs: float = 2.0
    max_steps: int = 0                # > 0 overrides num_train_epochs
    train_batch_size: int = 32
    precision: str = "fp32"
    xla: bool = False
    seed: int = 42
    clip_norm: float = 1.0
    head_depth: int | None = None
    log_every: int = 50
    output_dir: str | None = None     # checkpoints (one per epoch) and train_log.jsonl when set
    min_steps_between_checkpoints: int = 100  # tiny sets have epochs of a few steps: do not save every one


def span_loss(outputs, batch, answerability: bool):
    start = tf.keras.losses.sparse_categorical_crossentropy(batch["start_positions"], outputs["start_logits"],
                                                            from_logits=True)
    end = tf.keras.losses.sparse_categorical_crossentropy(batch["end_positions"], outputs["end_logits"],
                                                          from_logits=True)
    loss = tf.reduce_mean((start + end) / 2.0)
    if answerability and "answerable_logits" in outputs:
        labels = 1.0 - tf.cast(batch["is_impossible"], tf.float32)
        loss += tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, outputs["answerable_logits"]))
    return loss


class SquadTrainer(Trainer):
    """One optimizer step per batch on the span loss; gradients averaged over Horovod workers when given."""

    def __init__(self, model, optimizer, distributor: Distributor | None = None, xla: bool = False):
        answerability = getattr(model, "answer_head", None) is not None

        def loss_fn(model, batch):
            loss = span_loss(model(batch, training=True), batch, answerability)
            return loss, {"loss": loss}
        super().__init__(model, optimizer, distributor, xla=xla, loss_fn=loss_fn)

    def train_step(self, batch) -> float:
        """The step's loss, averaged over workers."""
        return super().train_step([batch])["global_loss"]


def _train_dataset(features, batch_size: int, seed: int, rank: int, size: int) -> tf.data.Dataset:
    keys = ("input_ids", "input_mask", "segment_ids", "start_positions", "end_positions", "is_impossible")
    dataset = tf.data.Dataset.from_tensor_slices({k: features.arrays[k] for k in keys})
    if size > 1:
        dataset = dataset.shard(size, rank)
    dataset = dataset.shuffle(max(1, len(features)), seed=seed, reshuffle_each_iteration=True)
    return dataset.repeat().batch(batch_size, drop_remainder=True).prefetch(2)


def fine_tune(model, features, config: FineTuneConfig, distributor: Distributor | None = None) -> dict:
    """Train ``model`` in place on training ``features``; returns a summary (steps, final loss, seconds,
    sequences/s). The model's dtype policy decides the precision; fp16 adds dynamic loss scaling."""
    distributor = distributor or Distributor()
    tf.random.set_seed(config.seed)
    keras.utils.set_random_seed(config.seed)
    n = len(features)
    per_worker = max(1, n // distributor.size)
    batch = min(config.train_batch_size, per_worker)
    steps_per_epoch = max(1, per_worker // batch)
    total = config.max_steps if config.max_steps > 0 else max(1, int(math.ceil(config.num_train_epochs *
                                                                                steps_per_epoch)))
    warmup = int(config.warmup_proportion * total)
    schedule = WarmupPolyDecay(config.learning_rate, total, warmup, power=1.0, end=0.0)
    optimizer = make_finetuning_optimizer(model, schedule, layerwise_lr_decay=config.layerwise_lr_decay,
                                          weight_decay=config.weight_decay, head_depth=config.head_depth,
                                          clip_norm=config.clip_norm, loss_scale=config.precision == "fp16")
    trainer = SquadTrainer(model, optimizer, distributor, xla=config.xla)
    distributor.broadcast_variables(model.variables)
    checkpoint = manager = None
    log_file = None
    if config.output_dir and distributor.is_chief:
        os.makedirs(config.output_dir, exist_ok=True)
        checkpoint = tf.train.Checkpoint(model={k: getattr(v, "value", v) for k, v in model.named_variables().items()})
        manager = tf.train.CheckpointManager(checkpoint, os.path.join(config.output_dir, "checkpoints"),
                                             max_to_keep=3, checkpoint_name="ckpt")
        log_file = open(os.path.join(config.output_dir, "train_log.jsonl"), "a", encoding="utf-8")
    iterator = iter(_train_dataset(features, batch, config.seed, distributor.rank, distributor.size))
    log.info("fine-tuning: %d features, batch %d × %d worker(s), %d steps (%d per epoch), warmup %d", n, batch,
             distributor.size, total, steps_per_epoch, warmup)
    start, loss, window_start, last_saved = time.time(), float("nan"), time.time(), 0
    for step in range(1, total + 1):
        loss = trainer.train_step(next(iterator))
        if not math.isfinite(loss) and config.precision != "fp16":
            raise FloatingPointError(f"fine-tuning loss is {loss} at step {step}")
        if log_file and (step % config.log_every == 0 or step == total):
            elapsed = time.time() - window_start
            record = {"step": step, "loss": loss, "lr": trainer.learning_rate,
                      "seq_per_s": batch * distributor.size * min(step, config.log_every) / max(elapsed, 1e-9)}
            if trainer.loss_scaling:
                record["loss_scale"] = trainer.loss_scale
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
            log.info("fine-tuning step %d/%d  loss %.4f  %.1f seq/s", step, total, loss, record["seq_per_s"])
            window_start = time.time()
        if manager and (step == total or (step % steps_per_epoch == 0
                                          and step - last_saved >= config.min_steps_between_checkpoints)):
            manager.save(checkpoint_number=step)
            last_saved = step
    seconds = time.time() - start
    if log_file:
        log_file.close()
    return {"steps": total, "final_loss": loss, "seconds": seconds, "batch_size": batch,
            "seq_per_s": total * batch * distributor.size / max(seconds, 1e-9),
            "checkpoint": manager.latest_checkpoint if manager else None}


def predict_logits(model, features, batch_size: int = 32, xla: bool = False) -> dict[str, np.ndarray]:
    """Start/end logits ``[N, S]`` float32 (and ``answerable_logits`` ``[N]`` when the model has the head)."""
    call = tf.function(lambda batch: model(batch, training=False), jit_compile=xla, reduce_retracing=True)
    outputs: dict[str, list] = {}
    inputs = features.model_inputs() if hasattr(features, "model_inputs") else features
    n = len(next(iter(inputs.values())))
    for i in range(0, n, batch_size):
        chunk = {k: tf.constant(v[i:i + batch_size]) for k, v in inputs.items()}
        for k, v in call(chunk).items():
            outputs.setdefault(k, []).append(np.asarray(v, np.float32))
    return {k: np.concatenate(v) for k, v in outputs.items()}

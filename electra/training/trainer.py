"""The optimizer step shared by pretraining and fine-tuning: forward/backward (XLA-compiled when asked),
accumulation over K micro-batches, allreduce across workers, global-norm clipping and the optimizer update, with
fp16 loss scaling. Only the loss differs between tasks (``loss_fn``).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from electra.training.distribution import Distributor

METRICS = ("loss", "mlm_loss", "disc_loss", "gen_accuracy", "disc_accuracy", "disc_precision", "disc_recall")


def pretraining_loss(model, batch):
    """RTD pretraining: ``(loss, metrics)`` of the model's own objective."""
    out = model(batch, training=True)
    return out["loss"], {k: out[k] for k in METRICS}


class Trainer:
    """``train_step(micro_batches)`` performs one optimizer step over ``len(micro_batches)`` micro-batches.

    The gradient of a step is the mean of the micro-batch gradients, averaged again across workers, so
    batch 4 × accumulation 1, batch 2 × accumulation 2 and 2 workers × batch 2 take the same step.
    ``loss_fn(model, batch) -> (loss, metrics)`` runs in training mode; ``metrics`` must include ``loss``.
    """

    def __init__(self, model, optimizer: keras.optimizers.Optimizer, distributor: Distributor | None = None,
                 accumulation_steps: int = 1, xla: bool = False, loss_fn=pretraining_loss):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.distributor = distributor or Distributor()
        self.accumulation_steps = accumulation_steps
        self.loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self.variables = list(model.trainable_variables)
        optimizer.build(self.variables)
        self._forward_backward = tf.function(self._forward_backward_impl, jit_compile=xla)
        self._step = tf.function(self._step_impl)
        if accumulation_steps > 1:
            self.accumulators = [tf.Variable(tf.zeros(v.shape, tf.float32), trainable=False) for v in self.variables]
            self.loss_sum = tf.Variable(0.0, trainable=False)
            self._accumulate = tf.function(self._accumulate_impl)
            self._apply_accumulated = tf.function(self._apply_accumulated_impl)

    @property
    def learning_rate(self) -> float:
        inner = self.optimizer.inner_optimizer if self.loss_scaling else self.optimizer
        return float(inner.learning_rate)

    @property
    def loss_scale(self) -> float:
        return float(self.optimizer.scale_loss(tf.constant(1.0))) if self.loss_scaling else 1.0

    def _forward_backward_impl(self, batch):
        with tf.GradientTape() as tape:
            loss, metrics = self.loss_fn(self.model, batch)
            scaled = self.optimizer.scale_loss(loss) if self.loss_scaling else loss
        grads = tape.gradient(scaled, self.variables)
        grads = [tf.convert_to_tensor(g, tf.float32) for g in grads]  # embedding gathers give IndexedSlices
        return grads, metrics

    def _apply(self, grads, local_loss):
        grads = self.distributor.allreduce_gradients(grads)
        scale = self.optimizer.scale_loss(tf.constant(1.0)) if self.loss_scaling else 1.0
        grad_norm = tf.linalg.global_norm(grads) / scale
        self.optimizer.apply(grads, self.variables)
        return {"grad_norm": grad_norm, "global_loss": self.distributor.allreduce_mean(local_loss)}

    def _step_impl(self, batch):
        grads, metrics = self._forward_backward(batch)
        return {**metrics, **self._apply(grads, metrics["loss"])}

    def _accumulate_impl(self, batch):
        grads, metrics = self._forward_backward(batch)
        for accumulator, grad in zip(self.accumulators, grads):
            accumulator.assign_add(grad)
        self.loss_sum.assign_add(metrics["loss"])
        return metrics

    def _apply_accumulated_impl(self):
        k = float(self.accumulation_steps)
        out = self._apply([a / k for a in self.accumulators], self.loss_sum / k)
        for accumulator in self.accumulators:
            accumulator.assign(tf.zeros_like(accumulator))
        self.loss_sum.assign(0.0)
        return out

    def train_step(self, micro_batches) -> dict[str, float]:
        """One optimizer step; returns the step's metrics averaged over its micro-batches (this worker's),
        ``global_loss`` (mean over workers), ``grad_norm`` (unscaled, before clipping)."""
        if len(micro_batches) != self.accumulation_steps:
            raise ValueError(f"expected {self.accumulation_steps} micro-batches, got {len(micro_batches)}")
        if self.accumulation_steps == 1:
            return {k: float(v) for k, v in self._step(micro_batches[0]).items()}
        totals: dict[str, float] = {}
        for batch in micro_batches:
            for k, v in self._accumulate(batch).items():
                totals[k] = totals.get(k, 0.0) + float(v) / self.accumulation_steps
        return {**totals, **{k: float(v) for k, v in self._apply_accumulated().items()}}


class PretrainingTrainer(Trainer):
    """The trainer with the RTD pretraining loss (what ``run_pretraining`` drives)."""

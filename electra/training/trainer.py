"""The optimizer step, one ``tf.function`` for every task: forward/backward over K micro-batches (accumulated in
the graph), allreduce across workers, global-norm clipping and the update, with fp16 loss scaling. The task's
``loss(model, batch) -> (loss, metrics)`` is the only thing that differs between pretraining and fine-tuning.

Metrics stay on the device: every step adds its values to window sums, and ``read_window`` fetches the means of
the window in one host transfer (the loop calls it once per log interval), so Python never waits for the device
between log steps. The first step whose global loss is not finite is recorded on the device too.

Stop requests travel with the loss: ``request_stop(signal)`` marks this worker's next steps, and each step's
``stop_signal`` output is the signal any worker asked for (0: none), reduced in the same allreduce as the global loss,
so every worker learns of one worker's request at the same step.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from electra.training.distribution import Distributor

COMMON = ("loss", "grad_norm")          # window means, logged for every task
LAST = ("learning_rate", "loss_scale")  # values at the window's last step


class Trainer:
    """``train_step(micro_batches)``: one optimizer step over a batch ``[K, B, ...]`` (K micro-batches stacked, or
    a list of K ``[B, ...]`` batches). The gradient is the mean of the micro-batch gradients, averaged again across
    workers, so batch 4 × accumulation 1, batch 2 × accumulation 2 and 2 workers × batch 2 take the same step."""

    def __init__(self, model, optimizer: keras.optimizers.Optimizer, loss_fn, metric_names=(),
                 distributor: Distributor | None = None, accumulation_steps: int = 1, xla: bool = False):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.distributor = distributor or Distributor()
        self.accumulation_steps = int(accumulation_steps)
        self.loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        self.variables = list(model.trainable_variables)
        optimizer.build(self.variables)
        self.names = tuple(COMMON) + tuple(metric_names)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.sums = {k: tf.Variable(0.0, trainable=False, name=f"sum_{k}") for k in self.names}
        self.last = {k: tf.Variable(0.0, trainable=False, name=f"last_{k}") for k in LAST}
        self.window_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="window_steps")
        self.first_nonfinite_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="first_nonfinite_step")
        self.stop_request = tf.Variable(0.0, trainable=False, name="stop_request")     # this worker's signal number
        self.host_reads = 0
        self._forward_backward = tf.function(self._forward_backward_impl, jit_compile=xla)
        self._step = tf.function(self._step_impl)
        # The update as one XLA computation over all variables: the optimizer's per-variable element-wise ops
        # fuse into a few loops instead of separate ops per variable (LAMB's trust ratio most of all).
        self._apply = tf.function(self._apply_impl, jit_compile=True)

    def state(self) -> dict:
        """What a checkpoint must hold besides weights and optimizer for an exact resume (the step and the open
        log window)."""
        return {"step": self.step, "window_steps": self.window_steps, "first_nonfinite_step": self.first_nonfinite_step,
                **{f"sum_{k}": v for k, v in self.sums.items()}, **{f"last_{k}": v for k, v in self.last.items()}}

    def _inner(self):
        return self.optimizer.inner_optimizer if self.loss_scaling else self.optimizer

    def _forward_backward_impl(self, batch):
        with tf.GradientTape() as tape:
            loss, metrics = self.loss_fn(self.model, batch)
            scaled = self.optimizer.scale_loss(loss) if self.loss_scaling else loss
        grads = tape.gradient(scaled, self.variables)
        grads = [tf.convert_to_tensor(g, tf.float32) for g in grads]  # embedding gathers give IndexedSlices
        return grads, {"loss": loss, **metrics}

    def _apply_impl(self, grads):
        self.optimizer.apply(grads, self.variables)

    def _step_impl(self, stacked):
        k = self.accumulation_steps
        grads, metrics = self._forward_backward(tf.nest.map_structure(lambda t: t[0], stacked))
        if k > 1:
            for i in tf.range(1, k):
                more, values = self._forward_backward(tf.nest.map_structure(lambda t: t[i], stacked))
                grads = [a + b for a, b in zip(grads, more)]
                metrics = {name: metrics[name] + values[name] for name in metrics}
            grads = [g / float(k) for g in grads]
            metrics = {name: value / float(k) for name, value in metrics.items()}
        grads = self.distributor.allreduce_gradients(grads)
        scale = self.optimizer.scale_loss(tf.constant(1.0)) if self.loss_scaling else 1.0
        grad_norm = tf.linalg.global_norm(grads) / scale
        learning_rate = tf.cast(self._inner().learning_rate, tf.float32)
        self._apply(grads)
        # [loss, signal, 1 if asked] averaged over workers: the loss's mean, and the asking workers' signal
        requested = tf.cast(self.stop_request > 0, tf.float32)
        reduced = self.distributor.allreduce_mean(tf.stack([tf.cast(metrics["loss"], tf.float32),
                                                            self.stop_request, requested]))
        global_loss = reduced[0]
        stop_signal = tf.math.divide_no_nan(reduced[1], reduced[2])
        self.step.assign_add(1)
        out = {**metrics, "grad_norm": grad_norm, "global_loss": global_loss, "stop_signal": stop_signal}
        for name in self.names:
            self.sums[name].assign_add(tf.cast(global_loss if name == "loss" else out[name], tf.float32))
        self.last["learning_rate"].assign(learning_rate)
        self.last["loss_scale"].assign(tf.cast(scale, tf.float32))
        self.window_steps.assign_add(1)
        finite = tf.math.is_finite(global_loss)
        self.first_nonfinite_step.assign(tf.where(
            tf.logical_and(tf.logical_not(finite), self.first_nonfinite_step == 0), self.step,
            self.first_nonfinite_step))
        return out

    def train_step(self, micro_batches):
        """One optimizer step; returns this step's metrics as device tensors (this worker's means over its
        micro-batches, ``global_loss`` averaged over workers, ``grad_norm`` unscaled and before clipping)."""
        if isinstance(micro_batches, (list, tuple)):
            if len(micro_batches) != self.accumulation_steps:
                raise ValueError(f"expected {self.accumulation_steps} micro-batches, got {len(micro_batches)}")
            micro_batches = {key: tf.stack([b[key] for b in micro_batches]) for key in micro_batches[0]}
        return self._step(micro_batches)

    def request_stop(self, signum: int) -> None:
        """This worker was asked to stop by ``signum``: its next steps carry the request to every worker."""
        self.stop_request.assign(float(signum))

    def read_window(self, reset: bool = True) -> dict[str, float]:
        """The open window's means (``loss`` is the mean over workers), the last learning rate and loss scale, the
        window's step count and the first non-finite step (0: none), in ONE device-to-host transfer; with ``reset``
        a new window starts."""
        values = self._read(reset)
        self.host_reads += 1
        array = np.asarray(values)
        names = self.names + LAST + ("window_steps", "first_nonfinite_step", "step")
        out = dict(zip(names, array.tolist()))
        for key in ("window_steps", "first_nonfinite_step", "step"):
            out[key] = int(out[key])
        return out

    @tf.function
    def _read(self, reset: bool):
        count = tf.maximum(tf.cast(self.window_steps, tf.float64), 1.0)
        values = [tf.cast(self.sums[k], tf.float64) / count for k in self.names]
        values += [tf.cast(self.last[k], tf.float64) for k in LAST]
        values += [tf.cast(v, tf.float64) for v in (self.window_steps, self.first_nonfinite_step, self.step)]
        out = tf.stack(values)
        if reset:
            with tf.control_dependencies([out]):
                for variable in self.sums.values():
                    variable.assign(0.0)
                self.window_steps.assign(0)
        return tf.identity(out)

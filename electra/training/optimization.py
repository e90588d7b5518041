"""Optimizers and learning-rate schedules for pretraining and fine-tuning.

``keras.optimizers.Lamb`` applies weight decay outside the trust ratio and adapts every variable, LayerNorm
and biases included; BERT/ELECTRA's LAMB (and NVIDIA's recipe) folds decay into the update and exempts
LayerNorm and bias from both decay and layer adaptation. ``Lamb`` below is that variant.
"""
from __future__ import annotations

import keras
import tensorflow as tf


class WarmupPolyDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to ``peak`` over ``warmup_steps``, then ``(peak - end) × (1 - t)^power + end``.

    ``offset`` is subtracted from the optimizer step: phase 2 restarts its schedule while the step counter goes on.
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int = 0, power: float = 1.0, end: float = 0.0,
                 offset: int = 0):
        self.peak, self.total_steps, self.warmup_steps = float(peak), int(total_steps), int(warmup_steps)
        self.power, self.end, self.offset = float(power), float(end), int(offset)

    def __call__(self, step):
        step = tf.cast(step, tf.float32) - float(self.offset)
        warmup = self.peak * step / max(1.0, float(self.warmup_steps))
        progress = tf.clip_by_value((step - self.warmup_steps) / max(1.0, float(self.total_steps - self.warmup_steps)),
                                    0.0, 1.0)
        decayed = (self.peak - self.end) * tf.pow(1.0 - progress, self.power) + self.end
        return tf.where(step < self.warmup_steps, warmup, decayed)

    def get_config(self):
        return dict(peak=self.peak, total_steps=self.total_steps, warmup_steps=self.warmup_steps, power=self.power,
                    end=self.end, offset=self.offset)


class Lamb(keras.optimizers.Optimizer):
    """LAMB (You et al., 2019) as BERT/ELECTRA use it: decoupled decay inside the update, trust ratio per tensor,
    and ``exclude`` variables (LayerNorm, biases) exempt from both."""

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-6, weight_decay_rate=0.01,
                 exclude=(), name="lamb", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.weight_decay_rate = weight_decay_rate
        self._excluded = {id(v) for v in exclude}

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._v = [self.add_variable_from_reference(v, "v") for v in var_list]
        self._adapt = [id(v) not in self._excluded for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m, v = self._m[index], self._v[index]
        gradient = tf.cast(gradient, variable.dtype)
        step = tf.cast(self.iterations + 1, variable.dtype)
        m.assign(self.beta_1 * m + (1.0 - self.beta_1) * gradient)
        v.assign(self.beta_2 * v + (1.0 - self.beta_2) * tf.square(gradient))
        m_hat = m / (1.0 - tf.pow(tf.cast(self.beta_1, variable.dtype), step))
        v_hat = v / (1.0 - tf.pow(tf.cast(self.beta_2, variable.dtype), step))
        update = m_hat / (tf.sqrt(v_hat) + self.epsilon)
        ratio = 1.0
        if self._adapt[index]:
            update += self.weight_decay_rate * variable
            w_norm, u_norm = tf.norm(variable), tf.norm(update)
            ratio = tf.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, 1.0)
        variable.assign_sub(tf.cast(learning_rate, variable.dtype) * ratio * update)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay_rate": self.weight_decay_rate}


def no_decay_variables(named_variables: dict) -> list:
    """LayerNorm parameters and biases: exempt from weight decay (and from LAMB's layer adaptation)."""
    return [v for name, v in named_variables.items() if "LayerNorm" in name or name.endswith("bias")]


def make_optimizer(name: str, schedule, named_variables: dict, *, weight_decay: float = 0.01, beta_1: float = 0.9,
                   beta_2: float = 0.999, epsilon: float = 1e-6, clip_norm: float | None = 1.0,
                   loss_scale: bool = False) -> keras.optimizers.Optimizer:
    """``lamb`` or ``adamw``, with decay off for LayerNorm/bias; wrapped in a dynamic loss scaler for fp16."""
    exempt = no_decay_variables(named_variables)
    clip = dict(global_clipnorm=clip_norm) if clip_norm else {}
    if name == "lamb":
        optimizer = Lamb(schedule, beta_1, beta_2, epsilon, weight_decay, exclude=exempt, **clip)
    elif name == "adamw":
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2,
                                           epsilon=epsilon, **clip)
        optimizer.exclude_from_weight_decay(var_list=exempt)
    else:
        raise ValueError(f"--optimizer={name!r}: choose 'lamb' or 'adamw'")
    return keras.optimizers.LossScaleOptimizer(optimizer) if loss_scale else optimizer

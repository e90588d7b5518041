"""Optimizers and learning-rate schedules for pretraining and fine-tuning.

``keras.optimizers.Lamb`` applies weight decay outside the trust ratio and adapts every variable, LayerNorm
and biases included; BERT/ELECTRA's LAMB (and NVIDIA's recipe) folds decay into the update and exempts
LayerNorm and bias from both decay and layer adaptation. ``Lamb`` below is that variant.

``keras.optimizers.AdamW`` uses the "epsilon hat" form of Adam (``lr·√(1−β2^t)/(1−β1^t) · m/(√v + ε)``, ε added
to the uncorrected √v), which is not the AdamW of the paper, PyTorch (``torch.optim.AdamW``) or Hugging Face: there
ε is added to the bias-corrected √v̂. With ε = 1e-6 the two differ most early in training and for small gradients
(at step 1 the keras form behaves as if ε were ε/√(1−β2) ≈ 32× larger). ``AdamW`` below is the PyTorch definition;
``tests/training/test_step_parity.py`` checks one step of it (and of ``Lamb``) against PyTorch.

Fine-tuning uses ELECTRA's layer-wise learning-rate decay (``LayerwiseAdamW``). Depths: embeddings (and the
embedding projection) 0, transformer layer ``i`` depth ``i + 1``, task heads ``head_depth`` (``L + 2`` by default,
as google-research/electra; ``L`` = number of layers); a variable at depth ``d`` trains at
``lr × decay^(head_depth − d)``, so the top layer trains at ``decay²`` of the head's rate (``head_depth=L + 1``
gives ``decay``). Scaling gradients would not do this (Adam normalizes the gradient scale away): the learning rate
itself, of both the Adam step and the decoupled weight decay, is scaled per variable.
"""
from __future__ import annotations

import re

import keras
import tensorflow as tf

_LAYER = re.compile(r"(?:^|/)encoder/layer_(\d+)/")


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


def bias_corrections(beta_1: float, beta_2: float, iterations, dtype) -> tuple[tf.Tensor, tf.Tensor]:
    """Adam's ``1 − β1^t`` and ``1 − β2^t`` at step ``t = iterations + 1``, computed in float64 (as PyTorch does in
    Python floats) and cast to ``dtype``: in float32, ``1 − float32(0.999)`` is 1.3e-5 off, which would make every
    step 6e-6 too large."""
    step = tf.cast(iterations + 1, tf.float64)
    return (tf.cast(1.0 - tf.pow(tf.constant(beta_1, tf.float64), step), dtype),
            tf.cast(1.0 - tf.pow(tf.constant(beta_2, tf.float64), step), dtype))


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
        m.assign(self.beta_1 * m + (1.0 - self.beta_1) * gradient)
        v.assign(self.beta_2 * v + (1.0 - self.beta_2) * tf.square(gradient))
        correction_1, correction_2 = bias_corrections(self.beta_1, self.beta_2, self.iterations, variable.dtype)
        update = (m / correction_1) / (tf.sqrt(v / correction_2) + self.epsilon)
        ratio = 1.0
        if self._adapt[index]:
            update += self.weight_decay_rate * variable
            w_norm, u_norm = tf.norm(variable), tf.norm(update)
            ratio = tf.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, 1.0)
        variable.assign_sub(tf.cast(learning_rate, variable.dtype) * ratio * update)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay_rate": self.weight_decay_rate}


class AdamW(keras.optimizers.Optimizer):
    """Adam with decoupled weight decay exactly as ``torch.optim.AdamW`` (Loshchilov & Hutter): for each variable,
    ``w ← w − lr·wd·w`` unless it is in ``exclude`` (LayerNorm, biases), then
    ``m ← β1·m + (1−β1)·g``, ``v ← β2·v + (1−β2)·g²``, ``w ← w − lr · m̂ / (√v̂ + ε)`` with the bias-corrected
    ``m̂ = m / (1−β1^t)``, ``v̂ = v / (1−β2^t)``.

    ``lr_factor(index)`` scales the learning rate of the ``index``-th variable (decay included); it is 1 here and
    ``LayerwiseAdamW`` overrides it, so with every factor 1 the two take identical steps.
    """

    def __init__(self, learning_rate=1e-3, weight_decay=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-6, exclude=(),
                 name="adamw", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.decay_rate = float(weight_decay)
        self._excluded_ids = {id(v) for v in exclude} | {id(getattr(v, "value", v)) for v in exclude}

    def _is_excluded(self, variable) -> bool:
        return id(variable) in self._excluded_ids or id(getattr(variable, "value", variable)) in self._excluded_ids

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        slots = [(self.add_variable_from_reference(v, "m"), self.add_variable_from_reference(v, "v"))
                 for v in var_list]
        self._m, self._v = [m for m, _ in slots], [v for _, v in slots]
        self._decays = [0.0 if self._is_excluded(v) else self.decay_rate for v in var_list]

    def lr_factor(self, index: int) -> float:
        return 1.0

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        factor = self.lr_factor(index)
        if factor != 1.0:
            lr = lr * factor
        gradient = tf.cast(gradient, dtype)
        m, v = self._m[index], self._v[index]
        if self._decays[index]:
            variable.assign_sub(variable * (lr * self._decays[index]))
        m.assign(self.beta_1 * m + (1.0 - self.beta_1) * gradient)
        v.assign(self.beta_2 * v + (1.0 - self.beta_2) * tf.square(gradient))
        correction_1, correction_2 = bias_corrections(self.beta_1, self.beta_2, self.iterations, dtype)
        variable.assign_sub(lr * (m / correction_1) / (tf.sqrt(v / correction_2) + self.epsilon))

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.decay_rate, "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon}


def variable_depth(name: str, num_layers: int, head_depth: int | None = None) -> int:
    head_depth = num_layers + 2 if head_depth is None else head_depth
    match = _LAYER.search(name)
    if match:
        return int(match.group(1)) + 1
    if "/embeddings" in f"/{name}":          # embeddings/… and embeddings_project/…
        return 0
    return head_depth


def layerwise_lr_factors(named_variables: dict, num_layers: int, decay: float,
                         head_depth: int | None = None) -> dict[str, float]:
    """``{variable name: learning-rate factor}`` (see the module docstring); decay 1.0 gives all ones."""
    head_depth = num_layers + 2 if head_depth is None else head_depth
    return {name: float(decay) ** (head_depth - variable_depth(name, num_layers, head_depth))
            for name in named_variables}


class LayerwiseAdamW(AdamW):
    """``AdamW`` with a per-variable learning-rate factor that scales both the Adam step and the decay.
    ``lr_factors``: ``[(variable, factor)]`` (missing variables: 1); ``exclude``: variables without weight decay."""

    def __init__(self, learning_rate=1e-4, weight_decay=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                 lr_factors=(), exclude=(), name="layerwise_adamw", **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, exclude=exclude, name=name, **kwargs)
        self._factor_by_id = {id(getattr(v, "value", v)): float(f) for v, f in lr_factors}
        self._factor_by_id.update({id(v): float(f) for v, f in lr_factors})

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._factors = [self._factor_by_id.get(id(v), self._factor_by_id.get(id(getattr(v, "value", v)), 1.0))
                         for v in var_list]

    def lr_factor(self, index: int) -> float:
        return self._factors[index]


def no_decay_variables(named_variables: dict) -> list:
    """LayerNorm parameters and biases: exempt from weight decay (and from LAMB's layer adaptation)."""
    return [v for name, v in named_variables.items() if "LayerNorm" in name or name.endswith("bias")]


def make_optimizer(name: str, schedule, named_variables: dict, *, weight_decay: float = 0.01, beta_1: float = 0.9,
                   beta_2: float = 0.999, epsilon: float = 1e-6, clip_norm: float | None = 1.0,
                   loss_scale: bool = False, layerwise_lr_decay: float = 0.8,
                   head_depth: int | None = None) -> keras.optimizers.Optimizer:
    """``lamb`` (``Lamb``), ``adamw`` (``AdamW``, PyTorch's definition) or ``layerwise_adamw`` (``LayerwiseAdamW``
    with ``layerwise_lr_decay`` per layer below the head, the number of layers read from the variable names), with
    decay off for LayerNorm/bias and the global gradient norm clipped to ``clip_norm`` before the update; wrapped in
    a dynamic loss scaler for fp16."""
    exempt = no_decay_variables(named_variables)
    clip = dict(global_clipnorm=clip_norm) if clip_norm else {}
    if name == "lamb":
        optimizer = Lamb(schedule, beta_1, beta_2, epsilon, weight_decay, exclude=exempt, **clip)
    elif name == "adamw":
        optimizer = AdamW(schedule, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                          exclude=exempt, **clip)
    elif name == "layerwise_adamw":
        num_layers = 1 + max((int(m.group(1)) for m in map(_LAYER.search, named_variables) if m), default=-1)
        factors = layerwise_lr_factors(named_variables, num_layers, layerwise_lr_decay, head_depth)
        optimizer = LayerwiseAdamW(schedule, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                                   lr_factors=[(v, factors[n]) for n, v in named_variables.items()], exclude=exempt,
                                   **clip)
    else:
        raise ValueError(f"--optimizer={name!r}: choose 'lamb', 'adamw' or 'layerwise_adamw'")
    return keras.optimizers.LossScaleOptimizer(optimizer) if loss_scale else optimizer

"""AdamW with a learning rate per variable: ELECTRA's layer-wise learning-rate decay for fine-tuning.

Depths: embeddings (and the embedding projection) 0, transformer layer ``i`` depth ``i + 1``, task heads
depth ``head_depth`` (``L + 2`` by default, as google-research/electra; ``L`` = number of layers). A variable
at depth ``d`` trains at
``lr × decay^(head_depth − d)``. Scaling gradients would not do this (Adam normalizes the gradient scale away), so
``LayerwiseAdamW`` multiplies the learning rate of each variable — both the Adam step and the decoupled weight
decay — by its factor. With every factor 1 it is exactly ``electra.training.optimization.AdamW`` (PyTorch's
``torch.optim.AdamW`` update; not ``keras.optimizers.AdamW``, whose ε sits inside the bias correction).

With the default the top layer trains at ``decay²`` of the head's rate; ``head_depth=L + 1`` gives ``decay``.
"""
from __future__ import annotations

import re

import keras

from electra.training.optimization import AdamW

_LAYER = re.compile(r"(?:^|/)encoder/layer_(\d+)/")


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
    """``{variable name: learning-rate factor}``; decay 1.0 gives all ones."""
    head_depth = num_layers + 2 if head_depth is None else head_depth
    return {name: float(decay) ** (head_depth - variable_depth(name, num_layers, head_depth))
            for name in named_variables}


class LayerwiseAdamW(AdamW):
    """``electra.training.optimization.AdamW`` (PyTorch's AdamW: decoupled decay, bias-corrected m̂ / (√v̂ + ε)) with
    a per-variable learning-rate factor that scales both the Adam step and the decay. ``lr_factors``:
    ``[(variable, factor)]`` (missing variables: 1); ``exclude``: variables without weight decay."""

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


def make_finetuning_optimizer(model, schedule, *, layerwise_lr_decay: float = 0.8, weight_decay: float = 0.01,
                              head_depth: int | None = None, clip_norm: float | None = 1.0, loss_scale: bool = False,
                              epsilon: float = 1e-6, beta_1: float = 0.9, beta_2: float = 0.999):
    """``LayerwiseAdamW`` over ``model.named_variables()`` (decay off for LayerNorm and biases), wrapped in a
    dynamic ``LossScaleOptimizer`` for fp16."""
    from electra.training.optimization import no_decay_variables

    named = model.named_variables()
    num_layers = len(model.encoder.blocks)
    factors = layerwise_lr_factors(named, num_layers, layerwise_lr_decay, head_depth)
    clip = dict(global_clipnorm=clip_norm) if clip_norm else {}
    optimizer = LayerwiseAdamW(schedule, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                               lr_factors=[(v, factors[n]) for n, v in named.items()],
                               exclude=no_decay_variables(named), **clip)
    return keras.optimizers.LossScaleOptimizer(optimizer) if loss_scale else optimizer

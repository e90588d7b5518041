"""A shared test harness for every layer and model that lists its weights in ``named_variables()``.

In the spirit of keras-hub's ``TestCase.run_layer_test`` / ``run_model_saving_test``: a ``Case`` says how to
build a layer (or model) under a dtype policy, what to feed it and what comes out; the checks are generic.

``run_layer_test(case, policy)`` builds the case under ``policy`` ("float32", "mixed_float16", "mixed_bfloat16")
and checks that

* the policy reaches every sub-layer, and every float variable (``named_variables()`` included) is float32;
* a forward pass with ``training=False`` and one with ``training=True`` give the expected keys and shapes, logits
  in float32, hidden states in the compute dtype, finite values;
* ``training=False`` is deterministic (two calls, bit-identical outputs);
* ``named_variables()`` covers every trainable variable exactly once (see ``check_named_variables``).

``run_checkpoint_round_trip(case, directory)`` writes a ``tf.train.Checkpoint`` over ``named_variables()`` (as the
trainer does), reads it into a fresh instance built with other random weights, and checks that the weights and the
``training=False`` outputs are identical.

``Case.call`` returns a tensor, a tuple/list of tensors or a dict; outputs are compared as a dict (``"output"``,
``"0"``, ``"1"``… for the first two forms). ``Case.outputs`` maps each key to ``(shape, kind)`` with ``kind``:
``LOGITS`` (float32 under every policy), ``HIDDEN`` (the policy's compute dtype), ``FLOAT32`` (float32 values that
are not logits, such as labels) or a dtype name such as ``"int32"``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from electra.configs import ModelConfig

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
LOGITS, HIDDEN, FLOAT32 = "logits", "hidden", "float32"
SEED_STATE_SUFFIX = "seed_generator_state"  # electra.training.checkpointing.rng_variables relies on this path


@dataclasses.dataclass(frozen=True)
class Case:
    """One layer or model under test.

    ``make(config, policy)`` returns the layer with its weights created (built). ``inputs(config)`` returns the
    inputs (numpy or tensors) and ``call(layer, inputs, training)`` runs the forward pass. ``shared(layer)``
    returns the named variables that the layer uses but does not own (a tied embedding table), which its
    ``named_variables()`` leaves to their owner. ``names`` must all be among ``named_variables()``' keys.
    """

    id: str
    make: Callable[[ModelConfig, str], keras.layers.Layer]
    inputs: Callable[[ModelConfig], Any]
    call: Callable[[keras.layers.Layer, Any, bool], Any]
    outputs: Mapping[str, tuple[tuple[int, ...], str]]
    config: ModelConfig
    shared: Callable[[keras.layers.Layer], Mapping[str, keras.Variable]] | None = None
    names: frozenset[str] = frozenset()


def raw(variable):
    """The backend variable behind a Keras variable (identity is compared on this)."""
    return getattr(variable, "value", variable)


def as_dict(outputs) -> dict[str, tf.Tensor]:
    if isinstance(outputs, Mapping):
        return dict(outputs)
    if isinstance(outputs, (tuple, list)):
        return {str(i): t for i, t in enumerate(outputs)}
    return {"output": outputs}


def named_and_shared(case: Case, layer) -> dict[str, keras.Variable]:
    names = dict(layer.named_variables())
    shared = dict(case.shared(layer)) if case.shared is not None else {}
    assert not set(names) & {f"<shared>/{n}" for n in shared}
    return {**names, **{f"<shared>/{n}": v for n, v in shared.items()}}


def seed_states(layer) -> list:
    """The RNG seed states (Keras ``SeedGenerator``s: dropout, sampling) of ``layer`` and its sub-layers."""
    states = []
    for sublayer in layer._flatten_layers(include_self=True):
        states.extend(generator.state for generator in getattr(sublayer, "_seed_generators", []))
    return states


def check_named_variables(layer, shared: Mapping[str, keras.Variable] | None = None) -> None:
    """``named_variables()`` (plus ``shared``, the variables owned by another layer) covers every trainable
    variable of ``layer`` exactly once; names are unique, well formed and point at variables the layer tracks;
    the only non-trainable variables left unnamed are RNG seed states."""
    named = dict(layer.named_variables())
    shared = dict(shared or {})
    everything = list(named.items()) + [(f"<shared>/{n}", v) for n, v in shared.items()]
    for name in named:
        assert name and not name.startswith("/") and not name.endswith("/") and "//" not in name \
            and ":" not in name, f"malformed name {name!r}"

    owners: dict[int, list[str]] = {}
    for name, variable in everything:
        owners.setdefault(id(raw(variable)), []).append(name)
    twice = {tuple(names) for names in owners.values() if len(names) > 1}
    assert not twice, f"variables listed under more than one name: {sorted(twice)}"

    tracked = {id(raw(v)): v for v in layer.variables}
    trainable_ids = [id(raw(v)) for v in layer.trainable_variables]
    assert len(trainable_ids) == len(set(trainable_ids)), "trainable_variables lists a variable twice"
    untracked = sorted(name for name, v in everything if id(raw(v)) not in tracked)
    assert not untracked, f"named variables the layer does not track (not trained / saved by Keras): {untracked}"

    missing = sorted(tracked[i].path for i in trainable_ids if i not in owners)
    assert not missing, f"trainable variables missing from named_variables(): {missing}"

    rng = {id(raw(state)) for state in seed_states(layer)}
    by_path = {id(raw(v)) for v in layer.variables if v.path.endswith(SEED_STATE_SUFFIX)}
    assert rng == by_path, "seed states and variables whose path ends in 'seed_generator_state' differ"
    unnamed = sorted(v.path for v in layer.non_trainable_variables if id(raw(v)) not in set(owners) | rng)
    assert not unnamed, f"non-trainable variables (not RNG states) missing from named_variables(): {unnamed}"


def check_policy(layer, policy: str) -> None:
    """The policy reaches every sub-layer; mixed policies keep float32 weights."""
    for sublayer in layer._flatten_layers(include_self=True):
        assert sublayer.dtype_policy.name == policy, f"{sublayer.name}: {sublayer.dtype_policy.name} under {policy}"
    for variable in list(layer.variables) + list(layer.named_variables().values()):
        dtype = keras.backend.standardize_dtype(variable.dtype)
        if keras.backend.is_float_dtype(dtype):
            assert dtype == "float32", f"{variable.path} is {dtype} under {policy}"


def check_outputs(case: Case, outputs: dict[str, tf.Tensor], policy: str) -> None:
    compute_dtype = keras.mixed_precision.Policy(policy).compute_dtype
    assert set(outputs) == set(case.outputs), f"outputs {sorted(outputs)}, expected {sorted(case.outputs)}"
    for key, (shape, kind) in case.outputs.items():
        tensor = outputs[key]
        expected = {LOGITS: "float32", FLOAT32: "float32", HIDDEN: compute_dtype}.get(kind, kind)
        assert keras.backend.standardize_dtype(tensor.dtype) == expected, \
            f"{case.id}[{key}] is {tensor.dtype.name} under {policy}, expected {expected}"
        assert tuple(tensor.shape) == tuple(shape), f"{case.id}[{key}] has shape {tuple(tensor.shape)}, not {shape}"
        values = np.asarray(tf.cast(tensor, tf.float32) if tensor.dtype.is_floating else tensor)
        assert np.isfinite(values).all(), f"{case.id}[{key}] is not finite under {policy}"


def forward(case: Case, layer, inputs, training: bool = False) -> dict[str, tf.Tensor]:
    return as_dict(case.call(layer, inputs, training))


def assert_same_outputs(a: dict[str, tf.Tensor], b: dict[str, tf.Tensor], what: str) -> None:
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=f"{what}: {key}")


def run_layer_test(case: Case, policy: str = "float32"):
    """Build under ``policy``, run forward passes, check dtypes, determinism and ``named_variables()``."""
    layer = case.make(case.config, policy)
    assert layer.built, f"{case.id} is not built by its constructor/make()"
    check_policy(layer, policy)
    inputs = case.inputs(case.config)
    first = forward(case, layer, inputs, training=False)
    check_outputs(case, first, policy)
    assert_same_outputs(first, forward(case, layer, inputs, training=False), f"{case.id} training=False twice")
    check_outputs(case, forward(case, layer, inputs, training=True), policy)
    check_policy(layer, policy)  # calling must not create variables of another dtype
    check_named_variables(layer, case.shared(layer) if case.shared is not None else None)
    missing = sorted(case.names - set(layer.named_variables()))
    assert not missing, f"{case.id} lacks the named variables {missing}"
    return layer


def perturb(variables: Mapping[str, keras.Variable], seed: int = 0) -> None:
    """Move every variable away from its initial value (zeros, ones and random tables alike)."""
    rng = np.random.default_rng(seed)
    for variable in variables.values():
        value = variable.numpy()
        variable.assign((value + rng.normal(scale=0.02, size=value.shape)).astype(value.dtype))


def run_checkpoint_round_trip(case: Case, directory: str, policy: str = "float32"):
    """``tf.train.Checkpoint`` over ``{name: variable}`` of ``named_variables()``: write, read into a fresh
    instance with other random weights; every weight and the ``training=False`` outputs come back identical."""
    keras.utils.set_random_seed(0)
    source = case.make(case.config, policy)
    source_variables = named_and_shared(case, source)
    perturb(source_variables)
    inputs = case.inputs(case.config)
    expected = forward(case, source, inputs, training=False)
    path = tf.train.Checkpoint(model={n: raw(v) for n, v in source_variables.items()}).write(
        f"{directory}/ckpt")

    keras.utils.set_random_seed(1)
    target = case.make(case.config, policy)
    target_variables = named_and_shared(case, target)
    assert set(target_variables) == set(source_variables)
    same = sorted(n for n, v in target_variables.items()
                  if np.array_equal(v.numpy(), source_variables[n].numpy()))
    assert not same, f"the fresh {case.id} already has the saved values of {same}"

    tf.train.Checkpoint(model={n: raw(v) for n, v in target_variables.items()}).read(path).assert_consumed()
    for name, variable in target_variables.items():
        np.testing.assert_array_equal(variable.numpy(), source_variables[name].numpy(), err_msg=name)
    assert_same_outputs(expected, forward(case, target, inputs, training=False), f"{case.id} after restore")
    return target


__all__ = ["Case", "FLOAT32", "HIDDEN", "LOGITS", "POLICIES", "as_dict", "check_named_variables", "check_outputs",
           "check_policy", "forward", "perturb", "raw", "run_checkpoint_round_trip", "run_layer_test", "seed_states"]

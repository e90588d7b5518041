"""One training step of ours against an independent reference: transformers (PyTorch, float64) ELECTRA and
XLNet's SQuAD head, ``torch.optim.AdamW`` and a numpy LAMB (``tests/fixtures/make_step_parity_fixtures.py``, which
documents every convention; ``make_finetuning_fixtures.py`` adds transformers' ``ElectraForSequenceClassification``
/ ``ElectraForTokenClassification`` with their own losses). Our side runs the real path: ``ElectraPretrainingModel``
+ ``rtd_objective`` / ``ElectraForQuestionAnswering`` + ``span_loss`` / ``ElectraForSequenceClassification`` +
``sequence_loss`` (classification and regression) / ``ElectraForTokenClassification`` + ``token_loss``, gradients
from ``Trainer``'s tape, and ``Trainer.train_step`` with ``make_optimizer`` (global-norm clipping included).

Tolerances (elementwise, ``|ours − ref| ≤ atol + RTOL·|ref|``, RTOL = 1e-5):

* losses: RTOL alone.
* gradients: atol = ``GRAD_ATOL`` (2.1e-6: twice float32 PyTorch's own largest distance to the float64 reference
  here, ``provenance.json``) × the tensor's gradient scale, max |ref|. The attention key biases have exact gradient 0
  (softmax is shift-invariant), where float32 leaves ~1e-9 noise: a tensor whose reference is below 1e-9 of the
  largest gradient takes the largest gradient's scale.
* optimizer step from the REFERENCE gradients (the update formula and clipping alone): deltas w₁ − w₀ with atol =
  three float32 ulps at the tensor's largest weight (the resolution at which a float32 weight can move; see
  ``resolution``).
* full ``Trainer`` step (OUR gradients): deltas with the ulp above plus our gradient tolerance propagated through
  the update: at step 1 Adam and LAMB move an element by η·ĝ/(|ĝ| + ε) (ĝ the clipped gradient, η the tensor's
  step size), whose slope η·ε/(|ĝ| + ε)² amplifies gradient noise up to 1/ε where |ĝ| ≲ ε; float32 PyTorch's step
  moves by as much (``provenance.json``: ``*_delta_from_float32_gradients``). Elsewhere this is RTOL + the ulp.

Deltas, not weights, are compared: a step is ~1% of a weight, so a 1e-5 relative check of the weights would
hide a 1e-3 relative error in the step. Post-step weights are w₀ + Δ with the same w₀ on both sides.
"""
from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file

from electra.interop import config_from_hf, load_hf_electra, load_hf_pretraining
from electra.interop.hf import to_our_names
from electra.modeling import ElectraForQuestionAnswering, ElectraPretrainingModel
from electra.modeling.heads import MASKED_LOGIT, answer_positions
from electra.tasks.pretraining import METRICS, masked_lm_loss, rtd_loss, rtd_objective
from electra.tasks.squad import span_loss
from electra.training.optimization import WarmupPolyDecay, layerwise_lr_factors, make_optimizer
from electra.training.trainer import Trainer

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures" / "step_parity"
PRE, SQUAD = FIXTURES / "pretraining", FIXTURES / "squad"
RTOL = 1e-5
# × the tensor's gradient scale: twice the distance of float32 PyTorch's own gradients to the float64 reference on
# these fixtures (scale-relative, provenance.json), the floor any float32 implementation has. 1e-6 was below it
# (1.07e-6 for the span head): oneDNN's AVX-512 kernels on a Zen 4 reached 1.02e-6 on one joint-head element.
_FLOORS = json.loads((FIXTURES / "provenance.json").read_text())
GRAD_ATOL = 2 * max(_FLOORS["pretraining"]["torch_float32_vs_float64"]["gradients"],
                    _FLOORS["squad"]["torch_float32_vs_float64"]["plain_gradients"],
                    _FLOORS["squad"]["torch_float32_vs_float64"]["joint_gradients"])
PRETRAINING_FEATURES = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids",
                        "masked_lm_weights", "sampled_ids")
SQUAD_FEATURES = ("input_ids", "input_mask", "segment_ids", "start_positions", "end_positions", "is_impossible")
SHARED = ("electra/embeddings/word_embeddings", "electra/embeddings/position_embeddings",
          "electra/embeddings/token_type_embeddings", "electra/embeddings/LayerNorm/gamma",
          "electra/embeddings/LayerNorm/beta")
# XLNet / XLM SQuADHead (PyTorch) → our JointSpanHead: (our name, their name, transpose, sign)
JOINT_HEAD = [
    ("start_logits/dense/kernel", "start_logits.dense.weight", True, 1.0),
    ("start_logits/dense/bias", "start_logits.dense.bias", False, 1.0),
    ("end_logits/dense_0/kernel", "end_logits.dense_0.weight", True, 1.0),
    ("end_logits/dense_0/bias", "end_logits.dense_0.bias", False, 1.0),
    ("end_logits/LayerNorm/gamma", "end_logits.LayerNorm.weight", False, 1.0),
    ("end_logits/LayerNorm/beta", "end_logits.LayerNorm.bias", False, 1.0),
    ("end_logits/dense_1/kernel", "end_logits.dense_1.weight", True, 1.0),
    ("end_logits/dense_1/bias", "end_logits.dense_1.bias", False, 1.0),
    ("answer_class/dense_0/kernel", "answer_class.dense_0.weight", True, 1.0),
    ("answer_class/dense_0/bias", "answer_class.dense_0.bias", False, 1.0),
    # theirs is trained on is_impossible, ours on 1 − is_impossible: BCE(−x, 1 − y) = BCE(x, y)
    ("answer_class/dense_1/kernel", "answer_class.dense_1.weight", True, -1.0),
]


# --- fixture files -----------------------------------------------------------------------------------------------
def _npz(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _json(path):
    return json.loads(pathlib.Path(path).read_text())


def pretraining_tensors(path) -> dict[str, np.ndarray]:
    """A ``discriminator.<HF name>`` / ``generator.<HF name>`` file under our names."""
    tensors, out = load_file(str(path)), {}
    for net in ("discriminator", "generator"):
        part = {k[len(net) + 1:]: v for k, v in tensors.items() if k.startswith(net + ".")}
        ours, ignored = to_our_names(part, net, "electra", str(path))
        assert not ignored, ignored
        assert not set(ours) & set(out)
        out.update(ours)
    return out


def joint_tensors(path) -> dict[str, np.ndarray]:
    """Encoder (``electra.*``) and XLNet-head names → ours, the answer-class kernel negated."""
    tensors = load_file(str(path))
    ours, _ = to_our_names({k: v for k, v in tensors.items() if k.startswith("electra.")}, "encoder", "electra",
                           str(path))
    for name, theirs, transpose, sign in JOINT_HEAD:
        ours[name] = sign * (tensors[theirs].T if transpose else tensors[theirs])
    assert len(ours) == len(tensors)
    return ours


@pytest.fixture(scope="module")
def hparams():
    return _json(FIXTURES / "step.json")


@pytest.fixture(scope="module")
def pre_batch():
    return _npz(PRE / "batch.npz")


@pytest.fixture(scope="module")
def squad_batch():
    return _npz(SQUAD / "batch.npz")


@pytest.fixture(scope="module")
def pre_config():
    return config_from_hf(_json(PRE / "hf_discriminator" / "config.json"), _json(PRE / "hf_generator" / "config.json"))


@pytest.fixture(scope="module")
def squad_config():
    return config_from_hf(_json(SQUAD / "hf_qa" / "config.json"))


def _pretraining_model(config):
    model = ElectraPretrainingModel(config)
    load_hf_pretraining(model, str(PRE / "hf_discriminator"), str(PRE / "hf_generator"))
    return model


def _squad_model(config, joint: bool):
    model = ElectraForQuestionAnswering(config, answerability=joint, joint=joint)
    load_hf_electra(model, str(SQUAD / "hf_qa"))
    if joint:
        head = load_file(str(SQUAD / "joint_head.safetensors"))
        named = model.named_variables()
        for name, theirs, transpose, sign in JOINT_HEAD:
            named[name].assign(sign * (head[theirs].T if transpose else head[theirs]))
    return model


def _features(batch, keys):
    return {k: tf.constant(batch[k]) for k in keys}


# --- comparisons -----------------------------------------------------------------------------------------------
def assert_close(what: str, ours, ref, atol: float | np.ndarray, rtol: float = RTOL) -> float:
    """Elementwise ``|ours − ref| ≤ atol + rtol·|ref|``; returns the worst fraction of the tolerance used."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    allowed = atol + rtol * np.abs(ref)
    excess = np.abs(ours - ref) / np.maximum(allowed, 1e-300)
    worst = np.unravel_index(np.argmax(excess), excess.shape) if excess.size else ()
    assert excess.size == 0 or excess[worst] <= 1.0, (
        f"{what}: |ours − ref| = {abs(ours[worst] - ref[worst]):.3e} at {worst} (ours {ours[worst]:.9g}, ref "
        f"{ref[worst]:.9g}) exceeds {allowed[worst]:.3e} (atol {np.max(atol):.3e}, rtol {rtol})")
    return float(excess.max()) if excess.size else 0.0


def gradient_scales(reference: dict[str, np.ndarray]) -> dict[str, float]:
    """max |g| per tensor; a tensor whose exact gradient is 0 (below 1e-9 of the largest) takes the largest."""
    scales = {k: float(np.max(np.abs(v))) for k, v in reference.items()}
    largest = max(scales.values())
    return {k: s if s > 1e-9 * largest else largest for k, s in scales.items()}


def assert_gradients_close(ours: dict, reference: dict, what: str) -> None:
    assert set(ours) == set(reference), set(ours) ^ set(reference)
    scales = gradient_scales(reference)
    for name in sorted(reference):
        assert_close(f"{what} gradient {name}", ours[name], reference[name], GRAD_ATOL * scales[name])


def resolution(weights: np.ndarray) -> float:
    """Three float32 ulps at the tensor's largest |w₀|: our AdamW rounds w twice (decay, then the step) and the
    fixture's w₁ was rounded once, half an ulp each, and w₁ may lie one binade above w₀ (2.5 ulps at most)."""
    return 3.0 * float(np.spacing(np.float32(np.max(np.abs(weights)))))


def tape_gradients(trainer: Trainer, model, features) -> tuple[dict[str, np.ndarray], dict]:
    """The Trainer's own forward/backward (unclipped gradients), by our names."""
    names = {id(v): n for n, v in model.named_variables().items()}
    assert {id(v) for v in trainer.variables} == set(names)
    grads, metrics = trainer._forward_backward(features)
    return {names[id(v)]: g.numpy() for v, g in zip(trainer.variables, grads)}, metrics


def snapshot(model) -> dict[str, np.ndarray]:
    return {n: v.numpy().astype(np.float64) for n, v in model.named_variables().items()}


def apply_reference_gradients(optimizer, model, gradients: dict) -> None:
    names = {id(v): n for n, v in model.named_variables().items()}
    variables = list(model.trainable_variables)
    optimizer.build(variables)
    optimizer.apply([tf.constant(gradients[names[id(v)]]) for v in variables], variables)


def assert_step_close(what, before, after, reference_after) -> None:
    """Deltas of a step taken from the reference gradients: atol = the weights' float32 resolution."""
    assert set(after) == set(reference_after)
    for name in sorted(reference_after):
        assert_close(f"{what} delta from the reference gradients {name}", after[name] - before[name],
                     reference_after[name].astype(np.float64) - before[name], resolution(before[name]))


def assert_full_step_close(what, before, after, reference_after, ref_grads, clip_coef, epsilon, step_size) -> None:
    """A step from our own gradients: deltas to RTOL plus the weights' resolution plus our gradient tolerance
    propagated through m̂ / (√v̂ + ε) (see the module docstring). ``step_size[name]``: the tensor's η (lr × its
    factor; LAMB: × its trust ratio). Post-step weights are w₀ + Δ with the same w₀, so this bounds them too."""
    assert set(after) == set(reference_after)
    scales = gradient_scales(ref_grads)
    for name in sorted(reference_after):
        w0, ref = before[name], reference_after[name].astype(np.float64)
        g = np.abs(ref_grads[name].astype(np.float64))
        grad_tol = clip_coef * (GRAD_ATOL * scales[name] + RTOL * g)
        propagated = step_size[name] * epsilon * grad_tol / (clip_coef * g + epsilon) ** 2
        assert_close(f"{what} delta of the full step {name}", after[name] - w0, ref - w0, resolution(w0) + propagated)


def exempt(name: str) -> bool:
    """LayerNorm and biases: no weight decay, no LAMB trust ratio (both sides' convention)."""
    return "LayerNorm" in name or name.endswith("bias")


def step_sizes(optimizer, before, ref_grads, clip_coef, hparams, lr) -> dict[str, float]:
    """η per tensor: ``lr[name]``, for LAMB times the trust ratio ‖w‖ / ‖ĝ / (|ĝ| + ε) + wd·w‖ of the reference's
    clipped gradient (used for the tolerance only)."""
    sizes = {}
    for name, w in before.items():
        sizes[name] = lr[name]
        if optimizer == "lamb" and not exempt(name):
            g = ref_grads[name].astype(np.float64) * clip_coef
            update = g / (np.abs(g) + hparams["epsilon"]) + hparams["weight_decay"] * w
            sizes[name] *= float(np.linalg.norm(w) / np.linalg.norm(update))
    return sizes


# --- the fixture itself ----------------------------------------------------------------------------------------
def test_fixture_exercises_padding_real_samples_clipping_and_masking(pre_batch, squad_batch, hparams):
    weights, sampled = pre_batch["masked_lm_weights"], pre_batch["sampled_ids"]
    assert (pre_batch["input_mask"] == 0).any() and (weights == 0).any()
    assert (sampled[weights == 0] != 0).all()                     # junk in padding entries must be ignored
    real = (sampled == pre_batch["masked_lm_ids"]) & (weights > 0)
    assert real.any() and ((sampled != pre_batch["masked_lm_ids"]) & (weights > 0)).any()
    assert float(pre_batch["grad_norm"]) > 5 * hparams["clip_norm"]
    assert float(squad_batch["plain_grad_norm"]) > hparams["clip_norm"]
    assert squad_batch["is_impossible"].any() and not squad_batch["is_impossible"].all()
    assert (squad_batch["start_positions"] == squad_batch["end_positions"]).any()
    # the reference's p_mask is exactly the complement of our answer positions
    allowed = answer_positions(tf.constant(squad_batch["input_mask"]), tf.constant(squad_batch["segment_ids"]))
    np.testing.assert_array_equal(allowed.numpy(), squad_batch["p_mask"] == 0)


# --- pretraining -----------------------------------------------------------------------------------------------
def _pretraining_loss(hparams):
    def loss_fn(model, batch):
        outputs = model(batch, training=True, sampled_ids=batch["sampled_ids"])
        return rtd_objective(outputs, batch, hparams["gen_weight"], hparams["disc_weight"])
    return loss_fn


def _pretraining_optimizer(name, model, hparams):
    return make_optimizer(name, WarmupPolyDecay(hparams["learning_rate"], 10, 0), model.named_variables(),
                          weight_decay=hparams["weight_decay"], beta_1=hparams["beta_1"], beta_2=hparams["beta_2"],
                          epsilon=hparams["epsilon"], clip_norm=hparams["clip_norm"])


@pytest.fixture(scope="module")
def pretraining_reference_gradients():
    return pretraining_tensors(PRE / "gradients.safetensors")


def test_pretraining_forward_and_losses(pre_config, pre_batch, hparams):
    model = _pretraining_model(pre_config)
    features = _features(pre_batch, PRETRAINING_FEATURES)
    outputs = model(features, training=True, sampled_ids=features["sampled_ids"])
    np.testing.assert_array_equal(outputs["sampled_ids"].numpy(), pre_batch["sampled_ids"])
    np.testing.assert_array_equal(outputs["fake_ids"].numpy(), pre_batch["fake_ids"])
    np.testing.assert_array_equal(outputs["rtd_labels"].numpy(), pre_batch["rtd_labels"])
    for key in ("gen_logits", "disc_logits"):
        assert_close(key, outputs[key].numpy(), pre_batch[key], 1e-5 * float(np.max(np.abs(pre_batch[key]))))
    loss, metrics = rtd_objective(outputs, features, hparams["gen_weight"], hparams["disc_weight"])
    assert_close("total loss", float(loss), float(pre_batch["total_loss"]), 0.0)
    assert_close("MLM loss", float(metrics["mlm_loss"]), float(pre_batch["mlm_loss"]), 0.0)
    assert_close("RTD loss", float(metrics["disc_loss"]), float(pre_batch["rtd_loss"]), 0.0)


def test_pretraining_gradients_of_every_weight(pre_config, pre_batch, hparams, pretraining_reference_gradients):
    model = _pretraining_model(pre_config)
    trainer = Trainer(model, _pretraining_optimizer("adamw", model, hparams), _pretraining_loss(hparams), METRICS)
    ours, metrics = tape_gradients(trainer, model, _features(pre_batch, PRETRAINING_FEATURES))
    assert_close("loss", float(metrics["loss"]), float(pre_batch["total_loss"]), 0.0)
    assert set(ours) == set(model.named_variables())
    assert_gradients_close(ours, pretraining_reference_gradients, "pretraining")
    assert float(np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in ours.values()))) == pytest.approx(
        float(pre_batch["grad_norm"]), rel=RTOL)


def test_shared_embeddings_take_both_networks_gradients_and_none_flows_through_the_sample(
        pre_config, pre_batch, hparams, pretraining_reference_gradients):
    model = _pretraining_model(pre_config)
    features = _features(pre_batch, PRETRAINING_FEATURES)
    named = model.named_variables()
    generator_only = [n for n in named if n.startswith(("generator/", "generator_predictions/"))]
    watched = [named[n] for n in SHARED] + [named[n] for n in generator_only]
    with tf.GradientTape(persistent=True) as tape:
        outputs = model(features, training=True, sampled_ids=features["sampled_ids"])
        mlm = hparams["gen_weight"] * masked_lm_loss(outputs["gen_logits"], features["masked_lm_ids"],
                                                     features["masked_lm_weights"])
        rtd = hparams["disc_weight"] * rtd_loss(outputs["disc_logits"], outputs["rtd_labels"], features["input_mask"])
    from_gen = dict(zip(SHARED + tuple(generator_only), tape.gradient(mlm, watched)))
    from_disc = dict(zip(SHARED + tuple(generator_only), tape.gradient(rtd, watched)))
    ref = pretraining_reference_gradients
    scales = gradient_scales(ref)
    for name in SHARED:
        total = tf.convert_to_tensor(from_gen[name]).numpy() + tf.convert_to_tensor(from_disc[name]).numpy()
        assert_close(f"{name} (generator + discriminator)", total, ref[name], GRAD_ATOL * scales[name])
        for part, grads in (("generator", from_gen), ("discriminator", from_disc)):
            alone = tf.convert_to_tensor(grads[name]).numpy()
            assert np.max(np.abs(alone - ref[name])) > 100 * (GRAD_ATOL * scales[name] + RTOL * np.max(
                np.abs(ref[name]))), f"{name}: the {part}'s contribution alone already matches the reference"
    # no gradient reaches the generator from the discriminator's loss, and the reference agrees
    for name in generator_only:
        assert from_disc[name] is None or not np.any(tf.convert_to_tensor(from_disc[name]).numpy()), name
        assert_close(f"{name} (generator loss only)", tf.convert_to_tensor(from_gen[name]).numpy(), ref[name],
                     GRAD_ATOL * scales[name])
    # the same holds for the drawn (Gumbel) sample
    plain = {k: v for k, v in features.items() if k != "sampled_ids"}
    with tf.GradientTape() as tape:
        outputs = model(plain, training=True, sample_seed=tf.constant([1, 2], tf.int64))
        rtd = rtd_loss(outputs["disc_logits"], outputs["rtd_labels"], plain["input_mask"])
    for name, grad in zip(generator_only, tape.gradient(rtd, [named[n] for n in generator_only])):
        assert grad is None or not np.any(tf.convert_to_tensor(grad).numpy()), name


@pytest.mark.parametrize("optimizer", ["adamw", "lamb"])
def test_optimizer_step_from_reference_gradients(optimizer, pre_config, hparams, pretraining_reference_gradients):
    """The update formula, exclusions and clipping alone: the reference's gradients into our optimizer."""
    model = _pretraining_model(pre_config)
    before = snapshot(model)
    apply_reference_gradients(_pretraining_optimizer(optimizer, model, hparams), model,
                              pretraining_reference_gradients)
    assert_step_close(optimizer, before, snapshot(model), pretraining_tensors(PRE / f"{optimizer}.safetensors"))


def test_keras_adamw_is_not_the_reference_step(pre_config, hparams, pretraining_reference_gradients):
    """Why ``make_optimizer('adamw')`` is our ``AdamW``: keras' ε-hat form moves small-gradient weights very
    differently at step 1 (this fixture: by up to ~76% of the step)."""
    model = _pretraining_model(pre_config)
    before = snapshot(model)
    optimizer = keras.optimizers.AdamW(hparams["learning_rate"], weight_decay=hparams["weight_decay"],
                                       beta_1=hparams["beta_1"], beta_2=hparams["beta_2"], epsilon=hparams["epsilon"],
                                       global_clipnorm=hparams["clip_norm"])
    named = model.named_variables()
    optimizer.exclude_from_weight_decay(var_list=[v for n, v in named.items() if "LayerNorm" in n or
                                                  n.endswith("bias")])
    apply_reference_gradients(optimizer, model, pretraining_reference_gradients)
    after, reference = snapshot(model), pretraining_tensors(PRE / "adamw.safetensors")
    worst = max(np.max(np.abs((after[n] - before[n]) - (reference[n] - before[n]))) / hparams["learning_rate"]
                for n in reference)
    assert worst > 0.1


# LAMB's own update is checked in the fast tier by test_optimizer_step_from_reference_gradients; its whole step is slow
@pytest.mark.parametrize("optimizer", ["adamw", pytest.param("lamb", marks=pytest.mark.slow)])
def test_trainer_step_matches_reference(optimizer, pre_config, pre_batch, hparams, pretraining_reference_gradients):
    """Our whole step: forward, tape, clipping and update through ``Trainer.train_step``."""
    model = _pretraining_model(pre_config)
    trainer = Trainer(model, _pretraining_optimizer(optimizer, model, hparams), _pretraining_loss(hparams), METRICS)
    before = snapshot(model)
    out = trainer.train_step([_features(pre_batch, PRETRAINING_FEATURES)])
    assert_close("loss", float(out["loss"]), float(pre_batch["total_loss"]), 0.0)
    assert_close("grad_norm", float(out["grad_norm"]), float(pre_batch["grad_norm"]), 0.0)
    assert float(trainer.last["learning_rate"].numpy()) == pytest.approx(hparams["learning_rate"], rel=1e-7)
    coef = float(pre_batch["clip_coef"])
    sizes = step_sizes(optimizer, before, pretraining_reference_gradients, coef, hparams,
                       dict.fromkeys(before, hparams["learning_rate"]))
    assert_full_step_close(optimizer, before, snapshot(model), pretraining_tensors(PRE / f"{optimizer}.safetensors"),
                           pretraining_reference_gradients, coef, hparams["epsilon"], sizes)


# --- SQuAD -----------------------------------------------------------------------------------------------------
def _squad_loss(model, batch):
    return span_loss(model(batch, training=True), batch)


def _layerwise_optimizer(model, hparams):
    return make_optimizer("layerwise_adamw", WarmupPolyDecay(hparams["squad_learning_rate"], 10, 0),
                          model.named_variables(), layerwise_lr_decay=hparams["squad_layerwise_lr_decay"],
                          weight_decay=hparams["weight_decay"], clip_norm=hparams["clip_norm"],
                          epsilon=hparams["epsilon"], beta_1=hparams["beta_1"], beta_2=hparams["beta_2"])


def _squad_reference_gradients():
    ours, ignored = to_our_names(load_file(str(SQUAD / "plain_gradients.safetensors")), "question_answering",
                                 "electra", "plain_gradients")
    assert not ignored
    return ours


def _squad_reference_step():
    ours, _ = to_our_names(load_file(str(SQUAD / "plain_layerwise_adamw.safetensors")), "question_answering",
                           "electra", "plain_layerwise_adamw")
    return ours


def test_squad_plain_head_loss_gradients_and_layerwise_step(squad_config, squad_batch, hparams):
    model = _squad_model(squad_config, joint=False)
    features = _features(squad_batch, SQUAD_FEATURES)
    outputs = model(features, training=True)
    for ours, theirs in (("start_logits", "plain_start_logits"), ("end_logits", "plain_end_logits")):
        assert_close(ours, outputs[ours].numpy(), squad_batch[theirs],
                     1e-5 * float(np.max(np.abs(squad_batch[theirs]))))
    trainer = Trainer(model, _layerwise_optimizer(model, hparams), _squad_loss, ("span_loss", "answerable_loss"))
    grads, metrics = tape_gradients(trainer, model, features)
    assert_close("SQuAD plain loss", float(metrics["loss"]), float(squad_batch["plain_loss"]), 0.0)
    reference = _squad_reference_gradients()
    assert_gradients_close(grads, reference, "SQuAD plain")

    before = snapshot(model)
    out = trainer.train_step([features])
    assert_close("grad_norm", float(out["grad_norm"]), float(squad_batch["plain_grad_norm"]), 0.0)
    factors = layerwise_lr_factors(model.named_variables(), squad_config.num_hidden_layers,
                                   hparams["squad_layerwise_lr_decay"])
    coef = float(squad_batch["plain_clip_coef"])
    sizes = step_sizes("adamw", before, reference, coef, hparams,
                       {n: hparams["squad_learning_rate"] * f for n, f in factors.items()})
    assert_full_step_close("layerwise AdamW", before, snapshot(model), _squad_reference_step(), reference, coef,
                           hparams["epsilon"], sizes)


def test_squad_layerwise_step_from_reference_gradients(squad_config, hparams):
    model = _squad_model(squad_config, joint=False)
    before = snapshot(model)
    apply_reference_gradients(_layerwise_optimizer(model, hparams), model, _squad_reference_gradients())
    assert_step_close("layerwise AdamW", before, snapshot(model), _squad_reference_step())


def test_squad_joint_head_matches_xlnet_squad_head(squad_config, squad_batch, hparams):
    model = _squad_model(squad_config, joint=True)
    features = _features(squad_batch, SQUAD_FEATURES)
    outputs = model(features, training=True)
    allowed = squad_batch["p_mask"] == 0
    for ours, theirs in (("start_logits", "joint_start_logits"), ("end_logits", "joint_end_logits")):
        got, ref = outputs[ours].numpy(), squad_batch[theirs]
        assert_close(ours, got[allowed], ref[allowed], 1e-5 * float(np.max(np.abs(ref[allowed]))))
        assert (got[~allowed] == MASKED_LOGIT).all() and (ref[~allowed] <= -1e29).all()
    # our answer-class logit is "answerable": minus theirs ("impossible")
    assert_close("answerable_logits", outputs["answerable_logits"].numpy(), -squad_batch["joint_cls_logits"],
                 1e-5 * float(np.max(np.abs(squad_batch["joint_cls_logits"]))))

    loss, metrics = span_loss(outputs, features, hparams["squad_answer_class_weight"])
    assert_close("joint span loss", float(metrics["span_loss"]), float(squad_batch["joint_span_loss"]), 0.0)
    assert_close("joint answer-class loss", float(metrics["answerable_loss"]), float(squad_batch["joint_cls_loss"]),
                 0.0)
    assert_close("joint loss", float(loss), float(squad_batch["joint_loss"]), 0.0)

    trainer = Trainer(model, _layerwise_optimizer(model, hparams),
                      lambda m, b: span_loss(m(b, training=True), b, hparams["squad_answer_class_weight"]),
                      ("span_loss", "answerable_loss"))
    grads, metrics = tape_gradients(trainer, model, features)
    assert_close("joint loss (trainer)", float(metrics["loss"]), float(squad_batch["joint_loss"]), 0.0)
    assert_gradients_close(grads, joint_tensors(SQUAD / "joint_gradients.safetensors"), "SQuAD joint")


# --- sentence classification, regression and token tagging ----------------------------------------------------
# tests/fixtures/make_finetuning_fixtures.py: transformers' ElectraForSequenceClassification (3 labels; and
# num_labels=1, problem_type regression) and ElectraForTokenClassification (5 tags), their own losses (labels=),
# float64; one clipped AdamW step with the layer-wise decay of the SQuAD step above (step.json's squad_* settings).
FINETUNING = FIXTURES / "finetuning"
FINETUNING_FEATURES = ("input_ids", "input_mask", "segment_ids")
HF_IGNORED = -100      # transformers' ignore_index; ours is electra.tasks.finetuning.IGNORED
FINETUNING_MODELS = {  # fixture name: (architecture, labels key)
    "sequence": ("sequence_classification", "sequence_labels"),
    "regression": ("sequence_classification", "regression_labels"),
    "token": ("token_classification", "token_labels"),
}


@pytest.fixture(scope="module")
def finetuning_batch():
    return _npz(FINETUNING / "batch.npz")


def _finetuning_model(name):
    from electra.modeling import ElectraForSequenceClassification, ElectraForTokenClassification
    hf = _json(FINETUNING / f"hf_{name}" / "config.json")
    cls = ElectraForTokenClassification if name == "token" else ElectraForSequenceClassification
    model = cls(config_from_hf(hf), len(hf["id2label"]))
    assert load_hf_electra(model, str(FINETUNING / f"hf_{name}")).untouched == []
    return model


def _finetuning_features(name, batch):
    """Our features: HF's -100 token labels are our IGNORED (-1)."""
    from electra.tasks.finetuning import IGNORED
    features = _features(batch, FINETUNING_FEATURES)
    labels = batch[FINETUNING_MODELS[name][1]]
    if name == "token":
        labels = np.where(labels == HF_IGNORED, IGNORED, labels)
    features["labels"] = tf.constant(labels)
    return features


def _finetuning_loss(name):
    from electra.tasks.finetuning import sequence_loss, token_loss

    def loss_fn(model, batch):
        logits = model(batch, training=True)["logits"]
        if name == "token":
            return token_loss(logits, batch["labels"])
        return sequence_loss(logits, batch["labels"], regression=name == "regression")
    return loss_fn


def _finetuning_reference(name, kind):
    tensors = load_file(str(FINETUNING / f"{name}_{kind}.safetensors"))
    ours, ignored = to_our_names(tensors, FINETUNING_MODELS[name][0], "electra", f"{name}_{kind}")
    assert not ignored and len(ours) == len(tensors)
    return ours


def test_finetuning_fixture_exercises_ignored_labels_padding_and_clipping(finetuning_batch, hparams):
    b = finetuning_batch
    assert (b["input_mask"] == 0).any() and b["segment_ids"].any()
    tags = b["token_labels"]
    assert (tags[b["input_mask"] == 0] == HF_IGNORED).all() and (tags[:, 0] == HF_IGNORED).all()
    inside = (b["input_mask"] == 1) & (b["input_ids"] > 2)         # word pieces (not [CLS]/[SEP]/[PAD])
    assert (tags[inside] == HF_IGNORED).any() and (tags[inside] != HF_IGNORED).any()   # later sub-tokens
    assert len(set(b["sequence_labels"].tolist())) == 3 and b["regression_labels"].dtype == np.float32
    norms = {n: float(b[f"{n}_grad_norm"]) for n in FINETUNING_MODELS}
    assert max(norms.values()) > hparams["clip_norm"] > min(norms.values()), norms


@pytest.mark.parametrize("name", sorted(FINETUNING_MODELS))
def test_finetuning_loss_gradients_and_layerwise_step(name, finetuning_batch, hparams):
    """Ours through ``sequence_loss`` / ``token_loss`` against transformers' own loss: logits, loss, the gradient
    of every weight, and the whole ``Trainer`` step (clipping and layer-wise AdamW)."""
    batch = finetuning_batch
    model = _finetuning_model(name)
    features = _finetuning_features(name, batch)
    logits = model(features, training=True)["logits"].numpy()
    ref_logits = batch[f"{name}_logits"]
    assert_close(f"{name} logits", logits, ref_logits, 1e-5 * float(np.max(np.abs(ref_logits))))
    trainer = Trainer(model, _layerwise_optimizer(model, hparams), _finetuning_loss(name),
                      ("accuracy",) if name == "token" else ("accuracy", "mse"))
    grads, metrics = tape_gradients(trainer, model, features)
    assert_close(f"{name} loss", float(metrics["loss"]), float(batch[f"{name}_loss"]), 0.0)
    reference = _finetuning_reference(name, "gradients")
    assert_gradients_close(grads, reference, name)

    before = snapshot(model)
    out = trainer.train_step([features])
    assert_close(f"{name} grad_norm", float(out["grad_norm"]), float(batch[f"{name}_grad_norm"]), 0.0)
    factors = layerwise_lr_factors(model.named_variables(), model.config.num_hidden_layers,
                                   hparams["squad_layerwise_lr_decay"])
    assert {factors[n] for n in model.named_variables() if n.startswith("classifier/")} == {1.0}
    coef = float(batch[f"{name}_clip_coef"])
    sizes = step_sizes("adamw", before, reference, coef, hparams,
                       {n: hparams["squad_learning_rate"] * f for n, f in factors.items()})
    assert_full_step_close(f"{name} layerwise AdamW", before, snapshot(model),
                           _finetuning_reference(name, "layerwise_adamw"), reference, coef, hparams["epsilon"], sizes)


@pytest.mark.parametrize("name", sorted(FINETUNING_MODELS))
def test_finetuning_layerwise_step_from_reference_gradients(name, hparams):
    model = _finetuning_model(name)
    before = snapshot(model)
    apply_reference_gradients(_layerwise_optimizer(model, hparams), model, _finetuning_reference(name, "gradients"))
    assert_step_close(f"{name} layerwise AdamW", before, snapshot(model),
                      _finetuning_reference(name, "layerwise_adamw"))

"""Pull the discriminator and the generator out of a pretraining checkpoint.

``<out>/discriminator``: a TF checkpoint of ``ElectraDiscriminator`` (what ``run_squad`` fine-tunes), Hugging Face
safetensors (ElectraForPreTraining), ``model_config.json`` and the vocabulary. ``<out>/generator``: Hugging Face
safetensors (ElectraForMaskedLM) and ``config.json``. Works for any model size: the sizes come from the run's
``model_config.json``.
"""
from __future__ import annotations

import json
import os
import shutil

import tensorflow as tf

from electra.configs import ModelConfig
from electra.interop import save_hf_electra
from electra.modeling import ElectraDiscriminator, ElectraPretrainingModel
from electra.training.checkpointing import load_model_weights, resolve_checkpoint


def save_weights_checkpoint(model, prefix: str) -> str:
    """Model weights only, under their Google names (readable by ``load_model_weights``)."""
    checkpoint = tf.train.Checkpoint(model={n: getattr(v, "value", v) for n, v in model.named_variables().items()})
    return checkpoint.write(prefix)


def extract(checkpoint: str, output_dir: str, model_config_file: str | None = None,
            vocab_file: str | None = None) -> dict[str, str]:
    path = resolve_checkpoint(checkpoint)
    run_dir = os.path.dirname(os.path.dirname(path))
    model_config_file = model_config_file or os.path.join(run_dir, "model_config.json")
    if not os.path.exists(model_config_file):
        raise FileNotFoundError(f"{model_config_file}: no model config; pass --model_config_file")
    config = ModelConfig.from_json_file(model_config_file)
    if vocab_file is None and os.path.exists(os.path.join(run_dir, "run_info.json")):
        with open(os.path.join(run_dir, "run_info.json"), encoding="utf-8") as f:
            vocab_file = json.load(f).get("vocab_file")

    pretraining = ElectraPretrainingModel(config)
    load_model_weights(pretraining, path)
    discriminator = ElectraDiscriminator(config)
    for name, variable in discriminator.named_variables().items():
        variable.assign(pretraining.named_variables()[name])

    disc_dir, gen_dir = os.path.join(output_dir, "discriminator"), os.path.join(output_dir, "generator")
    os.makedirs(disc_dir, exist_ok=True)
    save_weights_checkpoint(discriminator, os.path.join(disc_dir, "model.ckpt"))
    config.to_json_file(os.path.join(disc_dir, "model_config.json"))
    save_hf_electra(discriminator, os.path.join(disc_dir, "hf"), part="discriminator")
    save_hf_electra(pretraining, gen_dir, part="generator")
    outputs = {"discriminator_checkpoint": os.path.join(disc_dir, "model.ckpt"),
               "discriminator_hf": os.path.join(disc_dir, "hf"), "generator_hf": gen_dir}
    if vocab_file and os.path.exists(vocab_file):
        shutil.copy(vocab_file, os.path.join(disc_dir, os.path.basename(vocab_file)))
        outputs["vocab_file"] = os.path.join(disc_dir, os.path.basename(vocab_file))
    return outputs

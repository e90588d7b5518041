"""Pull the discriminator and the generator out of a pretraining checkpoint.

Written under ``<out>``:

* ``discriminator/``: a model directory (``electra.interop.store``: ``model_config.json``, ``model.safetensors``,
  the tokenizer, ``metadata.json``) of ``ElectraDiscriminator``, what ``run_squad`` fine-tunes; inside it also
  ``hf/`` (Hugging Face ElectraForPreTraining safetensors + ``config.json``, and ``vocab.txt``).
* ``generator/``: Hugging Face ElectraForMaskedLM safetensors and ``config.json``.

The source is anything ``resolve_source`` accepts that holds both networks: a pretraining run directory, its
``checkpoints/`` or a ``ckpt-N`` prefix (sizes from the run's ``model_config.json``), a google-research/electra
pretraining checkpoint, or a ``pretraining`` model directory. Works for any model size.
"""
from __future__ import annotations

import os
import shutil

from electra.interop import save_hf_electra
from electra.interop.store import resolve_source, save_model_directory
from electra.io import atomic_path
from electra.modeling import ElectraDiscriminator, ElectraPretrainingModel
from electra.tokenization import VOCAB_NAME


def extract(checkpoint: str, output_dir: str, model_config_file: str | None = None,
            vocab_file: str | None = None) -> dict[str, str]:
    """Returns the paths written: ``discriminator_dir`` (the model directory), ``discriminator_hf``,
    ``generator_hf`` and, when there is a vocabulary, ``vocab_file`` (the copy in ``discriminator_dir``)."""
    source = resolve_source(checkpoint, model_config_file=model_config_file)
    if source.model_config is None:
        raise FileNotFoundError(f"{checkpoint}: no model config (it is not in a run directory with "
                                f"model_config.json); pass --model_config_file")
    config = source.model_config
    vocab_file = vocab_file or source.vocab_file

    pretraining = ElectraPretrainingModel(config)
    source.load_into(pretraining)
    discriminator = ElectraDiscriminator(config)
    for name, variable in discriminator.named_variables().items():
        variable.assign(pretraining.named_variables()[name])

    disc_dir, gen_dir = os.path.join(output_dir, "discriminator"), os.path.join(output_dir, "generator")
    save_model_directory(discriminator, disc_dir, vocab_file=vocab_file, do_lower_case=source.do_lower_case,
                         task="pretraining", source=source.path, step=source.metadata.get("step"),
                         extra={"source_kind": source.kind})
    save_hf_electra(discriminator, os.path.join(disc_dir, "hf"), part="discriminator")
    save_hf_electra(pretraining, gen_dir, part="generator")
    outputs = {"discriminator_dir": os.path.abspath(disc_dir), "discriminator_hf": os.path.join(disc_dir, "hf"),
               "generator_hf": gen_dir}
    written = resolve_source(disc_dir).vocab_file
    if written:
        outputs["vocab_file"] = written
        if os.path.basename(written) == VOCAB_NAME:
            with atomic_path(os.path.join(disc_dir, "hf", VOCAB_NAME)) as copy:
                shutil.copyfile(written, copy)
    return outputs

"""One model directory, and one loader for every kind of weights a stage may start from.

**The model directory** is what pretraining extraction, fine-tuning and export hand to the next stage. It describes
itself, so nobody guesses paths::

    <dir>/model_config.json      ModelConfig.to_dict()
    <dir>/model.safetensors      every weight of model.named_variables(), under its Google name (no pickle)
    <dir>/vocab.txt | spm.model  the tokenizer, with tokenizer_config.json (``load_tokenizer(<dir>)`` works)
    <dir>/metadata.json          {"format": "electra-model", "format_version": 1, "architecture", "heads", "task",
                                  "source", "step", "do_lower_case", "vocab_file", "created", "electra_version"}

``save_model_directory`` writes it into a sibling staging directory and renames it into place, ``metadata.json``
last: a directory with ``metadata.json`` is complete, and a failed save leaves the previous one as it was.

**The loader**, ``resolve_source(spec)``, tells what ``spec`` is from the files themselves (never from the text of
an error) and returns a ``ModelSource`` whose ``load_into(model)`` loads any of our models with the importers of
``electra.interop`` (our training checkpoints: ``load_model_weights``):

* ``model_directory``: a directory whose ``metadata.json`` has format ``electra-model``. Config and tokenizer:
  its own ``model_config.json`` and tokenizer file; ``do_lower_case`` from the metadata.
* ``hf``: ``hf:<dir>``, or a directory holding Hugging Face ``config.json`` + ``model.safetensors`` (or a sharded
  index); ``hf:<discriminator dir>,<generator dir>`` is a released ELECTRA's two halves (continued pretraining).
  Config: ``config_from_hf(config.json)``; tokenizer: ``vocab.txt`` / ``spm.model`` in the directory,
  ``do_lower_case`` from its ``tokenizer_config.json``. A BERT ``model_type`` loads with ``load_hf_bert``, an
  ElectraForMaskedLM file into the generator. A classifier's directory (ElectraForSequenceClassification /
  ElectraForTokenClassification) also gives ``num_labels``, ``labels`` (``id2label`` in index order) and
  ``problem_type`` in the metadata.
* ``google``: ``google:<ckpt>``, or a TF checkpoint whose variables carry Google's TF1 ELECTRA names
  (``electra/embeddings/word_embeddings``, no ``model/`` prefix). Config inferred from the variable shapes
  (``electra.interop.google.config_from_google``: heads ``max(1, hidden // 64)`` as google-research does);
  tokenizer: ``vocab.txt`` beside the checkpoint.
* ``training_checkpoint``: a TF checkpoint written by our training (``model/<name>`` keys): a ``ckpt-N`` prefix, a
  ``checkpoints/`` directory or a run directory holding ``checkpoints/``. Config and tokenizer: from its home
  (below).

A directory is checked in the order model directory, Hugging Face, TF checkpoint (in it, else in its
``checkpoints/``); anything else is a ``WeightLoadError`` naming the path and what was looked for.

**Run directory contract.** A *run directory* is a directory that holds ``checkpoints/`` (a
``tf.train.CheckpointManager`` directory of ``ckpt-N`` whose model weights are ``model/<Google name>`` keys, as
``run_pretraining`` and ``run_squad`` write them) and its model config: ``model_config.json``, or else the
``model_config`` object of ``run_info.json``; ``run_info.json``'s ``vocab_file`` names the vocabulary (else a
``vocab.txt`` / ``spm.model`` in the run directory). The home of a training checkpoint ``<d>/ckpt-N`` is the run
directory ``<d>/..`` when ``<d>`` is named ``checkpoints`` and ``<d>/..`` has a model config as above; without one,
``model_config`` is None (pass ``model_config_file``). ``model_config_file`` overrides the config of every kind.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
from typing import Any, Iterable

import numpy as np
import tensorflow as tf

import electra
from electra.configs import ModelConfig
from electra.interop.google import checkpoint_prefix, checkpoint_shapes, config_from_google, load_google_checkpoint
from electra.interop.hf import (CLASSIFIERS, _architecture_of, classifier_architecture, config_from_hf, load_hf_bert,
                                load_hf_electra, load_hf_pretraining, read_safetensors, safetensors_names,
                                write_safetensors)
from electra.interop.weights import LoadReport, WeightLoadError, assign
from electra.io import atomic_directory, write_json
from electra.modeling.heads import ANSWER_SCOPE, JOINT_SCOPES, SPAN_SCOPE, QAHead
from electra.tokenization import SPM_NAME, VOCAB_NAME, load_tokenizer

FORMAT, FORMAT_VERSION = "electra-model", 1
METADATA_NAME, CONFIG_NAME, WEIGHTS_NAME = "metadata.json", "model_config.json", "model.safetensors"
RUN_INFO_NAME = "run_info.json"
MODEL_DIRECTORY, HUGGING_FACE, GOOGLE, TRAINING = "model_directory", "hf", "google", "training_checkpoint"
KINDS = (MODEL_DIRECTORY, HUGGING_FACE, GOOGLE, TRAINING)
HEADS = ("discriminator_predictions", "generator_predictions", SPAN_SCOPE, ANSWER_SCOPE, *JOINT_SCOPES, "classifier")
GOOGLE_MARKER = "electra/embeddings/word_embeddings"        # Google's TF1 name of the word embeddings
# our training checkpoints (electra.training.checkpointing) hold the weights as model/<name> keys, "/" escaped
TRAINING_PREFIX, TRAINING_SUFFIX, ESCAPED_SLASH = "model/", "/.ATTRIBUTES/VARIABLE_VALUE", ".S"
LOOKED_FOR = ("metadata.json with format 'electra-model' (a model directory)",
              "config.json + model.safetensors (Hugging Face)",
              "a TF checkpoint ('checkpoint' file) in it or in its checkpoints/ (a training run or Google's TF1 "
              "ELECTRA)")


# --- describing weights ----------------------------------------------------------------------------
def describe_weights(names: Iterable[str]) -> tuple[str, list[str]]:
    """``(architecture, heads)`` of a set of our (Google) weight names: ``pretraining`` when there is a generator,
    else ``question_answering`` / ``sequence_classification`` / ``token_classification`` / ``discriminator`` /
    ``encoder`` by head."""
    names = list(names)
    scopes = {n.split("/", 1)[0] for n in names}
    heads = [h for h in HEADS if h in scopes]
    if "generator" in scopes or "generator_predictions" in scopes:
        return "pretraining", heads
    if QAHead.of_weights(scopes) is not None:
        return "question_answering", heads
    if classifier_architecture(names):
        return classifier_architecture(names), heads
    return ("discriminator" if "discriminator_predictions" in scopes else "encoder"), heads


# --- writing ----------------------------------------------------------------------------------------
def save_model_directory(model, directory: str, *, vocab_file: str | None, do_lower_case: bool | None = None,
                         task: str, source: str | None, step: int | None = None,
                         extra: dict[str, Any] | None = None) -> str:
    """Write ``model`` as a model directory (see the module docstring); returns its absolute path.

    ``vocab_file``: the tokenizer (WordPiece ``vocab.txt`` or SentencePiece ``.model``), saved with
    ``tokenizer_config.json``; ``do_lower_case=None`` keeps the tokenizer's own setting. ``task``: what the weights
    were trained for (``pretraining``, ``squad``, ...); ``source``: what they came from; ``extra``: more metadata
    keys (they may not replace the standard ones). All files are staged in a sibling directory that replaces
    ``directory`` only once complete; on any failure the previous ``directory`` (if any) is left untouched.
    """
    names = model.named_variables()
    architecture, heads = describe_weights(names)
    arrays = {name: np.ascontiguousarray(np.asarray(getattr(v, "value", v).numpy())) for name, v in names.items()}
    directory = os.path.abspath(directory)
    with atomic_directory(directory) as staging:
        vocab_name, lower_case = None, do_lower_case
        if vocab_file:
            tokenizer = load_tokenizer(vocab_file, lower_case=do_lower_case)
            vocab_name, lower_case = os.path.basename(tokenizer.save(staging)), tokenizer.lower_case
        model.config.to_json_file(os.path.join(staging, CONFIG_NAME))
        write_safetensors(arrays, os.path.join(staging, WEIGHTS_NAME), {"format": FORMAT})
        metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": architecture,
                    "heads": heads, "task": task, "source": source, "step": None if step is None else int(step),
                    "do_lower_case": lower_case, "vocab_file": vocab_name,
                    "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "electra_version": electra.__version__}
        clashes = sorted(set(extra or {}) & set(metadata))
        if clashes:
            raise ValueError(f"save_model_directory: extra may not replace the standard metadata keys {clashes}")
        write_json(os.path.join(staging, METADATA_NAME), {**metadata, **(extra or {})})
    return directory


# --- reading ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ModelSource:
    """Weights to start from, and what is known about them.

    ``kind``: one of ``KINDS``; ``path``: the model / Hugging Face directory or the TF checkpoint prefix;
    ``model_config``: None only for a training checkpoint with no home config (pass ``model_config_file``);
    ``metadata``: the model directory's ``metadata.json``, or for other kinds what could be read (``architecture``,
    ``heads``, ``step``, ``model_config_file``: the file the config was read from, None when inferred).
    """

    kind: str
    path: str
    model_config: ModelConfig | None
    vocab_file: str | None = None
    do_lower_case: bool | None = None
    metadata: dict = dataclasses.field(default_factory=dict)
    generator_path: str | None = None     # hf:<discriminator>,<generator>: the generator's directory

    @property
    def architecture(self) -> str | None:
        """``pretraining``, ``discriminator``, ``question_answering``, ``sequence_classification``,
        ``token_classification``, ``encoder`` (or ``generator`` for a Hugging Face ElectraForMaskedLM)."""
        return self.metadata.get("architecture")

    @property
    def heads(self) -> tuple[str, ...]:
        """The heads the weights hold, by our scope names (``qa_outputs``, ``answer_class``, ``classifier``, ...)."""
        return tuple(self.metadata.get("heads") or ())

    @property
    def qa_head(self) -> QAHead | None:
        """The SQuAD head the weights hold (None without one)."""
        return QAHead.of_weights(self.heads)

    def load_into(self, model, heads: bool = True) -> LoadReport:
        """Load these weights into ``model`` (pretraining model, discriminator, QA model or classifier): every check
        of ``electra.interop.weights.assign`` (nothing is written unless everything fits). ``heads=False``: the
        model's fine-tuning heads stay as they are (another task's classifier: only the encoder is taken)."""
        if self.kind == MODEL_DIRECTORY:
            return assign(model, read_safetensors(os.path.join(self.path, WEIGHTS_NAME)), self.path, heads=heads)
        if self.kind == HUGGING_FACE:
            if self.generator_path:
                return load_hf_pretraining(model, self.path, self.generator_path)
            if self.metadata.get("model_type") == "bert":
                return load_hf_bert(model, self.path, heads=heads)
            return load_hf_electra(model, self.path, heads=heads,
                                   part="generator" if self.architecture == "generator" else "discriminator")
        if self.kind == GOOGLE:
            return load_google_checkpoint(model, self.path)
        if self.kind == TRAINING:
            return load_model_weights(model, self.path, heads=heads)
        raise ValueError(f"ModelSource.kind={self.kind!r}; expected one of {KINDS}")


def resolve_source(spec: str, *, model_config_file: str | None = None) -> ModelSource:
    """What ``spec`` is (see the module docstring for the rules), as a ``ModelSource``; ``WeightLoadError`` naming
    the path and what was looked for when it is none of them."""
    spec = os.fspath(spec)
    override = _read_config(model_config_file) if model_config_file else None
    scheme, colon, rest = spec.partition(":")
    if colon and scheme == "hf" and "," in rest:
        source = _hugging_face_pair(*rest.split(",", 1), override)
    elif colon and scheme == "hf":
        source = _hugging_face(rest, override, explicit=True)
    elif colon and scheme == "google":
        source = _tf_checkpoint(checkpoint_prefix(rest), override, expect=GOOGLE)
    else:
        source = _detect(spec, override)
    if override is not None:
        source = dataclasses.replace(source, metadata={**source.metadata,
                                                       "model_config_file": os.path.abspath(model_config_file)})
    return source


def is_model_directory(path: str) -> bool:
    """True when ``path`` holds a ``metadata.json`` of format ``electra-model``."""
    return _read_metadata(path) is not None


def _detect(path: str, override: ModelConfig | None) -> ModelSource:
    if os.path.isdir(path):
        if is_model_directory(path):
            return _model_directory(path, override)
        if _is_hugging_face(path):
            return _hugging_face(path, override)
        for directory in (path, os.path.join(path, "checkpoints")):
            prefix = tf.train.latest_checkpoint(directory) if os.path.isdir(directory) else None
            if prefix:
                return _tf_checkpoint(prefix, override)
        entries = sorted(os.listdir(path))
        raise WeightLoadError(f"{path}: not a model this project can load. Looked for: " + "; ".join(LOOKED_FOR)
                              + f". It holds: {entries[:12] if entries else 'nothing'}")
    prefix = path[: -len(".index")] if path.endswith(".index") else path
    if tf.io.gfile.exists(prefix + ".index"):
        return _tf_checkpoint(prefix, override)
    what = "a file that is none of these" if os.path.exists(path) else "no such file or directory"
    raise WeightLoadError(f"{path}: {what}. Looked for: a directory with " + "; or ".join(LOOKED_FOR)
                          + f"; or a TF checkpoint prefix ({prefix}.index)")


def _read_config(path: str) -> ModelConfig:
    if not os.path.isfile(path):
        raise WeightLoadError(f"model config {path} does not exist")
    try:
        return ModelConfig.from_json_file(path)
    except ValueError as e:
        raise WeightLoadError(str(e)) from e


def _read_metadata(directory: str) -> dict | None:
    path = os.path.join(directory, METADATA_NAME)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
    except (OSError, ValueError):
        return None
    return metadata if isinstance(metadata, dict) and metadata.get("format") == FORMAT else None


def _tokenizer_file(directory: str) -> str | None:
    return next((os.path.join(directory, n) for n in (VOCAB_NAME, SPM_NAME)
                 if os.path.isfile(os.path.join(directory, n))), None)


def _model_directory(path: str, override: ModelConfig | None) -> ModelSource:
    path = os.path.abspath(path)
    metadata = _read_metadata(path)
    if metadata.get("format_version", 0) > FORMAT_VERSION:
        raise WeightLoadError(f"{path}: model directory format_version {metadata['format_version']} is newer than "
                              f"this electra reads ({FORMAT_VERSION})")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not os.path.isfile(os.path.join(path, name)):
            raise WeightLoadError(f"{path}: model directory without {name}")
    vocab = os.path.join(path, metadata["vocab_file"]) if metadata.get("vocab_file") else None
    metadata = {**metadata, "model_config_file": os.path.join(path, CONFIG_NAME)}
    return ModelSource(MODEL_DIRECTORY, path, override or _read_config(metadata["model_config_file"]),
                       vocab if vocab and os.path.isfile(vocab) else None, metadata.get("do_lower_case"), metadata)


def _is_hugging_face(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json")) and any(
        os.path.isfile(os.path.join(path, n)) for n in ("model.safetensors", "model.safetensors.index.json"))


HF_HEADS = {"discriminator_predictions": "discriminator_predictions", "generator_predictions": "generator_predictions",
            "generator_lm_head": "generator_predictions", "qa_outputs": "qa_outputs", "classifier": "classifier"}


def _hugging_face(path: str, override: ModelConfig | None, explicit: bool = False) -> ModelSource:
    path = os.path.abspath(path)
    if not _is_hugging_face(path):
        raise WeightLoadError(f"{'hf:' if explicit else ''}{path}: not a Hugging Face directory (looked for "
                              f"config.json and model.safetensors or model.safetensors.index.json in it)")
    with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
        hf = json.load(f)
    names = safetensors_names(path)
    model_type = hf.get("model_type", "electra")
    architecture = _architecture_of(names, model_type)
    tops = {n.split(".", 1)[0] for n in names}
    if architecture not in CLASSIFIERS:
        tops.discard("classifier")          # BertForSequenceClassification's pooler head: not loaded
    metadata = {"architecture": architecture,
                "heads": sorted({HF_HEADS[t] for t in tops if t in HF_HEADS}, key=HEADS.index),
                "model_type": model_type, "hf_architectures": hf.get("architectures"),
                "model_config_file": os.path.join(path, "config.json")}
    if architecture in CLASSIFIERS and isinstance(hf.get("id2label"), dict):
        # the classifier's label names in index order, and (sentence heads) whether it is a regression
        id2label = hf["id2label"]
        metadata.update(num_labels=len(id2label), labels=[str(id2label[k]) for k in
                                                          sorted(id2label, key=lambda k: int(k))],
                        problem_type=hf.get("problem_type"))
    config = override
    if config is None:
        try:
            config = config_from_hf(hf)
        except (KeyError, TypeError, ValueError) as e:
            raise WeightLoadError(f"{path}/config.json: not an ELECTRA/BERT config this project can read ({e!r})") \
                from e
    lower_case = None
    tokenizer_config = os.path.join(path, "tokenizer_config.json")
    if os.path.isfile(tokenizer_config):
        with open(tokenizer_config, encoding="utf-8") as f:
            settings = json.load(f)
        lower_case = settings.get("do_lower_case", settings.get("lower_case"))
    return ModelSource(HUGGING_FACE, path, config, _tokenizer_file(path), lower_case, metadata)


def _hugging_face_pair(discriminator: str, generator: str, override: ModelConfig | None) -> ModelSource:
    """``hf:<discriminator dir>,<generator dir>``: a released ELECTRA's two halves, for continued pretraining; the
    config joins both (``config_from_hf(discriminator, generator)``)."""
    source = _hugging_face(discriminator, override, explicit=True)
    second = _hugging_face(generator, override, explicit=True)
    config = override
    if config is None:
        configs = []
        for path in (source.path, second.path):
            with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
                configs.append(json.load(f))
        config = config_from_hf(*configs)
    return dataclasses.replace(source, model_config=config, generator_path=second.path,
                               metadata={**source.metadata, "architecture": "pretraining",
                                         "generator": second.path})


def _tf_checkpoint(prefix: str, override: ModelConfig | None, expect: str | None = None) -> ModelSource:
    """Ours (training) or Google's, by the variable names."""
    shapes = checkpoint_shapes(prefix)
    ours = [n for n in shapes if n.startswith(TRAINING_PREFIX) and n.endswith(TRAINING_SUFFIX)]
    if ours and expect != GOOGLE:
        names = [_weight_name(n) for n in ours]
        return _training(prefix, names, override)
    if GOOGLE_MARKER in shapes:
        return _google(prefix, shapes, override)
    what = "written by this project's training (model/... keys), not Google's; drop the 'google:' prefix" if ours else \
        f"neither ours (model/<name> keys) nor Google's TF1 ELECTRA ({GOOGLE_MARKER})"
    raise WeightLoadError(f"{prefix}: a TF checkpoint, but {what}; its first variables: {sorted(shapes)[:8]}")


def _checkpoint_step(prefix: str, name: str) -> int | None:
    reader = tf.train.load_checkpoint(prefix)
    if reader.has_tensor(name):
        return int(reader.get_tensor(name))
    match = re.search(r"-(\d+)$", os.path.basename(prefix))
    return int(match.group(1)) if match else None


def _google(prefix: str, shapes: dict, override: ModelConfig | None) -> ModelSource:
    prefix = os.path.abspath(prefix)
    architecture, heads = describe_weights(shapes)
    metadata = {"architecture": architecture, "heads": heads, "step": _checkpoint_step(prefix, "global_step"),
                "config_inferred": override is None, "model_config_file": None}
    config = override or config_from_google(shapes, prefix)
    vocab = os.path.join(os.path.dirname(prefix), VOCAB_NAME)
    return ModelSource(GOOGLE, prefix, config, vocab if os.path.isfile(vocab) else None, None, metadata)


def read_run_info(directory: str) -> dict:
    """A run directory's ``run_info.json`` (the task, its resolved config, the model config); {} without one."""
    path = os.path.join(directory, RUN_INFO_NAME)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise WeightLoadError(f"{path}: unreadable run record ({e})") from e
    return info if isinstance(info, dict) else {}


def _has_model_config(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, CONFIG_NAME)) or \
        isinstance(read_run_info(directory).get("model_config"), dict)


def run_directory_of(prefix: str) -> str | None:
    """The run directory of a training checkpoint ``<run>/checkpoints/ckpt-N`` (see the contract above)."""
    checkpoints = os.path.dirname(os.path.abspath(prefix))
    run = os.path.dirname(checkpoints)
    return run if os.path.basename(checkpoints) == "checkpoints" and _has_model_config(run) else None


def _training(prefix: str, names: list[str], override: ModelConfig | None) -> ModelSource:
    prefix = os.path.abspath(prefix)
    architecture, heads = describe_weights(names)
    run = run_directory_of(prefix)
    metadata: dict[str, Any] = {"architecture": architecture, "heads": heads, "run_dir": run,
                                "step": _checkpoint_step(prefix, "step" + TRAINING_SUFFIX), "model_config_file": None}
    config, vocab = override, None
    if run:
        info = read_run_info(run)
        if os.path.isfile(os.path.join(run, CONFIG_NAME)):
            metadata["model_config_file"] = os.path.join(run, CONFIG_NAME)
            config = config or _read_config(metadata["model_config_file"])
        elif config is None:
            try:
                config = ModelConfig.from_dict(info["model_config"])
            except (TypeError, ValueError) as e:
                raise WeightLoadError(f"{os.path.join(run, RUN_INFO_NAME)}: model_config unreadable ({e})") from e
        recorded = info.get("vocab_file")
        vocab = recorded if isinstance(recorded, str) and os.path.isfile(recorded) else _tokenizer_file(run)
    return ModelSource(TRAINING, prefix, config, vocab, None, metadata)


# --- our training checkpoints ---------------------------------------------------------------------------
def _weight_name(key: str) -> str:
    return key[len(TRAINING_PREFIX):-len(TRAINING_SUFFIX)].replace(ESCAPED_SLASH, "/")


def read_model_weights(path: str) -> dict[str, np.ndarray]:
    """A training checkpoint → ``{Google name: array}`` (model weights only)."""
    try:
        reader = tf.train.load_checkpoint(path)
    except (tf.errors.OpError, ValueError) as e:
        raise WeightLoadError(f"{path}: not a readable checkpoint ({e})") from e
    weights = {_weight_name(key): reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
               if key.startswith(TRAINING_PREFIX) and key.endswith(TRAINING_SUFFIX)}
    if not weights:
        raise WeightLoadError(f"{path}: holds no model weights written by electra's run_pretraining")
    return weights


def resolve_checkpoint(path: str) -> str:
    """A directory (its latest ``ckpt-N``, also under ``checkpoints/``) or a prefix → the checkpoint prefix."""
    if tf.io.gfile.isdir(path):
        for directory in (path, os.path.join(path, "checkpoints")):
            latest = tf.train.latest_checkpoint(directory)
            if latest:
                return latest
        raise WeightLoadError(f"{path}: no checkpoint found (looked in it and in its checkpoints/)")
    if not tf.io.gfile.exists(path + ".index"):
        raise WeightLoadError(f"{path}: no checkpoint ({path}.index does not exist)")
    return path


def load_model_weights(model, path: str, heads: bool = True) -> LoadReport:
    """Weights of a training checkpoint into ``model`` (phase 2, continued pretraining): every check of ``assign``."""
    path = resolve_checkpoint(path)
    return assign(model, read_model_weights(path), path, heads=heads)

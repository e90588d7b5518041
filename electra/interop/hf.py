"""Hugging Face ELECTRA / BERT weights (safetensors) in and out.

Hugging Face names differ from ours (Google's) by a fixed table of module scopes plus three leaf rules:
a dense ``kernel [in, out]`` is ``weight [out, in]``, LayerNorm ``gamma/beta`` is ``weight/bias`` and an
embedding table is ``<name>.weight``. Pickled PyTorch files (``pytorch_model.bin``) are refused: convert
them to safetensors first.
"""
from __future__ import annotations

import json
import logging
import os
import re
from typing import Iterable

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save

from electra.io import atomic_write, write_json
from electra.configs import ModelConfig
from electra.interop.weights import LoadReport, WeightLoadError, assign, export_arrays

log = logging.getLogger("electra.interop")
DENSE, NORM, TABLE, VECTOR = "dense", "norm", "table", "vector"

# (our scope, Hugging Face scope, kind): the embedding part of an encoder.
EMBEDDING_ROWS = [
    ("embeddings/word_embeddings", "embeddings.word_embeddings", TABLE),
    ("embeddings/position_embeddings", "embeddings.position_embeddings", TABLE),
    ("embeddings/token_type_embeddings", "embeddings.token_type_embeddings", TABLE),
    ("embeddings/LayerNorm", "embeddings.LayerNorm", NORM),
]
PROJECTION_ROWS = [("embeddings_project", "embeddings_project", DENSE)]
# One transformer block, under "encoder/layer_{i}" (ours) and "encoder.layer.{i}" (theirs).
BLOCK_ROWS = [
    ("attention/self/query", "attention.self.query", DENSE),
    ("attention/self/key", "attention.self.key", DENSE),
    ("attention/self/value", "attention.self.value", DENSE),
    ("attention/output/dense", "attention.output.dense", DENSE),
    ("attention/output/LayerNorm", "attention.output.LayerNorm", NORM),
    ("intermediate/dense", "intermediate.dense", DENSE),
    ("output/dense", "output.dense", DENSE),
    ("output/LayerNorm", "output.LayerNorm", NORM),
]
HEAD_ROWS = {
    "discriminator": [
        ("discriminator_predictions/dense", "discriminator_predictions.dense", DENSE),
        ("discriminator_predictions/dense_1", "discriminator_predictions.dense_prediction", DENSE),
    ],
    "generator": [
        ("generator_predictions/dense", "generator_predictions.dense", DENSE),
        ("generator_predictions/LayerNorm", "generator_predictions.LayerNorm", NORM),
        ("generator_predictions/output_bias", "generator_lm_head.bias", VECTOR),
    ],
    "question_answering": [("qa_outputs", "qa_outputs", DENSE)],
    "sequence_classification": [("classifier/dense", "classifier.dense", DENSE),
                                ("classifier/out_proj", "classifier.out_proj", DENSE)],
    "token_classification": [("classifier", "classifier", DENSE)],
}
SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION = "sequence_classification", "token_classification"
CLASSIFIERS = {SEQUENCE_CLASSIFICATION: "ElectraForSequenceClassification",
               TOKEN_CLASSIFICATION: "ElectraForTokenClassification"}
LEAVES = {DENSE: [("kernel", "weight", True), ("bias", "bias", False)],
          NORM: [("gamma", "weight", False), ("beta", "bias", False)],
          TABLE: [("", "weight", False)],
          VECTOR: [("", "", False)]}
# Tensors Hugging Face files may hold that carry no weights of ours.
IGNORED = re.compile(r"(^|\.)(position_ids|token_type_ids)$|(^|\.)pooler\.|^generator_lm_head\.weight$|"
                     r"^cls\.predictions\.|^cls\.seq_relationship\.")

Pair = tuple[str, str, bool]  # our name, Hugging Face name, transpose


def _expand(rows, ours: str, theirs: str) -> list[Pair]:
    pairs = []
    for our_scope, their_scope, kind in rows:
        for our_leaf, their_leaf, transpose in LEAVES[kind]:
            our = "/".join(p for p in (ours, our_scope, our_leaf) if p)
            their = ".".join(p for p in (theirs, their_scope, their_leaf) if p)
            pairs.append((our, their, transpose))
    return pairs


def pairs_for(architecture: str, num_layers: int, hf_prefix: str) -> list[Pair]:
    """The full name table for one Hugging Face file layout.

    ``architecture``: ``discriminator`` / ``generator`` (ELECTRA pretraining halves), ``question_answering``
    (ElectraForQuestionAnswering / BertForQuestionAnswering), ``sequence_classification``
    (ElectraForSequenceClassification: ``classifier.dense``, ``classifier.out_proj``), ``token_classification``
    (ElectraForTokenClassification / BertForTokenClassification: ``classifier``) or ``encoder`` (ElectraModel /
    BertModel).
    The generator's encoder is ours ``generator/…`` but its embeddings are the shared ``electra/embeddings``.
    """
    encoder_scope = "generator" if architecture == "generator" else "electra"
    pairs = _expand(EMBEDDING_ROWS, "electra", hf_prefix) + _expand(PROJECTION_ROWS, encoder_scope, hf_prefix)
    for i in range(num_layers):
        pairs += _expand(BLOCK_ROWS, f"{encoder_scope}/encoder/layer_{i}", f"{hf_prefix}.encoder.layer.{i}")
    return pairs + _expand(HEAD_ROWS.get(architecture, []), "", "")


# --- reading ----------------------------------------------------------------------------------------
def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """A ``.safetensors`` file, or a directory with ``model.safetensors`` or a sharded index."""
    if os.path.isdir(path):
        index = os.path.join(path, "model.safetensors.index.json")
        single = os.path.join(path, "model.safetensors")
        if os.path.exists(single):
            return read_safetensors(single)
        if os.path.exists(index):
            with open(index, encoding="utf-8") as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            tensors: dict[str, np.ndarray] = {}
            for shard in shards:
                tensors.update(read_safetensors(os.path.join(path, shard)))
            return tensors
        pickled = [n for n in os.listdir(path) if n.endswith((".bin", ".pt", ".pth", ".ckpt"))]
        hint = f" It holds {pickled}: pickled PyTorch weights are not loaded (unsafe); convert them with " \
               f"safetensors' convert script or transformers' save_pretrained(safe_serialization=True)." \
            if pickled else ""
        raise WeightLoadError(f"{path}: no model.safetensors or model.safetensors.index.json in this directory.{hint}")
    if path.endswith((".bin", ".pt", ".pth")):
        raise WeightLoadError(f"{path}: pickled PyTorch weights are not loaded (unsafe); convert to safetensors")
    if not os.path.exists(path):
        raise WeightLoadError(f"{path}: no such file")
    try:
        return load_file(path)
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise WeightLoadError(f"{path}: not a readable safetensors file ({e})") from e


def safetensors_names(path: str) -> list[str]:
    """Tensor names of a ``.safetensors`` file or of a directory's ``model.safetensors`` (or sharded index), read
    from the headers only."""
    if os.path.isdir(path):
        single, index = os.path.join(path, "model.safetensors"), os.path.join(path, "model.safetensors.index.json")
        if os.path.exists(single):
            return safetensors_names(single)
        if os.path.exists(index):
            with open(index, encoding="utf-8") as f:
                return sorted(json.load(f)["weight_map"])
        raise WeightLoadError(f"{path}: no model.safetensors or model.safetensors.index.json in this directory")
    try:
        with safe_open(path, framework="np") as f:
            return sorted(f.keys())
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise WeightLoadError(f"{path}: not a readable safetensors file ({e})") from e


def _normalize_keys(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """Old BERT conversions use LayerNorm ``gamma/beta``; bare ``ElectraModel``/``BertModel`` files have no prefix."""
    out = {}
    has_prefix = any(k.startswith(prefix + ".") for k in tensors)
    for key, value in tensors.items():
        key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key))
        if not has_prefix and key.split(".", 1)[0] in ("embeddings", "embeddings_project", "encoder", "pooler"):
            key = f"{prefix}.{key}"
        out[key] = value
    return out


def _num_layers(keys: Iterable[str], prefix: str) -> int:
    found = [int(m.group(1)) for k in keys if (m := re.match(re.escape(prefix) + r"\.encoder\.layer\.(\d+)\.", k))]
    return max(found) + 1 if found else 0


def to_our_names(tensors: dict[str, np.ndarray], architecture: str, prefix: str, source: str
                 ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Translate a Hugging Face state dict; returns ``({our name: array}, ignored keys)``."""
    tensors = _normalize_keys(tensors, prefix)
    table = {their: (our, transpose) for our, their, transpose in
             pairs_for(architecture, _num_layers(tensors, prefix), prefix)}
    ours, ignored, unknown = {}, [], []
    for key, value in tensors.items():
        if key in table:
            name, transpose = table[key]
            ours[name] = value.T if transpose else value
        elif IGNORED.search(key) or not key.startswith(prefix + "."):
            ignored.append(key)
        else:
            unknown.append(key)
    if unknown:
        raise WeightLoadError(f"{source}: tensors with no place in an ELECTRA/BERT encoder: {sorted(unknown)[:12]}")
    return ours, ignored


def _architecture_of(tensors: Iterable[str], model_type: str = "electra") -> str:
    """The Hugging Face layout of a file, by its tensor names (see ``pairs_for``). A BERT ``classifier`` next to a
    pooler (BertForSequenceClassification, BertForMultipleChoice) sits on the tanh pooler, not on ``[CLS]``: no head
    of ours, so the file counts as an encoder (``pooled_classifier`` names those tensors)."""
    names = list(tensors)
    if model_type == "bert" and pooled_classifier(names):
        return "encoder"
    for head, arch in (("discriminator_predictions.", "discriminator"), ("generator_predictions.", "generator"),
                       ("qa_outputs.", "question_answering"), ("classifier.out_proj.", SEQUENCE_CLASSIFICATION),
                       ("classifier.weight", TOKEN_CLASSIFICATION)):
        if any(k.startswith(head) for k in names):
            return arch
    return "encoder"


def pooled_classifier(names: Iterable[str]) -> list[str]:
    """The ``classifier.*`` tensors of a BERT file whose classifier reads the pooler (``bert.pooler`` →
    tanh → ``classifier``, BertForSequenceClassification): [] for any other file."""
    names = list(names)
    if not any(re.match(r"(bert\.)?pooler\.", n) for n in names):
        return []
    return sorted(n for n in names if n.startswith("classifier."))


def classifier_architecture(names: Iterable[str]) -> str | None:
    """``sequence_classification`` / ``token_classification`` for a model (or our weight names) with that head
    (``classifier/out_proj/*`` / ``classifier/kernel``), else None."""
    names = set(names)
    if "classifier/out_proj/kernel" in names:
        return SEQUENCE_CLASSIFICATION
    if "classifier/kernel" in names:
        return TOKEN_CLASSIFICATION
    return None


def _other_classifier(model, ours: dict[str, np.ndarray], architecture: str, path: str) -> list[str]:
    """Our names of a file's classifier that is not the kind ``model`` has (a sentence classifier's head for a
    tagger): dropped from ``ours`` and returned, so the encoder loads and the model keeps its fresh head."""
    mine = classifier_architecture(model.named_variables())
    if architecture not in CLASSIFIERS or mine in (None, architecture):
        return []
    dropped = sorted(n for n in ours if n.startswith("classifier/"))
    for name in dropped:
        del ours[name]
    log.warning("%s: holds an %s head; the model is an %s, so the encoder loads and its classifier stays as it "
                "was (ignored: %s)", path, CLASSIFIERS[architecture], CLASSIFIERS[mine], dropped)
    return dropped


def load_hf_electra(model, path: str, part: str = "discriminator", heads: bool = True) -> LoadReport:
    """Load a Hugging Face ELECTRA file into ``model``.

    ``part="discriminator"``: ElectraForPreTraining / ElectraModel / ElectraForQuestionAnswering /
    ElectraForSequenceClassification / ElectraForTokenClassification weights into the discriminator (and whichever
    of its heads both sides have: a head the model lacks is ignored, a head the file lacks is left as it was; a
    sentence classifier's head is not loaded into a tagger nor the reverse). ``part="generator"``:
    ElectraForMaskedLM into the generator of an ``ElectraPretrainingModel``; the file's embeddings become the
    shared embeddings. A classifier with another number of labels is a ``WeightLoadError`` naming the tensor;
    ``heads=False`` loads none of the model's fine-tuning heads (``electra.interop.weights.assign``).
    """
    tensors = read_safetensors(path)
    if part == "discriminator":
        architecture = _architecture_of(tensors)
        if architecture == "generator":
            raise WeightLoadError(f"{path}: holds a generator (generator_predictions.*); use part='generator'")
        select = lambda n: not n.startswith(("generator/", "generator_predictions/"))  # noqa: E731
    elif part == "generator":
        architecture = "generator"
        if not hasattr(model, "generator"):
            raise WeightLoadError(f"{path}: part='generator' needs an ElectraPretrainingModel")
        select = lambda n: n.startswith(("generator/", "generator_predictions/", "electra/embeddings/"))  # noqa: E731
    else:
        raise ValueError(f"part must be 'discriminator' or 'generator', got {part!r}")
    ours, ignored = to_our_names(tensors, architecture, "electra", path)
    ignored += _other_classifier(model, ours, architecture, path)
    return assign(model, ours, path, ignorable=ignored, select=select, heads=heads)


def load_hf_bert(model, path: str, heads: bool = True) -> LoadReport:
    """Load Hugging Face BERT weights (BertModel, BertForQuestionAnswering, BertForTokenClassification,
    BertForPreTraining) into the encoder, and the QA / token classifier head into a model that has it.

    BertForSequenceClassification's head (``bert.pooler`` → tanh → ``classifier``) is not ELECTRA's
    classification head: its ``classifier.*`` (and the pooler) are ignored with a logged warning, the encoder
    loads and a sequence classifier keeps its fresh head."""
    tensors = read_safetensors(path)
    pooled = pooled_classifier(tensors)
    if pooled:
        log.warning("%s: a BertForSequenceClassification-style head (pooler → tanh → classifier) is not ELECTRA's "
                    "classification head; only the encoder loads (ignored: %s)", path, pooled)
        tensors = {k: v for k, v in tensors.items() if k not in pooled}
    architecture = _architecture_of(tensors, "bert")
    ours, ignored = to_our_names(tensors, architecture, "bert", path)
    ignored += pooled + _other_classifier(model, ours, architecture, path)
    select = lambda n: not n.startswith(("generator/", "generator_predictions/", "discriminator_predictions/"))  # noqa: E731
    return assign(model, ours, path, ignorable=ignored, select=select, heads=heads)


def load_hf_pretraining(model, discriminator_path: str, generator_path: str) -> list[LoadReport]:
    """Both halves of a released ELECTRA into an ``ElectraPretrainingModel``; their embeddings must agree."""
    disc = read_safetensors(discriminator_path)
    gen = read_safetensors(generator_path)
    for key in (k for k in gen if k.startswith("electra.embeddings.") and k in disc):
        if disc[key].shape != gen[key].shape or not np.array_equal(disc[key], gen[key]):
            raise WeightLoadError(f"{generator_path}: '{key}' differs from {discriminator_path}; ELECTRA's generator "
                                  f"and discriminator share embeddings, so these two files do not belong together")
    return [load_hf_electra(model, generator_path, "generator"),
            load_hf_electra(model, discriminator_path, "discriminator")]


# --- writing ----------------------------------------------------------------------------------------
def hf_config(config: ModelConfig, part: str, architecture: str, vocab_rows: int) -> dict:
    encoder = config.generator if part == "generator" else config.discriminator
    return {"architectures": [architecture], "model_type": "electra", "vocab_size": vocab_rows,
            "embedding_size": config.embedding_size, "hidden_size": encoder.hidden_size,
            "num_hidden_layers": encoder.num_hidden_layers, "num_attention_heads": encoder.num_attention_heads,
            "intermediate_size": encoder.intermediate_size, "hidden_act": config.hidden_act,
            "hidden_dropout_prob": config.hidden_dropout_prob,
            "attention_probs_dropout_prob": config.attention_probs_dropout_prob,
            "max_position_embeddings": config.max_position_embeddings, "type_vocab_size": config.type_vocab_size,
            "initializer_range": config.initializer_range, "layer_norm_eps": config.layer_norm_eps,
            "pad_token_id": 0, "position_embedding_type": "absolute"}


def config_from_hf(discriminator: dict, generator: dict | None = None, **overrides) -> ModelConfig:
    """A ``ModelConfig`` from Hugging Face ``config.json`` dicts (the generator's sizes from its own config)."""
    g = generator or discriminator
    if generator and generator.get("embedding_size") != discriminator.get("embedding_size"):
        raise ValueError("generator and discriminator configs have different embedding_size; ELECTRA shares them")
    values = dict(
        vocab_size=discriminator["vocab_size"], embedding_size=discriminator.get("embedding_size",
                                                                              discriminator["hidden_size"]),
        hidden_size=discriminator["hidden_size"], num_hidden_layers=discriminator["num_hidden_layers"],
        num_attention_heads=discriminator["num_attention_heads"],
        intermediate_size=discriminator["intermediate_size"], generator_hidden_size=g["hidden_size"],
        generator_num_hidden_layers=g["num_hidden_layers"], generator_num_attention_heads=g["num_attention_heads"],
        generator_intermediate_size=g["intermediate_size"], hidden_act=discriminator.get("hidden_act", "gelu"),
        hidden_dropout_prob=discriminator.get("hidden_dropout_prob", 0.1),
        attention_probs_dropout_prob=discriminator.get("attention_probs_dropout_prob", 0.1),
        max_position_embeddings=discriminator.get("max_position_embeddings", 512),
        type_vocab_size=discriminator.get("type_vocab_size", 2),
        initializer_range=discriminator.get("initializer_range", 0.02),
        layer_norm_eps=discriminator.get("layer_norm_eps", 1e-12))
    values.update(overrides)
    return ModelConfig(**values)


def classifier_config(architecture: str, num_labels: int, labels=None, regression: bool = False) -> dict:
    """The ``config.json`` keys of a classifier: ``id2label`` / ``label2id`` (from ``labels``, else transformers'
    ``LABEL_<i>``; transformers derives ``num_labels`` from them) and, for a sentence head, ``problem_type``
    (``regression`` for one real-valued output, else ``single_label_classification``)."""
    names = [f"LABEL_{i}" for i in range(num_labels)] if labels is None else [str(n) for n in labels]
    if len(names) != num_labels or len(set(names)) != num_labels:
        raise ValueError(f"labels must be {num_labels} distinct names (the model's num_labels), got {list(labels)}")
    if regression and (architecture != SEQUENCE_CLASSIFICATION or num_labels != 1):
        raise ValueError(f"regression needs a sentence classifier with num_labels=1, not a {architecture} with "
                         f"{num_labels}")
    out = {"id2label": {str(i): n for i, n in enumerate(names)}, "label2id": {n: i for i, n in enumerate(names)}}
    if architecture == SEQUENCE_CLASSIFICATION:
        out["problem_type"] = "regression" if regression else "single_label_classification"
    return out


def save_hf_electra(model, directory: str, part: str = "discriminator", vocab_rows: int | None = None,
                    labels=None, regression: bool = False) -> str:
    """Write ``model.safetensors`` + ``config.json`` that transformers' ``from_pretrained`` reads.

    ``part="discriminator"`` gives ElectraForPreTraining (or ElectraForQuestionAnswering for a QA model,
    ElectraForSequenceClassification / ElectraForTokenClassification for our classifiers), ``part="generator"``
    ElectraForMaskedLM. ``vocab_rows`` pads (or trims) the vocabulary, e.g. 30528. Classifiers only: ``labels``,
    the label names in index order (``config.json``'s ``id2label``; default ``LABEL_<i>``), ``regression``: the
    one output is a real value (``problem_type`` ``regression``, else ``single_label_classification``).
    Files are written to temporary names and renamed, so an interrupted export leaves no half file.
    """
    arrays = export_arrays(model, vocab_rows)
    rows = arrays["electra/embeddings/word_embeddings"].shape[0]
    if part == "generator":
        if not hasattr(model, "generator"):
            raise ValueError("part='generator' needs an ElectraPretrainingModel")
        architecture, hf_arch = "generator", "ElectraForMaskedLM"
    elif part == "discriminator":
        names = model.named_variables()
        if classifier_architecture(names):
            architecture = classifier_architecture(names)
            hf_arch = CLASSIFIERS[architecture]
        elif any(n.startswith("qa_outputs/") for n in names):
            architecture, hf_arch = "question_answering", "ElectraForQuestionAnswering"
        elif any(n.startswith("discriminator_predictions/") for n in names):
            architecture, hf_arch = "discriminator", "ElectraForPreTraining"
        else:
            architecture, hf_arch = "encoder", "ElectraModel"
    else:
        raise ValueError(f"part must be 'discriminator' or 'generator', got {part!r}")
    config = hf_config(model.config, part, hf_arch, rows)
    if architecture in CLASSIFIERS:
        config.update(classifier_config(architecture, model.num_labels, labels, regression))
    elif labels is not None or regression:
        raise ValueError(f"labels / regression describe a classifier; this model is an {hf_arch}")
    layers = (model.config.generator if part == "generator" else model.config.discriminator).num_hidden_layers
    out = {}
    for our, their, transpose in pairs_for(architecture, layers, "electra"):
        if our in arrays:
            out[their] = np.ascontiguousarray(arrays[our].T if transpose else arrays[our])
    write_safetensors(out, os.path.join(directory, "model.safetensors"), {"format": "pt"})
    write_json(os.path.join(directory, "config.json"), config)
    return directory


def write_safetensors(arrays: dict[str, np.ndarray], path: str, metadata: dict[str, str]) -> str:
    """``arrays`` as a safetensors file, through the atomic writer: ``save_file`` would create it 0600 whatever
    the umask (it writes a temporary file of its own), so the bytes are built in memory and written here."""
    with atomic_write(path, "wb") as f:
        f.write(save(arrays, metadata=metadata))
    return path

"""Format-independent weight loading: every importer turns its file into ``{our name: array}`` and calls
``assign``, which checks everything before it writes anything, so a bad file never leaves a half-loaded model.

Our names are Google's TF1 checkpoint names (see ``electra.modeling.layers``).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Iterable, Mapping

import numpy as np

log = logging.getLogger("electra.interop")

# Weights whose first dimension is the vocabulary: they may carry padding rows (30522 ↔ 30528).
VOCAB_WEIGHTS = ("electra/embeddings/word_embeddings", "generator_predictions/output_bias")


class WeightLoadError(ValueError):
    """A checkpoint does not fit the model: names the tensor(s), the file and the shapes."""


@dataclasses.dataclass(repr=False)
class LoadReport:
    loaded: list[str]
    untouched: list[str]  # model weights this load did not write (new heads, the other half of the model)
    ignored: list[str]

    def __repr__(self) -> str:
        return (f"loaded {len(self.loaded)} tensors; left {len(self.untouched)} model weights as they were"
                f"{' ' + str(self.untouched[:6]) if self.untouched else ''}; ignored "
                f"{len(self.ignored)}{' ' + str(self.ignored[:6]) if self.ignored else ''}")


def _listing(names: Iterable[str], limit: int = 12) -> str:
    names = sorted(names)
    more = f" … and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def top_scope(name: str) -> str:
    return name.split("/", 1)[0]


def fit_vocab_rows(name: str, array: np.ndarray, rows: int, vocab_size: int, source: str) -> np.ndarray:
    """Resize the vocabulary dimension: keep the first ``vocab_size`` real rows, zero any padding rows."""
    if array.shape[0] < vocab_size:
        raise WeightLoadError(
            f"{source}: tensor '{name}' has {array.shape[0]} vocabulary rows but the model's vocab_size is "
            f"{vocab_size} (shape in file {tuple(array.shape)}); the checkpoint's vocabulary is smaller than the "
            f"model's")
    out = np.zeros((rows,) + array.shape[1:], dtype=array.dtype)
    keep = min(rows, array.shape[0])
    out[:keep] = array[:keep]
    return out


def assign(model, tensors: Mapping[str, np.ndarray], source: str, ignorable: Iterable[str] = (),
           select: Callable[[str], bool] | None = None, heads: bool = True) -> LoadReport:
    """Load ``tensors`` (by our names) into ``model.named_variables()``.

    Every variable must be present unless it lies in one of ``model.optional_scopes`` (fine-tuning heads
    that a pretrained checkpoint does not have). A tensor under a scope the model has but that the model
    lacks (for example ``layer_12`` for a 12-layer model) is an error: the checkpoint is of another size.
    Tensors under scopes the model does not have (a generator, when loading a discriminator) are ignored.
    ``select`` restricts loading to part of the model (only the generator, say); ``heads=False`` leaves the
    model's optional heads as they are (a classifier of another label set: the encoder loads, the head stays new).
    """
    optional = tuple(getattr(model, "optional_scopes", ()))
    targets = {n: v for n, v in model.named_variables().items()
               if (select is None or select(n)) and (heads or top_scope(n) not in optional)}
    scopes = {top_scope(n) for n in targets}
    vocab_size, rows = model.config.vocab_size, model.config.embedding_vocab_size

    missing = [n for n in targets if n not in tensors and top_scope(n) not in optional]
    if missing:
        raise WeightLoadError(f"{source}: missing {len(missing)} tensor(s) the model needs: {_listing(missing)}")
    extra = [n for n in tensors if n not in targets and top_scope(n) in scopes]
    if extra:
        raise WeightLoadError(
            f"{source}: {len(extra)} tensor(s) the model does not have (a checkpoint of another size or "
            f"architecture?): {_listing(extra)}")

    values: dict[str, np.ndarray] = {}
    for name, variable in targets.items():
        if name not in tensors:
            continue
        array = np.asarray(tensors[name])
        if name in VOCAB_WEIGHTS and array.ndim == len(variable.shape) and array.shape[1:] == tuple(
                variable.shape[1:]):
            array = fit_vocab_rows(name, array, rows, vocab_size, source)
        if tuple(array.shape) != tuple(variable.shape):
            raise WeightLoadError(f"{source}: tensor '{name}' has shape {tuple(array.shape)} in the file but "
                                  f"{tuple(variable.shape)} in the model")
        if not np.issubdtype(array.dtype, np.floating):
            raise WeightLoadError(f"{source}: tensor '{name}' has dtype {array.dtype}, expected floating point")
        values[name] = array

    for name, array in values.items():
        targets[name].assign(array.astype(targets[name].dtype))
    report = LoadReport(loaded=sorted(values), untouched=sorted(set(model.named_variables()) - set(values)),
                        ignored=sorted(set(tensors) - set(targets)) + sorted(ignorable))
    log.info("%s: %s", source, report)
    return report


def export_arrays(model, vocab_rows: int | None = None) -> dict[str, np.ndarray]:
    """``{our name: array}`` of the model, vocabulary weights cut (or zero-padded) to ``vocab_rows`` rows.

    ``vocab_rows`` defaults to the real ``vocab_size``, dropping the padding rows of a padded table.
    """
    rows = model.config.vocab_size if vocab_rows is None else vocab_rows
    if rows < model.config.vocab_size:
        raise ValueError(f"vocab_rows={rows} is smaller than the model's vocab_size={model.config.vocab_size}")
    arrays = {}
    for name, variable in model.named_variables().items():
        array = np.asarray(variable.numpy())
        if name in VOCAB_WEIGHTS:
            array = fit_vocab_rows(name, array, rows, model.config.vocab_size, "model")
        arrays[name] = array
    return arrays

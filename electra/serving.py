"""Answer from a sentence-classification, regression or tagging export alone: the SavedModel's ``serving_default``
(``logits``), its vocabulary, ``labels.json`` and ``task_settings.json`` (``electra.export``); or from a model in
memory with the same pre- and post-processing (``from_model``), which is what the export must reproduce.

* ``ClassifierPredictor.predict(texts, text_pairs=None)`` → per text ``{"label", "probabilities": {name: p}}``
  (softmax over the logits, label names in logit order), or ``{"score"}`` for regression. Texts are encoded as in
  fine-tuning (``electra.classification.data.encode``: ``[CLS] a [SEP] (b [SEP])``, longest-first truncation).
* ``TaggerPredictor.predict(sentences)`` → per sentence ``{"words", "tags"}``, one tag per word. A sentence is a
  list of words or a text split on white space; sentences longer than a window are encoded in windows ``stride``
  sub-tokens apart and merged back (``electra.tagging.data.encode`` / ``merge_logits``: each word is read from the
  window where it has the most context).

``load_predictor(export_dir)`` picks the predictor from the export's task (a SQuAD export gets
``electra.squad.inference.SavedModelPredictor``). Empty or non-string input is a ``ValueError`` naming the item.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from electra.export import INPUT_NAMES, SIGNATURE, load_export_tokenizer, load_settings

LogitsFn = Callable[[dict, int], np.ndarray]


def saved_model_logits(export_dir: str) -> LogitsFn:
    """``(inputs, batch_size) -> logits`` through the export's ``serving_default``: ``inputs`` int32 ``[N, L]``
    arrays by ``INPUT_NAMES``, run in batches of ``batch_size``, concatenated."""
    import tensorflow as tf

    serve = tf.saved_model.load(export_dir).signatures[SIGNATURE]

    def logits(inputs: dict, batch_size: int) -> np.ndarray:
        n = len(inputs["input_ids"])
        parts = [serve(**{k: tf.constant(np.asarray(inputs[k][i:i + batch_size], np.int32)) for k in INPUT_NAMES})
                 ["logits"].numpy() for i in range(0, n, batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0,), np.float32)
    return logits


def model_logits(model) -> LogitsFn:
    """``saved_model_logits``'s contract for a Keras classifier or tagger in memory."""
    from electra.squad.inference import predict_logits
    return lambda inputs, batch_size: predict_logits(
        model, {k: inputs[k] for k in INPUT_NAMES}, batch_size)["logits"]


class _Predictor:
    tasks: tuple[str, ...] = ()

    def __init__(self, tokenizer, settings: Mapping, logits_fn: LogitsFn):
        if settings.get("task") not in self.tasks:
            raise ValueError(f"{type(self).__name__} serves {' / '.join(self.tasks)} exports, not "
                             f"task={settings.get('task')!r}")
        self.tokenizer, self.settings, self._logits_fn = tokenizer, dict(settings), logits_fn
        self.labels: list[str] | None = settings.get("labels")
        self.max_seq_length: int = int(settings["max_seq_length"])

    @classmethod
    def from_export(cls, export_dir: str):
        """The SavedModel in ``export_dir`` and its assets (vocabulary, settings, labels)."""
        settings, tokenizer = load_export_tokenizer(export_dir)
        return cls(tokenizer, settings, saved_model_logits(export_dir))

    @classmethod
    def from_model(cls, model, tokenizer, **settings):
        """A model in memory; ``settings`` as ``electra.export.export_saved_model`` takes them (``labels``,
        ``max_seq_length``, ``stride``), the task from the model's class."""
        from electra.export import CLASSIFIER_MAX_SEQ_LENGTH, classifier_task, default_stride
        length = settings.get("max_seq_length") or CLASSIFIER_MAX_SEQ_LENGTH
        task = classifier_task(model)
        values = {"task": task, "labels": None, "max_seq_length": length, **settings,
                  "do_lower_case": tokenizer.lower_case}
        if task == "tagging" and values.get("stride") is None:
            values["stride"] = default_stride(length)
        return cls(tokenizer, values, model_logits(model))

    def logits(self, inputs: dict, batch_size: int = 64) -> np.ndarray:
        return np.asarray(self._logits_fn(inputs, batch_size), np.float32)


def _check_text(index: int, field: str, value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"item {index}: {field!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"item {index}: {field!r} is empty" + (" (only white space)" if value else ""))
    return value


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


class ClassifierPredictor(_Predictor):
    """Sentence (pair) classification and regression from ``logits`` ``[N, num_labels]``."""

    tasks = ("classification", "regression")

    def predict(self, texts: Sequence[str], text_pairs: Sequence[str | None] | None = None,
                batch_size: int = 64) -> list[dict]:
        """One result per text, in order: ``{"label", "probabilities"}`` or, for regression, ``{"score"}``.
        ``text_pairs``: the second sentence of each text (same length; None entries for single sentences)."""
        from electra.classification.data import Example, encode

        texts = list(texts)
        pairs = [None] * len(texts) if text_pairs is None else list(text_pairs)
        if len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} text pairs")
        examples = [Example(str(i), _check_text(i, "text", a), None if b is None else _check_text(i, "text_pair", b),
                            None, i + 1) for i, (a, b) in enumerate(zip(texts, pairs))]
        if not examples:
            return []
        features = encode(examples, self.tokenizer, self.max_seq_length, None)
        logits = self.logits(features, batch_size)
        if self.settings["task"] == "regression":
            return [{"score": float(row[0])} for row in logits]
        results = []
        for row in softmax(logits):
            results.append({"label": self.labels[int(np.argmax(row))],
                            "probabilities": {name: float(p) for name, p in zip(self.labels, row)}})
        return results


class TaggerPredictor(_Predictor):
    """Token tagging from ``logits`` ``[W, L, num_tags]`` over windows, merged back to one tag per word."""

    tasks = ("tagging",)

    @property
    def stride(self) -> int:
        return int(self.settings["stride"])

    def predict(self, sentences: Sequence[str | Sequence[str]], batch_size: int = 64) -> list[dict]:
        """One ``{"words", "tags"}`` per sentence, in order; a sentence given as a string is split on white space.
        An empty sentence gets no tags."""
        from electra.tagging.data import Sentence, encode, merge_logits

        words = []
        for i, sentence in enumerate(sentences):
            if isinstance(sentence, str):
                sentence = sentence.split()
            elif not isinstance(sentence, Sequence) or not all(isinstance(w, str) and w.strip() for w in sentence):
                raise ValueError(f"item {i}: a sentence is a string or a list of non-empty words, got {sentence!r}")
            words.append([w.strip() for w in sentence])
        filled = [i for i, w in enumerate(words) if w]
        results = [{"words": w, "tags": []} for w in words]
        if not filled:
            return results
        batch = [Sentence(tuple(words[i]), None, n + 1, "<input>") for n, i in enumerate(filled)]
        features = encode(batch, self.tokenizer, self.max_seq_length, None, self.stride)
        merged = merge_logits(features, self.logits(features, batch_size), len(batch))
        for i, per_word in zip(filled, merged):
            results[i]["tags"] = [self.labels[int(k)] for k in np.argmax(per_word, axis=-1)]
        return results


def load_predictor(export_dir: str):
    """The predictor of an export, by its task: ``ClassifierPredictor``, ``TaggerPredictor`` or, for SQuAD,
    ``electra.squad.inference.SavedModelPredictor``."""
    task = load_settings(export_dir).get("task", "squad")
    if task == "squad":
        from electra.squad.inference import SavedModelPredictor
        return SavedModelPredictor(export_dir)
    return (TaggerPredictor if task == "tagging" else ClassifierPredictor).from_export(export_dir)

"""Answer questions from an exported SavedModel alone (vocabulary and settings are read from its assets), or from a
model in memory (``Predictor.from_model``) with the same item-level checks.

``answer_items`` takes a list of ``{"id", "question", "context"}`` items and returns one result per item, in order:
the answer (``answer`` = ``context[start_char:end_char]``, ``score``, ``start_char``, ``end_char``, and for v2
``null_score_diff``) or, for an item that cannot be answered, ``{"id", "error"}`` with a message naming the item id
and the field (empty or missing question or context, a context with no tokens, a repeated id). One bad item never
stops the others.

Decoding follows the model's head (``electra.squad.postprocess.decode``): the plain span head's logits through
``postprocess`` (its ``answerable_logits``, when the model has the answerability head, in the v2 decision), the joint
head's beam through ``electra.squad.beam.beam_postprocess``. ``score`` is the chosen entry's start + end value:
logits for the plain head, log-probabilities for the joint head. An export records its head in
``squad_settings.json`` (``"head"``) and the signature carrying the decoder's inputs (``beam`` for a joint head,
``answerability`` for a plain head with the answerability classifier, else ``serving_default``).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Mapping

import numpy as np

from electra.export import default_settings, export_head, load_export_tokenizer, signature_of
from electra.squad.data import SquadExample, convert_examples_to_features
from electra.squad.postprocess import decode


def predict_logits(model, features, batch_size: int = 32, xla: bool = False) -> dict[str, np.ndarray]:
    """The model's inference outputs for ``Features`` or a dict of ``input_ids``/``input_mask``/``segment_ids``
    ``[N, S]``, concatenated over batches: start/end logits ``[N, S]`` float32, ``answerable_logits`` ``[N]`` when
    the model has the head, and for the joint head its beam (``start_top_log_probs`` ``[N, K]``, ``start_top_index``
    ``[N, K]`` int32, ``end_top_log_probs`` / ``end_top_index`` ``[N, K, K]``). Float outputs are float32, indices
    stay int32. ``electra.squad.postprocess.decode`` turns them into answers."""
    import tensorflow as tf
    inputs = features.model_inputs() if hasattr(features, "model_inputs") else features
    call = inference_function(model, inputs, xla)
    outputs: dict[str, list] = {}
    n = len(next(iter(inputs.values())))
    for i in range(0, n, batch_size):
        chunk = {k: tf.constant(v[i:i + batch_size]) for k, v in inputs.items()}
        for k, v in call(chunk).items():
            v = np.asarray(v)
            outputs.setdefault(k, []).append(v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v)
    return {k: np.concatenate(v) for k, v in outputs.items()}


def inference_function(model, example: Mapping[str, np.ndarray], xla: bool = False):
    """``model(batch, training=False)`` as one ``tf.function`` for batches shaped as ``example``'s arrays
    (``[N, S]``) with any ``N``, traced once. Traced inside ``onednn_inference`` without XLA, so on a CPU with
    oneDNN its LayerNorms run as one kernel each (``electra.modeling.layers.layer_norm_for_onednn``; the batch
    dimension stays unknown, as that rewrite needs). What ``predict_logits`` and the SQuAD benchmark run."""
    import tensorflow as tf

    from electra.modeling.layers import onednn_inference
    signature = {k: tf.TensorSpec([None, *np.shape(v)[1:]], tf.as_dtype(np.asarray(v).dtype))
                 for k, v in example.items()}

    def forward(batch):
        with onednn_inference() if not xla else contextlib.nullcontext():
            return model(batch, training=False)
    return tf.function(forward, jit_compile=xla, input_signature=[signature])


def _text_error(qid: str, field: str, value) -> str | None:
    if value is None:
        return f"item {qid!r}: '{field}' is missing"
    if not isinstance(value, str):
        return f"item {qid!r}: '{field}' must be a string, got {type(value).__name__}"
    if not value.strip():
        return f"item {qid!r}: '{field}' is empty" + (" (only white space)" if value else "")
    return None


class Predictor:
    """Pre-processing, a logits function and post-processing. ``logits_fn(inputs, batch_size)`` maps
    ``{input_ids, input_mask, segment_ids}`` int32 ``[N, S]`` to the model's inference outputs (at least
    ``start_logits`` and ``end_logits`` ``[N, S]``; the joint head's beam and ``answerable_logits`` when the model
    has them), which ``electra.squad.postprocess.decode`` decodes."""

    def __init__(self, tokenizer, settings: Mapping, logits_fn: Callable[[dict, int], dict]):
        self.tokenizer = tokenizer
        self.settings = {**default_settings(), **settings}
        self._logits_fn = logits_fn

    @classmethod
    def from_model(cls, model, tokenizer, **settings) -> "Predictor":
        """A Keras ``ElectraForQuestionAnswering`` in memory (what a SavedModel export of it would answer)."""
        return cls(tokenizer, settings, lambda inputs, batch_size: predict_logits(model, inputs, batch_size))

    def logits(self, inputs: dict, batch_size: int = 64) -> dict[str, np.ndarray]:
        return self._logits_fn(inputs, batch_size)

    def predict_examples(self, examples, batch_size: int = 64):
        """``postprocess``'s ``(predictions, nbest, null_odds)``; an example whose context has no tokens is left out
        of them."""
        s = self.settings
        features = convert_examples_to_features(examples, self.tokenizer, s["max_seq_length"], s["doc_stride"],
                                                s["max_query_length"], is_training=False)
        if len(features):
            logits = self.logits(features.model_inputs(), batch_size)
        else:
            logits = {k: np.zeros((0, s["max_seq_length"]), np.float32) for k in ("start_logits", "end_logits")}
        return decode(features, logits, n_best_size=s["n_best_size"], max_answer_length=s["max_answer_length"],
                      version_2_with_negative=s["version_2_with_negative"],
                      null_score_diff_threshold=s["null_score_diff_threshold"])

    def answer_items(self, items: Iterable[Mapping], batch_size: int = 64) -> list[dict]:
        """One result per item, in order: ``{"id", "question", "answer", "score", "start_char", "end_char"[,
        "null_score_diff"]}``, or ``{"id"[, "question"], "error"}`` naming the item and the field. An item that
        already carries an ``"error"`` (e.g. from reading the input file) keeps it."""
        items = list(items)
        results: list[dict] = []
        examples, owners = [], {}
        first_index: dict[str, int] = {}
        for index, item in enumerate(items):
            qid = str(item.get("id", index))
            question, context = item.get("question"), item.get("context")
            result = {"id": qid, **({"question": question} if isinstance(question, str) else {})}
            results.append(result)
            error = item.get("error") or _text_error(qid, "question", question) or \
                _text_error(qid, "context", context)
            if error is None and qid in first_index:
                error = f"item {qid!r}: 'id' repeats the id of item {first_index[qid]}; ids must be unique"
            first_index.setdefault(qid, index)
            if error is None and not self.tokenizer.encode(question):
                error = f"item {qid!r}: 'question' has no tokens (only characters the tokenizer drops)"
            if error is not None:
                result["error"] = error
                continue
            key = str(len(examples))           # internal id: the user's ids never collide in postprocess
            owners[key] = result
            examples.append(SquadExample(key, question, context))
        if not examples:
            return results
        predictions, nbest, null_odds = self.predict_examples(examples, batch_size)
        for key, result in owners.items():
            if key not in predictions:
                result["error"] = (f"item {result['id']!r}: 'context' has no tokens (only characters the tokenizer "
                                   f"drops)")
                continue
            text = predictions[key]
            best = next((e for e in nbest[key] if e["text"] == text), nbest[key][0])
            result.update({"answer": text, "score": best["start_logit"] + best["end_logit"],
                           "start_char": best["start_char"] if text else -1,
                           "end_char": best["end_char"] if text else -1})
            if key in null_odds:
                result["null_score_diff"] = null_odds[key]
        return results

    def answer(self, question: str, context: str) -> dict:
        """``{"text", "score", "start_char", "end_char"}``; ``text`` is ``context[start_char:end_char]`` (empty with
        -1/-1 when a v2 model judges the question unanswerable). An empty question or context is a ``ValueError``
        naming it."""
        (result,) = self.answer_items([{"id": "0", "question": question, "context": context}])
        if "error" in result:
            raise ValueError(result["error"])
        out = {"text": result["answer"], "score": result["score"], "start_char": result["start_char"],
               "end_char": result["end_char"]}
        if "null_score_diff" in result:
            out["null_score_diff"] = result["null_score_diff"]
        return out


class SavedModelPredictor(Predictor):
    def __init__(self, export_dir: str):
        import tensorflow as tf

        settings, tokenizer = load_export_tokenizer(export_dir)
        self.loaded = tf.saved_model.load(export_dir)
        self.head = export_head(settings)
        name = signature_of(self.head)
        if name not in self.loaded.signatures:
            raise ValueError(f"SavedModel {export_dir}: its settings name the signature {name!r}, which it lacks "
                             f"(it has {sorted(self.loaded.signatures)})")
        self.serve = self.loaded.signatures[name]
        super().__init__(tokenizer, settings, self._serve_logits)

    def _serve_logits(self, inputs: dict, batch_size: int = 64) -> dict[str, np.ndarray]:
        import tensorflow as tf

        n = len(inputs["input_ids"])
        out: dict[str, list] = {}
        for i in range(0, n, batch_size):
            result = self.serve(**{k: tf.constant(np.asarray(inputs[k][i:i + batch_size], np.int32))
                                   for k in ("input_ids", "input_mask", "segment_ids")})
            for k, v in result.items():
                out.setdefault(k, []).append(v.numpy())
        return {k: np.concatenate(v) for k, v in out.items()}

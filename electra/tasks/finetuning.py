"""What the sentence (classification, regression) and token (tagging) fine-tuning tasks share: their losses, as
Hugging Face's ``ElectraForSequenceClassification`` / ``ElectraForTokenClassification`` define them
(``tests/training/test_step_parity.py`` holds them to transformers' step), and ``FinetuneTask``, the inputs,
evaluation and outputs around them (``electra.tasks.classification``, ``electra.tasks.tagging``)."""
from __future__ import annotations

import abc
import json
import logging
import os

import numpy as np
import tensorflow as tf

from electra.tasks.base import Task, input_fingerprint

log = logging.getLogger("electra.finetune")

IGNORED = -1     # the label of a position that carries none (special tokens, padding, a word's later sub-tokens)


def sequence_loss(logits: tf.Tensor, labels: tf.Tensor, regression: bool) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """``logits`` float32 ``[B, C]``; ``labels`` int ``[B]`` (a class) or float ``[B]`` (regression, ``C == 1``).
    Classification: mean softmax cross-entropy, metric ``accuracy``; regression: mean squared error, metric
    ``mse`` (the loss itself)."""
    if regression:
        error = tf.reduce_mean(tf.square(logits[:, 0] - tf.cast(labels, tf.float32)))
        return error, {"mse": error}
    labels = tf.cast(labels, tf.int32)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
    return loss, {"accuracy": tf.reduce_mean(correct)}


def token_loss(logits: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """``logits`` float32 ``[B, S, T]``; ``labels`` int ``[B, S]`` with ``IGNORED`` where a position carries no
    label. Mean cross-entropy over the labelled positions of the batch (0 when it has none), metric
    ``accuracy`` over the same positions."""
    labels = tf.cast(labels, tf.int32)
    valid = tf.not_equal(labels, IGNORED)
    weights = tf.cast(valid, tf.float32)
    count = tf.maximum(tf.reduce_sum(weights), 1.0)
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.where(valid, labels, 0), logits)
    correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
    return (tf.reduce_sum(per_token * weights) / count,
            {"accuracy": tf.reduce_sum(correct * weights) / count})


class FinetuneTask(Task):
    """What sentence classification/regression and token tagging share: the inputs (``--init``, vocabulary, the
    label set), windows held in memory as arrays and batched by shuffled index (so a checkpoint stays small and a
    resume continues mid-epoch, as SQuAD's), evaluation on ``--data.eval_file`` and the rest of the job
    (model directory, ``eval_results.json``, ``predictions.jsonl``, export).

    A subclass reads and encodes its files (``read``, ``encode``), builds its model (``build_model``), computes its
    loss (``loss``), scores logits (``score``) and writes predictions (``prediction_records``). Arrays: ``input_ids``,
    ``input_mask``, ``segment_ids`` int32 ``[N, L]`` and ``labels`` (``[N]`` or ``[N, L]``).
    """

    outputs = ("model", "eval_results.json", "predictions.jsonl", "glue_submission", "run_summary.json")
    TRAIN_KEYS = ("input_ids", "input_mask", "segment_ids", "labels")

    def __init__(self, config):
        super().__init__(config)
        self.trains = config.mode in ("train", "train_eval")
        self.labels = None           # the LabelSet (None: regression)
        self.train = self.eval = self.test = None    # (records, arrays) per file

    # --- what a subclass provides ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def read(self, path: str, labelled: bool) -> list:
        """The file's records (examples or sentences), every line checked (``DataError`` names file, line, column)."""

    @abc.abstractmethod
    def label_set_of(self, records: list, path: str):
        """The label set a training file defines (None for regression)."""

    @abc.abstractmethod
    def encode(self, records: list, path: str) -> dict[str, np.ndarray]:
        """Model inputs and ``labels`` for ``records`` (read from ``path``) under ``self.labels``."""

    @abc.abstractmethod
    def score(self, records: list, arrays: dict, logits: np.ndarray) -> dict[str, float]:
        """Metrics of ``logits`` against the records' labels; ``score`` is the one ``--trainer.keep_best`` uses."""

    @abc.abstractmethod
    def prediction_records(self, records: list, arrays: dict, logits: np.ndarray) -> list[dict]:
        """One JSON object per record: its id and what the model predicts."""

    def finetune_settings(self) -> dict:
        """What a model directory and an export record about how inputs are made (``finetune`` in metadata)."""
        d = self.config.data
        return {"glue_task": self.config.glue_task, "max_seq_length": d.max_seq_length}

    # --- inputs -------------------------------------------------------------------------------------------------
    def prepare(self, distributor) -> None:
        c, d = self.config, self.config.data
        self.resolve_fine_tuning_inputs()
        if self.trains:
            records = self.read(d.train_file, labelled=True)
            self.labels = self.label_set_of(records, d.train_file)
            self.train = (records, self.encode(records, d.train_file))
        else:
            self.labels = self.trained_labels()
        if d.eval_file and c.mode in ("eval", "train_eval"):
            records = self.read(d.eval_file, labelled=True)
            self.eval = (records, self.encode(records, d.eval_file))
        if d.test_file:
            records = self.read(d.test_file, labelled=False)
            self.test = (records, self.encode(records, d.test_file))
        if self.trains:
            size = len(self.train[1]["input_ids"])
            per_worker = max(1, size // distributor.size)
            self.train_batch_size = min(d.train_batch_size, per_worker)
            self.steps_per_epoch = max(1, per_worker // self.train_batch_size)

    def trained_labels(self):
        """Evaluating or predicting without training: the label set the ``--init`` model was trained with (our
        model directory's ``labels``, or a Hugging Face config's ``id2label``)."""
        from electra.classification.data import LabelSet
        if self.config.kind == "regression":
            return None
        names = (self.source.metadata.get("labels") if self.source else None) or self._hf_labels()
        if not names:
            raise ValueError(f"--init {self.initialized_from}: its label names are not recorded (no 'labels' in "
                             f"metadata.json, no id2label in config.json); train with --mode=train_eval, or give a "
                             f"model directory this command wrote")
        return LabelSet(tuple(names))

    def _hf_labels(self) -> list[str] | None:
        path = os.path.join(self.source.path, "config.json") if self.source else ""
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            id2label = json.load(f).get("id2label") or {}
        return [id2label[k] for k in sorted(id2label, key=int)] if id2label else None

    def input_fingerprint(self) -> dict:
        d = self.config.data
        return input_fingerprint([d.train_file], train_batch_size=self.train_batch_size, task=self.config.task,
                                 records=len(self.train[1]["input_ids"]), do_lower_case=self.tokenizer.lower_case,
                                 **self.finetune_settings())

    def train_dataset(self, rank: int, world_size: int, seed: int) -> tf.data.Dataset:
        arrays = {k: tf.constant(self.train[1][k]) for k in self.TRAIN_KEYS}
        size = len(self.train[1]["input_ids"])
        indices = tf.data.Dataset.range(size)
        if world_size > 1:
            indices = indices.shard(world_size, rank)
        indices = indices.shuffle(max(1, size // world_size), seed=seed, reshuffle_each_iteration=True).repeat()
        return indices.batch(self.train_batch_size, drop_remainder=True).map(
            lambda i: {k: tf.gather(v, i) for k, v in arrays.items()})

    # --- evaluation and the rest of the job ---------------------------------------------------------------------
    def logits(self, model, arrays: dict) -> np.ndarray:
        from electra.runtime import resolve_xla
        from electra.squad.inference import predict_logits
        inputs = {k: arrays[k] for k in ("input_ids", "input_mask", "segment_ids")}
        return predict_logits(model, inputs, self.config.data.predict_batch_size,
                              xla=resolve_xla(self.config.trainer.xla))["logits"]

    def evaluate(self, model, step: int) -> dict[str, float]:
        if self.eval is None:
            return {}
        records, arrays = self.eval
        return self.score(records, arrays, self.logits(model, arrays))

    def initialize(self, model) -> str | None:
        """The ``--init`` weights; a classifier trained for other labels (an MNLI model starting RTE, a sentence
        classifier starting a tagger) gives its encoder only, and this task's head starts fresh."""
        if self.source is None:
            return None
        held = self.source.metadata.get("labels")
        kind = self.source.architecture
        ours = "token_classification" if self.config.kind == "tagging" else "sequence_classification"
        same = "classifier" in self.source.heads and kind == ours and (
            held is None and self.labels is None or held is not None and self.labels is not None
            and tuple(held) == tuple(self.labels.names))
        if "classifier" in self.source.heads and not same:
            log.info("%s holds a classifier for %s; its encoder starts this run, the head starts fresh",
                     self.initialized_from, f"the labels {held}" if held else kind)
        report = self.source.load_into(model, heads=same or "classifier" not in self.source.heads)
        log.info("weights from %s (%s); fresh optimizer and schedule", self.initialized_from, report)
        return self.initialized_from

    def save_model(self, model, directory: str, step: int | None, extra: dict | None = None) -> str:
        from electra.interop.store import save_model_directory
        return save_model_directory(
            model, directory, vocab_file=self.vocab_file, do_lower_case=self.tokenizer.lower_case,
            task=self.config.kind, source=self.initialized_from, step=step,
            extra={"labels": list(self.labels.names) if self.labels is not None else None,
                   "finetune": self.finetune_settings(), **(extra or {})})

    def finish(self, summary: dict, model, distributor) -> dict:
        """After training (or instead of it), rank 0: the model directory, the scores of ``--data.eval_file``,
        the predictions of ``--data.test_file`` (and a GLUE task's submission file), the export."""
        from electra.io import write_json
        c = self.config
        result: dict = {"task": c.task, "initialized_from": summary.get("initialized_from") if summary else None}
        if self.trains:
            result["train"] = summary
        if not distributor.is_chief:
            return result
        if model is None:
            model = self.build_model()
            result["initialized_from"] = self.initialize(model)
        if self.trains:
            result["model_dir"] = self.save_model(model, os.path.join(c.output_dir, "model"), summary.get("step"))
            if os.path.isdir(os.path.join(c.output_dir, "best")):
                result["best_model_dir"] = os.path.join(c.output_dir, "best")
        if self.eval is not None:
            result["eval"] = self.evaluate(model, -1)
            write_json(os.path.join(c.output_dir, "eval_results.json"), result["eval"])
            log.info("eval: %s", result["eval"])
        if self.test is not None:
            result["predictions"] = self.write_predictions(model)
        if c.export_dir:
            from electra.export import export_saved_model
            result["export_dir"] = export_saved_model(model, c.export_dir, self.vocab_file, **self.export_settings())
        write_json(os.path.join(c.output_dir, "run_summary.json"), result)
        return result

    def export_settings(self) -> dict:
        return {"do_lower_case": self.tokenizer.lower_case,
                "labels": list(self.labels.names) if self.labels is not None else None, **self.finetune_settings()}

    def write_predictions(self, model) -> dict:
        from electra.io import atomic_write
        records, arrays = self.test
        rows = self.prediction_records(records, arrays, self.logits(model, arrays))
        path = os.path.join(self.config.output_dir, "predictions.jsonl")
        with atomic_write(path) as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        written = {"predictions": path}
        if self.config.glue_task:
            from electra.classification.submission import write_glue_submission
            written["glue_submission"] = write_glue_submission(
                os.path.join(self.config.output_dir, "glue_submission"), self.config.glue_task,
                [row["label"] if "label" in row else row["score"] for row in rows], [row["id"] for row in rows])
        return written


def run(config) -> dict:
    """The ``electra-finetune`` job for ``config`` (an ``electra.configs.FinetuneConfig``)."""
    from electra.training.experiment import run_task
    if config.kind == "tagging":
        from electra.tasks.tagging import TaggingTask
        return run_task(TaggingTask(config), config)
    from electra.tasks.classification import ClassificationTask
    return run_task(ClassificationTask(config), config)

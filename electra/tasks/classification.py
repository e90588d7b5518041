"""Sentence (pair) classification and regression as a task: the GLUE tasks in their own file layouts
(``--task=glue/<name>``) and your own CSV/TSV/JSON Lines data (``--task=classification`` / ``regression`` with
``--data.text_column``, ``--data.text_pair_column``, ``--data.label_column``).

Model: ``electra.modeling.ElectraForSequenceClassification``; loss: softmax cross-entropy, or the mean squared
error of one output for regression (``electra.tasks.finetuning.sequence_loss``). Scores: GLUE's metrics for a GLUE
task (``electra.classification.metrics.glue_scores``), else accuracy / macro-F1 / MCC (classification) or
Pearson / Spearman (regression). Outputs in ``output_dir`` beside the loop's: ``model/`` (labels in its
metadata), ``eval_results.json``, ``predictions.jsonl`` (``{"id", "label", "probabilities"}`` or
``{"id", "score"}`` for regression) and ``glue_submission/<Task>.tsv`` for a GLUE test file.
"""
from __future__ import annotations

import numpy as np

from electra.tasks.finetuning import FinetuneTask, sequence_loss


class ClassificationTask(FinetuneTask):

    def __init__(self, config):
        super().__init__(config)
        self.regression = config.kind == "regression"
        self.name = config.kind
        self.metric_names = ("mse",) if self.regression else ("accuracy",)

    def read(self, path: str, labelled: bool) -> list:
        from electra.classification.data import read_glue, read_table
        c, d = self.config, self.config.data
        if c.glue_task and d.format == "auto":
            return read_glue(c.glue_task, path, require_labels=labelled)
        return read_table(path, d.text_column, d.text_pair_column, d.label_column if labelled else None,
                          regression=self.regression, format=None if d.format == "auto" else d.format)

    def label_set_of(self, records: list, path: str):
        from electra.classification.data import GLUE_TASKS, LabelSet
        if self.regression:
            return None
        if self.config.glue_task:
            return GLUE_TASKS[self.config.glue_task].label_set()
        return LabelSet.from_examples(records, path)

    def encode(self, records: list, path: str) -> dict[str, np.ndarray]:
        from electra.classification.data import encode
        return encode(records, self.tokenizer, self.config.data.max_seq_length, self.labels, path=path)

    def build_model(self, seed: int | None = None):
        from electra.modeling import ElectraForSequenceClassification
        return ElectraForSequenceClassification(self.model_config, 1 if self.regression else len(self.labels.names),
                                                pooler_activation=self.config.head.pooler_activation,
                                                dtype=self.config.dtype_policy)

    def loss(self, model, batch):
        return sequence_loss(model(batch, training=True)["logits"], batch["labels"], self.regression)

    def finetune_settings(self) -> dict:
        d = self.config.data
        return {**super().finetune_settings(), "pooler_activation": self.config.head.pooler_activation,
                "text_column": d.text_column, "text_pair_column": d.text_pair_column}

    def predictions(self, logits: np.ndarray) -> np.ndarray:
        return logits[:, 0] if self.regression else logits.argmax(-1)

    def score(self, records: list, arrays: dict, logits: np.ndarray) -> dict[str, float]:
        from electra.classification import metrics
        labels, predictions = arrays["labels"], self.predictions(logits)
        if self.config.glue_task:
            scores = metrics.glue_scores(self.config.glue_task, labels, predictions)
        elif self.regression:
            scores = metrics.regression_scores(labels, predictions)
        else:
            scores = metrics.classification_scores(labels, predictions, len(self.labels.names))
        if "score" not in scores:
            scores["score"] = (scores["pearson"] + scores["spearman"]) / 2 if self.regression else scores["accuracy"]
        return {k: float(v) for k, v in scores.items()}

    def prediction_records(self, records: list, arrays: dict, logits: np.ndarray) -> list[dict]:
        if self.regression:
            return [{"id": r.guid, "score": float(v)} for r, v in zip(records, logits[:, 0])]
        from electra.serving import softmax
        names, probabilities = self.labels.names, softmax(logits)
        return [{"id": r.guid, "label": names[int(p.argmax())],
                 "probabilities": {n: float(x) for n, x in zip(names, p)}} for r, p in zip(records, probabilities)]


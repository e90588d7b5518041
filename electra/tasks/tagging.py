"""Token tagging as a task: named entities (BIO/IOB2 or BIOES tags; CoNLL-2003 and WNUT-17 column files) and parts
of speech (Universal Dependencies ``.conllu``, UPOS or XPOS), with ``--task=tagging``.

Each word's tag sits on its first sub-token (the Hugging Face / google-research convention; the others carry no
label and no loss); a sentence longer than a window is split into windows ``--data.stride`` sub-tokens apart and
each word is predicted from the window where it has the most context (``electra.tagging.data.merge_logits``).
Model: ``electra.modeling.ElectraForTokenClassification``; loss: ``electra.tasks.finetuning.token_loss``. Scores:
entity precision/recall/F1 as seqeval's (BIO/BIOES tags) and token accuracy (``electra.tagging.metrics``).
Outputs beside the loop's: ``model/``, ``eval_results.json``, ``predictions.jsonl`` (``{"id", "words", "tags"}``).
"""
from __future__ import annotations

import numpy as np

from electra.tasks.finetuning import FinetuneTask, token_loss


class TaggingTask(FinetuneTask):
    name = "tagging"
    metric_names = ("accuracy",)

    def read(self, path: str, labelled: bool) -> list:
        from electra.tagging.data import read_tagged
        d = self.config.data
        fmt = self.file_format(path)
        if fmt == "conllu":
            return read_tagged(path, format=fmt, field=d.conllu_field)
        return read_tagged(path, format=fmt, tag_column=d.tag_column if labelled else None)

    def file_format(self, path: str) -> str:
        fmt = self.config.data.format
        fmt = fmt if fmt != "auto" else "conllu" if path.lower().endswith(".conllu") else "conll"
        if fmt not in ("conll", "conllu"):
            raise ValueError(f"--data.format={fmt}: tagging reads conll or conllu files")
        return fmt

    def label_set_of(self, records: list, path: str):
        from electra.tagging.data import UPOS_TAGS, tag_label_set
        upos = self.file_format(path) == "conllu" and self.config.data.conllu_field == "upos"
        return tag_label_set(records, path, known=UPOS_TAGS if upos else ())

    def encode(self, records: list, path: str) -> dict[str, np.ndarray]:
        from electra.tagging.data import encode
        return encode(records, self.tokenizer, self.config.data.max_seq_length, self.labels, self.stride)

    @property
    def stride(self) -> int:
        from electra.export import default_stride
        d = self.config.data
        return d.stride or default_stride(d.max_seq_length)

    def build_model(self, seed: int | None = None):
        from electra.modeling import ElectraForTokenClassification
        return ElectraForTokenClassification(self.model_config, len(self.labels.names),
                                             dtype=self.config.dtype_policy)

    def loss(self, model, batch):
        return token_loss(model(batch, training=True)["logits"], batch["labels"])

    def finetune_settings(self) -> dict:
        from electra.tagging.data import tag_scheme
        return {**super().finetune_settings(), "stride": self.stride,
                "tag_scheme": tag_scheme(self.labels.names) if self.labels is not None else None}

    def word_tags(self, records: list, arrays: dict, logits: np.ndarray) -> list[list[str]]:
        from electra.tagging.data import merge_logits
        names = self.labels.names
        return [[names[i] for i in word_logits.argmax(-1)] for word_logits in merge_logits(arrays, logits,
                                                                                           len(records))]

    def score(self, records: list, arrays: dict, logits: np.ndarray) -> dict[str, float]:
        from electra.tagging.data import tag_scheme
        from electra.tagging.metrics import tagging_scores
        scheme = tag_scheme(self.labels.names)
        scores = tagging_scores([list(r.tags) for r in records], self.word_tags(records, arrays, logits), scheme)
        flat = {k: float(v) for k, v in scores.items() if isinstance(v, (int, float))}
        flat["score"] = flat.get("f1", flat["accuracy"])
        return flat

    def prediction_records(self, records: list, arrays: dict, logits: np.ndarray) -> list[dict]:
        tags = self.word_tags(records, arrays, logits)
        return [{"id": f"{r.source}:{r.line}", "words": list(r.words), "tags": t} for r, t in zip(records, tags)]


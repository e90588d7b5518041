"""SQuAD v1.1/v2.0 fine-tuning as a task, and the whole ``run_squad`` job around it (train, predict, evaluate,
export).

Loss: mean of the start and end cross-entropies (v2: impossible questions point at ``[CLS]``), plus 0.5 × the
answer-class sigmoid cross-entropy when the model has that output. Evaluation: predictions through
``electra.squad.postprocess`` scored by the official-equivalent ``electra.squad.metrics``. Outputs in
``output_dir``: ``checkpoints/``, ``train_log.jsonl``, ``model/`` (the fine-tuned model directory),
``predictions.json``, ``nbest_predictions.json``, ``null_odds.json`` (v2), ``eval_results.json``,
``run_summary.json``; the SavedModel in ``export_dir`` when given.
"""
from __future__ import annotations

import dataclasses
import logging
import os

import tensorflow as tf

from electra.configs import SquadConfig
from electra.io import write_json
from electra.runtime import resolve_xla
from electra.squad.data import load_features, load_json
from electra.squad.inference import predict_logits
from electra.squad.metrics import evaluate
from electra.squad.postprocess import decode, write_predictions
from electra.tasks.base import Task

log = logging.getLogger("electra.squad")
TRAIN_KEYS = ("input_ids", "input_mask", "segment_ids", "start_positions", "end_positions", "is_impossible")


def span_loss(outputs, batch, answer_class_weight: float = 0.5) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """``(loss, metrics)``: (CE_start + CE_end) / 2, plus ``answer_class_weight`` × BCE(answerable) when the model
    has an answer-class / answerability output. The same for the span head and the joint head (whose training-mode
    end logits are conditioned on the gold start)."""
    start = tf.keras.losses.sparse_categorical_crossentropy(batch["start_positions"], outputs["start_logits"],
                                                            from_logits=True)
    end = tf.keras.losses.sparse_categorical_crossentropy(batch["end_positions"], outputs["end_logits"],
                                                          from_logits=True)
    span = tf.reduce_mean((start + end) / 2.0)
    answerable = tf.constant(0.0)
    if "answerable_logits" in outputs:
        labels = 1.0 - tf.cast(batch["is_impossible"], tf.float32)
        answerable = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, outputs["answerable_logits"]))
    return span + answer_class_weight * answerable, {"span_loss": span, "answerable_loss": answerable}


class SquadTask(Task):
    name = "squad"
    metric_names = ("span_loss", "answerable_loss")
    outputs = ("model", "predictions.json", "nbest_predictions.json", "null_odds.json", "eval_results.json",
               "run_summary.json")

    def __init__(self, config: SquadConfig):
        super().__init__(config)
        self.trains = config.mode in ("train", "train_eval")
        self.train_features = None
        self._eval_features = self._eval_data = None

    # --- inputs -------------------------------------------------------------------------------------------------
    def prepare(self, distributor) -> None:
        c = self.config
        self.resolve_fine_tuning_inputs()
        self.windows = dict(max_seq_length=c.data.max_seq_length, doc_stride=c.data.doc_stride,
                            max_query_length=c.data.max_query_length)
        self.cache_dir = c.data.cache_dir or os.path.join(c.output_dir, "feature_cache")
        t = c.trainer
        if c.data.predict_file and (c.mode != "train" or t.eval_every > 0 or t.eval_at_epoch_end or t.eval_at_start):
            # read and checked now, so a bad predict file stops the job before training, not after it
            self._eval_features = self._features(distributor, c.data.predict_file, is_training=False, others=False)
            if distributor.is_chief:
                self._eval_data = load_json(c.data.predict_file, "SQuAD file")["data"]
        if self.trains:
            self.train_features = self._features(distributor, c.data.train_file, is_training=True)
            per_worker = max(1, len(self.train_features) // distributor.size)
            self.train_batch_size = min(c.data.train_batch_size, per_worker)
            self.steps_per_epoch = max(1, per_worker // self.train_batch_size)

    def input_fingerprint(self) -> dict:
        """The training file and what turns it into batches: the windows, the version, the lower-casing, the
        per-worker batch size and the number of features (the size of the shuffled index stream)."""
        from electra.tasks.base import input_fingerprint
        d = self.config.data
        return input_fingerprint([d.train_file], train_batch_size=self.train_batch_size,
                                 features=len(self.train_features), version_2_with_negative=d.version_2_with_negative,
                                 do_lower_case=self.tokenizer.lower_case, **self.windows)

    def _features(self, distributor, squad_file: str, is_training: bool, others: bool = True):
        """Rank 0 builds and caches the features; the other ranks then read its cache (one writer, one
        tokenization), unless ``others`` is False (what rank 0 alone uses: the predict file's)."""
        settings = dict(is_training=is_training, version_2_with_negative=self.config.data.version_2_with_negative,
                        cache_dir=self.cache_dir, **self.windows)
        features, error = None, None
        if distributor.is_chief:
            try:
                features = load_features(squad_file, self.tokenizer, **settings)
            except (ValueError, OSError) as e:
                error = e
        distributor.check_all(error, f"building the features of {squad_file}")
        if others and not distributor.is_chief:
            features = load_features(squad_file, self.tokenizer, **settings)
        return features

    # --- model --------------------------------------------------------------------------------------------------
    def build_model(self, seed: int | None = None):
        from electra.modeling import ElectraForQuestionAnswering
        c = self.config
        # the joint head decides "no answer" with its answer class, so a v2 joint model always has it
        answerability = c.data.version_2_with_negative if c.head.joint else c.head.answerability
        return ElectraForQuestionAnswering(self.model_config, answerability=answerability, joint=c.head.joint,
                                           beam_size=c.decoding.beam_size, dtype=c.dtype_policy)

    def train_dataset(self, rank: int, world_size: int, seed: int) -> tf.data.Dataset:
        """Feature indices are sharded, shuffled per epoch and batched; the arrays are gathered after. The iterator
        state is a shuffle buffer of indices, so a checkpoint stays small and a resume continues mid-epoch."""
        arrays = {k: tf.constant(self.train_features.arrays[k]) for k in TRAIN_KEYS}
        indices = tf.data.Dataset.range(len(self.train_features))
        if world_size > 1:
            indices = indices.shard(world_size, rank)
        size = max(1, len(self.train_features) // world_size)
        indices = indices.shuffle(size, seed=seed, reshuffle_each_iteration=True).repeat()
        return indices.batch(self.train_batch_size, drop_remainder=True).map(
            lambda i: {k: tf.gather(v, i) for k, v in arrays.items()})

    def loss(self, model, batch):
        return span_loss(model(batch, training=True), batch, self.config.head.answer_class_weight)

    # --- evaluation ---------------------------------------------------------------------------------------------
    def predict(self, model):
        c = self.config
        if self._eval_features is None:
            self._eval_features = load_features(c.data.predict_file, self.tokenizer, is_training=False,
                                                version_2_with_negative=c.data.version_2_with_negative,
                                                cache_dir=self.cache_dir, **self.windows)
        features = self._eval_features
        outputs = predict_logits(model, features, c.data.predict_batch_size, xla=resolve_xla(c.trainer.xla))
        return decode(features, outputs, n_best_size=c.decoding.n_best_size,
                      max_answer_length=c.decoding.max_answer_length,
                      version_2_with_negative=c.data.version_2_with_negative,
                      null_score_diff_threshold=c.decoding.null_score_diff_threshold)

    def score(self, predictions, null_odds) -> dict:
        c = self.config
        version = "2.0" if c.data.version_2_with_negative else "1.1"
        if self._eval_data is None:
            self._eval_data = load_json(c.data.predict_file, "SQuAD file")["data"]
        return evaluate(self._eval_data, predictions, version, null_odds if version == "2.0" else None,
                        na_prob_thresh=c.decoding.null_score_diff_threshold)

    def evaluate(self, model, step: int) -> dict[str, float]:
        """EM/F1 (and for v2 the best thresholds) on ``data.predict_file``, with the official-equivalent scorer."""
        if not self.config.data.predict_file:
            return {}
        predictions, _, null_odds = self.predict(model)
        return {k: v for k, v in self.score(predictions, null_odds).items() if isinstance(v, (int, float))}

    def check_heads(self, model) -> None:
        """Evaluation and prediction without training must run the head the weights hold: the span head
        (``qa_outputs``) or the joint head (``start_logits``/``end_logits``), and an answer class only where the
        weights have one. Any other head would be left as initialized, and EM/F1 would score random logits; the
        error says which flags build the weights' head. Weights without a SQuAD head (an encoder, a
        discriminator) are not checked: evaluating them is evaluating an untrained head, knowingly."""
        from electra.modeling.heads import QAHead
        held, built = self.source.qa_head, QAHead.of_weights(model.named_variables())
        missing_class = built.answerability and not (held and held.answerability)
        if held is None or (held.joint == built.joint and not missing_class):
            return
        flags = [f"--head.joint={str(held.joint).lower()}"] + (
            ["--head.answerability=false"] if not held.joint and missing_class else [])
        raise ValueError(
            f"--init {self.source.path} holds {held}, but this run builds {built}: --mode={self.config.mode} would "
            f"score a head that was never trained. Pass {' '.join(flags)}"
            + (" (or evaluate as SQuAD v1.1: the joint head gets its answer class from "
               "--data.version_2_with_negative)" if held.joint and missing_class else "") + ".")

    # --- the rest of the job ------------------------------------------------------------------------------------
    def finish(self, summary: dict, model, distributor) -> dict:
        """After training (or instead of it): the model directory, predictions, EM/F1 and the export (rank 0)."""
        c = self.config
        result: dict = {"initialized_from": summary.get("initialized_from") if summary else None}
        if self.train_features is not None:
            result["train_features"] = dataclasses.asdict(self.train_features.stats)
            result["train"] = summary
        if not distributor.is_chief:
            return result
        if model is None:
            model = self.build_model()
            self.check_heads(model)
            result["initialized_from"] = self.initialize(model)
        if self.trains:
            result["model_dir"] = self.save_model(model, os.path.join(c.output_dir, "model"), summary.get("step"))
            best = os.path.join(c.output_dir, "best")
            if os.path.isdir(best):
                result["best_model_dir"] = best
        if c.mode in ("eval", "prediction", "train_eval"):
            predictions, nbest, null_odds = self.predict(model)
            result["prediction_files"] = write_predictions(c.output_dir, predictions, nbest, null_odds)
            if c.mode != "prediction":
                result["eval"] = self.score(predictions, null_odds)
                write_json(os.path.join(c.output_dir, "eval_results.json"), result["eval"])
                log.info("eval: %s", result["eval"])
        if c.export_dir:
            from electra.export import export_saved_model
            result["export_dir"] = export_saved_model(
                model, c.export_dir, self.vocab_file, do_lower_case=self.tokenizer.lower_case,
                n_best_size=c.decoding.n_best_size, max_answer_length=c.decoding.max_answer_length,
                version_2_with_negative=c.data.version_2_with_negative,
                null_score_diff_threshold=c.decoding.null_score_diff_threshold, **self.windows)
        write_json(os.path.join(c.output_dir, "run_summary.json"), result)
        return result


def run(config: SquadConfig) -> dict:
    from electra.training.experiment import run_task
    return run_task(SquadTask(config), config)

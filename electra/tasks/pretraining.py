"""Replaced-token detection (ELECTRA pretraining): the generator's masked-LM loss plus ``disc_weight`` × the
discriminator's per-token sigmoid loss, with the metrics the papers report.

Inputs are the dynamically masked batches of ``electra.data.pretraining``; the model is
``ElectraPretrainingModel``, which returns logits and its sample, never losses.
"""
from __future__ import annotations

from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from electra.configs import PretrainConfig
from electra.data.masking import MaskingConfig
from electra.data.pretraining import SpecialIds, check_records, list_files, pretraining_dataset
from electra.modeling import ElectraPretrainingModel
from electra.tasks.base import Task

METRICS = ("mlm_loss", "disc_loss", "gen_accuracy", "disc_accuracy", "disc_precision", "disc_recall")


def sparse_cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """``tf.nn.sparse_softmax_cross_entropy_with_logits`` for ``labels [N]`` and float32 ``logits [N, V]``, with
    its gradient written out: ``(softmax − one_hot) · g`` as one scaling of the kept ``exp`` and a scatter of
    ``N`` values; on the generator's ``[B·P, V]`` logits this runs faster on a CPU than TensorFlow's fused
    kernel (benchmarks/README.md). Out-of-range labels raise, as there."""
    @tf.custom_gradient
    def cross_entropy(logits):
        top = tf.reduce_max(logits, -1, keepdims=True)
        exp = tf.exp(logits - top)                                                      # [N, V]
        total = tf.reduce_sum(exp, -1)                                                  # [N]
        loss = tf.math.log(total) + top[:, 0] - tf.gather(logits, labels, batch_dims=1)

        def grad(upstream):                                                             # [N]
            at_labels = tf.stack([tf.range(tf.shape(labels)[0]), labels], axis=1)
            return tf.tensor_scatter_nd_sub(exp * (upstream / total)[:, tf.newaxis], at_labels, upstream)
        return loss, grad
    return cross_entropy(logits)


def masked_lm_loss(logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Weighted mean cross-entropy of ``logits [B, P, V]`` against ``labels [B, P]``."""
    weights = tf.cast(weights, tf.float32)
    vocab = tf.shape(logits)[-1]
    per_token = tf.reshape(sparse_cross_entropy(tf.reshape(tf.cast(labels, tf.int32), [-1]),
                                                tf.reshape(tf.cast(logits, tf.float32), [-1, vocab])),
                           tf.shape(labels))
    return tf.reduce_sum(per_token * weights) / (tf.reduce_sum(weights) + 1e-6)


def rtd_loss(logits: tf.Tensor, labels: tf.Tensor, input_mask: tf.Tensor) -> tf.Tensor:
    """Sigmoid cross-entropy ``[B, S]`` averaged over non-pad tokens."""
    mask = tf.cast(input_mask, tf.float32)
    per_token = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_sum(per_token * mask) / (tf.reduce_sum(mask) + 1e-6)


def rtd_metrics(logits: tf.Tensor, labels: tf.Tensor, input_mask: tf.Tensor) -> dict[str, tf.Tensor]:
    mask = tf.cast(input_mask, tf.float32)
    predicted = tf.cast(logits > 0, tf.float32) * mask
    true_positive = tf.reduce_sum(predicted * labels)
    correct = tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32) * mask)
    return {"disc_accuracy": correct / (tf.reduce_sum(mask) + 1e-6),
            "disc_precision": tf.math.divide_no_nan(true_positive, tf.reduce_sum(predicted)),
            "disc_recall": tf.math.divide_no_nan(true_positive, tf.reduce_sum(labels))}


def rtd_objective(outputs, batch, gen_weight: float, disc_weight: float) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """``(gen_weight × MLM + disc_weight × RTD, metrics)`` from the model's outputs and the masked batch."""
    mlm_ids = tf.cast(batch["masked_lm_ids"], tf.int32)
    mlm_weights = tf.cast(batch["masked_lm_weights"], tf.float32)
    mlm = masked_lm_loss(outputs["gen_logits"], mlm_ids, mlm_weights)
    disc = rtd_loss(outputs["disc_logits"], outputs["rtd_labels"], batch["input_mask"])
    correct = tf.cast(tf.equal(tf.argmax(outputs["gen_logits"], -1, output_type=tf.int32), mlm_ids), tf.float32)
    metrics = {"mlm_loss": mlm, "disc_loss": disc,
               "gen_accuracy": tf.reduce_sum(correct * mlm_weights) / (tf.reduce_sum(mlm_weights) + 1e-6),
               **rtd_metrics(outputs["disc_logits"], outputs["rtd_labels"], batch["input_mask"])}
    return gen_weight * mlm + disc_weight * disc, metrics


def roc_auc(scores, labels) -> float:
    """Exact ROC-AUC of ``scores`` for binary ``labels`` (1 positive): the probability that a random positive scores
    above a random negative, ties counting one half (the Mann-Whitney U statistic over n_pos × n_neg, from average
    ranks). NaN when either class is absent."""
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels).ravel() > 0.5
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)                          # 1-based rank of the last member of each tied group
    average_rank = (ends - (counts - 1) / 2.0)[inverse]
    u = average_rank[labels].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


class PretrainingTask(Task):
    name = "pretraining"
    metric_names = METRICS

    def __init__(self, config: PretrainConfig, default_data: Callable[..., tuple[str, str, str]] | None = None):
        """``default_data(output_dir, prepare)`` → (train glob, validation glob, vocab): the data to use when
        ``--data.train_files`` is not given (the CLI passes ``data_prep.embedded.default_pretraining_data``; rank 0
        prepares, the other ranks read, ``prepare=False``)."""
        super().__init__(config)
        self.default_data = default_data
        self._validation = None

    # --- inputs -------------------------------------------------------------------------------------------------
    def prepare(self, distributor) -> None:
        c = self.config
        train, validation, vocab = c.data.train_files, c.data.validation_files, c.data.vocab_file
        if c.init:
            self.resolve_init(c.init)
            if self.source.architecture not in (None, "pretraining"):
                from electra.interop import WeightLoadError
                raise WeightLoadError(
                    f"--init={c.init} holds a {self.source.architecture}, no generator: continued pretraining starts "
                    f"from both networks (a pretraining run or checkpoint, google:<TF1 pretraining checkpoint>, or "
                    f"hf:<discriminator dir>,<generator dir>)")
            vocab = vocab or self.source.vocab_file
        if train is None:
            if self.default_data is None:
                raise ValueError("--data.train_files is required")
            if distributor.is_chief:
                train, validation, default_vocab = self.default_data(c.output_dir, prepare=True)
            distributor.barrier()
            if not distributor.is_chief:
                train, validation, default_vocab = self.default_data(c.output_dir, prepare=False)
            vocab = vocab or default_vocab
        if vocab is None:
            raise ValueError("--data.vocab_file is required with --data.train_files (or an --init source that "
                             "carries its vocabulary)")
        self.load_vocabulary(vocab)
        self.special = SpecialIds.from_tokenizer(self.tokenizer)
        self.model_config = self.resolve_model_config()
        if c.model.generator_fraction is not None:
            self.model_config = self.model_config.replace(generator_fraction=c.model.generator_fraction)
        self.files = list_files(train, "train")
        self.validation = list_files(validation, "validation") if validation and c.trainer.eval_every else []
        if self.validation:   # read now: a bad validation file stops the job before training, not at its first eval
            self.validation = check_records(self.validation, c.data.max_seq_length, self.tokenizer.vocab_size,
                                            c.data.skip_corrupt_records)
        self.masking = MaskingConfig(mask_prob=c.data.mask_prob, mask_token_prob=c.data.mask_token_prob)
        if c.data.skip_corrupt_records:
            from electra.data.pretraining import corruption_report
            self.corruption = corruption_report(self.files + self.validation)

    def input_fingerprint(self) -> dict:
        """The training files in their order and every setting of ``pretraining_dataset`` but the seed and the
        sharding (the loop checks the number of workers itself)."""
        from electra.tasks.base import input_fingerprint
        d = self.config.data
        return input_fingerprint(self.files, train_batch_size=d.train_batch_size, max_seq_length=d.max_seq_length,
                                 shuffle_buffer=d.shuffle_buffer, mask_prob=d.mask_prob,
                                 mask_token_prob=d.mask_token_prob, skip_corrupt_records=d.skip_corrupt_records)

    def explain_data_loss(self, error):
        """A ``DataLossError`` from the reader → ``CorruptRecordError`` naming the file, record and byte offset."""
        from electra.data.pretraining import explain_data_loss
        return explain_data_loss(self.files, error)

    # --- model --------------------------------------------------------------------------------------------------
    def build_model(self, seed: int) -> keras.Model:
        return ElectraPretrainingModel(self.model_config, temperature=self.config.objective.temperature, seed=seed,
                                       dtype=self.config.dtype_policy)

    def train_dataset(self, rank: int, world_size: int, seed: int) -> tf.data.Dataset:
        c = self.config
        return pretraining_dataset(self.files, c.data.train_batch_size, c.data.max_seq_length, self.masking,
                                   self.special, seed=seed, rank=rank, num_workers=world_size,
                                   shuffle_buffer=c.data.shuffle_buffer, vocab_size=self.tokenizer.vocab_size,
                                   **self._skip())

    def _skip(self) -> dict:
        return {"skip_corrupt_records": True} if self.config.data.skip_corrupt_records else {}

    # --- objective ----------------------------------------------------------------------------------------------
    def loss(self, model, batch):
        o = self.config.objective
        return rtd_objective(model(batch, training=True), batch, o.gen_weight, o.disc_weight)

    def evaluate(self, model, step: int) -> dict[str, float]:
        """Validation loss and metrics over at most ``trainer.eval_steps`` held-out batches: no dropout, a
        stateless generator sample (the training RNG stream is untouched). The per-batch metrics are averaged;
        ``disc_auc`` is the exact ROC-AUC of the discriminator's logits over every evaluated (non-pad) token, and
        ``disc_baseline_accuracy`` the accuracy of calling every token original (the share not replaced) — the
        number ``disc_accuracy`` must beat. An early discriminator's logits are mostly negative, so its recall at
        the 0.5 threshold is near 0 even when it already ranks replaced tokens above original ones; the AUC shows
        that ranking."""
        if not self.validation:
            return {}
        c = self.config
        if self._validation is None:   # built and traced once, reused at every evaluation
            o = c.objective

            @tf.function
            def batch_metrics(batch, index):
                outputs = model(batch, training=False,
                                sample_seed=tf.stack([tf.cast(c.trainer.seed, tf.int64), index]))
                loss, metrics = rtd_objective(outputs, batch, o.gen_weight, o.disc_weight)
                keep = tf.cast(batch["input_mask"], tf.bool)
                tokens = {"logits": tf.boolean_mask(tf.cast(outputs["disc_logits"], tf.float32), keep),
                          "labels": tf.boolean_mask(tf.cast(outputs["rtd_labels"], tf.float32), keep)}
                return {"loss": loss, **metrics}, tokens
            self._validation = (pretraining_dataset(
                self.validation, c.data.train_batch_size, c.data.max_seq_length, self.masking, self.special,
                training=False, vocab_size=self.tokenizer.vocab_size, **self._skip()), batch_metrics)
        dataset, batch_metrics = self._validation
        totals, count, logits, labels = None, 0, [], []
        try:
            for index, batch in enumerate(dataset.take(c.trainer.eval_steps)):
                values, tokens = batch_metrics(batch, tf.constant(index, tf.int64))
                totals = values if totals is None else {k: totals[k] + v for k, v in values.items()}
                logits.append(tokens["logits"].numpy())
                labels.append(tokens["labels"].numpy())
                count += 1
        except tf.errors.DataLossError as e:
            from electra.data.pretraining import explain_data_loss
            raise explain_data_loss(self.validation, e) from e
        if not count:
            return {}
        metrics = {k: float(v) / count for k, v in totals.items()}
        labels = np.concatenate(labels)
        metrics["disc_auc"] = roc_auc(np.concatenate(logits), labels)
        metrics["disc_baseline_accuracy"] = float(np.mean(labels == 0)) if labels.size else float("nan")
        return metrics


def run(config: PretrainConfig, default_data=None) -> dict:
    """``run_pretraining``: collective when distributed; the launch, the run directory's lock and (with several
    ranks) that every rank sees the run directory are checked before anything is written."""
    from electra.training.experiment import run_task
    return run_task(PretrainingTask(config, default_data), config)

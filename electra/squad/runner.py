"""The whole SQuAD job (what ``run_scripts/run_squad.py`` calls): build the model, load weights, fine-tune,
predict, evaluate, export.

Modes: ``train``, ``eval`` (predict + EM/F1 on ``predict_file``), ``prediction`` (predictions only) and
``train_eval``. Outputs in ``output_dir``: ``checkpoints/ckpt-N`` (one per epoch), ``train_log.jsonl``,
``model_config.json``, the vocabulary, ``predictions.json``, ``nbest_predictions.json``, ``null_odds.json`` (v2),
``eval_results.json``; the SavedModel in ``export_dir`` when given.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil

import keras

from electra.configs import PRECISIONS, ModelConfig, preset
from electra.squad.data import load_features
from electra.squad.data import load_json
from electra.squad.metrics import evaluate
from electra.squad.postprocess import postprocess, write_predictions
from electra.squad.task import FineTuneConfig, fine_tune, predict_logits
from electra.tokenization import load_tokenizer
from electra.training.distribution import make_distributor
from electra.training.rundir import exclusive_run_directory

log = logging.getLogger("electra.squad")
MODES = ("train", "eval", "prediction", "train_eval")


@dataclasses.dataclass
class SquadRunConfig:
    output_dir: str
    vocab_file: str
    mode: str = "train_eval"
    train_file: str | None = None
    predict_file: str | None = None
    init_checkpoint: str | None = None
    hf_checkpoint: str | None = None
    model_config_file: str | None = None
    model_size: str = "base"
    do_lower_case: bool = True
    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0
    answerability_head: bool = False
    learning_rate: float = 1e-4
    layerwise_lr_decay: float = 0.8
    weight_decay: float = 0.01
    warmup_proportion: float = 0.1
    num_train_epochs: float = 2.0
    max_steps: int = 0
    train_batch_size: int = 32
    predict_batch_size: int = 64
    precision: str = "fp32"
    xla: bool = False
    seed: int = 42
    horovod: bool | None = None      # None: distributed exactly when a multi-process launcher started us
    export_dir: str | None = None
    cache_dir: str | None = None

    def validate(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode={self.mode!r} (choose one of {MODES})")
        if self.mode in ("train", "train_eval") and not self.train_file:
            problems.append("train_file is required to train")
        if self.mode in ("eval", "prediction", "train_eval") and not self.predict_file:
            problems.append("predict_file is required to predict")
        if self.precision not in PRECISIONS:
            problems.append(f"precision={self.precision!r} (choose one of {sorted(PRECISIONS)})")
        if self.doc_stride < 1 or self.max_seq_length < self.max_query_length + 4:
            problems.append("window settings: need doc_stride >= 1 and max_seq_length >= max_query_length + 4")
        for name in ("train_file", "predict_file", "vocab_file", "model_config_file"):
            path = getattr(self, name)
            if path and not os.path.exists(path):
                problems.append(f"{name}={path} does not exist")
        if problems:
            raise ValueError("run_squad: " + "; ".join(problems))


def build_model_config(cfg: SquadRunConfig, vocab_size: int) -> ModelConfig:
    if cfg.model_config_file:
        config = ModelConfig.from_json_file(cfg.model_config_file)
    elif cfg.hf_checkpoint and os.path.exists(os.path.join(cfg.hf_checkpoint, "config.json")):
        from electra.interop import config_from_hf
        with open(os.path.join(cfg.hf_checkpoint, "config.json"), encoding="utf-8") as f:
            config = config_from_hf(json.load(f))
    elif cfg.init_checkpoint and os.path.exists(_sibling_config(cfg.init_checkpoint)):
        config = ModelConfig.from_json_file(_sibling_config(cfg.init_checkpoint))
    elif (cfg.mode in ("eval", "prediction") and not cfg.init_checkpoint and not cfg.hf_checkpoint
          and os.path.exists(os.path.join(cfg.output_dir, "model_config.json"))):
        config = ModelConfig.from_json_file(os.path.join(cfg.output_dir, "model_config.json"))
    else:
        config = preset(cfg.model_size, vocab_size=max(vocab_size, 1))
    config.validate_vocab(vocab_size)
    return config


def _sibling_config(checkpoint: str) -> str:
    """``model_config.json`` beside a checkpoint (extracted discriminator) or in its run directory (a pretraining
    ``<run>/checkpoints/ckpt-N``); a path that does not exist when there is none."""
    directory = checkpoint if os.path.isdir(checkpoint) else os.path.dirname(checkpoint)
    candidates = [os.path.join(directory, "model_config.json"),
                  os.path.join(os.path.dirname(os.path.abspath(directory)), "model_config.json")]
    return next((c for c in candidates if os.path.exists(c)), candidates[0])


def load_initial_weights(model, cfg: SquadRunConfig) -> str | None:
    """``init_checkpoint``: our pretraining checkpoint, an extracted discriminator ``model.ckpt``, a fine-tuned
    ``checkpoints/`` directory, or a Google TF1 checkpoint; ``hf_checkpoint``: a safetensors directory."""
    from electra.interop import load_google_checkpoint, load_hf_electra
    from electra.interop.weights import WeightLoadError
    from electra.training.checkpointing import load_model_weights

    if cfg.hf_checkpoint:
        load_hf_electra(model, cfg.hf_checkpoint)
        return cfg.hf_checkpoint
    if cfg.init_checkpoint:
        try:
            load_model_weights(model, cfg.init_checkpoint)
        except WeightLoadError as ours:
            if "holds no model weights" not in str(ours):
                raise
            load_google_checkpoint(model, cfg.init_checkpoint)
        return cfg.init_checkpoint
    return None


def run(cfg: SquadRunConfig) -> dict:
    """Collective when distributed: launch, run-directory lock and shared run directory are checked before anything
    is written; the lock is held until the run returns."""
    cfg.validate()
    distributor = make_distributor(cfg.horovod)
    with exclusive_run_directory(distributor, cfg.output_dir):
        return _run(cfg, distributor)


def _features(distributor, squad_file: str, tokenizer, cache_dir: str, **settings):
    """Rank 0 builds and caches the features; the other ranks then read its cache (one writer, one tokenization)."""
    features, error = None, None
    if distributor.is_chief:
        try:
            features = load_features(squad_file, tokenizer, cache_dir=cache_dir, **settings)
        except (ValueError, OSError) as e:
            error = e
    distributor.check_all(error, f"building the features of {squad_file}")
    if not distributor.is_chief:
        features = load_features(squad_file, tokenizer, cache_dir=cache_dir, **settings)
    return features


def _run(cfg: SquadRunConfig, distributor) -> dict:
    keras.utils.set_random_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.vocab_file, lower_case=cfg.do_lower_case)
    config = build_model_config(cfg, tokenizer.vocab_size)
    from electra.modeling import ElectraForQuestionAnswering
    model = ElectraForQuestionAnswering(config, answerability=cfg.answerability_head,
                                        dtype=PRECISIONS[cfg.precision])
    source = load_initial_weights(model, cfg)
    result: dict = {"initialized_from": source}
    windows = dict(max_seq_length=cfg.max_seq_length, doc_stride=cfg.doc_stride,
                   max_query_length=cfg.max_query_length)
    cache_dir = cfg.cache_dir or os.path.join(cfg.output_dir, "feature_cache")
    if distributor.is_chief:
        config.to_json_file(os.path.join(cfg.output_dir, "model_config.json"))
        vocab_copy = os.path.join(cfg.output_dir, os.path.basename(cfg.vocab_file))
        if os.path.abspath(vocab_copy) != os.path.abspath(cfg.vocab_file):
            shutil.copyfile(cfg.vocab_file, vocab_copy)

    if cfg.mode in ("train", "train_eval"):
        train = _features(distributor, cfg.train_file, tokenizer, cache_dir, is_training=True,
                          version_2_with_negative=cfg.version_2_with_negative, **windows)
        result["train_features"] = dataclasses.asdict(train.stats)
        result["train"] = fine_tune(model, train, FineTuneConfig(
            learning_rate=cfg.learning_rate, layerwise_lr_decay=cfg.layerwise_lr_decay,
            weight_decay=cfg.weight_decay, warmup_proportion=cfg.warmup_proportion,
            num_train_epochs=cfg.num_train_epochs, max_steps=cfg.max_steps, train_batch_size=cfg.train_batch_size,
            precision=cfg.precision, xla=cfg.xla, seed=cfg.seed, output_dir=cfg.output_dir), distributor)
    elif source is None:
        from electra.training.checkpointing import load_model_weights
        load_model_weights(model, os.path.join(cfg.output_dir, "checkpoints"))
        result["initialized_from"] = os.path.join(cfg.output_dir, "checkpoints")

    if not distributor.is_chief:
        return result
    if cfg.mode in ("eval", "prediction", "train_eval"):
        features = load_features(cfg.predict_file, tokenizer, is_training=False,
                                 version_2_with_negative=cfg.version_2_with_negative, cache_dir=cache_dir, **windows)
        logits = predict_logits(model, features, cfg.predict_batch_size, xla=cfg.xla)
        predictions, nbest, null_odds = postprocess(
            features, logits["start_logits"], logits["end_logits"], n_best_size=cfg.n_best_size,
            max_answer_length=cfg.max_answer_length, version_2_with_negative=cfg.version_2_with_negative,
            null_score_diff_threshold=cfg.null_score_diff_threshold)
        result["prediction_files"] = write_predictions(cfg.output_dir, predictions, nbest, null_odds)
        if cfg.mode != "prediction":
            data = load_json(cfg.predict_file, "SQuAD file")["data"]
            version = "2.0" if cfg.version_2_with_negative else "1.1"
            metrics = evaluate(data, predictions, version, null_odds if version == "2.0" else None,
                               na_prob_thresh=cfg.null_score_diff_threshold)
            result["eval"] = metrics
            with open(os.path.join(cfg.output_dir, "eval_results.json"), "w", encoding="utf-8") as f:
                json.dump(metrics, f, indent=2)
            log.info("eval: %s", json.dumps(metrics))
    if cfg.export_dir:
        from electra.export import export_saved_model
        result["export_dir"] = export_saved_model(
            model, cfg.export_dir, cfg.vocab_file, do_lower_case=tokenizer.lower_case,
            n_best_size=cfg.n_best_size, max_answer_length=cfg.max_answer_length,
            version_2_with_negative=cfg.version_2_with_negative,
            null_score_diff_threshold=cfg.null_score_diff_threshold, **windows)
    with open(os.path.join(cfg.output_dir, "run_summary.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, default=str)
    return result

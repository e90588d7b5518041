"""The pretraining job behind ``run_scripts/run_pretraining.py``: inputs checked, model and optimizer built,
checkpoint restored (or phase-1 weights loaded), then steps with logs, validation and checkpoints.

Everything that can be wrong with the inputs is checked before the first step.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from data_prep.common import file_sha256
from electra.configs import ModelConfig, ObjectiveConfig, PretrainConfig, preset
from electra.data.masking import MaskingConfig
from electra.data.pretraining import InputError, SpecialIds, list_files, pretraining_dataset
from electra.modeling import ElectraPretrainingModel
from electra.training.checkpointing import TrainingState, load_model_weights, resolve_checkpoint
from electra.training.distribution import make_distributor
from electra.training.rundir import exclusive_run_directory
from electra.training.logs import RunLog
from electra.training.optimization import WarmupPolyDecay, make_optimizer
from electra.training.trainer import METRICS, PretrainingTrainer

log = logging.getLogger("electra.training")


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, inconsistent resume)."""


def resolve_model_config(config: PretrainConfig, tokenizer_vocab_size: int) -> ModelConfig:
    if config.model_config_file:
        model_config = ModelConfig.from_json_file(config.model_config_file)
    else:
        model_config = preset(config.model_size, vocab_size=tokenizer_vocab_size)
    if config.generator_fraction is not None:
        model_config = model_config.replace(generator_fraction=config.generator_fraction)
    model_config.validate_vocab(tokenizer_vocab_size)
    if config.max_seq_length > model_config.max_position_embeddings:
        raise ValueError(f"--max_seq_length={config.max_seq_length} exceeds the model's max_position_embeddings="
                         f"{model_config.max_position_embeddings}")
    return model_config


def check_run_directory(output_dir: str, model_config: ModelConfig, vocab_file: str, resuming: bool,
                        world_size: int = 1) -> int | None:
    """First start: record model config, vocabulary and number of workers. Resume: model config and vocabulary
    must be the ones the checkpoint was made with. Returns the number of workers that wrote the checkpoints
    (None on a first start, or for a run recorded before it was kept)."""
    record_path = os.path.join(output_dir, "run_info.json")
    current = {"model_config": model_config.to_dict(), "vocab_sha256": file_sha256(vocab_file),
               "vocab_file": os.path.abspath(vocab_file), "world_size": world_size}
    saved_world_size = None
    if resuming and os.path.exists(record_path):
        with open(record_path, encoding="utf-8") as f:
            saved = json.load(f)
        saved_world_size = saved.get("world_size")
        if saved["vocab_sha256"] != current["vocab_sha256"]:
            raise TrainingError(f"--vocab_file={vocab_file} is not the vocabulary this run's checkpoints were trained "
                                f"with ({saved['vocab_file']}); resume with that vocabulary or a new --output_dir")
        changed = {k: (saved["model_config"].get(k), v) for k, v in current["model_config"].items()
                   if saved["model_config"].get(k) != v}
        if changed:
            raise TrainingError(f"the model configuration differs from the checkpoint's in {output_dir}: "
                                + ", ".join(f"{k}: checkpoint {a} vs now {b}" for k, (a, b) in changed.items()))
    tmp = record_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(current, f, indent=2, sort_keys=True)
    os.replace(tmp, record_path)
    model_config.to_json_file(os.path.join(output_dir, "model_config.json"))
    return saved_world_size


def default_data(output_dir: str, prepare: bool = True) -> tuple[str, str, str]:
    """The embedded default corpus prepared once under ``<output_dir>/data``: (train glob, validation glob, vocab).
    ``prepare=False`` (ranks other than 0) only reads what rank 0 prepared."""
    from data_prep.embedded import prepare_embedded_default
    result = prepare_embedded_default(os.path.join(output_dir, "data"), only_reuse=not prepare)
    return result.train_pattern, result.validation_pattern, result.vocab_file


def weights_digest(model) -> str:
    """SHA-256 over every named weight (sorted by name): equal on all ranks of a run that is in sync."""
    digest = hashlib.sha256()
    for name, variable in sorted(model.named_variables().items()):
        digest.update(name.encode("utf-8"))
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()


def evaluate(model, dataset: tf.data.Dataset, steps: int, seed: int) -> dict[str, float]:
    """Mean loss and metrics over at most ``steps`` validation batches; no dropout, stateless sampling."""
    @tf.function
    def step(batch, index):
        out = model(batch, training=False, sample_seed=tf.stack([tf.cast(seed, tf.int64), index]))
        return {k: out[k] for k in METRICS}

    totals, count = {k: 0.0 for k in METRICS}, 0
    for index, batch in enumerate(dataset.take(steps)):
        for k, v in step(batch, tf.constant(index, tf.int64)).items():
            totals[k] += float(v)
        count += 1
    return {f"validation_{k}": v / max(count, 1) for k, v in totals.items()}


def run(config: PretrainConfig) -> dict:
    """Collective when distributed. The launch, the run directory's lock and (with several ranks) that every rank
    sees the run directory are checked before anything is written; the lock is held until the run returns."""
    distributor = make_distributor(config.horovod, config.fp16_allreduce)
    with exclusive_run_directory(distributor, config.output_dir):
        return _run(config, distributor)


def _run(config: PretrainConfig, distributor) -> dict:
    train_files, validation_files, vocab_file = config.train_files, config.validation_files, config.vocab_file
    if train_files is None:
        if distributor.is_chief:
            train_files, validation_files, vocab_file = default_data(config.output_dir)
        distributor.barrier()
        if not distributor.is_chief:
            train_files, validation_files, vocab_file = default_data(config.output_dir, prepare=False)
    if vocab_file is None:
        raise ValueError("--vocab_file is required with --train_files")
    from electra.tokenization import load_tokenizer
    tokenizer = load_tokenizer(vocab_file)
    special = SpecialIds.from_tokenizer(tokenizer)
    model_config = resolve_model_config(config, tokenizer.vocab_size)

    accumulation, batch = config.gradient_accumulation_steps, config.train_batch_size
    global_batch = batch * accumulation * distributor.size
    if config.global_batch_size is not None and config.global_batch_size != global_batch:
        raise ValueError(
            f"--global_batch_size={config.global_batch_size} does not equal workers ({distributor.size}) × "
            f"--train_batch_size ({batch}) × --gradient_accumulation_steps ({accumulation}) = {global_batch}")
    files = list_files(train_files, "train")
    validation = list_files(validation_files, "validation") if validation_files and config.validation_freq else []

    restore_path = None
    if config.restore == "latest":
        restore_path = tf.train.latest_checkpoint(os.path.join(config.output_dir, "checkpoints"))
    elif config.restore != "none":
        restore_path = resolve_checkpoint(config.restore)
    if config.init_checkpoint and not restore_path:
        resolve_checkpoint(config.init_checkpoint)
    saved_world_size, error = None, None
    if distributor.is_chief:
        try:
            saved_world_size = check_run_directory(config.output_dir, model_config, vocab_file,
                                                   resuming=restore_path is not None, world_size=distributor.size)
        except (TrainingError, OSError, ValueError) as e:
            error = e
    distributor.check_all(error, "checking the run directory")
    saved_world_size = distributor.broadcast_int(saved_world_size or 0) or None
    resized = restore_path is not None and saved_world_size not in (None, distributor.size)

    keras.utils.set_random_seed(config.seed + distributor.rank)
    objective = ObjectiveConfig(config.gen_weight, config.disc_weight, config.temperature)
    model = ElectraPretrainingModel(model_config, objective, seed=config.seed + distributor.rank,
                                    dtype=config.dtype_policy)
    schedule = WarmupPolyDecay(config.learning_rate, config.total_steps, config.warmup_steps, config.poly_power,
                               config.end_learning_rate)
    optimizer = make_optimizer(config.optimizer, schedule, model.named_variables(), weight_decay=config.weight_decay,
                               beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon,
                               clip_norm=config.grad_clip_norm, loss_scale=config.precision == "fp16")
    trainer = PretrainingTrainer(model, optimizer, distributor, accumulation, config.xla)
    masking = MaskingConfig(mask_prob=config.mask_prob)

    def train_input(seed: int):
        return iter(pretraining_dataset(files, batch, config.max_seq_length, masking, special, seed=seed,
                                        rank=distributor.rank, num_workers=distributor.size,
                                        shuffle_buffer=config.shuffle_buffer, vocab_size=tokenizer.vocab_size))

    iterator = train_input(config.seed)
    state = TrainingState(config.output_dir, model, optimizer, iterator, distributor.rank,
                          config.keep_checkpoint_max)

    for removed in state.remove_temporaries():
        log.warning("removed %s, left by a checkpoint save that was cut short", removed)
    step, input_note, unreadable = 0, None, []
    if restore_path:
        if config.restore == "latest":
            restore_path, step, unreadable = state.restore_newest_intact()
        else:
            step = state.restore(restore_path)
        log.info("resumed from %s at step %d", restore_path, step)
        if resized:
            problem = f"the checkpoints were written by {saved_world_size} worker(s), this run has {distributor.size}"
        else:
            problem = state.restore_input(restore_path, step)
        if problem:
            # The saved position is unusable (another sharding, another pipeline): start the input afresh, in a
            # new order (seed + step) so the batches the run began with are not replayed.
            iterator = train_input(config.seed + step)
            state.use_iterator(iterator)
            input_note = (f"resumed at step {step}: {problem}. Weights, optimizer and schedule continue; the input "
                          f"starts at a fresh position (data seed {config.seed + step}), so this run is not "
                          f"bit-identical to an uninterrupted one.")
            log.warning(input_note)
    elif config.init_checkpoint:
        report = load_model_weights(model, config.init_checkpoint)
        log.info("phase 2: weights from %s (%s); fresh optimizer and schedule", config.init_checkpoint, report)
    distributor.broadcast_variables(list(model.trainable_variables) + list(optimizer.variables))

    end = config.total_steps if config.steps_this_run < 0 else min(config.total_steps, step + config.steps_this_run)
    runlog = RunLog(config.output_dir, distributor.is_chief, config.total_steps, step)
    for text in unreadable:
        runlog.event(step, "checkpoint_unreadable", f"{text}; resumed from {restore_path} instead")
    if input_note:
        runlog.event(step, "world_size_changed" if resized else "input_position_reset", input_note,
                     previous_world_size=saved_world_size, world_size=distributor.size)
    validation_ds = pretraining_dataset(validation, batch, config.max_seq_length, masking, special, training=False,
                                        vocab_size=tokenizer.vocab_size) if validation and distributor.is_chief \
        else None
    # A checkpoint counts as good once the step after it has a finite loss: the weights saved after step N are the
    # ones step N + 1 computes its loss from.
    unconfirmed, last_good = restore_path, None
    window_start, window_steps, run_start, run_start_step = time.time(), 0, time.time(), step
    out: dict[str, float] = {}
    while step < end:
        learning_rate = trainer.learning_rate
        try:
            micro_batches = [next(iterator) for _ in range(accumulation)]
        except tf.errors.InvalidArgumentError as e:   # the reader's checks (token ids outside the vocabulary)
            runlog.close()
            raise InputError(f"training input at step {step + 1}: {e.message.strip()}") from e
        out = trainer.train_step(micro_batches)
        step += 1
        window_steps += 1
        state.step.assign(step)
        if not math.isfinite(out["global_loss"]):
            runlog.close()
            set_aside = ""
            if unconfirmed:
                last_good = state.set_aside(unconfirmed) if distributor.is_chief else None
                set_aside = (f"{unconfirmed} holds the weights this step started from, so it is set aside "
                             f"({os.path.basename(unconfirmed)}-nonfinite.*) and no longer resumed from. ")
            raise TrainingError(f"non-finite loss ({out['global_loss']}) at step {step}; stopping without saving. "
                                f"{set_aside}The last good checkpoint is "
                                f"{last_good or 'none (no checkpoint with a finite next step)'}. Lower "
                                f"--learning_rate, raise --warmup_steps or use --precision=fp32/bf16, then rerun "
                                f"(--restore=latest continues from it).")
        if unconfirmed:
            unconfirmed, last_good = None, unconfirmed
        if step % config.log_freq == 0 or step == end:
            elapsed = time.time() - window_start
            rate = window_steps * global_batch / max(elapsed, 1e-9)
            record = {"step": step, **{k: out[k] for k in METRICS}, "global_loss": out["global_loss"],
                      "grad_norm": out["grad_norm"], "learning_rate": learning_rate,
                      "loss_scale": trainer.loss_scale, "sequences_per_second": rate,
                      "eta_seconds": (config.total_steps - step) * global_batch / max(rate, 1e-9)}
            runlog.write(record)
            window_start, window_steps = time.time(), 0
        runlog.progress(step, out["loss"])
        if validation_ds is not None and (step % config.validation_freq == 0 or step == end):
            runlog.write({"step": step, **evaluate(model, validation_ds, config.validation_steps, config.seed)})
        if step % config.save_checkpoints_steps == 0 or step == end:
            path = state.save()
            if path:
                unconfirmed = path
                runlog.message(f"step {step}: checkpoint {path}")
    runlog.close()
    summary = {"step": step, "total_steps": config.total_steps, "checkpoint": unconfirmed or last_good,
               "seconds": time.time() - run_start, "steps_this_run": step - run_start_step,
               "rank": distributor.rank, "world_size": distributor.size, "weights_sha256": weights_digest(model),
               **{k: out.get(k) for k in METRICS}}
    if distributor.is_chief and step > run_start_step:
        with open(os.path.join(config.output_dir, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, sort_keys=True, default=float)
    return summary


__all__ = ["run", "TrainingError", "evaluate"]

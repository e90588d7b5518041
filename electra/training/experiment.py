"""The one training loop: any ``Task``, one process or many (Horovod).

It owns the cadence (log, evaluate, checkpoint), exact resume (weights, optimizer, step, RNG states, each rank's
input position and the open log window), the non-finite policy, the run record and its resume check, the JSON-lines
log, TensorBoard and the progress bar. Between log steps the host never waits for the device: the trainer keeps the
metrics on the device and the loop reads them once per log interval (and before a checkpoint is written).

Log schema (``train_log.jsonl``, one object per line, every task):
  ``{"type": "train", "task", "step", "loss", "learning_rate", "grad_norm", "loss_scale", "sequences_per_second",
  "eta_seconds", "metrics": {task metrics}}``, ``{"type": "eval", "task", "step", "metrics": {...}}`` and
  ``{"type": "event", "task", "step", "event", "message", ...}``. A train record's ``sequences_per_second`` is its
  window's; ``summary.json``'s is this invocation's mean: ``steps_this_run`` × ``global_batch_size`` /
  ``training_seconds``, the loop's wall time less evaluation and checkpoint saves (``seconds`` includes them).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time

import keras
import numpy as np
import tensorflow as tf

from electra.cli import differences, to_dict
from electra.configs import ConfigError
from electra.interrupts import STOP, Interrupted, signal_name, signal_number
from electra.io import StorageError, storing, write_json
from electra.runtime import resolve_xla
from electra.tasks.base import Task
from electra.training.checkpointing import TrainingState, remove_leftovers
from electra.training.logs import RunLog
from electra.training.precision import bf16_warning
from electra.training.trainer import Trainer

log = logging.getLogger("electra.training")


class TrainingError(RuntimeError):
    """Training cannot go on (non-finite loss, inconsistent resume)."""


def weights_digest(model) -> str:
    """SHA-256 over every named weight (sorted by name): equal on all ranks of a run that is in sync."""
    digest = hashlib.sha256()
    for name, variable in sorted(model.named_variables().items()):
        digest.update(name.encode("utf-8"))
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()


def accumulation_for(trainer_config, batch: int, world_size: int) -> int:
    """``gradient_accumulation_steps``, derived from ``global_batch_size`` when 0, and checked against it."""
    k, wanted = trainer_config.gradient_accumulation_steps, trainer_config.global_batch_size
    if k == 0:
        k, rest = divmod(wanted, batch * world_size)
        if rest or k < 1:
            raise ValueError(f"--trainer.global_batch_size={wanted} is not a multiple of workers ({world_size}) × "
                             f"--data.train_batch_size ({batch}); set --trainer.gradient_accumulation_steps or "
                             f"another batch size")
    elif wanted is not None and wanted != batch * k * world_size:
        raise ValueError(f"--trainer.global_batch_size={wanted} does not equal workers ({world_size}) × "
                         f"--data.train_batch_size ({batch}) × --trainer.gradient_accumulation_steps ({k}) = "
                         f"{batch * k * world_size}")
    return k


class RunRecord:
    """``run_info.json``: the task, the resolved config, what the checkpoints depend on (model config, vocabulary
    digest) and the number of workers. A resume must agree on every field marked ``resume=False``."""

    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, "run_info.json")

    def check_and_write(self, task, config, world_size: int, resuming: bool) -> tuple[int | None, list[str]]:
        """Returns the saved world size (None on a first start) and the settings a resume changed (allowed ones)."""
        current = {"task": task.name, "config": to_dict(config), "world_size": world_size, **task.run_record()}
        saved_world_size, changed = None, []
        if resuming and os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                saved = json.load(f)
            saved_world_size = saved.get("world_size")
            if saved.get("vocab_sha256") not in (None, current.get("vocab_sha256")):
                raise ConfigError(f"{current.get('vocab_file')} is not the vocabulary this run's checkpoints were "
                                    f"trained with ({saved.get('vocab_file')}); resume with that vocabulary or use a "
                                    f"new --output_dir")
            model_changes = {k: (saved.get("model_config", {}).get(k), v)
                             for k, v in current.get("model_config", {}).items()
                             if saved.get("model_config", {}).get(k) != v}
            if model_changes:
                raise ConfigError(
                    f"the model configuration differs from the checkpoint's in {os.path.dirname(self.path)}: "
                    + ", ".join(f"{k}: checkpoint {a} vs now {b}" for k, (a, b) in model_changes.items()))
            if "config" in saved:
                diffs = differences(saved["config"], config)
                fixed = [d for d in diffs if not d[3]]
                if fixed:
                    raise ConfigError(
                        "resuming with settings the checkpoints depend on changed: "
                        + ", ".join(f"--{name} was {old!r}, now {new!r}" for name, old, new, _ in fixed)
                        + f". Use the saved values (see {self.path}) or a new --output_dir.")
                changed = [f"--{name}: {old!r} → {new!r}" for name, old, new, _ in diffs]
        write_json(self.path, current)
        if "model_config" in current:
            write_json(os.path.join(os.path.dirname(self.path), "model_config.json"), current["model_config"])
        return saved_world_size, changed


class Experiment:
    """``Experiment(task, config, distributor).run()`` trains ``task`` as ``config`` (``output_dir``, ``trainer``,
    ``runtime``) says; collective when distributed. The caller holds the run directory's lock."""

    def __init__(self, task: Task, config, distributor):
        self.task, self.config, self.distributor = task, config, distributor
        self.settings = config.trainer
        self.output_dir = config.output_dir

    # --- setup ----------------------------------------------------------------------------------------------------
    def _restore_path(self) -> str | None:
        from electra.interop.store import resolve_checkpoint
        restore = self.settings.restore
        if restore == "latest":
            return tf.train.latest_checkpoint(os.path.join(self.output_dir, "checkpoints"))
        return None if restore == "none" else resolve_checkpoint(restore)

    def _record(self, resuming: bool) -> tuple[int | None, list[str]]:
        d = self.distributor
        saved_world_size, changed, error = None, [], None
        if d.is_chief:
            try:
                saved_world_size, changed = RunRecord(self.output_dir).check_and_write(
                    self.task, self.config, d.size, resuming)
            except (TrainingError, OSError, ValueError) as e:
                error = e
        d.check_all(error, "checking the run directory")
        return d.broadcast_int(saved_world_size or 0) or None, changed

    def build(self) -> None:
        """Model, optimizer, compiled step and input; the weights are not loaded yet."""
        task, d, s = self.task, self.distributor, self.settings
        self.batch = task.train_batch_size
        self.accumulation = accumulation_for(s, self.batch, d.size)
        self.global_batch = self.batch * self.accumulation * d.size
        self.total_steps = task.total_steps(d.size)
        if s.total_steps and self.total_steps != s.total_steps:
            raise ValueError("the task's total steps differ from --trainer.total_steps")
        keras.utils.set_random_seed(s.seed + d.rank)
        self.model = task.build_model(seed=s.seed + d.rank)
        self.optimizer = task.build_optimizer(self.model, self.total_steps)
        self.trainer = Trainer(self.model, self.optimizer, task.loss, task.metric_names, d, self.accumulation,
                               resolve_xla(s.xla))

    def _input(self, seed: int):
        dataset = self.task.train_dataset(self.distributor.rank, self.distributor.size, seed)
        return iter(dataset.batch(self.accumulation, drop_remainder=True).prefetch(2))

    # --- the loop -----------------------------------------------------------------------------------------------
    def run(self) -> dict:
        task, d, s = self.task, self.distributor, self.settings
        self.build()
        restore_path = self._restore_path()
        saved_world_size, changed = self._record(resuming=restore_path is not None)
        resized = restore_path is not None and saved_world_size not in (None, d.size)

        iterator = self._input(s.seed)
        state = TrainingState(self.output_dir, self.model, self.optimizer, iterator, d.rank, s.keep_checkpoints,
                              self.trainer.state())
        step, input_note, unreadable, source = 0, None, [], None
        if restore_path:
            if s.restore == "latest":
                restore_path, step, unreadable = state.restore_newest_intact()
            else:
                step = state.restore(restore_path)
            log.info("resumed from %s at step %d", restore_path, step)
            problem = (f"the checkpoints were written by {saved_world_size} worker(s), this run has {d.size}"
                       if resized else state.restore_input(restore_path, step))
            if problem:
                # The saved position is unusable (another sharding, another pipeline): start the input afresh, in a
                # new order (seed + step) so the batches the run began with are not replayed.
                iterator = self._input(s.seed + step)
                state.use_iterator(iterator)
                input_note = (f"resumed at step {step}: {problem}. Weights, optimizer and schedule continue; the "
                              f"input starts at a fresh position (data seed {s.seed + step}), so this run is not "
                              f"bit-identical to an uninterrupted one.")
                log.warning(input_note)
        else:
            source = task.initialize(self.model)
        d.broadcast_variables(list(self.model.trainable_variables) + list(self.optimizer.variables))

        end = self.total_steps if s.steps_this_run < 0 else min(self.total_steps, step + s.steps_this_run)
        runlog = RunLog(self.output_dir, d.is_chief, self.total_steps, step, task.name,
                        fresh_start=restore_path is None)
        for text in unreadable:
            runlog.event(step, "checkpoint_unreadable", f"{text}; resumed from {restore_path} instead")
        if input_note:
            runlog.event(step, "world_size_changed" if resized else "input_position_reset", input_note,
                         previous_world_size=saved_world_size, world_size=d.size)
        if changed:
            runlog.event(step, "config_changed", "resumed with changed settings: " + "; ".join(changed))
        for corruption in task.corruption:
            runlog.event(step, "corrupt_records_skipped", str(corruption))
        slow_bf16 = bf16_warning(s.precision) if d.is_chief else None
        if slow_bf16:
            log.warning(slow_bf16)
            runlog.event(step, "precision_warning", slow_bf16)
        if s.eval_at_start and restore_path is None and d.is_chief:
            # The initial model's numbers, logged as an ordinary eval record at the start step (0). Evaluation uses
            # no training RNG and no input position, so the run trains exactly as without it; a resumed run skips
            # it (its log keeps the first one). Not a --trainer.keep_best candidate.
            metrics = task.evaluate(self.model, step)
            if metrics:
                runlog.write({"type": "eval", "step": step, "metrics": metrics})
        try:
            with STOP.deferred():
                out = self._loop(state, iterator, runlog, step, end, restore_path)
        finally:
            runlog.close()
        summary = {"task": task.name, "step": out["step"], "total_steps": self.total_steps,
                   "checkpoint": out["checkpoint"], "seconds": out["seconds"],
                   "training_seconds": out["training_seconds"],
                   "steps_this_run": out["step"] - step, "rank": d.rank, "world_size": d.size,
                   "global_batch_size": self.global_batch, "initialized_from": source,
                   "weights_sha256": weights_digest(self.model), "loss": out.get("loss"),
                   "metrics": out.get("metrics", {}), "sequences_per_second": out["sequences_per_second"],
                   "host_syncs": self.trainer.host_reads}
        if d.is_chief and out["step"] > step:
            write_json(os.path.join(self.output_dir, "summary.json"), summary)
        return summary

    def _loop(self, state, iterator, runlog, step: int, end: int, restore_path: str | None) -> dict:
        task, d, s, trainer = self.task, self.distributor, self.settings, self.trainer
        # A checkpoint is confirmed once a later step's loss is known finite: the weights saved after step N are the
        # ones step N + 1 computes its loss from.
        pending: list[tuple[int, str]] = [(step, restore_path)] if restore_path else []
        last_good = None
        # Throughput counts training time: evaluation and checkpoint saves are paused time (rank 0's evaluation
        # still delays the other ranks' next step, which they count).
        start, paused, first = time.time(), 0.0, step
        window_seconds, window_first = 0.0, step
        record: dict = {}
        from electra.data.pretraining import InputError

        def training_seconds() -> float:
            return time.time() - start - paused

        def sync(at: int, reset: bool) -> dict:
            nonlocal pending, last_good
            values = trainer.read_window(reset)
            bad = values["first_nonfinite_step"]
            if bad:
                self._stop_nonfinite(state, bad, values, pending, last_good, runlog)
            confirmed = [p for p in pending if p[0] < at]
            if confirmed:
                last_good = confirmed[-1][1]
            pending = [p for p in pending if p[0] >= at]
            return values

        # A stop request (electra.interrupts) is agreed between workers through the steps' ``stop_signal``: one
        # process reads its own flag, several read the previous step's output (no wait for the step just started),
        # so every worker stops after the same step.
        asked, previous = False, None
        while step < end:
            if STOP.requested and not asked:
                trainer.request_stop(STOP.requested)
                asked = True
            try:
                batch = next(iterator)
            except tf.errors.InvalidArgumentError as e:   # the reader's checks (token ids outside the vocabulary)
                raise InputError(f"training input at step {step + 1}: {e.message.strip()}") from e
            except tf.errors.DataLossError as e:
                explained = task.explain_data_loss(e)
                if explained is None:
                    raise
                raise explained from e
            out = trainer.train_step(batch)
            step += 1
            if d.size == 1:
                stop_signal = STOP.requested or 0
            else:
                stop_signal = int(round(float(previous["stop_signal"]))) if previous is not None else 0
                previous = out
            runlog.progress(step)
            log_now = step % s.log_every == 0 or step == end
            save_now = step % s.checkpoint_every == 0 or step == end
            epoch_end = s.eval_at_epoch_end and step % max(1, task.steps_per_epoch or end) == 0
            eval_now = (s.eval_every > 0 and (step % s.eval_every == 0 or step == end)) or epoch_end
            if log_now or save_now or eval_now:
                # A run that stops between log steps (--trainer.steps_this_run) logs without closing the window, so
                # its checkpoint carries the open window and the resumed run logs what an uninterrupted one would.
                values = sync(step, reset=step % s.log_every == 0 or step == self.total_steps)
                if log_now:
                    now = training_seconds()
                    rate = (step - window_first) * self.global_batch / max(now - window_seconds, 1e-9)
                    record = {"type": "train", "step": step, "loss": values["loss"],
                              "learning_rate": values["learning_rate"], "grad_norm": values["grad_norm"],
                              "loss_scale": values["loss_scale"], "sequences_per_second": rate,
                              "eta_seconds": (self.total_steps - step) * self.global_batch / max(rate, 1e-9),
                              "metrics": {k: values[k] for k in task.metric_names}}
                    runlog.write(record)
                    window_seconds, window_first = now, step
            pause = time.time()
            if eval_now and d.is_chief:
                metrics = task.evaluate(self.model, step)
                if metrics:
                    runlog.write({"type": "eval", "step": step, "metrics": metrics})
                    self._keep_if_best(metrics, step, runlog)
            if save_now or stop_signal:
                if stop_signal and not (log_now or save_now or eval_now):
                    sync(step, reset=False)     # the finite check; the open window is saved with the checkpoint
                path = self._save(state, step, runlog)
                if path:
                    pending.append((step, path))
                    runlog.message(f"step {step}: checkpoint {path}")
            paused += time.time() - pause
            if stop_signal and step < end:
                self._stop(stop_signal, step, pending[-1][1] if pending else last_good, runlog)
        checkpoint = pending[-1][1] if pending else last_good
        seconds = training_seconds()
        return {**record, "step": step, "checkpoint": checkpoint, "seconds": time.time() - start,
                "training_seconds": seconds,
                "sequences_per_second": (step - first) * self.global_batch / max(seconds, 1e-9)}

    def _save(self, state, step: int, runlog) -> str | None:
        """Save the checkpoint of ``step`` (every rank its input state, rank 0 the rest). A full disk or a read-only
        directory stops the run with a ``StorageError`` naming the path: the save was atomic, so the newest
        complete checkpoint stays usable, and the ``*_temp`` left behind are removed at the next start."""
        directory = os.path.join(self.output_dir, "checkpoints")
        intact = state.latest()
        try:
            with storing(directory, f"the newest complete checkpoint ({intact or 'none yet'}) is intact: free space "
                                    f"(or make it writable) and rerun the same command to resume"):
                return state.save()
        except StorageError as e:
            runlog.error(step, e)
            raise

    def _stop(self, signum: int, step: int, checkpoint: str | None, runlog) -> None:
        """End the run after a stop request: the ``stopped`` event, then ``Interrupted`` (exit 128 + signal)."""
        name = signal_name(signum)
        message = (f"stopped by {name} after step {step} of {self.total_steps}; checkpoint {checkpoint} saved: the "
                   f"same command resumes from it")
        runlog.event(step, "stopped", message, signal=name, checkpoint=checkpoint)
        raise Interrupted(signum, message)

    def _keep_if_best(self, metrics: dict, step: int, runlog) -> None:
        """``trainer.keep_best``: the model of the best evaluation so far as ``<output_dir>/best`` (its metadata
        holds the metric, so a resumed run keeps comparing against it)."""
        name = self.settings.keep_best
        if not name or name not in metrics:
            return
        directory = os.path.join(self.output_dir, "best")
        previous = None
        try:
            with open(os.path.join(directory, "metadata.json"), encoding="utf-8") as f:
                previous = json.load(f).get("best", {}).get("value")
        except (OSError, ValueError):
            pass
        value, lower = float(metrics[name]), "loss" in name
        if previous is not None and not (value < previous if lower else value > previous):
            return
        self.task.save_model(self.model, directory, step, extra={"best": {"metric": name, "value": value,
                                                                          "step": step}})
        runlog.event(step, "best_model", f"{name} {value:.4f} is the best so far: model kept in {directory}",
                     metric=name, value=value)

    def _stop_nonfinite(self, state, bad: int, values: dict, pending, last_good, runlog) -> None:
        """Stop at a non-finite loss. Checkpoints written at or after step ``bad - 1`` hold weights that produce it:
        they are set aside (renamed ``*-nonfinite.*``, out of the index) and the newest earlier one is named."""
        poisoned = [path for at, path in pending if at >= bad - 1]
        good = [path for at, path in pending if at < bad - 1]
        last_good = good[-1] if good else last_good
        set_aside = ""
        if poisoned and self.distributor.is_chief:
            for path in reversed(poisoned):
                last_good = state.set_aside(path) or last_good
            set_aside = (f"{', '.join(poisoned)} hold(s) weights that give it, so they are set aside "
                         f"(*-nonfinite.*) and no longer resumed from. ")
        message = (f"non-finite loss at step {bad} (found at step {values['step']}); stopping without saving. "
                   f"{set_aside}The last good checkpoint is "
                   f"{last_good or 'none (no checkpoint with a finite next step)'}. Lower --optimizer.learning_rate, "
                   f"raise the warmup or use --trainer.precision=fp32/bf16, then rerun (--trainer.restore=latest "
                   f"continues from it).")
        runlog.event(values["step"], "non_finite_loss", message, first_nonfinite_step=bad)
        raise TrainingError(message)


def run_task(task: Task, config) -> dict:
    """The whole job for ``task``: launch checks, the run directory's lock (held to the end), inputs, the training
    loop when the task trains, then the task's ``finish`` (predictions, export)."""
    from electra.training.distribution import make_distributor
    from electra.training.rundir import exclusive_run_directory
    distributor = make_distributor(config.runtime.horovod, config.runtime.fp16_allreduce)
    with exclusive_run_directory(distributor, config.output_dir):
        if distributor.is_chief:     # first, so a save cut short by a full disk frees its space before any write
            for removed in remove_leftovers(config.output_dir):
                log.warning("removed %s, left by a save that was cut short", removed)
        task.prepare(distributor)
        model, summary = None, {}
        if task.trains:
            experiment = Experiment(task, config, distributor)
            summary = experiment.run()
            model = experiment.model
            more_work = type(task).finish is not Task.finish     # predictions, export: not started after a stop
            if more_work and any(distributor.gather_flags(STOP.requested is not None)):
                signum = STOP.requested or signal_number("TERM")
                raise Interrupted(signum, f"stopped by {signal_name(signum)} after the last training step "
                                          f"({summary['step']}); the rest of the job was not done: the same "
                                          f"command does it")
        return task.finish(summary, model, distributor)

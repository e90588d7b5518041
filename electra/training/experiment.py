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
import uuid

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


RUN_OUTPUTS = ("checkpoints", "train_log.jsonl", "tensorboard", "summary.json", "run_info.json",
               "model_config.json", "best")   # what the loop writes in output_dir (a task adds its ``outputs``)


def _input_at(positions: list, step: int) -> str | None:
    """The input digest the input position saved at ``step`` belongs to: ``positions`` holds ``[from_step,
    digest]`` pairs, a checkpoint after ``from_step`` (and up to the next pair's) saved under ``digest``."""
    owners = [digest for since, digest in positions if since < step]
    return owners[-1] if owners else None


def _describe_input_change(old: dict | None, new: dict) -> str:
    if not old or old.get("digest") == new["digest"]:
        return "another training input: see input_positions in run_info.json"
    before, after = ({f["name"]: f for f in x["files"]} for x in (old, new))
    parts = [f"{len(names)} file(s) {what} (e.g. {names[0]})" for what, names in (
        ("added", [n for n in after if n not in before]), ("removed", [n for n in before if n not in after]),
        ("changed", [n for n in after if n in before and after[n] != before[n]])) if names]
    parts += [f"{k} {old['settings'].get(k)!r} → {v!r}" for k, v in new["settings"].items()
              if old.get("settings", {}).get(k) != v]
    return ", ".join(parts) or "another training input"


class RunRecord:
    """``run_info.json``: the run's id, the task, the resolved config, what the checkpoints depend on (model config,
    vocabulary digest), the number of workers and the training input (``input``: the task's ``input_fingerprint``;
    ``input_positions``: which input each checkpoint's input position belongs to, ``[[from_step, digest], ...]``).
    A resume must agree on every field marked ``resume=False``, and the checkpoints must carry the record's run id
    (``checkpoints/run_id.json``, written at a fresh start): a record and checkpoints of two different runs are never
    resumed together. Directories written before run ids existed resume as before."""

    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, "run_info.json")
        self.id_path = os.path.join(output_dir, "checkpoints", "run_id.json")

    @staticmethod
    def read(path: str) -> dict:
        """The JSON object in ``path``; {} when there is none."""
        if not os.path.exists(path):
            return {}
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def check(self, task, config, world_size: int, resuming: bool) -> tuple[dict, dict, list[str]]:
        """``(this invocation's record, the saved one ({} on a first start), the changed settings a resume may
        change)``; a ``ConfigError`` when a resume may not go on. Writes nothing."""
        current = {"task": task.name, "config": to_dict(config), "world_size": world_size, **task.run_record(),
                   "input": task.input_fingerprint()}
        saved = self.read(self.path) if resuming else {}
        changed = []
        if saved:
            checkpoints_id = self.read(self.id_path).get("run_id")
            if None not in (saved.get("run_id"), checkpoints_id) and saved["run_id"] != checkpoints_id:
                raise ConfigError(
                    f"the checkpoints in {os.path.dirname(self.id_path)} belong to run {checkpoints_id}, but "
                    f"{self.path} describes run {saved['run_id']}: resuming would mix two runs. Start afresh with "
                    f"--trainer.restore=none --trainer.overwrite (the old outputs are moved aside) or use a new "
                    f"--output_dir")
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
        current["run_id"] = (saved.get("run_id") or (self.read(self.id_path).get("run_id") if resuming else None)
                             or uuid.uuid4().hex)
        return current, saved, changed

    @staticmethod
    def input_problem(current: dict, positions: list, latest: dict | None, step: int) -> str | None:
        """Why the input position saved at ``step`` does not belong to this run's input (None: it does, or it is
        not known, as in directories written before input fingerprints)."""
        saved = _input_at(positions, step)
        if saved in (None, current["input"]["digest"]):
            return None
        return (f"the training input differs from the one its input position was saved with "
                f"({_describe_input_change(latest, current['input'])})")

    def write(self, current: dict, positions: list, step: int) -> None:
        """``run_info.json`` (and ``model_config.json``), with the input positions up to ``step`` kept and this
        run's input from ``step`` on; the run id beside the checkpoints."""
        kept = [[since, digest] for since, digest in positions if since < step]
        if not kept or kept[-1][1] != current["input"]["digest"]:
            kept.append([step, current["input"]["digest"]])
        write_json(self.path, {**current, "input_positions": kept})
        if "model_config" in current:
            write_json(os.path.join(os.path.dirname(self.path), "model_config.json"), current["model_config"])
        if self.read(self.id_path).get("run_id") != current["run_id"]:
            os.makedirs(os.path.dirname(self.id_path), exist_ok=True)
            write_json(self.id_path, {"run_id": current["run_id"]})


class Experiment:
    """``Experiment(task, config, distributor).run()`` trains ``task`` as ``config`` (``output_dir``, ``trainer``,
    ``runtime``) says; collective when distributed. The caller holds the run directory's lock."""

    def __init__(self, task: Task, config, distributor):
        self.task, self.config, self.distributor = task, config, distributor
        self.settings = config.trainer
        self.output_dir = config.output_dir

    # --- setup ----------------------------------------------------------------------------------------------------
    def _restore_path(self) -> tuple[str | None, bool]:
        """``(the checkpoint to restore or None, whether the previous run's outputs are to be moved aside)``. A
        fresh start (``restore=none``) or another run's checkpoint into a directory holding checkpoints mixes two
        runs: refused unless ``--trainer.overwrite``."""
        from electra.interop.store import resolve_checkpoint
        restore, overwrite = self.settings.restore, self.settings.overwrite
        own = os.path.join(self.output_dir, "checkpoints")
        if restore == "latest":
            if overwrite:
                raise ConfigError("--trainer.overwrite starts a new run in place of the previous one: give it with "
                                  "--trainer.restore=none (or a checkpoint path); --trainer.restore=latest resumes")
            return tf.train.latest_checkpoint(own), False
        path = None if restore == "none" else resolve_checkpoint(restore)
        if path is not None and os.path.realpath(os.path.dirname(path)) == os.path.realpath(own):
            return path, False
        held = sorted(tf.io.gfile.glob(os.path.join(own, "ckpt-*.index")))
        if held and not overwrite:
            start = "starting afresh" if path is None else f"continuing from another run's checkpoint {path}"
            raise ConfigError(
                f"--trainer.restore={restore}: {self.output_dir} holds the checkpoints of another run "
                f"({len(held)}, latest {tf.train.latest_checkpoint(own) or held[-1][:-len('.index')]}); {start} "
                f"there would mix the two runs. Use another --output_dir, or add --trainer.overwrite to move the "
                f"previous run's outputs aside (into {os.path.join(self.output_dir, 'replaced-<UTC time>')})")
        return path, bool(overwrite)

    def _replace_previous(self) -> str | None:
        """Chief: move the previous run's outputs (``RUN_OUTPUTS`` and the task's ``outputs``; inputs such as
        feature caches stay) into ``<output_dir>/replaced-<UTC time>/``. Returns that directory, None when there
        was nothing to move."""
        present = [n for n in RUN_OUTPUTS + tuple(self.task.outputs)
                   if os.path.lexists(os.path.join(self.output_dir, n))]
        if not present or not self.distributor.is_chief:
            return None
        target = os.path.join(self.output_dir, "replaced-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
        base, n = target, 1
        while os.path.lexists(target):
            target, n = f"{base}-{n}", n + 1
        os.makedirs(target)
        for name in present:
            os.replace(os.path.join(self.output_dir, name), os.path.join(target, name))
        log.warning("--trainer.overwrite: moved the previous run's %s into %s", ", ".join(present), target)
        return target

    def _record(self, resuming: bool) -> tuple[dict | None, dict, list[str]]:
        """Chief: this invocation's record, the saved one and the changed settings (``RunRecord.check``); every
        rank stops when the resume may not go on."""
        d = self.distributor
        current, saved, changed, error = None, {}, [], None
        if d.is_chief:
            try:
                current, saved, changed = RunRecord(self.output_dir).check(self.task, self.config, d.size, resuming)
            except (TrainingError, OSError, ValueError) as e:
                error = e
        d.check_all(error, "checking the run directory")
        return current, saved, changed

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
        restore_path, replace = self._restore_path()
        self.build()
        record, saved, changed = self._record(resuming=restore_path is not None and not replace)
        saved_world_size = d.broadcast_int(saved.get("world_size") or 0) or None
        resized = restore_path is not None and saved_world_size not in (None, d.size)

        iterator = self._input(s.seed)
        replaced, error = None, None
        try:
            replaced = self._replace_previous() if replace else None
        except OSError as e:
            error = e
        d.check_all(error, "moving the previous run's outputs aside")
        state = TrainingState(self.output_dir, self.model, self.optimizer, iterator, d.rank, s.keep_checkpoints,
                              self.trainer.state())
        step, input_note, unreadable, source, positions = 0, None, [], None, []
        if restore_path:
            if s.restore == "latest":
                restore_path, step, unreadable = state.restore_newest_intact()
            else:
                step = state.restore(restore_path)
            log.info("resumed from %s at step %d", restore_path, step)
            problem = None
            if d.is_chief:
                # the record the saved input positions belong to: this run's, or the one beside another run's
                # checkpoints (--trainer.restore=<path>)
                owner = os.path.dirname(os.path.dirname(restore_path))
                if os.path.realpath(owner) == os.path.realpath(self.output_dir):
                    owner = saved
                else:
                    try:
                        owner = RunRecord.read(os.path.join(owner, "run_info.json"))
                    except (OSError, ValueError):
                        owner = {}
                positions = owner.get("input_positions", [])
                problem = RunRecord.input_problem(record, positions, owner.get("input"), step)
            other_input = d.broadcast_int(problem is not None)
            if resized:
                problem = f"the checkpoints were written by {saved_world_size} worker(s), this run has {d.size}"
            elif other_input:
                problem = problem or "the training input differs from the one its input position was saved with"
            else:
                problem = state.restore_input(restore_path, step)
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
        error = None
        if d.is_chief:
            try:
                RunRecord(self.output_dir).write(record, positions, step)
            except OSError as e:
                error = e
        d.check_all(error, "writing the run record")
        d.broadcast_variables(list(self.model.trainable_variables) + list(self.optimizer.variables))

        end = self.total_steps if s.steps_this_run < 0 else min(self.total_steps, step + s.steps_this_run)
        runlog = RunLog(self.output_dir, d.is_chief, self.total_steps, step, task.name,
                        fresh_start=restore_path is None)
        if replaced:
            runlog.event(step, "outputs_replaced", f"--trainer.overwrite: the previous run's outputs were moved into "
                         f"{replaced}", moved_to=replaced)
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

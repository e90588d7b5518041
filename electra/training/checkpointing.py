"""Training checkpoints that resume exactly: step, weights, RNG states, optimizer (incl. loss scale), input position.

Layout under ``<output_dir>/checkpoints``: ``ckpt-<step>`` (rank 0: step, weights, optimizer) and
``input/rank<r>/ckpt-<step>`` (each rank's own state: the tf.data iterator with its shuffle buffers and batch
counter, and the dropout / sampler RNG states, which differ per rank). TF writes the
data files first and moves the ``checkpoint`` index last, so an interrupted save leaves the previous checkpoint
current. Model weights are stored under their Google names (``model/electra/encoder/...``) so extraction and phase 2
read them without rebuilding the optimizer (``electra.interop.store.read_model_weights``).
"""
from __future__ import annotations

import logging
import os

import tensorflow as tf

log = logging.getLogger("electra.training")


def _raw(variable):
    return getattr(variable, "value", variable)


def rng_variables(model) -> list:
    """Dropout and sampler seed states (Keras SeedGenerators), in a stable order."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def remove_leftovers(output_dir: str) -> list[str]:
    """Delete what saves cut short (a kill, a full disk) left in a run directory: TensorFlow's ``ckpt-N_temp``
    directories (rank 0's and every rank's input ones) and the atomic writer's temporary names. Called once the run
    directory is locked and before anything is written, so the space they hold is free again. Returns the paths
    removed."""
    from electra.io import remove_temporaries
    checkpoints = os.path.join(output_dir, "checkpoints")
    removed = []
    for pattern in (os.path.join(checkpoints, "*_temp"), os.path.join(checkpoints, "input", "rank*", "*_temp")):
        for path in tf.io.gfile.glob(pattern):
            tf.io.gfile.rmtree(path)
            removed.append(path)
    if os.path.isdir(output_dir):
        removed += [os.path.join(output_dir, name) for name in remove_temporaries(output_dir, "")]
    return removed


class CheckpointReadError(RuntimeError):
    """A checkpoint's files cannot be read (truncated by a kill or full disk, or corrupt)."""


class TrainingState:
    """Everything a resumed run needs, saved by the chief and (per rank) the input iterator."""

    def __init__(self, directory: str, model, optimizer, iterator, rank: int, keep: int, loop_state: dict):
        """``loop_state``: the trainer's variables (``step``, the open log window); ``step`` is required."""
        self.step = loop_state["step"]
        self.model, self.optimizer, self.rank, self.keep = model, optimizer, rank, keep
        weights = dict(step=self.step, model={name: _raw(v) for name, v in model.named_variables().items()},
                       optimizer={f"{i:04d}": _raw(v) for i, v in enumerate(optimizer.variables)})
        self.checkpoint = tf.train.Checkpoint(loop={k: v for k, v in loop_state.items() if k != "step"}, **weights)
        self.manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(directory, "checkpoints"),
                                                  max_to_keep=keep, checkpoint_name="ckpt")
        self.input_directory = os.path.join(directory, "checkpoints", "input", f"rank{rank}")
        os.makedirs(self.input_directory, exist_ok=True)    # TensorFlow would make it 0755 whatever the umask
        self.use_iterator(iterator)

    def save(self) -> str | None:
        step = int(self.step.numpy())
        self.input_manager.save(checkpoint_number=step)
        return self.manager.save(checkpoint_number=step) if self.rank == 0 else None

    def restore(self, path: str) -> int:
        """Restore step, weights and optimizer from ``path`` (a ``ckpt-N`` prefix); returns the step. A
        checkpoint that cannot be read (truncated or corrupt files) raises ``CheckpointReadError`` naming it."""
        try:
            self.checkpoint.read(path).assert_existing_objects_matched().expect_partial()
        except (tf.errors.OpError, IndexError, ValueError) as e:
            first = (getattr(e, "message", None) or str(e) or type(e).__name__).strip().splitlines()[0]
            raise CheckpointReadError(f"checkpoint {path} cannot be read ({type(e).__name__}: {first[:300]}); its "
                                      f"files ({path}.index, {path}.data-*) are damaged or incomplete") from e
        return int(self.step.numpy())

    def restore_newest_intact(self) -> tuple[str, int, list[str]]:
        """Restore the newest checkpoint of this run that can be read; returns ``(path, step, skipped)``, where
        ``skipped`` describes the newer ones that could not (each named). None readable: ``CheckpointReadError``."""
        skipped = []
        state = tf.train.get_checkpoint_state(self.manager.directory)
        for path in reversed(state.all_model_checkpoint_paths if state else []):
            try:
                return path, self.restore(path), skipped
            except CheckpointReadError as e:
                log.warning("%s; trying the one before it", e)
                skipped.append(str(e))
        raise CheckpointReadError("no checkpoint of this run can be read:\n" + "\n".join(skipped))

    def set_aside(self, path: str) -> str | None:
        """Rank 0: take ``path`` out of the checkpoint index (its files are renamed ``<name>-nonfinite.*``, kept for
        inspection), so a resume starts from the checkpoint before it. Returns that checkpoint (None if none)."""
        if self.rank != 0:
            return None
        directory = self.manager.directory
        state = tf.train.get_checkpoint_state(directory)
        kept = [(p, t) for p, t in zip(state.all_model_checkpoint_paths, state.all_model_checkpoint_timestamps)
                if os.path.basename(p) != os.path.basename(path)] if state else []
        for file in tf.io.gfile.glob(path + ".*"):
            tf.io.gfile.rename(file, path + "-nonfinite" + file[len(path):], overwrite=True)
        remaining = [p for p, _ in kept]
        if remaining:
            tf.compat.v1.train.update_checkpoint_state(
                directory, remaining[-1], remaining, all_model_checkpoint_timestamps=[t for _, t in kept],
                last_preserved_timestamp=state.last_preserved_timestamp)
        elif tf.io.gfile.exists(os.path.join(directory, "checkpoint")):
            tf.io.gfile.remove(os.path.join(directory, "checkpoint"))
        return os.path.join(directory, os.path.basename(remaining[-1])) if remaining else None

    def restore_input(self, path: str, step: int) -> str | None:
        """This rank's input position and RNG states at ``step``; None when restored, else why not (no state for
        this rank, or state of another input pipeline): the caller then starts the input afresh."""
        input_path = os.path.join(os.path.dirname(path), "input", f"rank{self.rank}", f"ckpt-{step}")
        if not tf.io.gfile.exists(input_path + ".index"):
            return f"no input-pipeline state for rank {self.rank} at step {step} ({input_path})"
        try:
            self.input_manager.checkpoint.read(input_path).assert_existing_objects_matched().expect_partial()
        except (tf.errors.OpError, AssertionError, ValueError) as e:
            first = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
            return f"the input-pipeline state {input_path} does not fit this input pipeline ({first[:200]})"
        return None

    def use_iterator(self, iterator) -> None:
        """Checkpoint ``iterator`` and the RNG states as this rank's input state from now on (at construction, and
        when a resume starts the input afresh)."""
        self.input_manager = tf.train.CheckpointManager(
            tf.train.Checkpoint(iterator=iterator,
                                rng={str(i): _raw(v) for i, v in enumerate(rng_variables(self.model))}),
            self.input_directory, max_to_keep=self.keep, checkpoint_name="ckpt")

    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

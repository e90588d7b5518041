"""The contract between a task and the experiment loop."""
from __future__ import annotations

from typing import Any, Mapping, Protocol

import keras
import tensorflow as tf


class Task(Protocol):
    """A trainable objective. The loop calls, in order: ``prepare`` (every rank; rank 0 may build shared inputs),
    ``build_model``, ``build_optimizer``, ``train_dataset``; then ``loss`` inside the compiled step, ``evaluate`` on
    rank 0 at the evaluation cadence, and ``initialize`` when the run starts without a checkpoint."""

    name: str                  # "pretraining", "squad": the "task" of every log record
    metric_names: tuple[str, ...]
    train_batch_size: int      # per worker, per micro-batch

    def prepare(self, distributor) -> None:
        """Resolve inputs (files, vocabulary, model config); collective when distributed."""

    def run_record(self) -> dict[str, Any]:
        """What the checkpoints depend on beyond the config (model config, vocabulary digest): saved on the first
        start, compared on resume."""

    def total_steps(self, world_size: int) -> int:
        """Optimizer steps of the whole run (fine-tuning derives them from epochs and the data size)."""

    def build_model(self, seed: int) -> keras.Model:
        """The model, weights created; outputs only, no losses."""

    def build_optimizer(self, model: keras.Model, total_steps: int) -> keras.optimizers.Optimizer:
        """Optimizer with its schedule (wrapped in a loss-scale optimizer for fp16)."""

    def train_dataset(self, rank: int, world_size: int, seed: int) -> tf.data.Dataset:
        """This worker's micro-batches, endless; checkpointable so a resume continues at the same record."""

    def loss(self, model: keras.Model, batch: Mapping[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Training-mode forward pass: the scalar loss to minimize and scalar metrics named ``metric_names``."""

    def evaluate(self, model: keras.Model, step: int) -> dict[str, float]:
        """Held-out metrics (rank 0 only)."""

    def initialize(self, model: keras.Model) -> str | None:
        """Load starting weights (fresh optimizer and schedule); returns what was loaded, or None."""

    def save_model(self, model: keras.Model, directory: str, step: int | None, extra: dict | None = None) -> str:
        """Write ``model`` as a model directory (``electra.interop.store``): the best evaluation, the final model."""

"""The contract between a task and the experiment loop (``electra.training.experiment``), and what every task
shares.

A new task is one module here (a ``Task`` subclass and ``run(config) = run_task(MyTask(config), config)``) and one
recipe in ``recipes/``; the loop, checkpoints, resume, logs and the run record come with it. A subclass must
provide:

* ``name`` (the ``task`` of every log record, of ``run_info.json`` and of the model directories it writes) and
  ``metric_names`` (the scalars ``loss`` returns beside the loss, logged as window means);
* ``prepare(distributor)``: resolve the inputs (every rank; collective when distributed) and set what the shared
  hooks read: ``vocab_file``, ``tokenizer`` and ``vocab_sha256`` (``load_vocabulary``), ``model_config``
  (``resolve_model_config``), ``source`` (``resolve_init``, None without ``--init``);
* ``build_model(seed)``: a ``keras.Model`` with weights created whose ``call(batch, training=...)`` returns a dict
  of outputs, never losses, and that has ``config`` (its ``ModelConfig``) and ``named_variables()`` (``{checkpoint
  name: variable}``), as the models of ``electra.modeling`` do;
* ``train_dataset(rank, world_size, seed)``: this worker's micro-batches, endless and checkpointable (a resume
  continues at the same record): dicts of tensors with a leading ``[batch]`` dimension of ``train_batch_size``,
  token inputs ``input_ids``/``input_mask``/``segment_ids`` int ``[batch, seq]``, labels ``[batch]`` (a class) or
  ``[batch, seq]`` / ``[batch, positions]`` (per token);
* ``loss(model, batch)``: ``(loss [], {name: [] for name in metric_names})`` from a training-mode forward pass; it
  runs inside the compiled step (TF ops only, no Python side effects).

Everything else has a default, overridden where a task differs (see each method): ``trains`` (True),
``corruption`` (none), ``steps_per_epoch`` (0: no epochs), ``total_steps`` (``--trainer.total_steps``, else
``--trainer.epochs`` × ``steps_per_epoch``), ``run_record``, ``input_fingerprint`` (the batch size: a task that
reads files names them), ``outputs`` (none beyond the loop's), ``build_optimizer`` (``--optimizer.*``),
``evaluate`` (no held-out metrics), ``initialize`` (the ``--init`` weights), ``save_model`` (a model directory),
``explain_data_loss`` (no better message) and ``finish`` (the loop's summary).

The loop calls, in order: ``prepare``; when ``trains``: ``total_steps``, ``build_model``, ``build_optimizer``,
``run_record``, ``input_fingerprint``, ``train_dataset``, ``initialize`` (a start without checkpoint), then per
step ``loss`` (compiled), ``evaluate`` on rank 0 at the evaluation cadence and ``save_model`` for
``--trainer.keep_best``; last ``finish``.
"""
from __future__ import annotations

import abc
import hashlib
import json
import logging
import math
import os
from typing import Any, Mapping

import keras
import tensorflow as tf

log = logging.getLogger("electra.training")
WHOLE_FILE_BYTES = 1 << 22    # input files up to this size are hashed whole
END_BYTES = 1 << 16           # larger ones: their size and this many bytes at each end


def file_fingerprint(path: str) -> dict[str, Any]:
    """``{"name", "size", "sha256"}`` of one input file. The SHA-256 covers the whole file up to 4 MiB
    (vocabularies, SQuAD files); a larger one (pretraining shards of hundreds of MB, thousands of them) is hashed
    over its size and its first and last 64 KiB, so a start reads ~128 KiB per shard instead of every byte: a shard
    rewritten in its middle to the same size goes unnoticed."""
    size = tf.io.gfile.stat(path).length
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        if size <= WHOLE_FILE_BYTES:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        else:
            digest.update(str(size).encode())
            digest.update(f.read(END_BYTES))
            f.seek(size - END_BYTES)
            digest.update(f.read(END_BYTES))
    return {"name": os.path.abspath(path) if "://" not in path else path, "size": size, "sha256": digest.hexdigest()}


def input_fingerprint(files, **settings) -> dict[str, Any]:
    """What a training input pipeline is: its files (``file_fingerprint``, in order) and the settings that shape
    it; ``digest`` is the SHA-256 of both, what a resume compares."""
    fingerprint = {"files": [file_fingerprint(p) for p in files], "settings": settings}
    fingerprint["digest"] = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
    return fingerprint


class Task(abc.ABC):
    """A trainable objective over a config with ``data``, ``model``, ``optimizer``, ``trainer`` and ``init``."""

    name: str
    metric_names: tuple[str, ...] = ()
    trains = True               # False: ``finish`` alone (evaluate or predict with given weights)
    corruption: tuple = ()      # what was skipped as corrupt input, logged as events at the start
    steps_per_epoch = 0         # optimizer steps per pass over the training data; 0: the data has no epochs
    outputs: tuple = ()         # names the task writes in output_dir beside the loop's (moved by --trainer.overwrite)

    def __init__(self, config):
        self.config = config
        self.train_batch_size = config.data.train_batch_size     # per worker, per micro-batch
        self.source = None

    # --- what every task implements -------------------------------------------------------------------------------
    @abc.abstractmethod
    def prepare(self, distributor) -> None:
        """Resolve inputs (files, vocabulary, model config); collective when distributed."""

    @abc.abstractmethod
    def build_model(self, seed: int) -> keras.Model:
        """The model, weights created; outputs only, no losses."""

    @abc.abstractmethod
    def train_dataset(self, rank: int, world_size: int, seed: int) -> tf.data.Dataset:
        """This worker's micro-batches, endless; checkpointable so a resume continues at the same record."""

    @abc.abstractmethod
    def loss(self, model: keras.Model, batch: Mapping[str, tf.Tensor]) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Training-mode forward pass: the scalar loss to minimize and scalar metrics named ``metric_names``."""

    # --- set-up helpers for ``prepare`` ----------------------------------------------------------------------------
    def resolve_init(self, spec: str) -> None:
        """``source``: the weights ``spec`` names (``electra.interop.store.resolve_source``, which reads a TF
        checkpoint's index and a Hugging Face directory's safetensors headers), a model directory's weights header
        read too, so an unusable source stops the job before training writes anything."""
        from electra.interop.hf import safetensors_names
        from electra.interop.store import MODEL_DIRECTORY, WEIGHTS_NAME, resolve_source
        self.source = resolve_source(spec, model_config_file=self.config.model.config_file)
        if self.source.kind == MODEL_DIRECTORY:
            safetensors_names(os.path.join(self.source.path, WEIGHTS_NAME))

    def resolve_fine_tuning_inputs(self) -> None:
        """What every fine-tuning task resolves first: the ``--init`` weights (unset and not training: the run's own
        ``model/``, else its checkpoints), the vocabulary (``--data.vocab_file``, else the source's) with its
        lower-casing (``--data.do_lower_case``, else the source's, else true), and the model config."""
        c = self.config
        spec = c.init
        if spec is None and not self.trains:
            own = os.path.join(c.output_dir, "model")
            spec = own if os.path.isdir(own) else c.output_dir
        if spec is not None:
            self.resolve_init(spec)
        vocab_file = c.data.vocab_file or (self.source.vocab_file if self.source else None)
        if not vocab_file:
            raise ValueError("--data.vocab_file is required: the --init source carries no vocabulary"
                             if self.source else "--data.vocab_file is required (or an --init source with one)")
        lower = c.data.do_lower_case
        if lower is None:
            lower = self.source.do_lower_case if self.source and self.source.do_lower_case is not None else True
        self.load_vocabulary(vocab_file, lower_case=lower)
        self.model_config = self.resolve_model_config()

    def load_vocabulary(self, vocab_file: str, lower_case: bool | None = None) -> None:
        from electra.io import file_sha256
        from electra.tokenization import load_tokenizer
        self.vocab_file = vocab_file
        self.tokenizer = load_tokenizer(vocab_file, lower_case=lower_case)
        self.vocab_sha256 = file_sha256(vocab_file)

    def resolve_model_config(self):
        """``--model.config_file``, else the ``--init`` weights' config, else the ``--model.size`` preset sized to the
        vocabulary; checked against the vocabulary and ``--data.max_seq_length``."""
        from electra.configs import ModelConfig, preset
        c = self.config
        if c.model.config_file:
            model_config = ModelConfig.from_json_file(c.model.config_file)
        elif self.source is not None and self.source.model_config is not None:
            model_config = self.source.model_config
        else:
            model_config = preset(c.model.size, vocab_size=max(self.tokenizer.vocab_size, 1))
        model_config.validate_vocab(self.tokenizer.vocab_size)
        if c.data.max_seq_length > model_config.max_position_embeddings:
            raise ValueError(f"--data.max_seq_length={c.data.max_seq_length} exceeds the model's "
                             f"max_position_embeddings={model_config.max_position_embeddings}")
        return model_config

    @property
    def initialized_from(self) -> str | None:
        """What the starting weights were, as summaries and model metadata record it: ``--init`` as given, else
        the path of the weights ``prepare`` found (a run that evaluates its own model)."""
        return self.config.init or (self.source.path if self.source is not None else None)

    # --- hooks with defaults ---------------------------------------------------------------------------------------
    def total_steps(self, world_size: int) -> int:
        """Optimizer steps of the whole run: ``--trainer.total_steps``, else ``--trainer.epochs`` ×
        ``steps_per_epoch`` (which ``prepare`` derives from the data size and ``world_size``)."""
        t = self.config.trainer
        return t.total_steps or max(1, int(math.ceil(t.epochs * self.steps_per_epoch)))

    def run_record(self) -> dict[str, Any]:
        """What the checkpoints depend on beyond the config (model config, vocabulary digest): saved on the first
        start, compared on resume."""
        return {"model_config": self.model_config.to_dict(), "vocab_sha256": self.vocab_sha256,
                "vocab_file": os.path.abspath(self.vocab_file)}

    def input_fingerprint(self) -> dict[str, Any]:
        """The training input the saved input positions belong to (``input_fingerprint``: files, pipeline
        settings). A resume whose fingerprint differs from the one the checkpoint's position was saved under starts
        the input at a fresh position (event ``input_position_reset``) instead of restoring that position into a
        pipeline it does not fit. By default the batch size alone (input made in memory); a task that reads files
        names them and every setting its pipeline depends on."""
        return input_fingerprint((), train_batch_size=self.train_batch_size)

    def build_optimizer(self, model: keras.Model, total_steps: int) -> keras.optimizers.Optimizer:
        """``--optimizer.name`` over ``model``'s variables with its warmup + polynomial-decay schedule, wrapped in a
        loss-scale optimizer for fp16."""
        from electra.training.optimization import WarmupPolyDecay, make_optimizer
        o = self.config.optimizer
        schedule = WarmupPolyDecay(o.learning_rate, total_steps, o.warmup_for(total_steps), o.poly_power,
                                   o.end_learning_rate)
        layerwise = {"layerwise_lr_decay": o.layerwise_lr_decay} if o.name == "layerwise_adamw" else {}
        return make_optimizer(o.name, schedule, model.named_variables(), weight_decay=o.weight_decay,
                              beta_1=o.beta_1, beta_2=o.beta_2, epsilon=o.epsilon, clip_norm=o.grad_clip_norm,
                              loss_scale=self.config.trainer.precision == "fp16", **layerwise)

    def evaluate(self, model: keras.Model, step: int) -> dict[str, float]:
        """Held-out metrics (rank 0 only); none by default."""
        return {}

    def initialize(self, model: keras.Model) -> str | None:
        """Load the ``--init`` weights when there are any (fresh optimizer and schedule); returns what was loaded,
        or None."""
        if self.source is None:
            return None
        report = self.source.load_into(model)
        log.info("weights from %s (%s); fresh optimizer and schedule", self.initialized_from, report)
        return self.initialized_from

    def save_model(self, model: keras.Model, directory: str, step: int | None, extra: dict | None = None) -> str:
        """Write ``model`` as a model directory (``electra.interop.store``) with this task's tokenizer: the best
        evaluation, the final model."""
        from electra.interop.store import save_model_directory
        return save_model_directory(model, directory, vocab_file=self.vocab_file,
                                    do_lower_case=self.tokenizer.lower_case, task=self.name,
                                    source=self.initialized_from, step=step, extra=extra)

    def explain_data_loss(self, error: tf.errors.DataLossError) -> Exception | None:
        """A clearer error for a ``DataLossError`` of the training input (naming the file and record), or None to
        raise it as it is."""
        return None

    def finish(self, summary: dict, model: keras.Model | None, distributor) -> dict:
        """The rest of the job after training (or instead of it when not ``trains``; ``model`` is then None):
        predictions, export. Returns the job's result; by default the loop's summary."""
        return summary

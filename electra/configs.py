"""Model configuration: one frozen dataclass, named presets, JSON and Hugging Face round trips.

Sizes follow the ELECTRA paper (Clark et al., 2020, table 6). The generator is a narrower copy of the
discriminator encoder that shares its embeddings; its width is a fraction of the discriminator's and, as
in google-research/electra, its heads are ``max(1, hidden // 64)`` and its FFN ``4 × hidden``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import typing
from typing import Any, Mapping

from electra.interrupts import DEFAULT_SIGNALS, NAMES as SIGNAL_NAMES


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """The transformer stack of one network (discriminator or generator)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build the ELECTRA networks.

    ``vocab_size`` is the tokenizer's vocabulary; the embedding table has ``embedding_vocab_size`` rows,
    which is ``vocab_size`` rounded up to ``pad_vocab_to_multiple_of`` (NVIDIA pads 30522 to 30528 so the
    vocabulary matmul maps onto tensor cores). Logits are always returned for the real ``vocab_size`` only.
    """

    vocab_size: int = 30522
    embedding_size: int = 128
    hidden_size: int = 256
    num_hidden_layers: int = 12
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    generator_hidden_size: int = 64
    generator_num_hidden_layers: int = 12
    generator_num_attention_heads: int = 1
    generator_intermediate_size: int = 256
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_vocab_to_multiple_of: int = 1

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type != "int":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ModelConfig.{field.name} must be a positive int, got {value!r}")
        for prefix, hidden, heads in (
            ("", self.hidden_size, self.num_attention_heads),
            ("generator_", self.generator_hidden_size, self.generator_num_attention_heads),
        ):
            if hidden % heads:
                raise ValueError(
                    f"ModelConfig.{prefix}hidden_size={hidden} is not divisible by "
                    f"{prefix}num_attention_heads={heads}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"ModelConfig.hidden_act={self.hidden_act!r}; expected one of {sorted(ACTIVATIONS)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"ModelConfig.{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def embedding_vocab_size(self) -> int:
        m = self.pad_vocab_to_multiple_of
        return int(math.ceil(self.vocab_size / m) * m)

    @property
    def discriminator(self) -> EncoderConfig:
        return EncoderConfig(self.hidden_size, self.num_hidden_layers, self.num_attention_heads,
                             self.intermediate_size)

    @property
    def generator(self) -> EncoderConfig:
        return EncoderConfig(self.generator_hidden_size, self.generator_num_hidden_layers,
                             self.generator_num_attention_heads, self.generator_intermediate_size)

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with fields changed; ``generator_fraction=f`` re-derives the generator as Google does."""
        fraction = changes.pop("generator_fraction", None)
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s): {sorted(unknown)}")
        config = dataclasses.replace(self, **changes)
        if fraction is not None:
            config = dataclasses.replace(config, **generator_fields(config.hidden_size, config.num_hidden_layers,
                                                                    fraction))
        return config

    def validate_vocab(self, tokenizer_vocab_size: int) -> None:
        """Fail early when token ids could index past the embedding table."""
        if tokenizer_vocab_size > self.vocab_size:
            raise ValueError(
                f"the vocabulary has {tokenizer_vocab_size} tokens but the model's vocab_size is "
                f"{self.vocab_size} (embedding table {self.embedding_vocab_size} rows); ids >= "
                f"{self.vocab_size} would index past the table. Set vocab_size to at least {tokenizer_vocab_size}.")

    # --- serialization -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "ModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s): {sorted(unknown)}")
        return cls(**values)

    def to_json_file(self, path: str) -> None:
        from electra.io import write_json
        write_json(path, self.to_dict())

    @classmethod
    def from_json_file(cls, path: str) -> "ModelConfig":
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: {e}") from e


ACTIVATIONS = ("gelu", "gelu_new", "relu")


def generator_fields(hidden_size: int, num_hidden_layers: int, fraction: float) -> dict[str, int]:
    """Generator sizes for a width fraction, as google-research/electra derives them."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"generator fraction must be in (0, 1], got {fraction}")
    hidden = int(round(hidden_size * fraction))
    return dict(generator_hidden_size=hidden, generator_num_hidden_layers=num_hidden_layers,
                generator_num_attention_heads=max(1, hidden // 64), generator_intermediate_size=4 * hidden)


def _preset(embedding: int, hidden: int, layers: int, heads: int, fraction: float, **extra: Any) -> ModelConfig:
    return ModelConfig(embedding_size=embedding, hidden_size=hidden, num_hidden_layers=layers,
                       num_attention_heads=heads, intermediate_size=4 * hidden,
                       **generator_fields(hidden, layers, fraction), **extra)


PRESETS: dict[str, ModelConfig] = {
    # tiny: CPU tests and the quickstart.
    "tiny": _preset(64, 128, 2, 2, 0.5),
    "small": _preset(128, 256, 12, 4, 0.25),
    "base": _preset(768, 768, 12, 12, 1 / 3),
    "large": _preset(1024, 1024, 24, 16, 0.25),
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    """A named preset (tiny, small, base, large) with optional field overrides."""
    if name not in PRESETS:
        raise ValueError(f"unknown model size {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].replace(**overrides)


def knob(default: Any, help: str, *aliases: str, valid: str = "", resume: bool = True, choices: tuple = (),
         per_run: bool = False, required: bool = False, positional: bool = False) -> Any:
    """A config field: its default, its ``--help`` text, extra flag names (``aliases``: NVIDIA's or
    google-research's name for the same setting), the values it accepts (``valid``: a ``Range`` for numbers,
    ``choices`` for text), whether a resumed run may change it (``resume=True``: cadence, length, launch; ``False``:
    what the checkpoints depend on), whether it describes one invocation only (``per_run``: not reported as a change
    on resume), and whether the command line must give it (``required``; ``positional``: given without a flag name,
    in field order)."""
    return dataclasses.field(default=default, metadata={
        "help": help, "aliases": aliases, "valid": Range.parse(valid) if valid else None, "resume": resume,
        "choices": tuple(choices), "per_run": per_run, "required": required or positional, "positional": positional})


@dataclasses.dataclass(frozen=True)
class Range:
    """The numbers a knob accepts, written as an interval (``"[0, 1)"``, ``"(0, inf)"``), a bound (``">= 1"``,
    ``"> 0"``) or ``"finite"`` (any number). inf and nan are never accepted, whatever the bounds."""

    text: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = True
    high_open: bool = True

    @classmethod
    def parse(cls, text: str) -> "Range":
        bound = re.fullmatch(r"([<>]=?) *(\S+)", text)
        interval = re.fullmatch(r"([\[(]) *([^,]+?) *, *([^\])]+?) *([\])])", text)
        if bound and bound[1][0] == ">":
            return cls(text, low=float(bound[2]), low_open=bound[1] == ">")
        if bound:
            return cls(text, high=float(bound[2]), high_open=bound[1] == "<")
        if interval:
            return cls(text, float(interval[2]), float(interval[3]), interval[1] == "(", interval[4] == ")")
        if text != "finite":
            raise ValueError(f"knob range {text!r}: expected an interval '[0, 1)', a bound '>= 1' or 'finite'")
        return cls(text)

    def __contains__(self, value: float) -> bool:
        return (math.isfinite(value) and (self.low < value if self.low_open else self.low <= value)
                and (value < self.high if self.high_open else value <= self.high))

    def __str__(self) -> str:
        return f"in {self.text}" if self.text[0] in "[(" else self.text


def section(factory: Any, help: str) -> Any:
    """A nested config group (its own defaults come from ``factory``)."""
    return dataclasses.field(default_factory=factory, metadata={"help": help})


class ConfigError(ValueError):
    """A config value is out of range or inconsistent; the message names the dotted flag(s)."""


PRECISIONS = {"fp32": "float32", "fp16": "mixed_float16", "bf16": "mixed_bfloat16"}


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    """Replaced-token-detection objective: loss = gen_weight × MLM + disc_weight × RTD (Clark et al. use 1 and 50)."""

    gen_weight: float = knob(1.0, "Weight of the generator's masked-LM loss.", "gen_weight", valid=">= 0", resume=False)
    disc_weight: float = knob(50.0, "Weight of the discriminator's replaced-token loss.", "disc_weight",
                              valid=">= 0", resume=False)
    temperature: float = knob(1.0, "Sampling temperature of the generator.", "temperature", valid="> 0", resume=False)


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """Which network to build: a preset, or a ModelConfig JSON; an ``init`` source's own config wins over both."""

    size: str = knob("tiny", f"Model preset: {', '.join(PRESETS)}.", "model_size", resume=False,
                     choices=tuple(PRESETS))
    config_file: str | None = knob(None, "ModelConfig JSON; overrides --model.size.", resume=False)


@dataclasses.dataclass(frozen=True)
class PretrainModel(ModelChoice):
    """The pretraining networks: the discriminator, and the generator derived from it."""

    generator_fraction: float | None = knob(None, "Generator width as a fraction of the discriminator's (preset "
                                                  "default if unset).", "generator_hidden_size", valid="(0, 1]",
                                            resume=False)


@dataclasses.dataclass(frozen=True)
class PretrainingData:
    """Packed TFRecords (``input_ids``, ``input_mask``, ``segment_ids``) and their dynamic masking."""

    train_files: str | None = knob(None, "Comma-separated globs of training TFRecords (default: prepare the embedded "
                                         "default corpus).", "pretrain_tfrecords")
    validation_files: str | None = knob(None, "Comma-separated globs of held-out TFRecords for the validation loss.")
    vocab_file: str | None = knob(None, "WordPiece vocab.txt or SentencePiece .model (default: the embedded "
                                        "default's, or the --init source's).", "vocab_file", resume=False)
    max_seq_length: int = knob(128, "Sequence length of the records (128 for phase 1, 512 for phase 2).",
                               "max_seq_length", valid=">= 8", resume=False)
    train_batch_size: int = knob(32, "Sequences per worker per micro-batch.", "train_batch_size", valid=">= 1")
    mask_prob: float = knob(0.15, "Fraction of tokens masked.", "mask_prob", valid="(0, 1)", resume=False)
    mask_token_prob: float = knob(0.85, "Fraction of the masked tokens replaced by [MASK] (the rest kept).",
                                  valid="[0, 1]", resume=False)
    shuffle_buffer: int = knob(10_000, "Records in the shuffle buffer.", valid=">= 1", resume=False)
    skip_corrupt_records: bool = knob(False, "Drop the damaged tail of a TFRecord file (counted in the log) instead "
                                             "of stopping with an error naming the file and offset.")


@dataclasses.dataclass(frozen=True)
class SquadData:
    """SQuAD JSON files and the windowing of their contexts."""

    train_file: str | None = knob(None, "SQuAD training JSON (train-v1.1.json / train-v2.0.json).", "train_file")
    predict_file: str | None = knob(None, "SQuAD JSON to predict and evaluate (dev-v1.1.json / dev-v2.0.json).",
                                    "predict_file")
    vocab_file: str | None = knob(None, "vocab.txt or SentencePiece .model (default: the --init source's).",
                                  "vocab_file", resume=False)
    do_lower_case: bool | None = knob(None, "Lower-case the text (default: the --init source's, else true).",
                                      "do_lower_case", resume=False)
    version_2_with_negative: bool = knob(False, "SQuAD v2.0: questions may have no answer.",
                                         "version_2_with_negative", resume=False)
    max_seq_length: int = knob(384, "Tokens per window (question + context).", "max_seq_length", valid=">= 1",
                               resume=False)
    doc_stride: int = knob(128, "Tokens from the start of one context window to the start of the next, as in "
                                "Google's and NVIDIA's scripts (not Hugging Face's doc_stride, which is the overlap "
                                "between windows).", "doc_stride", valid=">= 1", resume=False)
    max_query_length: int = knob(64, "Question tokens kept.", "max_query_length", valid=">= 1", resume=False)
    train_batch_size: int = knob(32, "Features per worker per micro-batch.", "train_batch_size", valid=">= 1")
    predict_batch_size: int = knob(64, "Features per prediction batch.", "predict_batch_size", valid=">= 1")
    cache_dir: str | None = knob(None, "Feature cache (default: <output_dir>/feature_cache).", "cache_dir")


@dataclasses.dataclass(frozen=True)
class SquadHead:
    """What sits on the encoder for SQuAD: NVIDIA's and google-research's joint head (XLNet style: end logits
    conditioned on the start, beam search at inference, an answer-class logit for v2), or a Dense(2) span head (what
    Hugging Face QA checkpoints hold) with an optional answerability classifier."""

    joint: bool = knob(True, "Joint head: end conditioned on the start, beam decoding, answer class for v2 "
                             "(NVIDIA's default). false: a Dense(2) span head, as BERT/HF.", "joint_head",
                       "joint_prediction", resume=False)
    answerability: bool = knob(False, "Span head, v2: an answerability classifier on [CLS]; its loss is added to "
                                      "the span loss and its logit enters the no-answer decision (google-research's "
                                      "answerable_classifier).", "answerable_classifier", resume=False)
    answer_class_weight: float = knob(0.5, "Weight of the answer-class (answerability) loss.", "answerable_weight",
                                      valid=">= 0", resume=False)


@dataclasses.dataclass(frozen=True)
class Decoding:
    """Turning start/end logits into answer text."""

    n_best_size: int = knob(20, "Candidate spans kept per question.", "n_best_size", valid=">= 1")
    beam_size: int = knob(5, "Joint head: top starts, and top ends per start, searched (NVIDIA 5, google 20).",
                          "beam_size", valid=">= 1")
    max_answer_length: int = knob(30, "Longest answer in tokens.", "max_answer_length", valid=">= 1")
    null_score_diff_threshold: float = knob(0.0, "v2: predict no answer when null score − best span score exceeds "
                                                 "this.", "null_score_diff_threshold", valid="finite")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Optimizer and learning-rate schedule (linear warmup, then polynomial decay to ``end_learning_rate``)."""

    name: str = knob("lamb", "lamb or adamw.", "optimizer", resume=False, choices=("lamb", "adamw"))
    learning_rate: float = knob(5e-3, "Peak learning rate.", "learning_rate", valid="> 0")
    warmup_steps: int = knob(0, "Linear warmup steps (0: use warmup_proportion).", "num_warmup_steps", valid=">= 0")
    warmup_proportion: float = knob(0.0, "Warmup as a fraction of the run's steps (when warmup_steps is 0).",
                                    "warmup_proportion", valid="[0, 1)")
    poly_power: float = knob(0.5, "Power of the decay after warmup (NVIDIA pretraining 0.5; linear 1.0).",
                             "lr_decay_power", valid="> 0")
    end_learning_rate: float = knob(0.0, "Learning rate at the end of the decay.", "end_lr", valid=">= 0")
    beta_1: float = knob(0.878, "Adam/LAMB beta1 (NVIDIA LAMB: 0.878).", "opt_beta_1", valid="[0, 1)")
    beta_2: float = knob(0.974, "Adam/LAMB beta2 (NVIDIA LAMB: 0.974).", "opt_beta_2", valid="[0, 1)")
    epsilon: float = knob(1e-6, "Adam/LAMB epsilon.", valid="> 0")
    weight_decay: float = knob(0.01, "Decoupled weight decay (not on LayerNorm or biases).", "weight_decay_rate",
                               valid=">= 0")
    grad_clip_norm: float = knob(1.0, "Global-norm gradient clipping (0 disables).", valid=">= 0")

    def warmup_for(self, total_steps: int) -> int:
        return self.warmup_steps or int(self.warmup_proportion * total_steps)


@dataclasses.dataclass(frozen=True)
class FinetuneOptimizer(OptimizerConfig):
    """Fine-tuning's optimizer: as pretraining's, plus AdamW with a learning rate per layer."""

    name: str = knob("layerwise_adamw", "layerwise_adamw (per-layer learning rates), adamw or lamb.", "optimizer",
                     resume=False, choices=("layerwise_adamw", "adamw", "lamb"))
    layerwise_lr_decay: float = knob(0.8, "layerwise_adamw: learning-rate factor per layer below the head.",
                                     "layerwise_lr_decay", valid="(0, 1]", resume=False)


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """The loop's length, cadence and precision (what pretraining and fine-tuning share)."""

    total_steps: int = knob(1000, "Optimizer steps of the whole run: the schedule's length.", "num_train_steps",
                            "max_steps", valid=">= 1")
    steps_this_run: int = knob(-1, "Stop after this many steps (-1: run to the end).", "steps_this_run",
                               valid=">= -1", per_run=True)
    gradient_accumulation_steps: int = knob(1, "Micro-batches per optimizer step (0: derived from "
                                               "global_batch_size).", "gradient_accumulation_steps", valid=">= 0")
    global_batch_size: int | None = knob(None, "Sequences per optimizer step over all workers; with "
                                               "gradient_accumulation_steps=0 it sets the accumulation, else it is "
                                               "checked.", valid=">= 1")
    precision: str = knob("fp32", f"{', '.join(PRECISIONS)} (fp16 uses dynamic loss scaling; bf16 is only fast "
                                  f"with native bf16: GPUs, CPUs with AVX-512 BF16/AMX; elsewhere it is slower than "
                                  f"fp32 and the run logs a warning with the slowdown measured on the machine).",
                          choices=tuple(PRECISIONS))
    xla: bool | None = knob(None, "Compile the forward/backward pass with XLA. Default: on when a GPU is visible, "
                                  "off on CPU, where TensorFlow's oneDNN kernels are faster than XLA's CPU backend "
                                  "(benchmarks/pretraining.py --xla=false,true).", "xla")
    seed: int = knob(42, "Random seed (weights, data order, masks, sampling).", "seed", valid=">= 0", resume=False)
    log_every: int = knob(10, "Log (and check the loss is finite) every N steps.", "log_freq", valid=">= 1")
    eval_every: int = knob(500, "Evaluate every N steps and at the end (0: never).", valid=">= 0")
    eval_at_start: bool = knob(False, "Also evaluate the initial model (step 0: the untrained or --init weights, "
                                      "before any update) as an eval record, the baseline the later evaluations are "
                                      "read against; a resumed run does not evaluate it again. Needs what "
                                      "evaluation needs (eval_every > 0; pretraining: validation files).")
    checkpoint_every: int = knob(500, "Checkpoint every N steps (and at the end of the run).",
                                 "save_checkpoints_steps", valid=">= 1")
    keep_checkpoints: int = knob(5, "Checkpoints kept.", "keep_checkpoint_max", valid=">= 1")
    restore: str = knob("latest", "'latest' (resume if output_dir has a checkpoint), 'none' (start afresh), or a "
                                  "checkpoint path.", "restore_checkpoint", per_run=True)
    overwrite: bool = knob(False, "Start a new run where --output_dir holds another run's checkpoints (with "
                                  "--trainer.restore=none or a checkpoint from elsewhere, refused without it): the "
                                  "previous run's outputs are moved into <output_dir>/replaced-<UTC time>/.",
                           per_run=True)


@dataclasses.dataclass(frozen=True)
class PretrainTrainer(TrainerConfig):
    """Pretraining's loop: a fixed number of steps, validation loss over a few held-out batches."""

    eval_steps: int = knob(20, "Validation batches per evaluation.", "num_eval_steps", valid=">= 1")
    # What the loop asks of every task; pretraining has no epochs and keeps no "best" model.
    epochs: typing.ClassVar[float] = 0.0
    eval_at_epoch_end: typing.ClassVar[bool] = False
    keep_best: typing.ClassVar[str] = ""


@dataclasses.dataclass(frozen=True)
class FinetuneTrainer(TrainerConfig):
    """Fine-tuning's loop: its length may be epochs over the features; the best evaluation's model may be kept."""

    total_steps: int = knob(0, "Optimizer steps of the whole run: the schedule's length (0: from --trainer.epochs).",
                            "num_train_steps", "max_steps", valid=">= 0")
    epochs: float = knob(2.0, "Passes over the training features (when total_steps is 0).", "num_train_epochs",
                         valid=">= 0")
    eval_at_epoch_end: bool = knob(False, "Also evaluate at the end of every epoch.")
    keep_best: str = knob("", "Keep the model of the best evaluation as <output_dir>/best (a model directory) by this "
                              "metric (SQuAD: 'f1', 'exact'; electra-finetune: 'score' or any metric it logs); "
                              "'' keeps none.")


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """How the processes are launched."""

    horovod: bool | None = knob(None, "Distributed with Horovod. Default: on exactly when started by horovodrun, "
                                      "mpirun, a PMI launcher or srun with several tasks; true forces it, false under "
                                      "such a launcher is an error.")
    fp16_allreduce: bool = knob(False, "Compress gradients to fp16 for the allreduce.", "fp16_all_reduce",
                                "fp16_compression")
    stop_signals: tuple[str, ...] = knob(DEFAULT_SIGNALS, "Signals that stop the run gracefully: the step "
                                         "finishes, a checkpoint is saved, the exit status is 128 + the signal "
                                         "(143 for TERM); a second signal ends the process at once.",
                                         choices=SIGNAL_NAMES, per_run=True)


def _problems(checks) -> None:
    failed = [f"--{flag}={value!r} {message}" for ok, flag, value, message in checks if not ok]
    if failed:
        raise ConfigError("; ".join(failed))


def _trainer_checks(trainer: TrainerConfig, optimizer: OptimizerConfig) -> list:
    return [
        (trainer.gradient_accumulation_steps > 0 or trainer.global_batch_size, "trainer.gradient_accumulation_steps",
         0, "needs --trainer.global_batch_size to derive it from"),
        (trainer.total_steps == 0 or optimizer.warmup_steps <= trainer.total_steps, "optimizer.warmup_steps",
         optimizer.warmup_steps, f"must be <= --trainer.total_steps={trainer.total_steps}"),
    ]


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Everything ``run_pretraining.py`` does; every field is a dotted flag (``--optimizer.learning_rate``)."""

    output_dir: str = knob("", "Run directory: checkpoints, logs, TensorBoard, the resolved config.")
    init: str | None = knob(None, "Start from these weights with a fresh optimizer and schedule (phase 2, continued "
                                  "pretraining from a release): a pretraining run or checkpoint, "
                                  "google:<TF1 pretraining checkpoint>, hf:<discriminator dir>,<generator dir>.",
                            "init_checkpoint", resume=False)
    model: PretrainModel = section(PretrainModel, "the network")
    data: PretrainingData = section(PretrainingData, "pretraining records and masking")
    objective: ObjectiveConfig = section(ObjectiveConfig, "replaced-token detection")
    optimizer: OptimizerConfig = section(lambda: OptimizerConfig(warmup_steps=100), "optimizer and schedule")
    trainer: PretrainTrainer = section(PretrainTrainer, "loop length, cadence and precision")
    runtime: RuntimeConfig = section(RuntimeConfig, "launch")

    def __post_init__(self) -> None:
        _problems([(bool(self.output_dir), "output_dir", self.output_dir, "is required")]
                  + _trainer_checks(self.trainer, self.optimizer))

    @property
    def dtype_policy(self) -> str:
        return PRECISIONS[self.trainer.precision]


SQUAD_MODES = ("train", "eval", "prediction", "train_eval")


@dataclasses.dataclass(frozen=True)
class SquadConfig:
    """Everything ``run_squad.py`` does: fine-tune, predict, evaluate, export."""

    output_dir: str = knob("", "Run directory: checkpoints, logs, predictions, eval_results.json.")
    mode: str = knob("train_eval", "train, eval (predict + EM/F1), prediction, or train_eval.", choices=SQUAD_MODES)
    init: str | None = knob(None, "Starting weights: a model directory (extracted discriminator, fine-tuned run), "
                                  "a pretraining run or checkpoint, google:<TF1 checkpoint>, hf:<dir>. Unset: random "
                                  "initialization to train, the run's own checkpoints to evaluate.",
                            "init_checkpoint", resume=False)
    export_dir: str | None = knob(None, "Also write a SavedModel (TF Serving / OpenVINO contract) here.")
    model: ModelChoice = section(lambda: ModelChoice(size="base"), "the network")
    head: SquadHead = section(SquadHead, "the question-answering head")
    data: SquadData = section(SquadData, "SQuAD files and windows")
    decoding: Decoding = section(Decoding, "answers from logits")
    optimizer: FinetuneOptimizer = section(lambda: FinetuneOptimizer(
        learning_rate=1e-4, warmup_proportion=0.1, poly_power=1.0, beta_1=0.9, beta_2=0.999), "optimizer and schedule")
    trainer: FinetuneTrainer = section(lambda: FinetuneTrainer(
        xla=False, log_every=50, eval_every=0, checkpoint_every=1000, keep_checkpoints=3, keep_best="f1"),
        "loop length, cadence and precision")
    runtime: RuntimeConfig = section(RuntimeConfig, "launch")

    def __post_init__(self) -> None:
        t, o, d = self.trainer, self.optimizer, self.data
        training = self.mode in ("train", "train_eval")
        checks = [
            (bool(self.output_dir), "output_dir", self.output_dir, "is required"),
            (not training or bool(d.train_file), "data.train_file", d.train_file, f"is required to train "
                                                                                 f"(--mode={self.mode})"),
            (self.mode == "train" or bool(d.predict_file), "data.predict_file", d.predict_file,
             f"is required to predict (--mode={self.mode})"),
            (d.max_seq_length >= d.max_query_length + 4, "data.max_seq_length", d.max_seq_length,
             "must be >= data.max_query_length + 4"),
            (t.total_steps > 0 or t.epochs > 0, "trainer.epochs", t.epochs, "must be > 0 when total_steps is 0"),
        ]
        for flag, path in (("data.train_file", d.train_file), ("data.predict_file", d.predict_file),
                           ("data.vocab_file", d.vocab_file), ("model.config_file", self.model.config_file)):
            checks.append((not path or os.path.exists(path), flag, path, "does not exist"))
        _problems(checks + _trainer_checks(t, o))

    @property
    def dtype_policy(self) -> str:
        return PRECISIONS[self.trainer.precision]


GLUE_NAMES = ("cola", "sst-2", "mrpc", "sts-b", "qqp", "mnli", "mnli-mm", "qnli", "rte", "wnli")
FINETUNE_TASKS = ("classification", "regression", "tagging") + tuple(f"glue/{name}" for name in GLUE_NAMES)
FINETUNE_MODES = ("train", "eval", "predict", "train_eval")
DATA_FORMATS = ("auto", "csv", "tsv", "jsonl", "conll", "conllu")


@dataclasses.dataclass(frozen=True)
class FinetuneData:
    """Labelled text for sentence classification/regression and token tagging, and how it becomes windows."""

    train_file: str | None = knob(None, "Training file: a GLUE task's train.tsv, your CSV/TSV/JSON Lines, or a "
                                        "CoNLL / .conllu file for tagging.", "train_file")
    eval_file: str | None = knob(None, "Held-out labelled file in the training file's layout (GLUE: dev.tsv), "
                                       "scored during and after training.", "eval_file", "dev_file")
    test_file: str | None = knob(None, "File to predict (labels not needed): predictions.jsonl, and for a GLUE "
                                       "task the submission .tsv.", "test_file", "predict_file")
    format: str = knob("auto", "File layout: auto (GLUE's own for glue/*; else by extension), csv, tsv, jsonl, "
                               "conll, conllu.", choices=DATA_FORMATS, resume=False)
    text_column: str = knob("text", "Own CSV/TSV/JSONL data: the column holding the text.", resume=False)
    text_pair_column: str | None = knob(None, "Own data: the column holding the second text of a pair.",
                                        resume=False)
    label_column: str = knob("label", "Own data: the column holding the label (a class name, or a number for "
                                      "regression).", resume=False)
    tag_column: int = knob(-1, "CoNLL files: the column of the tag (-1: the last; CoNLL-2003 NER).", resume=False)
    conllu_field: str = knob("upos", "CoNLL-U files: the tag field (upos or xpos).", choices=("upos", "xpos"),
                             resume=False)
    vocab_file: str | None = knob(None, "vocab.txt or SentencePiece .model (default: the --init source's).",
                                  "vocab_file", resume=False)
    do_lower_case: bool | None = knob(None, "Lower-case the text (default: the --init source's, else true).",
                                      "do_lower_case", resume=False)
    max_seq_length: int = knob(128, "Tokens per window ([CLS] and [SEP] included).", "max_seq_length",
                               valid=">= 4", resume=False)
    stride: int | None = knob(None, "Tagging: sub-tokens from the start of one window of a long sentence to the "
                                    "next (default: half a window).", valid=">= 1", resume=False)
    train_batch_size: int = knob(32, "Examples per worker per micro-batch.", "train_batch_size", valid=">= 1")
    predict_batch_size: int = knob(64, "Examples per prediction batch.", "predict_batch_size", valid=">= 1")


@dataclasses.dataclass(frozen=True)
class FinetuneHead:
    """The classifier on top of the encoder."""

    pooler_activation: str = knob("gelu", "Sentence head: activation of its dense layer on [CLS] (gelu: Hugging "
                                          "Face's ElectraClassificationHead; tanh: TF Model Garden's).",
                                  choices=("gelu", "tanh"), resume=False)


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """Everything ``electra-finetune`` does: fine-tune a sentence classifier/regressor or a token tagger, score
    it, predict, export."""

    task: str = knob("", f"What to learn: {', '.join(FINETUNE_TASKS)}.", choices=FINETUNE_TASKS, required=True,
                     resume=False)
    output_dir: str = knob("", "Run directory: checkpoints, logs, model/, eval_results.json, predictions.")
    mode: str = knob("train_eval", "train, eval (score --data.eval_file), predict (--data.test_file) or "
                                   "train_eval.", choices=FINETUNE_MODES)
    init: str | None = knob(None, "Starting weights: a model directory (extracted discriminator, fine-tuned run), "
                                  "a pretraining run or checkpoint, google:<TF1 checkpoint>, hf:<dir>. Unset: random "
                                  "initialization to train, the run's own model to evaluate or predict.",
                            "init_checkpoint", resume=False)
    export_dir: str | None = knob(None, "Also write a SavedModel (serving_default: logits) here.")
    model: ModelChoice = section(lambda: ModelChoice(size="base"), "the network")
    head: FinetuneHead = section(FinetuneHead, "the classifier head")
    data: FinetuneData = section(FinetuneData, "files and windows")
    optimizer: FinetuneOptimizer = section(lambda: FinetuneOptimizer(
        learning_rate=1e-4, warmup_proportion=0.1, poly_power=1.0, beta_1=0.9, beta_2=0.999), "optimizer and schedule")
    trainer: FinetuneTrainer = section(lambda: FinetuneTrainer(
        xla=False, epochs=3.0, log_every=50, eval_every=0, eval_at_epoch_end=True, checkpoint_every=1000,
        keep_checkpoints=3, keep_best="score"), "loop length, cadence and precision")
    runtime: RuntimeConfig = section(RuntimeConfig, "launch")

    def __post_init__(self) -> None:
        t, d = self.trainer, self.data
        training = self.mode in ("train", "train_eval")
        checks = [
            (bool(self.output_dir), "output_dir", self.output_dir, "is required"),
            (not training or bool(d.train_file), "data.train_file", d.train_file,
             f"is required to train (--mode={self.mode})"),
            (self.mode not in ("eval", "train_eval") or bool(d.eval_file), "data.eval_file", d.eval_file,
             f"is required to evaluate (--mode={self.mode})"),
            (self.mode != "predict" or bool(d.test_file), "data.test_file", d.test_file,
             "is required to predict (--mode=predict)"),
            (t.total_steps > 0 or t.epochs > 0, "trainer.epochs", t.epochs, "must be > 0 when total_steps is 0"),
            (d.stride is None or d.stride <= d.max_seq_length - 2, "data.stride", d.stride,
             "must be <= data.max_seq_length - 2"),
        ]
        for flag, path in (("data.train_file", d.train_file), ("data.eval_file", d.eval_file),
                           ("data.test_file", d.test_file), ("data.vocab_file", d.vocab_file),
                           ("model.config_file", self.model.config_file)):
            checks.append((not path or os.path.exists(path), flag, path, "does not exist"))
        _problems(checks + _trainer_checks(t, self.optimizer))

    @property
    def kind(self) -> str:
        """``classification``, ``regression`` or ``tagging`` (a GLUE task is STS-B's regression or a
        classification)."""
        if self.task.startswith("glue/"):
            return "regression" if self.task == "glue/sts-b" else "classification"
        return self.task

    @property
    def glue_task(self) -> str | None:
        return self.task[len("glue/"):] if self.task.startswith("glue/") else None

    @property
    def dtype_policy(self) -> str:
        return PRECISIONS[self.trainer.precision]


def parse_bool(text: str) -> bool:
    """A boolean command-line value (``true/false``, ``yes/no``, ``1/0``, ``on/off``) for argparse ``type=``."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {text!r}")

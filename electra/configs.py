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
from typing import Any, Mapping


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
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)
            f.write("\n")

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
    # CPU tests and the quickstart: seconds per hundred steps on 2 cores.
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


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    """Replaced-token-detection objective: loss = gen_weight × MLM + disc_weight × RTD (Clark et al. use 1 and 50)."""

    gen_weight: float = 1.0
    disc_weight: float = 50.0
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"ObjectiveConfig.temperature must be > 0, got {self.temperature}")
        if self.gen_weight < 0 or self.disc_weight < 0:
            raise ValueError("ObjectiveConfig gen_weight and disc_weight must be >= 0")


PRECISIONS = {"fp32": "float32", "fp16": "mixed_float16", "bf16": "mixed_bfloat16"}


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    """Everything ``run_pretraining.py`` does; its flags map onto these fields one to one."""

    output_dir: str = ""
    model_size: str = "tiny"
    model_config_file: str | None = None
    generator_fraction: float | None = None
    vocab_file: str | None = None
    train_files: str | None = None
    validation_files: str | None = None
    max_seq_length: int = 128
    train_batch_size: int = 32            # per worker, per micro-batch
    global_batch_size: int | None = None  # optional: checked against workers × batch × accumulation
    gradient_accumulation_steps: int = 1
    optimizer: str = "lamb"
    learning_rate: float = 5e-3
    warmup_steps: int = 100
    total_steps: int = 1000
    poly_power: float = 0.5
    end_learning_rate: float = 0.0
    beta_1: float = 0.878
    beta_2: float = 0.974
    epsilon: float = 1e-6
    weight_decay: float = 0.01
    grad_clip_norm: float = 1.0
    gen_weight: float = 1.0
    disc_weight: float = 50.0
    mask_prob: float = 0.15
    temperature: float = 1.0
    precision: str = "fp32"
    xla: bool = True
    seed: int = 42
    save_checkpoints_steps: int = 500
    keep_checkpoint_max: int = 5
    restore: str = "latest"              # "latest" (resume if output_dir has a checkpoint), "none", or a path
    init_checkpoint: str | None = None    # phase 2: weights from a phase-1 checkpoint, fresh optimizer & schedule
    steps_this_run: int = -1
    log_freq: int = 10
    validation_freq: int = 500
    validation_steps: int = 20
    horovod: bool | None = None           # None: distributed exactly when a multi-process launcher started us
    fp16_allreduce: bool = False
    shuffle_buffer: int = 10_000

    def __post_init__(self) -> None:
        checks = [
            (bool(self.output_dir), "output_dir", "is required"),
            (self.precision in PRECISIONS, "precision", f"must be one of {sorted(PRECISIONS)}"),
            (self.optimizer in ("lamb", "adamw"), "optimizer", "must be 'lamb' or 'adamw'"),
            (self.max_seq_length >= 8, "max_seq_length", "must be >= 8"),
            (self.train_batch_size >= 1, "train_batch_size", "must be >= 1"),
            (self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps", "must be >= 1"),
            (self.total_steps >= 1, "total_steps", "must be >= 1"),
            (0 <= self.warmup_steps <= self.total_steps, "warmup_steps", "must be in [0, total_steps]"),
            (self.learning_rate > 0, "learning_rate", "must be > 0"),
            (0 < self.mask_prob < 1, "mask_prob", "must be in (0, 1)"),
            (self.temperature > 0, "temperature", "must be > 0"),
            (self.save_checkpoints_steps >= 1, "save_checkpoints_steps", "must be >= 1"),
            (self.log_freq >= 1, "log_freq", "must be >= 1"),
        ]
        for ok, flag, message in checks:
            if not ok:
                raise ValueError(f"--{flag}={getattr(self, flag)!r} {message}")

    @property
    def dtype_policy(self) -> str:
        return PRECISIONS[self.precision]

    def replace(self, **changes: Any) -> "PretrainConfig":
        return dataclasses.replace(self, **changes)


def parse_bool(text: str) -> bool:
    """A boolean command-line value (``true/false``, ``yes/no``, ``1/0``, ``on/off``) for argparse ``type=``."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {text!r}")

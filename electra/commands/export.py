r"""Export a fine-tuned model (SQuAD, sentence classification or regression, token tagging) as a SavedModel (and
OpenVINO IR / ONNX) for serving.

    electra-export --init=out/squad --output_dir=out/export
    electra-export --init=out/squad/checkpoints/ckpt-300 --output_dir=out/export --formats=saved_model,openvino,onnx
    electra-export --init=hf:hf_squad_model/ --output_dir=out/export --data.max_seq_length=256
    electra-export --init=out/sst2/model --output_dir=out/sst2_export --formats=saved_model,onnx

``--init`` (or NVIDIA's ``--init_checkpoint``): a model directory, a run_squad output directory (its ``model/``, else
its latest checkpoint), a ``checkpoints/`` directory or ``ckpt-N`` prefix, ``hf:<dir>`` or ``google:<ckpt>``. The
head (span or joint, with or without the answer class) is the weights' own and is recorded in the export, so
``predict.py`` decodes it the right way. The windows and decoding settings are those of the run that trained the
weights (its ``run_info.json``), else run_squad's defaults; flags override them. Written under ``--output_dir``:
``saved_model/`` (``serving_default``: ``input_ids``, ``input_mask``, ``segment_ids`` int32
``[batch, max_seq_length]`` → ``start_logits``, ``end_logits``), ``openvino/model.xml`` and ``model.onnx``, as
``--formats`` lists (in the IR and ONNX files output 0 is ``start_logits``).

A sentence classifier or tagger (a model directory whose metadata ``task`` is ``classification``, ``regression``
or ``tagging``, or a Hugging Face ``ElectraFor{Sequence,Token}Classification`` directory) is exported with one
output, ``logits`` (``[batch, num_labels]``; ``[batch, max_seq_length, num_labels]`` for tagging), its label names
(``assets/labels.json``) and ``assets/task_settings.json``; its window is the fine-tuning run's (metadata
``finetune``), else 128; only ``--max_seq_length``, ``--do_lower_case`` and (tagging) ``--stride`` apply.
"""
from __future__ import annotations

import dataclasses

from electra.commands.entry import Command, missing_inputs
from electra.configs import ConfigError, Decoding, SquadData, knob, section

FORMATS = ("saved_model", "openvino", "onnx")     # what electra.export.export_model writes


def _run_or(cls, name: str, otherwise: str | None = None):
    """A flag that overrides a run_squad setting: unset, the exported run's value, else run_squad's default."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    help_text = field.metadata["help"].split(" (default:")[0].rstrip(".")
    return knob(None, f"{help_text}. Unset: the exported run's, else {otherwise or field.default}.",
                *field.metadata["aliases"], valid=getattr(field.metadata["valid"], "text", ""))


@dataclasses.dataclass(frozen=True)
class ExportData:
    max_seq_length: int | None = _run_or(SquadData, "max_seq_length",
                                         "384 (SQuAD), 128 (classification, tagging)")
    doc_stride: int | None = _run_or(SquadData, "doc_stride")
    max_query_length: int | None = _run_or(SquadData, "max_query_length")
    do_lower_case: bool | None = _run_or(SquadData, "do_lower_case", "the source's")
    version_2_with_negative: bool | None = _run_or(SquadData, "version_2_with_negative",
                                                   "true when the weights hold an answer class")
    stride: int | None = knob(None, "Tagging exports: sub-tokens between the starts of a long sentence's windows. "
                                    "Unset: the fine-tuning run's, else half a window.", "stride", valid=">= 1")


@dataclasses.dataclass(frozen=True)
class ExportDecoding:
    n_best_size: int | None = _run_or(Decoding, "n_best_size")
    beam_size: int | None = _run_or(Decoding, "beam_size")
    max_answer_length: int | None = _run_or(Decoding, "max_answer_length")
    null_score_diff_threshold: float | None = _run_or(Decoding, "null_score_diff_threshold")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    init: str = knob("", "The fine-tuned model: model directory, run output directory, checkpoints/ or "
                         "ckpt-N prefix, hf:<dir>, google:<ckpt>.", "init_checkpoint")
    output_dir: str = knob("", "Where saved_model/, openvino/ and model.onnx are written.")
    formats: str = knob("saved_model", f"Comma-separated subset of {','.join(FORMATS)}.")
    vocab_file: str | None = knob(None, "Vocabulary; unset: the source's.")
    model_config_file: str | None = knob(None, "Model config JSON; unset: the source's.")
    data: ExportData = section(ExportData, "windows (SQuAD, classification, tagging)")
    decoding: ExportDecoding = section(ExportDecoding, "answers from logits")

    def __post_init__(self) -> None:
        for name, value in (("init", self.init), ("output_dir", self.output_dir)):
            if not value:
                raise ConfigError(f"--{name} is required")
        if not self.format_list or set(self.format_list) - set(FORMATS):
            raise ConfigError(f"--formats={self.formats!r}: choose a comma-separated subset of {','.join(FORMATS)}")
        for group in (self.data, self.decoding):
            for field in dataclasses.fields(group):
                value = getattr(group, field.name)
                if isinstance(value, int) and not isinstance(value, bool) and value < 1:
                    raise ConfigError(f"--{field.name}={value}: must be >= 1")
        missing_inputs(("--init", self.init, "weights"), ("--vocab_file", self.vocab_file, "file"),
                       ("--model_config_file", self.model_config_file, "file"))

    @property
    def format_list(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.strip() for f in self.formats.split(",") if f.strip()))


def _run(config: ExportConfig) -> dict:
    from electra.export import export_model
    return export_model(config.init, config.output_dir, config.format_list, vocab_file=config.vocab_file,
                        model_config_file=config.model_config_file, **dataclasses.asdict(config.data),
                        **dataclasses.asdict(config.decoding))


COMMAND = Command("electra-export", ExportConfig, _run, __doc__)
main = COMMAND.main

if __name__ == "__main__":
    raise SystemExit(main())

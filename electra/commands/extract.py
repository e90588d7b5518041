"""Extract the discriminator (for fine-tuning) and the generator from a pretraining checkpoint.

  electra-extract --checkpoint=runs/tiny --output_dir=runs/tiny/extracted

``--checkpoint`` (or NVIDIA's ``--pretrained_checkpoint``): a pretraining run directory (its latest checkpoint), its
``checkpoints/``, a ``ckpt-N`` prefix or ``google:<google-research/electra checkpoint>``. ``<output_dir>/discriminator``
is a model directory (``electra.interop.store``): give it to run_squad as ``--init``. Bad input exits with status 2.
"""
from __future__ import annotations

import dataclasses

from electra.commands.entry import Command
from electra.configs import ConfigError, knob


@dataclasses.dataclass(frozen=True)
class ExtractConfig:
    checkpoint: str = knob("", "Pretraining run directory, its checkpoints/, a ckpt-N prefix or google:<ckpt>.",
                           "pretrained_checkpoint")
    output_dir: str = knob("", "Where discriminator/ and generator/ are written.")
    model_config_file: str | None = knob(None, "Model config JSON; unset: the run's model_config.json.")
    vocab_file: str | None = knob(None, "Vocabulary shipped beside the discriminator; unset: the run's.")

    def __post_init__(self) -> None:
        for name in ("checkpoint", "output_dir"):
            if not getattr(self, name):
                raise ConfigError(f"--{name} is required")


def _run(config: ExtractConfig) -> dict:
    from electra.interop.extract import extract
    from electra.io import StorageError
    try:
        return extract(config.checkpoint, config.output_dir, config.model_config_file, config.vocab_file)
    except StorageError:
        raise                               # a full or read-only output directory: exit 74
    except OSError as e:
        raise ValueError(str(e)) from e     # a source that cannot be read is bad input (exit 2)


COMMAND = Command("electra-extract", ExtractConfig, _run, __doc__)
main = COMMAND.main

if __name__ == "__main__":
    raise SystemExit(main())

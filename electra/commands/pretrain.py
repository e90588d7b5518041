"""Pretrain ELECTRA (generator + discriminator, replaced-token detection).

  electra-pretrain --output_dir=runs/tiny               # tiny model, embedded default data
  electra-pretrain --config=recipes/pretrain_phase1.json --model.size=base \\
      --data.train_files='data/seq128/train/*.tfrecord' --data.vocab_file=data/vocab.txt --output_dir=runs/base-p1
  horovodrun -np 8 python run_scripts/run_pretraining.py ...   # the same flags, one process per GPU

``electra-pretrain`` (the installed command) and ``python run_scripts/run_pretraining.py`` (from a checkout) are one
program. ``--config`` loads a recipe first; flags win.
"""
from __future__ import annotations

from electra.commands.entry import Command, missing_inputs
from electra.configs import PretrainConfig


def _check(config: PretrainConfig) -> None:
    data = config.data
    missing_inputs(("--data.train_files", data.train_files, "globs"),
                   ("--data.validation_files", data.validation_files, "globs"),
                   ("--data.vocab_file", data.vocab_file, "file"),
                   ("--model.config_file", config.model.config_file, "file"), ("--init", config.init, "weights"))


def _run(config: PretrainConfig) -> dict:
    from data_prep.embedded import default_pretraining_data
    from electra.tasks.pretraining import run
    return run(config, default_pretraining_data)


COMMAND = Command("electra-pretrain", PretrainConfig, _run, __doc__, check=_check)
main = COMMAND.main

if __name__ == "__main__":
    raise SystemExit(main())

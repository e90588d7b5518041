"""Pretrain ELECTRA (generator + discriminator, replaced-token detection).

  electra-pretrain --output_dir=runs/tiny               # tiny model, embedded default data
  electra-pretrain --config=recipes/pretrain_phase1.json --model.size=base \\
      --data.train_files='data/seq128/train/*.tfrecord' --data.vocab_file=data/vocab.txt --output_dir=runs/base-p1
  horovodrun -np 8 python run_scripts/run_pretraining.py ...   # the same flags, one process per GPU

``electra-pretrain`` (the installed command) and ``python run_scripts/run_pretraining.py`` (from a checkout) are one
program.

Every field of ``electra.configs.PretrainConfig`` is a dotted flag (``--optimizer.learning_rate``); the flat names
of earlier releases (``--learning_rate``) still work. ``--config`` loads a recipe first; flags win.
"""
from __future__ import annotations

import json
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    from electra.cli import parse
    from electra.configs import ConfigError, PretrainConfig

    try:
        config = parse(PretrainConfig, argv, __doc__)
    except ConfigError as e:
        print(f"run_pretraining: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from electra.data.pretraining import InputError
    from electra.tasks.pretraining import run
    from electra.training.checkpointing import CheckpointReadError
    from electra.training.distribution import LaunchError
    from electra.training.experiment import TrainingError
    from electra.training.rundir import RunLockedError
    from data_prep.embedded import default_pretraining_data
    try:
        summary = run(config, default_pretraining_data)
    except (LaunchError, RunLockedError, ConfigError) as e:
        print(f"run_pretraining: {e}", file=sys.stderr)
        return 2
    except (TrainingError, CheckpointReadError, InputError) as e:
        print(f"run_pretraining: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except ValueError as e:          # inputs that do not fit: vocabulary, sizes, --init weights (WeightLoadError)
        print(f"run_pretraining: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fine-tune ELECTRA on SQuAD v1.1/v2.0, predict, evaluate (EM/F1) and export a SavedModel.

    electra-squad --config=recipes/squad_v1.1_base.json --init=out/extracted/discriminator \\
        --data.train_file=train-v1.1.json --data.predict_file=dev-v1.1.json --output_dir=out/squad \\
        --export_dir=out/squad/saved_model

Every field of ``electra.configs.SquadConfig`` is a dotted flag; the flat names of earlier releases still work.
``--init`` takes a model directory, a pretraining run or checkpoint, ``google:<TF1 checkpoint>`` or ``hf:<dir>``.
"""
from __future__ import annotations

import json
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    from electra.cli import parse
    from electra.configs import ConfigError, SquadConfig

    try:
        config = parse(SquadConfig, argv, __doc__)
    except ConfigError as e:
        print(f"run_squad: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from electra.interop.weights import WeightLoadError
    from electra.squad.data import SquadFormatError
    from electra.tasks.squad import run
    from electra.training.distribution import LaunchError
    from electra.training.experiment import TrainingError
    from electra.training.rundir import RunLockedError

    try:
        result = run(config)
    except (SquadFormatError, ValueError, FileNotFoundError, LaunchError, RunLockedError, WeightLoadError) as e:
        print(f"run_squad: {e}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"run_squad: TrainingError: {e}", file=sys.stderr)
        return 1
    print(json.dumps({k: result[k] for k in ("eval", "train", "export_dir") if k in result}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fine-tune ELECTRA on SQuAD v1.1/v2.0, predict, evaluate (EM/F1) and export a SavedModel.

    electra-squad --config=recipes/squad_v1.1_google.json --init=out/extracted/discriminator \\
        --data.train_file=train-v1.1.json --data.predict_file=dev-v1.1.json --output_dir=out/squad \\
        --export_dir=out/squad/saved_model

``--init`` takes a model directory, a pretraining run or checkpoint, ``google:<TF1 checkpoint>`` or ``hf:<dir>``.
"""
from __future__ import annotations

from electra.commands.entry import Command, missing_inputs
from electra.configs import SquadConfig


def _run(config: SquadConfig) -> dict:
    from electra.tasks.squad import run
    result = run(config)
    return {k: result[k] for k in ("eval", "train", "export_dir") if k in result}


COMMAND = Command("electra-squad", SquadConfig, _run, __doc__,
                  check=lambda config: missing_inputs(("--init", config.init, "weights")))
main = COMMAND.main

if __name__ == "__main__":
    raise SystemExit(main())

"""Fine-tune ELECTRA on sentence classification/regression (GLUE or your own CSV/TSV/JSON Lines) or token tagging
(NER, POS), score it, predict and export a SavedModel.

    electra-finetune --config=recipes/glue/sst-2_base.json --init=out/extracted/discriminator \\
        --data.train_file=glue/SST-2/train.tsv --data.eval_file=glue/SST-2/dev.tsv --output_dir=out/sst-2
    electra-finetune --task=classification --data.train_file=reviews.csv --data.eval_file=held_out.csv \\
        --data.text_column=review --data.label_column=stars --init=hf:electra-base --output_dir=out/reviews
    electra-finetune --config=recipes/ner_base.json --data.train_file=wnut17train.conll \\
        --data.eval_file=emerging.dev.conll --init=hf:electra-base --output_dir=out/wnut

``--init`` takes a model directory, a pretraining run or checkpoint, ``google:<TF1 checkpoint>`` or ``hf:<dir>``.
``--mode=predict --data.test_file=...`` with a fine-tuned run's ``--output_dir`` (or ``--init`` its model) writes
``predictions.jsonl``, and for a GLUE task ``glue_submission/<Task>.tsv``.
"""
from __future__ import annotations

from electra.commands.entry import Command, missing_inputs
from electra.configs import FinetuneConfig


def _run(config: FinetuneConfig) -> dict:
    from electra.tasks.finetuning import run
    result = run(config)
    return {k: result[k] for k in ("task", "eval", "train", "predictions", "export_dir") if k in result}


COMMAND = Command("electra-finetune", FinetuneConfig, _run, __doc__,
                  check=lambda config: missing_inputs(("--init", config.init, "weights")))
main = COMMAND.main

if __name__ == "__main__":
    raise SystemExit(main())

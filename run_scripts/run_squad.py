"""Fine-tune ELECTRA on SQuAD v1.1/v2.0, predict, evaluate (EM/F1) and export a SavedModel.

    python run_scripts/run_squad.py --mode=train_eval --train_file=train-v1.1.json --predict_file=dev-v1.1.json \
        --vocab_file=vocab.txt --init_checkpoint=out/pretrain/extracted/discriminator/model.ckpt \
        --output_dir=out/squad --export_dir=out/squad/saved_model

Flags map one to one onto ``electra.squad.runner.SquadRunConfig``; see ``--help``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


HELP = {
    "init_checkpoint": "our pretraining checkpoint (dir or ckpt-N), an extracted discriminator model.ckpt, a "
                       "fine-tuned run's checkpoints/ dir, or a Google TF1 checkpoint",
    "hf_checkpoint": "Hugging Face ElectraForQuestionAnswering/ElectraForPreTraining safetensors directory",
    "model_size": "preset when neither model_config_file nor a config next to the checkpoint is found",
    "max_steps": "> 0: train this many steps instead of num_train_epochs",
    "answerability_head": "v2: add an answerability classifier head (its loss is added to the span loss)",
    "cache_dir": "feature cache (default: <output_dir>/feature_cache)",
    "horovod": "distributed with Horovod; default: on exactly when started by horovodrun, mpirun, a PMI launcher or "
               "srun with several tasks (false under such a launcher is an error)",
}


def build_parser() -> argparse.ArgumentParser:
    from electra.configs import parse_bool
    from electra.squad.runner import MODES, SquadRunConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for field in dataclasses.fields(SquadRunConfig):
        required = field.default is dataclasses.MISSING
        default = None if required else field.default
        kind = {"int": int, "float": float, "bool": parse_bool, "bool | None": parse_bool}.get(str(field.type),
                                                                                               str)
        extra = {"choices": MODES} if field.name == "mode" else {}
        if field.name == "precision":
            extra = {"choices": ("fp32", "fp16", "bf16")}
        if kind is parse_bool:
            extra = {"nargs": "?", "const": True}   # --xla, --xla=true, --xla false all work
        parser.add_argument(f"--{field.name}", type=kind, default=default, required=required,
                            help=HELP.get(field.name, f"default: {default}"), **extra)
    return parser


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    from electra.squad.data import SquadFormatError
    from electra.squad.runner import SquadRunConfig, run
    from electra.training.distribution import LaunchError
    from electra.training.rundir import RunLockedError

    try:
        result = run(SquadRunConfig(**vars(args)))
    except (SquadFormatError, ValueError, FileNotFoundError, LaunchError, RunLockedError) as e:
        print(f"run_squad: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: result[k] for k in ("eval", "train", "export_dir") if k in result}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

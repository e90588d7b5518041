"""Pretrain ELECTRA (generator + discriminator, replaced-token detection).

  python run_scripts/run_pretraining.py --output_dir=runs/tiny               # tiny model, embedded default data
  horovodrun -np 8 python run_scripts/run_pretraining.py --model_size=base \\
      --train_files='data/train/*.tfrecord' --vocab_file=data/vocab.txt --output_dir=runs/base-p1 ...

Every flag maps onto a field of ``electra.configs.PretrainConfig``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from electra.configs import PRESETS, PRECISIONS, PretrainConfig  # noqa: E402

HELP = {
    "output_dir": "Run directory: checkpoints, logs, TensorBoard, configs.",
    "model_size": f"Model preset: {', '.join(PRESETS)}.",
    "model_config_file": "JSON ModelConfig; overrides --model_size.",
    "generator_fraction": "Generator width as a fraction of the discriminator's (preset default if unset).",
    "vocab_file": "WordPiece vocab.txt or SentencePiece .model (default: the embedded default's).",
    "train_files": "Comma-separated globs of training TFRecords (default: prepare the embedded default corpus).",
    "validation_files": "Comma-separated globs of held-out TFRecords for the validation loss.",
    "max_seq_length": "Sequence length of the records (128 for phase 1, 512 for phase 2).",
    "train_batch_size": "Sequences per worker per micro-batch.",
    "global_batch_size": "Optional check: must equal workers × train_batch_size × gradient_accumulation_steps.",
    "gradient_accumulation_steps": "Micro-batches per optimizer step.",
    "optimizer": "lamb or adamw.",
    "learning_rate": "Peak learning rate.",
    "warmup_steps": "Linear warmup steps.",
    "total_steps": "Optimizer steps of the whole run (the schedule's length).",
    "poly_power": "Power of the polynomial decay after warmup (NVIDIA: 0.5).",
    "end_learning_rate": "Learning rate at the end of the decay.",
    "beta_1": "Adam/LAMB beta1 (NVIDIA LAMB: 0.878).",
    "beta_2": "Adam/LAMB beta2 (NVIDIA LAMB: 0.974).",
    "epsilon": "Adam/LAMB epsilon.",
    "weight_decay": "Weight decay (not on LayerNorm or biases).",
    "grad_clip_norm": "Global-norm gradient clipping (0 disables).",
    "gen_weight": "Weight of the generator's MLM loss.",
    "disc_weight": "Weight of the discriminator's RTD loss.",
    "mask_prob": "Fraction of tokens masked.",
    "temperature": "Sampling temperature of the generator.",
    "precision": f"{', '.join(PRECISIONS)} (fp16 uses dynamic loss scaling).",
    "xla": "Compile the forward/backward pass with XLA.",
    "seed": "Random seed (weights, data order, masks, sampling).",
    "save_checkpoints_steps": "Checkpoint every N steps (and at the end of the run).",
    "keep_checkpoint_max": "Checkpoints kept.",
    "restore": "'latest' (resume if output_dir has a checkpoint), 'none', or a checkpoint path.",
    "init_checkpoint": "Phase 2: start from this phase-1 checkpoint's weights with a fresh optimizer and schedule.",
    "steps_this_run": "Stop after this many steps (-1: run to --total_steps).",
    "log_freq": "Log every N steps.",
    "validation_freq": "Validation loss every N steps (0: never).",
    "validation_steps": "Validation batches per evaluation.",
    "horovod": "Distributed with Horovod. Default: on exactly when started by horovodrun, mpirun, a PMI launcher "
               "or srun with several tasks; --horovod forces it, --nohorovod under such a launcher is an error.",
    "fp16_allreduce": "Compress gradients to fp16 for the allreduce.",
    "shuffle_buffer": "Records in the shuffle buffer.",
}


def define_flags():
    for field in dataclasses.fields(PretrainConfig):
        name, default, kind = field.name, field.default, field.type
        default = None if name == "output_dir" else default
        help_text = HELP[name]
        if kind in ("bool", "bool | None"):
            flags.DEFINE_bool(name, default, help_text)
        elif kind == "int":
            flags.DEFINE_integer(name, default, help_text)
        elif kind == "float":
            flags.DEFINE_float(name, default, help_text)
        elif kind == "int | None":
            flags.DEFINE_integer(name, default, help_text)
        elif kind == "float | None":
            flags.DEFINE_float(name, default, help_text)
        else:
            flags.DEFINE_string(name, default, help_text)
    flags.mark_flag_as_required("output_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.getLogger("electra").setLevel(logging.INFO)
    values = {f.name: flags.FLAGS[f.name].value for f in dataclasses.fields(PretrainConfig)}
    try:
        config = PretrainConfig(**values)
    except ValueError as e:
        raise app.UsageError(str(e))
    from electra.data.pretraining import InputError
    from electra.training.checkpointing import CheckpointReadError
    from electra.training.distribution import LaunchError
    from electra.training.pretrain import TrainingError, run
    from electra.training.rundir import RunLockedError
    try:
        summary = run(config)
    except (LaunchError, RunLockedError) as e:
        print(f"run_pretraining: {e}", file=sys.stderr)
        sys.exit(2)
    except (TrainingError, CheckpointReadError, InputError) as e:
        print(f"run_pretraining: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(summary, default=float))


if __name__ == "__main__":
    define_flags()
    app.run(main)

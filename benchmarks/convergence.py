"""Convergence of our pretraining against an independent PyTorch reference: same data, same masks, same objective,
same AdamW schedule, several seeds; JSON, a PNG of the curves, and a verdict whether ours lies within the reference's
seed spread.

  /path/to/venv-with-torch/bin/python benchmarks/convergence.py                # tiny, seeds 0,1,2, embedded data
  .venv/bin/python benchmarks/convergence.py --ours_only --steps=100             # our side only (no torch needed)
  .venv/bin/python benchmarks/convergence.py --rejudge benchmarks/results/convergence.json   # verdicts + PNG again

Results and their reading: benchmarks/README.md, "Convergence".

**Ours** is the real job, ``electra.tasks.pretraining.run`` with ``optimizer.name=adamw``, unchanged; its
checkpoints are evaluated afterwards (``convergence_ours``).

**The reference** is Hugging Face's ``ElectraForMaskedLM`` + ``ElectraForPreTraining`` sharing the embeddings
module, the LM head tied to the word table, as google-research/electra shares them; the objective (MLM + 50 × RTD,
Gumbel-max sample at temperature 1), ``torch.optim.AdamW``, clipping and a ``LambdaLR`` equal to our
``WarmupPolyDecay`` are written here in torch. It is fed the exact masked batches our run consumes (the same
``pretraining_dataset`` call under the same global seed), and that is checked: the task's own first batches, and
the input position our run saved with every checkpoint, restored, against the reference's batch at that step.

**Evaluation** (both sides, every interval): the same held-out batches, masks and Gumbel noise, one numpy
function for the metrics (``convergence_metrics``).

Exit code 3 when torch/transformers cannot be imported (unless ``--ours_only``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import electra  # noqa: E402,F401  (before TensorFlow loads: turns its oneDNN CPU kernels on)
from benchmarks.common import RESULTS, machine_record, versions  # noqa: E402
from benchmarks.convergence_metrics import batch_digest  # noqa: E402
from benchmarks.convergence_ours import (  # noqa: E402
    check_consumed_batches, describe_data, held_out_batches, ours_config, prepared_task, run_ours)
from benchmarks.convergence_reference import check_schedules, import_reference, run_reference  # noqa: E402
from benchmarks.convergence_report import DIFFERENCES, to_jsonable, verdicts, write_outputs  # noqa: E402

EXIT_NO_REFERENCE = 3


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seeds", default="0,1,2", help="Comma-separated seeds (each side trains once per seed).")
    p.add_argument("--steps", type=int, default=200, help="Optimizer steps per run.")
    p.add_argument("--eval_every", type=int, default=25, help="Held-out evaluation (and our checkpoint) interval.")
    p.add_argument("--eval_batches", type=int, default=8, help="Held-out batches per evaluation (at most).")
    p.add_argument("--log_every", type=int, default=10, help="Training-loss log window.")
    p.add_argument("--model_size", default="tiny", help="Model preset.")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_length", type=int, default=128)
    p.add_argument("--learning_rate", type=float, default=1e-3, help="Peak AdamW learning rate (both sides).")
    p.add_argument("--warmup_steps", type=int, default=None, help="Linear warmup (default: steps // 10).")
    p.add_argument("--poly_power", type=float, default=1.0, help="Decay power after warmup (1: linear).")
    p.add_argument("--weight_decay", type=float, default=0.01)
    p.add_argument("--beta_1", type=float, default=0.9)
    p.add_argument("--beta_2", type=float, default=0.999)
    p.add_argument("--epsilon", type=float, default=1e-6)
    p.add_argument("--clip_norm", type=float, default=1.0)
    p.add_argument("--shuffle_buffer", type=int, default=10_000)
    p.add_argument("--torch_threads", type=int, default=1,
                   help="torch.set_num_threads for the reference (0: torch's default). 1: on a small shared CPU, "
                        "OpenMP threads spinning against TF's pools and other processes slowed the reference 2x.")
    p.add_argument("--xla", action="store_true", help="Compile our step with XLA (off, as the tiny CPU recipe).")
    p.add_argument("--train_files", default=None, help="Training TFRecord globs (default: the embedded corpus).")
    p.add_argument("--validation_files", default=None, help="Held-out TFRecord globs.")
    p.add_argument("--vocab_file", default=None)
    p.add_argument("--work_dir", default=None, help="Run directories and data (default: a temporary directory, "
                                                      "removed at the end).")
    p.add_argument("--output_json", default=os.path.join(RESULTS, "convergence.json"))
    p.add_argument("--output_png", default=os.path.join(RESULTS, "convergence.png"))
    p.add_argument("--ours_only", action="store_true", help="Run and write our side only (no torch needed).")
    p.add_argument("--rejudge", default=None, metavar="RESULT_JSON",
                   help="Recompute the verdicts and the PNG from this result's stored curves (no training), writing "
                        "--output_json / --output_png.")
    args = p.parse_args(argv)
    args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    if args.warmup_steps is None:
        args.warmup_steps = args.steps // 10
    if args.steps < 1 or args.eval_every < 1 or not args.seed_list:
        p.error("--steps and --eval_every must be >= 1 and --seeds non-empty")
    if args.train_files and not (args.validation_files and args.vocab_file):
        p.error("--train_files needs --validation_files and --vocab_file")
    return args


def rejudge(args) -> int:
    """``--rejudge RESULT.json``: recompute the verdicts and the PNG from a result's stored curves (no training)."""
    with open(args.rejudge, encoding="utf-8") as f:
        result = json.load(f)
    if not result.get("reference"):
        print(f"convergence: {args.rejudge} holds no reference curves; nothing to judge", file=sys.stderr)
        return 1

    def runs(side):
        return {seed: {"curve": {int(step): values for step, values in run["curve"].items()}}
                for seed, run in result[side].items()}
    result["verdict"] = to_jsonable(verdicts(runs("ours"), runs("reference"), [int(s) for s in result["intervals"]]))
    result["rejudged"] = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                          "command": " ".join([sys.executable, os.path.relpath(os.path.abspath(__file__), ROOT)]
                                              + sys.argv[1:]),
                          "what": "verdict and PNG recomputed from the stored curves by this script's current "
                                  "verdict code; everything else is from the original run"}
    write_outputs(result, args)
    print(result["verdict"]["summary"])
    return 0


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.rejudge:
        return rejudge(args)
    reference_modules = None
    if not args.ours_only:
        reference_modules, problem = import_reference()
        if reference_modules is None:
            print(f"convergence: the PyTorch reference cannot run: torch and transformers are needed "
                  f"({problem}). Run this script with an environment that has them (torch and transformers installed), "
                  f"or pass --ours_only to run and write our side alone.", file=sys.stderr)
            return EXIT_NO_REFERENCE
    started = time.time()
    import tensorflow as tf
    work = args.work_dir or tempfile.mkdtemp(prefix="electra_convergence_")
    os.makedirs(work, exist_ok=True)
    from data_prep.embedded import default_pretraining_data
    if args.train_files:
        data = {"source": "files", "train_files": args.train_files, "validation_files": args.validation_files,
                "vocab_file": args.vocab_file}
    else:
        train, validation, vocab = default_pretraining_data(os.path.join(work, "shared"))
        data = {"source": "embedded default (data_prep.embedded.default_pretraining_data)", "train_files": train,
                "validation_files": validation, "vocab_file": vocab,
                "dataset_json": os.path.join(work, "shared", "data", "dataset.json")}
    result = {"benchmark": "pretraining_convergence", "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "command": " ".join([sys.executable, os.path.relpath(os.path.abspath(__file__), ROOT)]
                                  + (sys.argv[1:] if argv is None else list(argv))),
              "machine": machine_record(fresh_pages=False),
              "versions": versions("torch", "transformers", "matplotlib"), "data": describe_data(data),
              "settings": {k: v for k, v in vars(args).items() if k not in ("seed_list", "seeds")}}
    result["settings"]["seeds"] = args.seed_list
    threads = {"tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
               "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads()}
    if reference_modules:
        if args.torch_threads > 0:
            reference_modules["torch"].set_num_threads(args.torch_threads)
        threads["torch"] = reference_modules["torch"].get_num_threads()
    result["machine"]["threads"] = threads

    # The held-out batches, the schedule check and the resolved config, from the first seed's task.
    probe = prepared_task(ours_config(args, args.seed_list[0], data, os.path.join(work, "probe")))
    eval_batches = held_out_batches(probe, args.eval_batches)
    result["data"]["held_out"] = {
        "batches": len(eval_batches), "sequences": int(sum(len(b["input_ids"]) for b in eval_batches)),
        "masked_positions": int(sum(b["masked_lm_weights"].sum() for b in eval_batches)),
        "tokens": int(sum(b["input_mask"].sum() for b in eval_batches)),
        "sha256": hashlib.sha256("".join(batch_digest(b) for b in eval_batches).encode()).hexdigest()}
    result["schedule_check"] = check_schedules(probe.config, args.steps,
                                               reference_modules["torch"] if reference_modules else None)
    result["config"] = {"ours": _config_dict(probe.config), "model": probe.model_config.to_dict()}

    ours, reference, checks = {}, {}, {}
    for seed in args.seed_list:
        print(f"[seed {seed}] ours: {args.steps} steps", flush=True)
        side = run_ours(args, seed, data, work, eval_batches, default_pretraining_data)
        print(f"[seed {seed}] ours: {side['seconds']['per_step']:.3f} s/step, final "
              f"{_brief(side['curve'][max(side['curve'])])}", flush=True)
        ours[seed] = side
        checks[seed] = {"first_batches": side["first_batches"],
                        "init_rebuild_deterministic": side["init_rebuild_deterministic"]}
        if reference_modules:
            print(f"[seed {seed}] reference: {args.steps} steps", flush=True)
            ref = run_reference(args, seed, side["task"], eval_batches)
            print(f"[seed {seed}] reference: {ref['seconds']['per_step']:.3f} s/step, final "
                  f"{_brief(ref['curve'][max(ref['curve'])])}", flush=True)
            checks[seed]["consumed_batches"] = check_consumed_batches(side["task"], side["run_dir"], seed,
                                                                      ref["digests"])
            if ref["parameters"] != side["parameters"]:
                raise AssertionError(f"the reference has {ref['parameters']} parameters, ours {side['parameters']}: "
                                     f"the two models are not the same architecture")
            checks[seed]["parameters_equal"] = side["parameters"]
            reference[seed] = ref
    steps = sorted(next(iter(ours.values()))["curve"])
    result["intervals"] = steps
    result["batch_checks"] = checks
    result["ours"] = {str(seed): {"curve": side["curve"], "train_log": side["train_log"], "seconds": side["seconds"],
                                  "weights_sha256": side["summary"].get("weights_sha256"),
                                  "parameters": side["parameters"],
                                  "host_syncs": side["summary"].get("host_syncs")} for seed, side in ours.items()}
    if reference:
        result["reference"] = {str(seed): {"curve": r["curve"], "train_log": r["train_log"], "seconds": r["seconds"],
                                           "parameters": r["parameters"],
                                           "learning_rates_first": [s["learning_rate"] for s in r["steps"][:3]],
                                           "learning_rate_last": r["steps"][-1]["learning_rate"]}
                               for seed, r in reference.items()}
        result["verdict"] = verdicts(ours, reference, steps)
        print(result["verdict"]["summary"], flush=True)
    else:
        result["reference"] = None
        result["verdict"] = None
    result["differences"] = DIFFERENCES
    result["seconds_total"] = time.time() - started
    result["machine"]["load_average_at_end"] = os.getloadavg()
    write_outputs(to_jsonable(result), args)
    print(f"done in {result['seconds_total']:.0f}s")
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _config_dict(config) -> dict:
    from electra.cli import to_dict
    values = to_dict(config)
    values["output_dir"] = "<work_dir>/ours-seed<seed>"
    values["trainer"]["seed"] = "<seed>"
    return values


def _brief(metrics: dict) -> str:
    return ", ".join(f"{k} {metrics[k]:.3f}" for k in ("gen_accuracy", "mlm_loss", "disc_loss", "disc_auc"))


if __name__ == "__main__":
    sys.exit(main())

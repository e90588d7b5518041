"""TensorFlow's oneDNN CPU kernels on vs off, side by side in one run: ELECTRA-small SQuAD inference (seq 384,
batch 32) and fine-tuning step (batch 8), fp32. ``TF_ENABLE_ONEDNN_OPTS`` is read once when TensorFlow loads, so
each setting runs in its own worker process; the two alternate ``--rounds`` rounds of ``--steps`` steps and the
reported speedup is the median of the per-round ratios (a change of clock speed moves both). JSON on stdout,
naming the CPU and its ISA flags.

    .venv/bin/python benchmarks/onednn.py --output benchmarks/results/onednn_zen3.json
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import electra  # noqa: E402,F401  (like every entry script; TensorFlow itself loads only in the workers)
from benchmarks.common import machine_record, write_json  # noqa: E402

WORKER = r'''
import json, sys, time
sys.path.insert(0, sys.argv[1])
import electra  # noqa: F401  (keeps the TF_ENABLE_ONEDNN_OPTS this worker was started with)
import numpy as np
import tensorflow as tf
from benchmarks.common import fine_tune_trainer, squad_batch
from electra.configs import preset
from electra.modeling import ElectraForQuestionAnswering

rng = np.random.default_rng(0)
model = ElectraForQuestionAnswering(preset("small"))
infer_batch, train_batch = ({k: tf.constant(v) for k, v in squad_batch(rng, n, 384,
                                                                          model.config.vocab_size, train).items()}
                             for n, train in ((32, False), (8, True)))
trainer = fine_tune_trainer(model)
infer = tf.function(lambda b: model(b, training=False))
steps = {"inference": lambda: infer(infer_batch)["start_logits"].numpy(),
         "fine_tune": lambda: float(trainer.train_step([train_batch])["loss"])}
for step in steps.values():
    step(); step()
print("ready", flush=True)
for line in sys.stdin:
    task, count = line.split()
    start = time.perf_counter()
    for _ in range(int(count)):
        steps[task]()
    print(json.dumps((time.perf_counter() - start) / int(count)), flush=True)
'''


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--output", help="also write the JSON document here")
    args = parser.parse_args(argv)
    workers = {}
    for setting in ("0", "1"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting, "TF_CPP_MIN_LOG_LEVEL": "3"}
        workers[setting] = subprocess.Popen([sys.executable, "-c", WORKER, ROOT], env=env, text=True,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        for worker in workers.values():
            while (line := worker.stdout.readline()) and line.strip() != "ready":
                pass
            if not line:
                raise RuntimeError("a benchmark worker exited before it was ready (its stderr is above)")
        machine = {k: v for k, v in machine_record().items() if k != "tf_enable_onednn_opts"}   # set per worker
        out = {"machine": machine, "rounds": args.rounds, "steps_per_round": args.steps}
        for task in ("inference", "fine_tune"):
            seconds = {setting: [] for setting in workers}
            for _ in range(args.rounds):
                for setting, worker in workers.items():
                    worker.stdin.write(f"{task} {args.steps}\n")
                    worker.stdin.flush()
                    seconds[setting].append(json.loads(worker.stdout.readline()))
            ratios = [off / on for off, on in zip(seconds["0"], seconds["1"])]
            out[task] = {"onednn_off_seconds_per_step": seconds["0"], "onednn_on_seconds_per_step": seconds["1"],
                         "median_speedup_on_over_off": statistics.median(ratios)}
        write_json(out, args.output)
    finally:
        for worker in workers.values():
            worker.stdin.close()
            worker.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

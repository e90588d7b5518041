"""Two installed stacks side by side (e.g. TensorFlow 2.18 and 2.21): the same benchmarks run alternately from two
virtual environments and checkouts, each with its peer in the same run, as one JSON document.

  .venv/bin/python benchmarks/stacks.py --stack old=/old/.venv/bin/python@/old/checkout \\
      --stack new=.venv/bin/python@. --peer_python=/venv-with-torch/bin/python --rounds 3 --output stacks.json

Each round runs every benchmark once per stack (one round of its own alternation with the peer), the order of the
stacks swapped every round, so a change of clock speed or load during the run reaches both stacks. Reported per
benchmark and stack: the medians of our seconds per step (or CPU-seconds), of the ratio to the peer measured in
the same process pair, and the median over rounds of stack B's time over stack A's in that round (``b_over_a``:
below 1 means B is faster). The versions each stack ran are read from its own JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import electra  # noqa: E402,F401  (every script imports it before anything could load TensorFlow)


def _pretraining(doc: dict) -> dict:
    r = doc["results"][0]
    return {"pretraining_step": {
        "ours_seconds": r["ours"]["seconds_per_step"], "peer_seconds": r["peer"]["seconds_per_step"],
        "speedup_over_peer": r["speedup_over_peer"], "achieved_over_peak": r["ours"]["achieved_over_peak"],
        "versions": doc["versions"]}}


def _squad(lines: list[dict]) -> dict:
    machine = next(d for d in lines if d.get("task") == "machine")
    out = {}
    for r in lines:
        if r.get("task") in ("fine_tune", "inference"):
            row = {"ours_seconds": r["step_s"], "peer_seconds": r["timing"]["peer_median_seconds_per_step"],
                   "speedup_over_peer": r["speedup_over_peer"], "versions": {"tensorflow": machine["tf"]}}
            if r.get("matmul_bound"):
                row["matmul_bound_over_peer"] = r["matmul_bound"]["speedup_over_peer"]
            precision = "" if r["precision"] == "fp32" else f"_{r['precision']}"
            out[f"squad_{r['task']}{precision}"] = row
    return out


def _data_prep(doc: dict) -> dict:
    one = doc["text_to_tfrecords"]["processes_1"]
    return {"data_prep": {"ours_seconds": one["cpu_seconds"], "mb_per_cpu_second": one["mb_per_cpu_second_per_process"],
                          "speedup_over_peer": doc["peer"]["ours_over_peer"], "versions": doc["versions"]}}


# name: (arguments after the Python, whether it takes --peer_python, where its JSON goes, extractor -> {result: row})
BENCHMARKS = {
    "pretraining": (["benchmarks/pretraining.py", "--rounds=1"], True, "file", _pretraining),
    "squad": (["benchmarks/squad.py", "--rounds=1", "--runtimes=none"], True, "stdout", _squad),
    "data_prep": (["benchmarks/data_prep_speed.py", "--processes=1"], False, "file", _data_prep),
}


def run_once(python: str, checkout: str, name: str, peer_python: str) -> dict:
    arguments, takes_peer, output, extract = BENCHMARKS[name]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        command = [python, *arguments] + ([f"--peer_python={peer_python}"] if takes_peer else []) \
            + ([f"--output={out}"] if output == "file" else [])
        result = subprocess.run(command, cwd=checkout, capture_output=True, text=True,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if result.returncode != 0:
            raise SystemExit(f"{name} in {checkout} failed:\n{result.stderr[-3000:]}")
        text = open(out, encoding="utf-8").read() if output == "file" else result.stdout
    if output == "stdout":
        return extract([json.loads(line) for line in text.splitlines() if line.startswith("{")])
    return extract(json.loads(text))


def summarize(runs: dict[str, list[dict]], a: str, b: str) -> dict:
    out = {}
    for stack, rows in runs.items():
        out[stack] = {key: statistics.median(r[key] for r in rows)
                      for key in rows[0] if isinstance(rows[0][key], (int, float))}
        out[stack]["versions"] = rows[0]["versions"]
        out[stack]["rounds"] = rows
    out["b_over_a"] = statistics.median(rb["ours_seconds"] / ra["ours_seconds"] for ra, rb in zip(runs[a], runs[b]))
    out["stacks"] = [a, b]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", action="append", required=True, help="NAME=PYTHON@CHECKOUT, given twice")
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS), help=f"of {', '.join(BENCHMARKS)}")
    parser.add_argument("--peer_python", required=True, help="Python with torch + transformers")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", help="also write the JSON document here")
    args = parser.parse_args(argv)
    stacks = {}
    for spec in args.stack:
        name, _, where = spec.partition("=")
        python, _, checkout = where.partition("@")
        if not (name and python and checkout and os.path.exists(python) and os.path.isdir(checkout)):
            parser.error(f"--stack {spec!r}: expected NAME=PYTHON@CHECKOUT with an existing Python and checkout")
        stacks[name] = (os.path.abspath(python), os.path.abspath(checkout))
    if len(stacks) != 2:
        parser.error("give --stack exactly twice, with two names")
    names = list(stacks)
    benchmarks = [b for b in args.benchmarks.split(",") if b]
    unknown = sorted(set(benchmarks) - set(BENCHMARKS))
    if unknown:
        parser.error(f"--benchmarks: unknown {unknown}; known: {', '.join(BENCHMARKS)}")
    runs: dict = {}
    for round_ in range(args.rounds):
        order = names if round_ % 2 == 0 else names[::-1]
        for benchmark in benchmarks:
            for stack in order:
                for result, row in run_once(*stacks[stack], benchmark, args.peer_python).items():
                    runs.setdefault(result, {n: [] for n in names})[stack].append(row)
                    print(f"round {round_ + 1} {result} {stack}: ours {row['ours_seconds']:.3f} s, "
                          f"{row['speedup_over_peer']:.2f}x the peer", file=sys.stderr, flush=True)
    from benchmarks.common import machine_record, write_json
    doc = {"benchmark": "stacks", "stacks": {n: {"python": p, "checkout": c} for n, (p, c) in stacks.items()},
           "machine": machine_record(), "rounds": args.rounds,
           "results": {r: summarize(rows, *names) for r, rows in runs.items()}}
    write_json(doc, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

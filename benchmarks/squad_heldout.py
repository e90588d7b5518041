"""Held-out SQuAD: fine-tune on some articles of the real SQuAD v1.1 subset (tests/fixtures/squad, CC BY-SA 4.0) and
score on other articles, for each head, v1.1 and v2.0-style, untrained vs fine-tuned. JSON lines on stdout.

    .venv/bin/python benchmarks/squad_heldout.py --heads plain,joint --versions 1.1,2.0 --steps 300

v2.0-style sets are made by pairing paragraphs with questions of other articles (``is_impossible``), not written
adversarially as SQuAD 2.0's are. ``--init`` fine-tunes from a pretrained model (a model directory, ``hf:``,
``google:``) instead of random initialization; by default the model is the tiny preset, randomly initialized.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from electra.squad.heldout import HELD_OUT_ARTICLES, TRAIN_ARTICLES  # noqa: E402,F401  (re-exported for the tests)

REAL_SQUAD = os.path.join(ROOT, "tests", "fixtures", "squad", "train-v1.1-12-articles.json")


def held_out_run(work: str, head: str, version: str, steps: int, init: str | None = None, model_size: str = "tiny",
                 seed: int = 0) -> dict:
    """EM/F1 on the held-out articles after ``steps`` fine-tuning steps (``steps=0``: the initial model)."""
    from electra.cli import build
    from electra.configs import SquadConfig
    from electra.tasks.squad import run
    from electra.squad.heldout import article_split, v2_style

    train, held_out = article_split(REAL_SQUAD, TRAIN_ARTICLES, HELD_OUT_ARTICLES)
    v2 = version == "2.0"
    if v2:
        train, held_out = v2_style(train, seed), v2_style(held_out, seed + 1)
    files = {}
    for name, data in (("train", train), ("held_out", held_out)):
        files[name] = os.path.join(work, f"{name}-v{version}.json")
        with open(files[name], "w", encoding="utf-8") as f:
            json.dump(data, f)
    start = time.time()
    result = run(build(SquadConfig, {
        "output_dir": os.path.join(work, f"{head}-v{version}-{steps}"), "mode": "train_eval", "init": init,
        "train_file": files["train"], "predict_file": files["held_out"], "cache_dir": os.path.join(work, "cache"),
        "vocab_file": None if init else os.path.join(ROOT, "tests", "fixtures", "vocab", "bert-uncased-vocab.txt"),
        "model.size": model_size, "version_2_with_negative": v2, "max_seq_length": 256, "doc_stride": 128,
        "max_query_length": 48, "train_batch_size": 32, "max_steps": max(steps, 1),
        "learning_rate": 2e-3 if steps else 1e-12, "warmup_proportion": 0.1, "layerwise_lr_decay": 1.0,
        "xla": False, "seed": seed, "head.joint": head == "joint", "head.answerability": head == "plain" and v2,
        "log_every": 100}))
    span = held_out_span_loss(os.path.join(work, f"{head}-v{version}-{steps}", "model"), files["held_out"], v2,
                              os.path.join(work, "cache"))
    return {"head": head, "version": version, "steps": steps, "init": init or "random", "seconds": time.time() - start,
            "held_out_span_loss": span,
            "train_questions": sum(len(p["qas"]) for a in train["data"] for p in a["paragraphs"]),
            "held_out_questions": sum(len(p["qas"]) for a in held_out["data"] for p in a["paragraphs"]),
            **{k: v for k, v in result["eval"].items() if isinstance(v, (int, float))}}


def held_out_span_loss(model_dir: str, held_out_file: str, v2: bool, cache_dir: str, batch_size: int = 64) -> float:
    """Mean span loss of the fine-tuned model (``model_dir``, a model directory) on the held-out questions' gold
    answers, every window that holds one (the training loss, teacher-forced for the joint head; no dropout). A
    smoother held-out signal than F1, which a tiny model moves by a few questions either way."""
    import numpy as np
    import tensorflow as tf

    from electra.modeling import ElectraForQuestionAnswering
    from electra.interop.store import resolve_source
    from electra.squad.data import load_features
    from electra.tasks.squad import TRAIN_KEYS, span_loss
    from electra.tokenization import load_tokenizer

    source = resolve_source(model_dir)
    model = ElectraForQuestionAnswering(source.model_config, answerability="answer_class" in source.heads,
                                        joint="start_logits" in source.heads)
    source.load_into(model)
    features = load_features(held_out_file, load_tokenizer(source.vocab_file), is_training=True,
                             version_2_with_negative=v2, max_seq_length=256, doc_stride=128, max_query_length=48,
                             cache_dir=cache_dir)
    total, count = 0.0, 0
    for begin in range(0, len(features), batch_size):
        batch = {k: tf.constant(features.arrays[k][begin:begin + batch_size]) for k in TRAIN_KEYS}
        loss, _ = span_loss(model(batch, training=False), batch)
        n = int(batch["input_ids"].shape[0])
        total, count = total + float(loss) * n, count + n
    return total / max(count, 1) if count else float(np.nan)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heads", default="plain,joint")
    parser.add_argument("--versions", default="1.1,2.0")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--init", default=None)
    parser.add_argument("--output", default=None, help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    from electra.runtime import cpu_info
    with tempfile.TemporaryDirectory() as work:
        for version in args.versions.split(","):
            for head in args.heads.split(","):
                for steps in (0, args.steps):
                    record = {**held_out_run(work, head, version, steps, args.init), "cpu": cpu_info()}
                    print(json.dumps(record), flush=True)
                    if args.output:
                        with open(args.output, "a", encoding="utf-8") as f:
                            f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

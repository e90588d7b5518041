"""Fine-tuning learns from real labelled data, scored on held-out real rows it never saw, and a run killed mid-way
resumes to the uninterrupted run's losses (slow: each trains a tiny model for a few hundred steps)."""
import collections
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from electra.tasks.finetuning import run
from tests.tasks.finetune_helpers import LEARNING, TAGGING, VOCAB, finetune_config, split_rows
from tests.training.conftest import ROOT

pytestmark = pytest.mark.slow


def test_sentiment_beats_the_majority_class_on_held_out_sst2_rows(tmp_path):
    """2,000 real SST-2 rows train a tiny model from random initialization; the next 500 are held out. The majority
    class of the held-out rows scores 0.51; the model must beat it by 8 points (it reached 0.73)."""
    train, held_out = split_rows(LEARNING / "sst2_train_2500.tsv", tmp_path, 2000)
    result = run(finetune_config(tmp_path / "out", task="glue/sst-2", **{
        "data.train_file": train, "data.eval_file": held_out, "data.max_seq_length": 64,
        "data.train_batch_size": 32, "trainer.total_steps": 0, "trainer.epochs": 4, "optimizer.name": "adamw",
        "trainer.checkpoint_every": 1000, "trainer.log_every": 50}))
    labels = [line.rsplit("\t", 1)[1].strip() for line in open(held_out, encoding="utf-8").readlines()[1:]]
    majority = max(collections.Counter(labels).values()) / len(labels)
    assert result["eval"]["accuracy"] >= majority + 0.08, (result["eval"], majority)


def test_pos_tagging_beats_the_most_frequent_tag_on_held_out_ud_sentences(tmp_path):
    """400 real UD English EWT training sentences (word/UPOS) train a tiny tagger; 60 dev sentences are held out.
    Tagging every word with the most frequent tag scores about 0.2; the model must reach that + 0.25."""
    dev = TAGGING / "en_ewt-ud-dev.conllu"
    result = run(finetune_config(tmp_path / "out", task="tagging", **{
        "data.train_file": str(LEARNING / "ewt_upos_train_400.conll"), "data.eval_file": str(dev),
        "data.max_seq_length": 64, "data.train_batch_size": 16, "trainer.total_steps": 0, "trainer.epochs": 6,
        "optimizer.name": "adamw", "optimizer.learning_rate": 1e-3, "trainer.checkpoint_every": 1000,
        "trainer.log_every": 50}))
    tags = [line.split("\t")[3] for line in dev.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#") and line.split("\t")[0].isdigit()]
    baseline = max(collections.Counter(tags).values()) / len(tags)
    assert result["eval"]["accuracy"] >= baseline + 0.25, (result["eval"], baseline)


def _losses(output):
    with open(os.path.join(output, "train_log.jsonl"), encoding="utf-8") as f:
        return {r["step"]: r for r in map(json.loads, f) if "loss" in r and r.get("type", "train") == "train"}


def test_sigkill_mid_run_then_resume_equals_one_run(tmp_path):
    train, _ = split_rows(LEARNING / "sst2_train_2500.tsv", tmp_path, 400)

    def flags(output):
        return ["--task=glue/sst-2", f"--data.train_file={train}", f"--data.vocab_file={VOCAB}", "--mode=train",
                "--model.size=tiny", "--data.max_seq_length=32", "--data.train_batch_size=8",
                "--trainer.total_steps=20", "--trainer.checkpoint_every=5", "--trainer.log_every=1",
                "--trainer.xla=false", f"--output_dir={output}"]

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
    whole = str(tmp_path / "whole")
    done = subprocess.run([sys.executable, "run_scripts/run_finetune.py", *flags(whole)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = str(tmp_path / "resumed")
    killed = subprocess.run([sys.executable, "tests/training/kill_at_step.py", "13", "--finetune", *flags(resumed)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert max(_losses(resumed)) == 12
    again = subprocess.run([sys.executable, "run_scripts/run_finetune.py", *flags(resumed)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    a, b = _losses(whole), _losses(resumed)
    assert sorted(a) == sorted(b) == list(range(1, 21))
    for step in a:
        np.testing.assert_allclose(b[step]["loss"], a[step]["loss"], atol=1e-6, rtol=0, err_msg=f"step {step}")
    assert a[20]["loss"] != a[1]["loss"]

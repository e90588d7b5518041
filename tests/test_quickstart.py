"""The README's first command, reduced (fewer steps, a capped slice of the corpus), so CI guards the whole pipeline
end to end and the summary it prints: held-out ROC-AUC and generator accuracy before and after pretraining, the
loss-curve PNG, SQuAD scored on held-out articles and one verdict on pretrained vs random initialization."""
import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 40
CAP = 400_000


def _row(stdout: str, label: str) -> tuple[float, float]:
    match = re.search(rf"^  {re.escape(label)} +(-?[0-9.]+) +(-?[0-9.]+)$", stdout, re.MULTILINE)
    assert match, f"no line {label!r} with two numbers in:\n{stdout[-3000:]}"
    return float(match.group(1)), float(match.group(2))


def test_quickstart_runs_end_to_end(tmp_path):
    out = tmp_path / "quickstart"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "run_scripts", "quickstart.py"),
                             f"--output_dir={out}", f"--pretrain_steps={STEPS}", "--finetune_steps=20",
                             f"--corpus_max_bytes={CAP}", "--sst2_train_rows=600", "--sst2_epochs=1"],
                            capture_output=True, text=True, timeout=1200, cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stdout = result.stdout
    for stage in range(1, 8):
        assert f"[{stage}/7]" in stdout
    assert "max discriminator logit difference 0.0e+00" in stdout

    # held-out pretraining check: untrained (step 0) beside trained, the baseline and why ROC-AUC
    assert re.search(rf"untrained \(step 0\) +trained \(step {STEPS}\)", stdout)
    auc = _row(stdout, "discriminator ROC-AUC")
    generator = _row(stdout, "generator accuracy")
    baseline = _row(stdout, "all-original baseline accuracy")
    assert 0.35 < auc[0] < 0.65 and 0.0 <= auc[1] <= 1.0              # an untrained discriminator is chance
    assert generator[0] < 0.01 and 0.0 <= generator[1] <= 1.0
    assert 0.7 < baseline[0] < 0.95 and 0.7 < baseline[1] < 0.95
    assert stdout.count("ROC-AUC, not recall at the 0.5 threshold, is the lens") == 1
    log = [json.loads(line) for line in (out / "pretrain" / "train_log.jsonl").read_text().splitlines()]
    evals = [r for r in log if r["type"] == "eval"]
    assert evals[0]["step"] == 0 and evals[-1]["step"] == STEPS
    assert evals[0]["metrics"]["disc_auc"] == pytest.approx(auc[0], abs=1e-3)
    assert evals[-1]["metrics"]["disc_auc"] == pytest.approx(auc[1], abs=1e-3)
    dataset = json.loads((out / "pretrain" / "data" / "dataset.json").read_text())
    assert CAP <= dataset["corpus"]["bytes"] < 2 * CAP and dataset["settings"]["max_bytes"] == CAP

    # the loss curves
    png = out / "pretrain" / "loss_curves.png"
    assert f"loss curves: {png}" in stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000

    # SQuAD on held-out articles, one verdict
    assert "SQuAD v1.1 on held-out articles" in stdout and "no article, paragraph or question shared" in stdout
    assert re.search(r"^  pretrained ELECTRA +EM [0-9.]+  F1 [0-9.]+$", stdout, re.MULTILINE)
    assert re.search(r"^  random initialization +EM [0-9.]+  F1 [0-9.]+$", stdout, re.MULTILINE)
    verdicts = [v for v in ("→ pretraining won", "→ random initialization won", "→ no clear winner")
                if v in stdout]
    assert sum(stdout.count(v) for v in verdicts) == 2, verdicts      # one for SQuAD, one for SST-2
    assert "F1 difference" in stdout and "accuracy difference" in stdout
    train = json.loads((out / "squad_data" / "train.json").read_text())
    held_out = json.loads((out / "squad_data" / "held_out.json").read_text())
    asked = re.search(r"^Q: (.*)$", stdout, re.MULTILINE).group(1)
    assert asked in {qa["question"] for a in held_out["data"] for p in a["paragraphs"] for qa in p["qas"]}
    assert not {a["title"] for a in train["data"]} & {a["title"] for a in held_out["data"]}
    assert "\nA: " in stdout
    assert f"Artifacts: {out}" in stdout
    for path in ("pretrain/data/vocab/vocab.txt", f"pretrain/checkpoints/ckpt-{STEPS}.index",
                 "pretrain/tensorboard",
                 "extracted/discriminator/hf/model.safetensors", "extracted/generator/model.safetensors",
                 "squad_pretrained/predictions.json", "squad_random_init/eval_results.json",
                 "saved_model/saved_model.pb"):
        assert (out / path).exists(), path
    metrics = json.loads((out / "squad_pretrained" / "eval_results.json").read_text())
    assert 0.0 <= metrics["f1"] <= 100.0 and metrics["total"] == sum(
        len(p["qas"]) for a in held_out["data"] for p in a["paragraphs"])

    # SST-2 on held-out rows: both accuracies, the majority class beside them, predictions for every held-out row
    assert re.search(r"^GLUE SST-2 sentiment on held-out rows \(600 training rows, 1900 held out; majority class "
                     r"0\.[0-9]{3}\):$", stdout, re.MULTILINE)
    for label in ("pretrained ELECTRA", "random initialization"):
        assert re.search(rf"^  {label} +accuracy 0\.[0-9]{{3}}$", stdout, re.MULTILINE), label
    for name in ("sst2_pretrained", "sst2_random_init"):
        rows = (out / name / "predictions.jsonl").read_text().splitlines()
        assert len(rows) == 1900 and (out / name / "model" / "metadata.json").exists()

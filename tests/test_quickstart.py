"""The README's first command, reduced (fewer steps), so CI guards the whole pipeline end to end."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quickstart_runs_end_to_end(tmp_path):
    out = tmp_path / "quickstart"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "run_scripts", "quickstart.py"),
                             f"--output_dir={out}", "--pretrain_steps=40", "--finetune_steps=20"],
                            capture_output=True, text=True, timeout=1200, cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    stdout = result.stdout
    for stage in range(1, 6):
        assert f"[{stage}/5]" in stdout
    assert "max discriminator logit difference 0.0e+00" in stdout
    assert "pretrained ELECTRA" in stdout and "random initialization" in stdout
    assert ("pretraining helped" in stdout) != ("pretraining did NOT beat random initialization" in stdout)
    assert "\nQ: " in stdout and "\nA: " in stdout
    assert f"Artifacts: {out}" in stdout
    for path in ("pretrain/data/vocab/vocab.txt", "pretrain/checkpoints/ckpt-40.index", "pretrain/train_log.jsonl",
                 "extracted/discriminator/model.ckpt.index", "extracted/discriminator/hf/model.safetensors",
                 "extracted/generator/model.safetensors", "squad_pretrained/predictions.json",
                 "squad_pretrained/null_odds.json", "squad_random_init/eval_results.json",
                 "saved_model/saved_model.pb"):
        assert (out / path).exists(), path
    metrics = json.loads((out / "squad_pretrained" / "eval_results.json").read_text())
    assert 0.0 <= metrics["f1"] <= 100.0 and "HasAns_f1" in metrics

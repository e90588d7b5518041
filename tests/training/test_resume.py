"""Exact resume: N steps in one run equal N/2 + stop (or SIGKILL) + resume, loss for loss (CPU, fp32)."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from tests.training.conftest import ROOT, read_log, run_script

pytestmark = pytest.mark.slow

KEYS = ("loss", "mlm_loss", "disc_loss", "gen_accuracy", "disc_accuracy", "grad_norm", "learning_rate")


def _losses(output_dir):
    return {r["step"]: r for r in read_log(output_dir) if "loss" in r}


def _assert_same_run(a, b, steps):
    for step in range(1, steps + 1):
        for key in KEYS:
            np.testing.assert_allclose(b[step][key], a[step][key], atol=1e-6, rtol=0, err_msg=f"step {step} {key}")


@pytest.fixture(scope="module")
def uninterrupted(reference_run):
    return {"losses": _losses(reference_run["output"]), "flags": reference_run["flags"]}


def test_stop_and_resume_equals_one_run(uninterrupted, tmp_path):
    output = str(tmp_path / "run")
    flags = uninterrupted["flags"](output)
    run_script(flags + ["--steps_this_run=10"])
    assert max(_losses(output)) == 10
    run_script(flags)
    resumed = _losses(output)
    assert sorted(resumed) == list(range(1, 21))
    _assert_same_run(uninterrupted["losses"], resumed, 20)
    full = uninterrupted["losses"]
    assert full[20]["loss"] < full[1]["loss"]


def test_sigkill_mid_run_then_resume_equals_one_run(uninterrupted, tmp_path):
    output = str(tmp_path / "run")
    flags = uninterrupted["flags"](output)
    killed = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "training", "kill_at_step.py"), "13", *flags],
                            capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert max(_losses(output)) == 12  # killed inside step 13: steps 11-12 were logged, not checkpointed
    assert sorted(n for n in os.listdir(os.path.join(output, "checkpoints")) if n.endswith(".index")) == [
        "ckpt-10.index", "ckpt-5.index"]
    run_script(flags)
    resumed = _losses(output)
    assert sorted(resumed) == list(range(1, 21))  # the redone steps replaced the killed run's lines
    _assert_same_run(uninterrupted["losses"], resumed, 20)

"""Horovod (CPU, Gloo): 2 workers equal 1 process with the same global batch; the CLI runs under horovodrun."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.training.conftest import ROOT, pretrain_flags, read_log, tiny_model_config

horovodrun = shutil.which("horovodrun") or os.path.join(os.path.dirname(sys.executable), "horovodrun")
if not os.path.exists(horovodrun):
    if os.environ.get("ELECTRA_ALLOW_NO_HOROVOD") == "1":
        pytest.skip("horovod not installed and ELECTRA_ALLOW_NO_HOROVOD=1", allow_module_level=True)
    raise RuntimeError("horovodrun not found: install the horovod extra (run_scripts/run_tests.sh does), or set "
                       "ELECTRA_ALLOW_NO_HOROVOD=1 to skip the distributed tests explicitly")

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}


def _horovodrun(args, timeout=600):
    cmd = [horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", sys.executable, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=ENV)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_two_workers_equal_one_process(tmp_path):
    script = os.path.join(ROOT, "tests", "training", "hvd_equivalence.py")
    single = subprocess.run([sys.executable, script, str(tmp_path / "single.npz")], capture_output=True, text=True,
                            timeout=600, cwd=ROOT, env=ENV)
    assert single.returncode == 0, single.stderr[-3000:]
    _horovodrun([script, str(tmp_path / "hvd.npz"), "--horovod"])
    one = np.load(tmp_path / "single.npz")
    ranks = [np.load(tmp_path / f"hvd.rank{r}.npz") for r in (0, 1)]
    names = [k for k in one.files if k.startswith("w:")]
    assert len(names) > 50
    np.testing.assert_allclose(ranks[0]["losses"], one["losses"], atol=1e-5)
    np.testing.assert_array_equal(ranks[0]["losses"], ranks[1]["losses"])
    for name in names:
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name], err_msg=f"ranks differ in {name}")
        np.testing.assert_allclose(ranks[0][name], one[name], atol=1e-5, err_msg=name)
    assert not np.allclose(one["losses"][0], one["losses"][-1])  # the steps did something


def test_run_pretraining_under_horovodrun(pretraining_data, tmp_path):
    output = str(tmp_path / "run")
    flags = pretrain_flags(pretraining_data, output, tiny_model_config(tmp_path / "model.json"),
                           total_steps=6, save_checkpoints_steps=3, train_batch_size=2, global_batch_size=4)
    _horovodrun([os.path.join(ROOT, "run_scripts", "run_pretraining.py"), "--horovod", *flags])
    log = read_log(output)
    assert [r["step"] for r in log] == list(range(1, 7))  # one writer: rank 0
    assert all(np.isfinite(r["global_loss"]) for r in log)
    inputs = os.path.join(output, "checkpoints", "input")
    assert sorted(os.listdir(inputs)) == ["rank0", "rank1"]  # each rank keeps its own input position
    assert os.path.exists(os.path.join(output, "checkpoints", "ckpt-6.index"))

"""One output directory, one run: a fresh start (``--trainer.restore=none``) or another run's checkpoint into a
directory holding checkpoints is refused unless ``--trainer.overwrite`` moves the previous run aside, and a record
and checkpoints of two different runs are never resumed together."""
import glob
import json
import os
import signal
import subprocess
import sys

import pytest

from electra.configs import ConfigError
from tests.training.conftest import ROOT, pretrain_flags, pretrain_in_process, read_log, run_script, tiny_model_config

pytestmark = pytest.mark.slow


def _pretrain(data, output, model_config, **values):
    settings = dict(total_steps=40, log_every=10, checkpoint_every=10)
    return pretrain_in_process(data, output, model_config, **{**settings, **values})


def _snapshot(directory):
    """Every file under ``directory`` with its size and modification time, and every directory (the lock left out:
    taking and removing it touches the directory's own time, nothing else)."""
    return {p: (os.path.getsize(p), os.path.getmtime(p)) if os.path.isfile(p) else "directory"
            for p in glob.glob(f"{directory}/**", recursive=True) if os.path.basename(p) != "run.lock"}


def _record(output):
    return json.loads((output / "run_info.json").read_text())


def test_a_fresh_start_never_mixes_with_the_previous_run(pretraining_data, tmp_path):
    """The issue's scenario: run A (lr 1e-3) writes ckpt-10…40; a fresh start at lr 2e-3 is refused (exit 2, nothing
    written); with --trainer.overwrite it moves A aside and, killed before its first save, the default rerun starts
    the new run at step 0, never A's step 40."""
    output, model_config = tmp_path / "run", tiny_model_config(tmp_path / "m.json")
    _pretrain(pretraining_data, output, model_config, learning_rate=1e-3)
    run_a = _record(output)
    assert run_a["run_id"] == json.loads((output / "checkpoints" / "run_id.json").read_text())["run_id"]
    before = _snapshot(output)

    flags = pretrain_flags(pretraining_data, str(output), model_config, total_steps=40, checkpoint_every=10,
                           learning_rate=2e-3, restore="none")
    refused = run_script(flags, check=False)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert str(output) in refused.stderr and "--output_dir" in refused.stderr
    assert "--trainer.overwrite" in refused.stderr and "Traceback" not in refused.stderr
    assert _snapshot(output) == before

    killed = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "training", "kill_at_step.py"), "3", *flags,
                             "--trainer.overwrite"], capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    [aside] = glob.glob(str(output / "replaced-*"))
    assert sorted(os.path.basename(p) for p in glob.glob(f"{aside}/checkpoints/*.index")) == [
        "ckpt-10.index", "ckpt-20.index", "ckpt-30.index", "ckpt-40.index"]
    assert json.loads(open(f"{aside}/run_info.json").read())["run_id"] == run_a["run_id"]
    assert {"train_log.jsonl", "summary.json", "model_config.json", "tensorboard"} <= set(os.listdir(aside))
    run_b = _record(output)
    assert run_b["run_id"] != run_a["run_id"] and run_b["config"]["optimizer"]["learning_rate"] == 2e-3
    assert not glob.glob(str(output / "checkpoints" / "*.index"))
    [event] = [r for r in read_log(str(output)) if r.get("event") == "outputs_replaced"]
    assert event["moved_to"] == aside and event["step"] == 0

    summary = _pretrain(pretraining_data, output, model_config, learning_rate=2e-3, steps_this_run=2)
    assert summary["step"] == 2 and summary["steps_this_run"] == 2    # the new run, from step 0
    rerun = _record(output)
    assert rerun["config"]["optimizer"]["learning_rate"] == 2e-3 and rerun["run_id"] != run_a["run_id"]
    assert rerun["run_id"] == json.loads((output / "checkpoints" / "run_id.json").read_text())["run_id"]

    other = os.path.join(aside, "checkpoints", "ckpt-40")
    with pytest.raises(ConfigError, match=r"another run's checkpoint .*ckpt-40.*--trainer.overwrite"):
        _pretrain(pretraining_data, output, model_config, learning_rate=2e-3, restore=other)
    with pytest.raises(ConfigError, match="--trainer.overwrite starts a new run"):
        _pretrain(pretraining_data, output, model_config, learning_rate=2e-3, overwrite=True)


def test_a_record_of_another_run_is_not_resumed_with_these_checkpoints(pretraining_data, tmp_path):
    """run_info.json names run X, the checkpoints carry run Y: the resume is refused (a directory without ids, as
    written before them, still resumes)."""
    output, model_config = tmp_path / "run", tiny_model_config(tmp_path / "m.json")
    _pretrain(pretraining_data, output, model_config, total_steps=8, checkpoint_every=4, steps_this_run=4)
    (output / "checkpoints" / "run_id.json").write_text(json.dumps({"run_id": "another"}))
    with pytest.raises(ConfigError, match=r"belong to run another, but .*run_info.json describes run"):
        _pretrain(pretraining_data, output, model_config, total_steps=8, checkpoint_every=4)
    (output / "checkpoints" / "run_id.json").unlink()
    record = _record(output)
    del record["run_id"]
    (output / "run_info.json").write_text(json.dumps(record))
    assert _pretrain(pretraining_data, output, model_config, total_steps=8, checkpoint_every=4)["step"] == 8
    assert _record(output)["run_id"] == json.loads((output / "checkpoints" / "run_id.json").read_text())["run_id"]

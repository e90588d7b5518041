"""Graceful stop: a stop signal (SIGTERM from a scheduler, SIGINT from a terminal) finishes the step, saves a
checkpoint, logs a ``stopped`` event and exits 128 + signal; the same command then resumes, and the result equals
an uninterrupted run bit for bit (weights digest, every logged value). A second signal ends the process at once
without damaging the checkpoints."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tests.training.conftest import ROOT, read_log, run_script

pytestmark = pytest.mark.slow
STEPS = 20
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT, "CUDA_VISIBLE_DEVICES": ""}
TIMING = ("sequences_per_second", "eta_seconds")


def _records(output_dir):
    """Train and eval records without the wall-clock fields; events apart."""
    return {(r["type"], r["step"]): {k: v for k, v in r.items() if k not in TIMING}
            for r in read_log(output_dir) if r["type"] in ("train", "eval")}


def _events(output_dir, name):
    return [r for r in read_log(output_dir) if r.get("event") == name]


def _summary(output_dir):
    with open(os.path.join(output_dir, "summary.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def uninterrupted(reference_run):
    return {"records": _records(reference_run["output"]), "summary": _summary(reference_run["output"]),
            "flags": reference_run["flags"]}


def _assert_equal_runs(uninterrupted, output):
    assert _records(output) == uninterrupted["records"]
    assert _summary(output)["weights_sha256"] == uninterrupted["summary"]["weights_sha256"]


@pytest.mark.parametrize("name", ["TERM", "INT"])
def test_a_stop_signal_at_a_random_step_saves_and_the_resumed_run_equals_one_run(uninterrupted, tmp_path, name):
    output = str(tmp_path / "run")
    flags = uninterrupted["flags"](output)
    at = random.Random().randint(2, STEPS // 2)     # a different step each time; any step must work (and the run
    # must not reach its end before the signal: the steps after `at` leave the margin)
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "run_scripts", "run_pretraining.py"), *flags],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
    log = os.path.join(output, "train_log.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if os.path.exists(log) and any(r.get("step", 0) >= at for r in read_log(output)):
            break
        time.sleep(0.05)
    process.send_signal(getattr(signal, "SIG" + name))
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 128 + getattr(signal, "SIG" + name), f"signalled at step >= {at}\n{stderr[-3000:]}"
    (stopped,) = _events(output, "stopped")
    step = stopped["step"]
    assert at <= step < STEPS and stopped["signal"] == "SIG" + name
    assert os.path.exists(os.path.join(output, "checkpoints", f"ckpt-{step}.index")), stopped
    assert stderr.strip().splitlines()[-1] == f"electra-pretrain: {stopped['message']}"
    assert "Traceback" not in stderr and not os.path.exists(os.path.join(output, "summary.json"))
    run_script(flags)
    _assert_equal_runs(uninterrupted, output)


def test_a_second_signal_during_the_save_ends_at_once_and_the_run_still_resumes(uninterrupted, tmp_path):
    output = str(tmp_path / "run")
    flags = uninterrupted["flags"](output)
    interrupted = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "training", "kill_at_step.py"), "17",
                                  "--signal=TERM", "--again-in-save", *flags], capture_output=True, text=True,
                                 timeout=600, cwd=ROOT, env=ENV)
    assert interrupted.returncode == -signal.SIGTERM, interrupted.stderr[-3000:]   # the system's default action
    checkpoints = os.path.join(output, "checkpoints")
    assert not os.path.exists(os.path.join(checkpoints, "ckpt-17.index"))      # cut short before the model's save
    assert os.path.exists(os.path.join(checkpoints, "input", "rank0", "ckpt-17.index"))
    run_script(flags)
    _assert_equal_runs(uninterrupted, output)


def test_fine_tuning_stopped_by_sigterm_resumes_exactly(tmp_path):
    """SQuAD: SIGTERM after step 7 (mid-epoch, between checkpoints): exit 143 with ckpt-7; the rerun equals an
    uninterrupted run in every logged value and the final weights."""
    from tests.squad.squad_helpers import squad_texts, tiny_squad_flags, write_word_vocab
    vocab = write_word_vocab(tmp_path / "vocab", squad_texts())

    def flags(output):
        return tiny_squad_flags(output, vocab, log_every=5)

    def run(args, script=os.path.join(ROOT, "run_scripts", "run_squad.py")):
        return subprocess.run([sys.executable, script, *args], capture_output=True, text=True, cwd=ROOT, env=ENV,
                              timeout=600)

    full = run(flags(tmp_path / "full"))
    assert full.returncode == 0, full.stderr[-3000:]
    stopped = run(["7", "--signal=TERM", "--squad", *flags(tmp_path / "resumed")],
                  os.path.join(ROOT, "tests", "training", "kill_at_step.py"))
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert os.path.exists(tmp_path / "resumed" / "checkpoints" / "ckpt-7.index")
    assert [e["step"] for e in _events(str(tmp_path / "resumed"), "stopped")] == [7]
    resumed = run(flags(tmp_path / "resumed"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _records(str(tmp_path / "resumed")) == _records(str(tmp_path / "full"))
    assert _summary(str(tmp_path / "resumed"))["weights_sha256"] == _summary(str(tmp_path / "full"))["weights_sha256"]

"""The run directory's lock is released, and its file removed, however the run ends; two claimers racing
acquire and release never both hold it."""
import contextlib
import errno
import os
import signal
import sys
import threading

import pytest

from electra.interrupts import Interrupted
from electra.io import StorageError
from electra.training import rundir
from electra.training.distribution import Distributor
from electra.training.experiment import TrainingError
from electra.training.rundir import RunDirectoryLock, RunLockedError, exclusive_run_directory
from tests.training.conftest import pretrain_flags, run_script, tiny_model_config, write_vocab

ENDINGS = {
    "success": None,
    "bad input": ValueError("--data.train_files: no file matches 'x'"),
    "training failure": TrainingError("non-finite loss at step 3"),
    "interrupted": Interrupted(signal.SIGTERM),
    "storage": StorageError("run/checkpoints", errno.ENOSPC),
}


@pytest.mark.parametrize("ending", ENDINGS)
def test_the_lock_is_released_and_removed_on_every_path(ending, tmp_path):
    directory = tmp_path / "run"
    with pytest.raises(type(ENDINGS[ending])) if ENDINGS[ending] else contextlib.nullcontext():
        with exclusive_run_directory(Distributor(), str(directory)):
            assert (directory / "run.lock").exists()
            if ENDINGS[ending]:
                raise ENDINGS[ending]
    assert not (directory / "run.lock").exists()
    RunDirectoryLock(str(directory)).acquire().release()        # and the directory is free


def test_a_failed_claim_leaves_no_lock_file(tmp_path, monkeypatch):
    def full(fd, data, offset):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(rundir.os, "pwrite", full)
    with pytest.raises(StorageError, match="run.lock: No space left on device"):
        RunDirectoryLock(str(tmp_path)).acquire()
    assert not (tmp_path / "run.lock").exists()


def test_releasing_leaves_a_replaced_lock_file_alone(tmp_path):
    lock = RunDirectoryLock(str(tmp_path)).acquire()
    os.unlink(tmp_path / "run.lock")          # removed by hand, and a new run took the directory
    other = RunDirectoryLock(str(tmp_path)).acquire()
    lock.release()
    assert (tmp_path / "run.lock").exists()
    other.release()
    assert not (tmp_path / "run.lock").exists()


def test_concurrent_claimers_never_both_hold_the_lock(tmp_path, caplog):
    """Threads racing acquire and release, each through its own open file (flock conflicts between open files as
    between processes). Without the check that the path still names the locked file, a claimer that opened the
    file just before its holder removed it would lock the removed file while another locks the new one."""
    directory = str(tmp_path / "run")
    holders, wins, overlaps = [], [0], []
    guard = threading.Lock()
    barrier = threading.Barrier(4)

    def claim():
        barrier.wait()
        for _ in range(1500):
            try:
                lock = RunDirectoryLock(directory).acquire()
            except RunLockedError:
                continue
            with guard:
                holders.append(lock)
                if len(holders) > 1:
                    overlaps.append(len(holders))
                wins[0] += 1
            os.sched_yield()
            with guard:
                holders.remove(lock)
            lock.release()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=claim) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not overlaps, f"{len(overlaps)} times two claimers held the lock at once"
    assert wins[0] >= 20               # claims did succeed, over and over
    assert not os.path.exists(os.path.join(directory, "run.lock"))
    assert "took over" not in caplog.text          # every holder removed its file: none looked dead


def test_bad_input_found_after_the_lock_exits_2_with_one_line_and_no_lock_left(tmp_path):
    """Records that exist but are not TFRecords are found by the data pipeline, after the lock is taken."""
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.tfrecord").write_bytes(b"not a tfrecord at all" * 10)
    data = {"train": str(tmp_path / "train" / "*.tfrecord"), "vocab": write_vocab(tmp_path / "vocab.txt")}
    output = tmp_path / "run"
    flags = pretrain_flags(data, str(output), tiny_model_config(tmp_path / "model.json"), total_steps=2)
    done = run_script(flags, timeout=300, check=False, env={"ELECTRA_VERBOSE": ""})
    assert done.returncode == 2, done.stderr[-3000:]
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("electra-pretrain:")]
    assert "a.tfrecord" in line and "Error" not in line.split(":", 2)[1], line
    assert "Traceback" not in done.stderr
    assert output.exists() and not (output / "run.lock").exists()

"""A full disk or a read-only run directory in the middle of a run: one line naming the path and the cause, exit
74, an ``error`` event while the log can take it, the newest complete checkpoint intact; the next start removes what
the failed save left before writing anything, and the run then ends as if nothing had happened."""
import glob
import json
import os

import pytest

from tests.disk import fill, read_only, tmpfs
from tests.training.conftest import pretrain_flags, read_log, run_script, tiny_model_config

pytestmark = pytest.mark.slow


@pytest.fixture
def disk(tmp_path):
    """A 16 MiB tmpfs (the tests run as root on CI); skipped where mounting is not permitted."""
    with tmpfs(tmp_path / "disk") as mount_point:
        yield mount_point


def _summary(output_dir):
    with open(os.path.join(output_dir, "summary.json"), encoding="utf-8") as f:
        return json.load(f)


def test_disk_full_at_a_save_is_one_line_and_the_run_recovers_after_space_is_freed(reference_run, disk):
    output = str(disk / "run")
    flags = reference_run["flags"](output)
    run_script(flags + ["--steps_this_run=10"])
    filler = fill(disk, leave=48 * 1024)      # room for the log, not for a checkpoint
    failed = run_script(flags, check=False)
    assert failed.returncode == 74, failed.stderr[-3000:]
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"electra-pretrain: cannot write {output}/checkpoints") and \
        "No space left on device" in last and f"{output}/checkpoints/ckpt-10) is intact" in last, last
    assert "Traceback" not in failed.stderr
    (error,) = [r for r in read_log(output) if r.get("event") == "error"]
    assert error["cause"] == "No space left on device" and error["step"] == 15
    left = glob.glob(os.path.join(output, "checkpoints", "*_temp")) + \
        glob.glob(os.path.join(output, "checkpoints", "input", "rank0", "*_temp"))
    assert left, "the failed save left no temporary files: the test does not exercise the clean-up"
    os.remove(filler)
    resumed = run_script(flags)
    for path in left:
        assert path in resumed.stderr and not os.path.exists(path)
    assert _summary(output)["weights_sha256"] == _summary(reference_run["output"])["weights_sha256"]


def test_a_read_only_run_directory_is_one_line(pretraining_data, disk, tmp_path):
    output = str(disk / "run")
    flags = pretrain_flags(pretraining_data, output, tiny_model_config(tmp_path / "model.json"))
    run_script(flags + ["--steps_this_run=5"])
    read_only(disk)
    failed = run_script(flags, check=False)
    assert failed.returncode == 74, failed.stderr[-3000:]
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith(f"electra-pretrain: cannot write {output}") and "Read-only file system" in line, line

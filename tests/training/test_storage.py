"""A full disk or a read-only run directory in the middle of a run: one line naming the path and the cause, exit
74, an ``error`` event while the log can take it, the newest complete checkpoint intact; the next start removes what
the failed save left before writing anything, and the run then ends as if nothing had happened."""
import glob
import json
import os
import subprocess

import pytest

from tests.training.conftest import pretrain_flags, read_log, run_script, tiny_model_config

pytestmark = pytest.mark.slow


@pytest.fixture
def tmpfs(tmp_path):
    """A 16 MiB tmpfs (the tests run as root on CI); skipped where mounting is not permitted."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'mount failed'}): needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(mount_point, leave: int) -> str:
    """A file taking all but ``leave`` bytes of the file system."""
    stat = os.statvfs(mount_point)
    path = os.path.join(mount_point, "filler")
    with open(path, "wb") as f:
        f.truncate(0)
        f.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return path


def _summary(output_dir):
    with open(os.path.join(output_dir, "summary.json"), encoding="utf-8") as f:
        return json.load(f)


def test_disk_full_at_a_save_is_one_line_and_the_run_recovers_after_space_is_freed(reference_run, tmpfs):
    output = str(tmpfs / "run")
    flags = reference_run["flags"](output)
    run_script(flags + ["--steps_this_run=10"])
    filler = _fill(tmpfs, leave=48 * 1024)      # room for the log, not for a checkpoint
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


def test_a_read_only_run_directory_is_one_line(pretraining_data, tmpfs, tmp_path):
    output = str(tmpfs / "run")
    flags = pretrain_flags(pretraining_data, output, tiny_model_config(tmp_path / "model.json"))
    run_script(flags + ["--steps_this_run=5"])
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    failed = run_script(flags, check=False)
    assert failed.returncode == 74, failed.stderr[-3000:]
    (line,) = failed.stderr.strip().splitlines()
    assert line.startswith(f"electra-pretrain: cannot write {output}") and "Read-only file system" in line, line

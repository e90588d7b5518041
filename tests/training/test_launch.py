"""Launches that cannot be misused: launcher detection, Horovod missing, one writer per run directory, and the
launch scripts' command lines (multi-node host lists, SLURM)."""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from electra.cli import parse
from electra.configs import PretrainConfig, SquadConfig
from electra.training import distribution
from electra.training.experiment import accumulation_for
from electra.training.distribution import Distributor, Launch, LaunchError, detect_launch, make_distributor
from electra.training.rundir import RunDirectoryLock, RunLockedError, claim_run_directory
from tests.training.conftest import ROOT, pretrain_flags, read_log, tiny_model_config

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
LAUNCH_VARIABLES = [v for size, rank, _ in distribution.LAUNCHERS for v in (size, rank)]

# Runs a script with Horovod made unimportable, as on a machine where the extra was never installed.
WITHOUT_HOROVOD = textwrap.dedent("""
    import runpy, sys
    sys.modules["horovod"] = None
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def _clean_env(**extra):
    env = {k: v for k, v in ENV.items() if k not in LAUNCH_VARIABLES}
    return {**env, **extra}


@pytest.mark.parametrize("env, expected", [
    ({}, None),
    ({"HOROVOD_SIZE": "1", "HOROVOD_RANK": "0"}, None),
    ({"HOROVOD_SIZE": "2", "HOROVOD_RANK": "1"}, Launch(2, 1, "horovodrun")),
    ({"OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_RANK": "3"}, Launch(8, 3, "Open MPI (mpirun)")),
    ({"PMI_SIZE": "4", "PMI_RANK": "2"}, Launch(4, 2, "a PMI launcher (MPICH / Intel MPI mpirun)")),
    ({"SLURM_STEP_NUM_TASKS": "16", "SLURM_PROCID": "9"}, Launch(16, 9, "SLURM srun")),
    ({"SLURM_NTASKS": "16", "SLURM_PROCID": "0"}, None),   # a batch script's single process, not an srun step
])
def test_detect_launch(env, expected):
    assert detect_launch(env) == expected


def _block_horovod(monkeypatch):
    monkeypatch.setitem(sys.modules, "horovod", None)
    monkeypatch.setitem(sys.modules, "horovod.tensorflow", None)


def test_plain_start_is_single_process(monkeypatch):
    for name in LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    _block_horovod(monkeypatch)
    assert type(make_distributor(None)) is Distributor
    with pytest.raises(LaunchError, match="Horovod is not installed.*Install it with electra-install-horovod"):
        make_distributor(True)


def test_launcher_without_horovod_or_with_nohorovod(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "1")
    _block_horovod(monkeypatch)
    with pytest.raises(LaunchError, match=r"process 1 of 2 started by Open MPI \(mpirun\).*Horovod is not installed"):
        make_distributor(None)
    with pytest.raises(LaunchError, match="--runtime.horovod=false: every process would train alone"):
        make_distributor(False)


@pytest.mark.slow
def test_launched_without_horovod_fails_before_writing(pretraining_data, tmp_path):
    """What `mpirun -np 2 python run_pretraining.py` does on a machine without the extra (simulated launcher)."""
    output = tmp_path / "run"
    flags = pretrain_flags(pretraining_data, str(output), tiny_model_config(tmp_path / "model.json"))
    script = os.path.join(ROOT, "run_scripts", "run_pretraining.py")
    result = subprocess.run([sys.executable, "-c", WITHOUT_HOROVOD, script, *flags], capture_output=True, text=True,
                            timeout=300, cwd=ROOT,
                            env=_clean_env(OMPI_COMM_WORLD_SIZE="2", OMPI_COMM_WORLD_RANK="0"))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "process 0 of 2 started by Open MPI" in result.stderr and "Horovod is not installed" in result.stderr
    assert not output.exists()


# --- one writer per run directory ---------------------------------------------------------------------------------
HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from electra.training.rundir import RunDirectoryLock
    RunDirectoryLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(600)
""")


@pytest.fixture
def lock_holder(tmp_path):
    """Another process that holds the lock of ``tmp_path / "run"`` until the test kills it."""
    directory = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(directory)], stdout=subprocess.PIPE, text=True,
                               cwd=ROOT, env=ENV)
    assert process.stdout.readline().strip() == "locked"
    yield directory, process
    process.kill()
    process.wait()


@pytest.mark.slow
def test_lock_names_the_live_holder_then_is_taken_over(lock_holder, caplog):
    directory, holder = lock_holder
    with pytest.raises(RunLockedError, match=rf"in use by a live run \(host {os.uname().nodename}, pid {holder.pid},"):
        RunDirectoryLock(str(directory)).acquire()
    holder.send_signal(signal.SIGKILL)   # a killed run leaves its lock file behind
    holder.wait()
    assert json.loads((directory / "run.lock").read_text())["pid"] == holder.pid
    with caplog.at_level(logging.WARNING, logger="electra.training"):
        lock = RunDirectoryLock(str(directory)).acquire()
    assert f"pid {holder.pid}" in caplog.text and "no longer alive" in caplog.text
    assert json.loads((directory / "run.lock").read_text())["pid"] == os.getpid()
    with pytest.raises(RunLockedError):          # one writer also within a process
        RunDirectoryLock(str(directory)).acquire()
    lock.release()
    RunDirectoryLock(str(directory)).acquire().release()


def test_lock_without_flock_uses_the_pid(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "no locks available")
    monkeypatch.setattr(fcntl, "flock", no_flock)
    directory = tmp_path / "run"
    directory.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (directory / "run.lock").write_text(json.dumps({"host": os.uname().nodename, "pid": int(dead.stdout)}))
    RunDirectoryLock(str(directory)).acquire().release()     # a dead process on this host: taken over
    (directory / "run.lock").write_text(json.dumps({"host": os.uname().nodename, "pid": os.getppid()}))
    with pytest.raises(RunLockedError, match=f"pid {os.getppid()}"):
        RunDirectoryLock(str(directory)).acquire()
    (directory / "run.lock").write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    with pytest.raises(RunLockedError, match="another host.*remove"):
        RunDirectoryLock(str(directory)).acquire()


@pytest.mark.slow
def test_second_training_on_a_live_run_directory_is_refused(lock_holder, pretraining_data, tmp_path):
    directory, holder = lock_holder
    (directory / "train_log.jsonl").write_text('{"step": 1}\n')
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in directory.rglob("*") if p.is_file()}
    flags = pretrain_flags(pretraining_data, str(directory), tiny_model_config(tmp_path / "model.json"),
                           total_steps=2)
    script = os.path.join(ROOT, "run_scripts", "run_pretraining.py")
    result = subprocess.run([sys.executable, script, *flags], capture_output=True, text=True, timeout=300, cwd=ROOT,
                            env=_clean_env())
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"pid {holder.pid}" in result.stderr and "in use by a live run" in result.stderr
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in directory.rglob("*") if p.is_file()}
    assert after == before                       # the live run's files are untouched
    holder.kill()
    holder.wait()
    result = subprocess.run([sys.executable, script, *flags], capture_output=True, text=True, timeout=300, cwd=ROOT,
                            env=_clean_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r["step"] for r in read_log(str(directory))] == [1, 2]


def test_claim_single_process(tmp_path):
    lock = claim_run_directory(Distributor(), str(tmp_path / "run"))
    assert lock is not None and (tmp_path / "run" / "run.lock").exists()
    lock.release()


# --- launch scripts -------------------------------------------------------------------------------------------------
FAKE_LAUNCHER = """#!/usr/bin/env bash
printf '%s\\n' "$(basename "$0")" "$@" > "$FAKE_LOG"
"""


@pytest.fixture
def fake_bin(tmp_path):
    """``horovodrun``, ``srun`` and ``scontrol`` stand-ins: launchers record their command line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("horovodrun", "srun"):
        (bin_dir / name).write_text(FAKE_LAUNCHER)
    (bin_dir / "scontrol").write_text(
        '#!/usr/bin/env bash\n[ "$1 $2" = "show hostnames" ] && printf "gpu-a\\ngpu-b\\n"\n')
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    env = {**_clean_env(), "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(tmp_path / "launch.txt")}
    return env, tmp_path / "launch.txt"


def _launched(log):
    return log.read_text().splitlines()


def _resolved(cls, argv):
    """The config a launched ``run_*.py`` would run: its recipe and flags, without checking that files exist."""
    return parse(cls, argv, "", check=False)


def test_pretraining_script_multi_node_hosts(fake_bin, tmp_path):
    env, log = fake_bin
    script = os.path.join(ROOT, "run_scripts", "run_pretraining.sh")
    subprocess.run(["bash", script, "1", "base", "16", "fp16", "true", "data/wiki", str(tmp_path / "out")],
                   check=True, env={**env, "HOSTS": "node1:8,node2:8"}, timeout=60)
    argv = _launched(log)
    assert argv[:5] == ["horovodrun", "-np", "16", "-H", "node1:8,node2:8"]
    assert argv[6].endswith("run_pretraining.py") and "--horovod" not in argv   # detected from the launcher
    config = _resolved(PretrainConfig, argv[7:])
    assert accumulation_for(config.trainer, config.data.train_batch_size, 16) == 24   # 67584 / (176 × 16)
    assert config.output_dir == f"{tmp_path}/out/phase1" and config.trainer.precision == "fp16"


def test_squad_script_hostfile(fake_bin, tmp_path):
    env, log = fake_bin
    script = os.path.join(ROOT, "run_scripts", "run_squad.sh")
    subprocess.run(["bash", script, "none", "2", "32", "1e-4", "fp16", "8", "42", "1.1", "train"], check=True,
                   env={**env, "HOSTFILE": "hosts.txt", "OUTPUT_DIR": str(tmp_path / "squad")}, timeout=60)
    argv = _launched(log)
    assert argv[:5] == ["horovodrun", "-np", "8", "-hostfile", "hosts.txt"]
    assert argv[6].endswith("run_squad.py") and "--mode=train" in argv


@pytest.mark.parametrize("launcher, expected", [
    ("horovodrun", ["horovodrun", "-np", "16", "-H", "gpu-a:8,gpu-b:8"]),
    ("srun", ["srun", "--ntasks=16", "--mpi=pmix"]),
])
def test_slurm_batch_script(fake_bin, tmp_path, launcher, expected):
    env, log = fake_bin
    env = {**env, "SLURM_JOB_NUM_NODES": "2", "SLURM_JOB_NODELIST": "gpu-[a-b]", "GPUS_PER_NODE": "8",
           "LAUNCHER": launcher}
    script = os.path.join(ROOT, "run_scripts", "run.sub")
    subprocess.run(["bash", script, "pretrain", "2", "large", "bf16", "true", "data/wiki", str(tmp_path / "out")],
                   check=True, env=env, timeout=60)
    argv = _launched(log)
    assert argv[:len(expected)] == expected
    config = _resolved(PretrainConfig, argv[len(expected) + 2:])
    assert config.model.size == "large" and config.data.max_seq_length == 512
    assert config.init == f"{tmp_path}/out/phase1" and config.optimizer.learning_rate == 4e-3
    subprocess.run(["bash", script, "squad", "ckpt", "2", "32", "1e-4", "fp16", "42", "2.0"], check=True,
                   env={**env, "OUTPUT_DIR": str(tmp_path / "squad")}, timeout=60)
    argv = _launched(log)
    assert argv[:len(expected)] == expected
    config = _resolved(SquadConfig, argv[len(expected) + 2:])
    assert config.data.version_2_with_negative and config.head.joint and config.init == "ckpt"
    assert config.decoding.null_score_diff_threshold == -5.6 and config.decoding.beam_size == 5


def test_slurm_batch_script_outside_an_allocation(fake_bin):
    env, _ = fake_bin
    result = subprocess.run(["bash", os.path.join(ROOT, "run_scripts", "run.sub"), "pretrain", "1", "base"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0 and "not inside a SLURM allocation" in result.stderr


@pytest.mark.slow
def test_summary_reports_rank_and_weights_digest(pretraining_data, tmp_path):
    from electra.cli import build
    from electra.configs import PretrainConfig
    from electra.tasks.pretraining import run
    config = build(PretrainConfig, output_dir=str(tmp_path / "run"),
                   config_file=tiny_model_config(tmp_path / "m.json"),
                   train_files=pretraining_data["train"], vocab_file=pretraining_data["vocab"],
                   max_seq_length=32, train_batch_size=4, total_steps=2, warmup_steps=1, xla=False,
                   shuffle_buffer=16, horovod=False)
    summary = run(config)
    assert summary["rank"] == 0 and summary["world_size"] == 1 and len(summary["weights_sha256"]) == 64
    assert not (tmp_path / "run" / "run.lock").exists()       # released at the end, the file removed


FAKE_TRAINING = """import signal, sys, time
def stop(signum, frame):
    open(sys.argv[-1], "a").write(f"stopped by {signal.Signals(signum).name}\\n")
    sys.exit(128 + signum)
signal.signal(signal.SIGTERM, stop)
open(sys.argv[-1], "a").write("started\\n")
time.sleep(120)
"""


@pytest.mark.parametrize("launcher", ["horovodrun", "srun"])
def test_slurm_time_limit_signal_stops_the_training_and_requeues(fake_bin, tmp_path, launcher):
    """SLURM's ``--signal=B:USR1@180`` reaches run.sub: it sends SIGTERM to this node's training processes (not the
    launcher), waits for them to exit, and requeues the job."""
    env, _ = fake_bin
    home = tmp_path / "home" / "run_scripts"
    home.mkdir(parents=True)
    for name in ("run.sub", "run_pretraining.sh"):
        shutil.copy(os.path.join(ROOT, "run_scripts", name), home / name)
    (home / "run_pretraining.py").write_text(FAKE_TRAINING)
    (tmp_path / "bin" / launcher).write_text(       # launches the command after its own options, as the real ones do
        '#!/usr/bin/env bash\nwhile [ "$1" != "$PYTHON" ]; do shift; done\nexec "$@"\n')
    (tmp_path / "bin" / "scontrol").write_text(
        '#!/usr/bin/env bash\n[ "$1 $2" = "show hostnames" ] && printf "gpu-a\\n" && exit 0\n'
        'echo "$@" >> "$FAKE_LOG"\n')
    marker = tmp_path / "training.txt"
    env = {**env, "SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_NODELIST": "gpu-a", "GPUS_PER_NODE": "2",
           "SLURM_JOB_ID": "4242", "LAUNCHER": launcher, "ELECTRA_HOME": str(tmp_path / "home"),
           "PYTHON": sys.executable}
    job = subprocess.Popen(["bash", str(home / "run.sub"), "pretrain", "1", "base", "fp16", "true", "data",
                            str(tmp_path / "out"), str(marker)], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (marker.exists() and "started" in marker.read_text()):
        time.sleep(0.05)
    job.send_signal(signal.SIGUSR1)
    _, stderr = job.communicate(timeout=60)
    assert job.returncode == 128 + signal.SIGTERM, stderr
    assert marker.read_text().splitlines() == ["started", "stopped by SIGTERM"]
    assert (tmp_path / "launch.txt").read_text().split() == ["requeue", "4242"]

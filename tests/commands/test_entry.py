"""The one error contract of every command (``electra.commands.entry``): each kind of error the tools raise maps to
its exit status and one line ``<tool>: <message>`` on stderr, with no exception class and no traceback unless
``--verbose`` or ``ELECTRA_VERBOSE`` asks; a bug says how to get the traceback; paths are checked before
TensorFlow loads."""
import dataclasses
import errno
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from electra.commands import entry
from electra.commands.entry import Command
from electra.configs import ConfigError, knob

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# every exception class of the project: (module, class, arguments, exit status)
ERRORS = [
    ("electra.configs", "ConfigError", ("--optimizer.beta_1=1.5 must be in [0, 1)",), 2),
    ("electra.commands.entry", "UsageError", ("--question is empty",), 2),
    ("electra.data.pretraining", "InputError", ("--data.train_files: no file matches '/nonexistent/*'",), 2),
    ("electra.data.pretraining", "CorruptRecordError", ("a.tfrecord: corrupt TFRecord: record 0 ...",), 2),
    ("electra.data.tfrecord", "DamagedRecord", (3, 120, "data CRC mismatch"), 2),
    ("electra.squad.data", "SquadFormatError", ("SQuAD file dev.json: question id 'q1' appears twice",), 2),
    ("electra.classification.data", "DataError", ("dev.tsv:3: column 'label': 'maybe' is not one of the labels",), 2),
    ("electra.tokenization", "TokenizerError", ("vocab.txt: no [MASK] token",), 2),
    ("electra.interop.weights", "WeightLoadError", ("ckpt-3: encoder/kernel has shape [4, 4] in the file",), 2),
    ("data_prep.common", "DataPrepError", ("in.txt: invalid UTF-8 at byte offset 46",), 2),
    ("data_prep.download", "DownloadError", ("cannot download https://x/train-v2.0.json: HTTP 404",), 2),
    ("electra.training.distribution", "LaunchError", ("Horovod is not installed",), 2),
    ("electra.training.rundir", "RunLockedError", ("--output_dir=run is in use by a live run",), 2),
    ("electra.training.experiment", "TrainingError", ("non-finite loss at step 3",), 1),
    ("electra.training.checkpointing", "CheckpointReadError", ("no checkpoint of this run can be read",), 1),
    ("electra.commands.install_horovod", "BuildError", ("cmake failed",), 1),
    ("electra.io", "StorageError", ("/nonexistent/run/ckpt-3", errno.ENOSPC), 74),
    ("electra.interrupts", "Interrupted", (signal.SIGTERM,), 143),
]


@dataclasses.dataclass(frozen=True)
class NoConfig:
    count: int = knob(1, "must be >= 1")

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"--count={self.count} must be >= 1")


def failing(error: BaseException) -> Command:
    def run(config):
        raise error
    return Command("electra-tool", NoConfig, run, "A tool that fails.", tensorflow=False)


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    """The contract, not the log set-up (root handlers, TensorFlow's log level) of this test process."""
    monkeypatch.setattr(entry, "configure_logging", lambda verbose, tensorflow: None)
    monkeypatch.delenv(entry.VERBOSE_VARIABLE, raising=False)


@pytest.mark.parametrize("module,name,args,status", ERRORS, ids=[e[1] for e in ERRORS])
def test_each_error_kind_exits_with_its_status_and_one_line(module, name, args, status, capsys):
    error = getattr(importlib.import_module(module), name)(*args)
    assert failing(error).main([]) == status
    assert capsys.readouterr().err == f"electra-tool: {error}\n"
    assert name not in str(error)


def test_every_error_class_of_the_project_has_its_status_above():
    declared = set()
    for top in ("electra", "data_prep", "run_scripts"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for file in files:
                if file.endswith(".py"):
                    with open(os.path.join(folder, file), encoding="utf-8") as f:
                        declared |= set(re.findall(r"^class (\w+)\(\w*(?:Error|Exception)\b", f.read(), re.M))
    assert declared == {e[1] for e in ERRORS}


@pytest.mark.parametrize("error,status,line", [
    (FileNotFoundError("SavedModel directory not found: /missing"), 2, "SavedModel directory not found: /missing"),
    (PermissionError(errno.EACCES, "Permission denied", "/data/train.json"), 2, "/data/train.json: Permission denied"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/data"), 2, "/data: Is a directory"),
    (KeyError("batch lacks feature(s) ['input_ids']"), 2, "batch lacks feature(s) ['input_ids']"),
    (ValueError("--data.max_seq_length=512 exceeds the model's max_position_embeddings=128"), 2,
     "--data.max_seq_length=512 exceeds the model's max_position_embeddings=128"),
    (OSError(errno.EROFS, "Read-only file system", "/ro/run_info.json"), 74,
     "cannot write /ro/run_info.json: Read-only file system"),
    (KeyboardInterrupt(), 130, "stopped by SIGINT"),
    (RuntimeError("list index out of range\nmore detail"), 1,
     "internal error: list index out of range (rerun with --verbose for the traceback)"),
    (AssertionError(), 1, "internal error: no message (rerun with --verbose for the traceback)"),
], ids=lambda x: type(x).__name__ if isinstance(x, BaseException) else None)
def test_library_errors_and_bugs(error, status, line, capsys):
    assert failing(error).main([]) == status
    assert capsys.readouterr().err == f"electra-tool: {line}\n"


def test_tensorflow_errors_are_one_line():
    import tensorflow as tf
    status, line, expected = entry.outcome(tf.errors.InternalError(
        None, None, "Expected 1 components but got 0.\n\t [[{{node IteratorGetNext}}]] [Op:IteratorGetNext]"))
    assert (status, line, expected) == (1, "Expected 1 components but got 0.", False)
    status, line, expected = entry.outcome(tf.errors.ResourceExhaustedError(
        None, None, "run/checkpoints/ckpt-30_temp/part-0; No space left on device [Op:SaveV2]"))
    assert (status, expected) == (74, True) and line.startswith("run/checkpoints/ckpt-30_temp/part-0; No space")


@pytest.mark.parametrize("how", ["--verbose", "ELECTRA_VERBOSE=1"])
def test_verbose_or_the_variable_prints_the_traceback_then_the_line(how, capsys, monkeypatch):
    argv = [how] if how.startswith("--") else []
    if not argv:
        monkeypatch.setenv(*how.split("="))
    assert failing(RuntimeError("boom")).main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "RuntimeError: boom" in err
    assert err.splitlines()[-1] == "electra-tool: internal error: boom"
    assert failing(RuntimeError("unreached")).main([*argv, "--count=0"]) == 2      # bad settings, found at parse
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1] == "electra-tool: --count=0 must be >= 1"


def test_not_verbose_when_the_variable_says_no(capsys, monkeypatch):
    monkeypatch.setenv("ELECTRA_VERBOSE", "0")
    assert failing(RuntimeError("boom")).main([]) == 1
    assert "Traceback" not in capsys.readouterr().err


CHEAP = textwrap.dedent("""
    import contextlib, io, json, sys
    from electra.commands import evaluate_squad, export, extract, predict, pretrain, squad
    out, runs = sys.argv[1], {}
    for name, module, argv in [
        ("predict", predict, ["--saved_model=/missing", "--question=a", "--context=b"]),
        ("predict, not a SavedModel", predict, ["--saved_model=tests/fixtures", "--question=a", "--context=b"]),
        ("pretrain", pretrain, [f"--output_dir={out}/pretrain", "--data.train_files=/nonexistent/*",
                                "--data.vocab_file=tests/fixtures/vocab/bert-uncased-vocab.txt"]),
        ("squad", squad, [f"--output_dir={out}/squad", "--mode=train", "--init=/missing",
                          "--data.train_file=tests/fixtures/squad/tiny_squad.json"]),
        ("export", export, ["--init=/missing/ckpt-3", f"--output_dir={out}/export"]),
        ("extract", extract, ["--checkpoint=google:/missing/model.ckpt", f"--output_dir={out}/extract"]),
        ("evaluate", evaluate_squad, ["/missing/dev.json", "tests/fixtures/squad/tiny_squad.json"]),
        ("evaluate --help", evaluate_squad, ["--help"]),
    ]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = module.main(argv)
            except SystemExit as e:
                status = e.code
        runs[name] = [status, err.getvalue(), "tensorflow" in sys.modules]
    print(json.dumps(runs))
""")


def test_wrong_paths_are_answered_before_tensorflow_loads_or_a_lock_is_taken(tmp_path):
    done = subprocess.run([sys.executable, "-c", CHEAP, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout.splitlines()[-1])
    for name, (status, err, tensorflow) in runs.items():
        assert not tensorflow, f"{name} loaded TensorFlow"
        if name.endswith("--help"):
            assert status == 0
            continue
        assert status == 2 and err.count("\n") == 1 and "Error" not in err, (name, err)
        assert re.search("/(missing|nonexistent)|no saved_model.pb", err), (name, err)
    assert runs["pretrain"][1] == ("electra-pretrain: --data.train_files='/nonexistent/*' matches no file "
                                   "(/nonexistent/*)\n")
    assert runs["predict"][1] == "electra-predict: --saved_model='/missing' does not exist\n"
    assert runs["predict, not a SavedModel"][1] == ("electra-predict: --saved_model='tests/fixtures' is not a "
                                                   "SavedModel directory (no saved_model.pb)\n")
    assert not os.listdir(tmp_path)        # no run directory, no lock

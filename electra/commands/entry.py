"""The one wrapper around every user-facing command: flags bound to a frozen config by ``electra.cli``, logging set up
once (quiet by default), the work run, failures turned into one line on stderr and an exit status.

Quiet by default: TensorFlow's C++ start-up lines (no CUDA driver, cuInit, cuDNN/cuBLAS factories, CPU features,
oneDNN) are written to file descriptor 2 while the library loads, before ``TF_CPP_MIN_LOG_LEVEL`` or absl's
threshold is read, so TensorFlow is imported (and its devices listed) with stderr passed through a filter that drops
those lines (``NOISE``) and keeps every other; after that ``TF_CPP_MIN_LOG_LEVEL=2`` keeps C++ info and warnings out
(XLA's "Compiled cluster"), TensorFlow's and absl's Python loggers log warnings and errors only (not checkpoint
sharding timings), less the SavedModel input-rename warnings. ``--verbose`` changes none of it and logs everything.

Exit status: 0 done; 2 bad input or settings (a flag, recipe, file, vocabulary, run directory held by another run):
nothing was started or nothing was lost; 1 the work itself failed (non-finite loss, unreadable checkpoint, a build)
or a bug; 74 (sysexits' EX_IOERR) a write failed for lack of room or rights (full disk, quota, read-only file
system): the message names the path, what was written before is intact; 128 + N stopped by signal N (143 SIGTERM,
130 SIGINT, 138 SIGUSR1; ``electra.interrupts``): a training run saved a checkpoint first, so the same command
resumes it. A failure is one line on stderr, ``<command>: <message>``, naming the flag, file or field; no exception
class and no traceback, except for a bug (an error of no known kind, ``outcome``), whose line says to rerun with
``--verbose``. ``--verbose`` or the environment variable ``ELECTRA_VERBOSE=1`` (for launchers that pass the
environment, not the flags, to every rank) prints the traceback before that line, and logs everything. Paths and
globs are checked before TensorFlow loads (``missing_inputs``), so a wrong path is answered at once.

A command module defines ``COMMAND = Command(...)`` and ``main = COMMAND.main``; ``setup.py`` lists ``main`` as a
console script and ``run_scripts/*.py`` launch it from a checkout.
"""
from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import logging
import os
import re
import signal
import sys
import threading
import traceback
from typing import Any, Callable, Sequence

NOISE = re.compile("|".join((
    r"All log messages before absl::InitializeLog\(\) is called",
    r"Could not find cuda drivers", r"failed call to cuInit", r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered", r"TF-TRT Warning: Could not find TensorRT",
    r"cpu_feature_guard\.cc", r"^To enable the following instructions", r"oneDNN custom operations are on",
    r"Compiled cluster using XLA", r"Function `\w+` contains input name\(s\)")))

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_STORAGE = 0, 1, 2, 74
VERBOSE_VARIABLE = "ELECTRA_VERBOSE"
HINT = " (rerun with --verbose for the traceback)"


class UsageError(ValueError):
    """Bad input or settings found by a command itself (exit status 2)."""


# (module, class, exit status), looked up only in modules already imported: a command that never imported one
# cannot raise its errors, and importing it here could load TensorFlow. The ``ValueError`` family (ConfigError,
# InputError, CorruptRecordError, SquadFormatError, TokenizerError, WeightLoadError, DamagedRecord, UsageError),
# ``KeyError`` and ``OSError`` are bad input too (``outcome``).
KNOWN_ERRORS = (("electra.training.experiment", "TrainingError", EXIT_FAILURE),
                ("electra.training.checkpointing", "CheckpointReadError", EXIT_FAILURE),
                ("electra.commands.install_horovod", "BuildError", EXIT_FAILURE),
                ("electra.training.distribution", "LaunchError", EXIT_USAGE),
                ("electra.training.rundir", "RunLockedError", EXIT_USAGE),
                ("data_prep.common", "DataPrepError", EXIT_USAGE))


def outcome(error: BaseException) -> tuple[int, str, bool]:
    """``(exit status, message, expected)`` for an error that ended a command; ``expected`` is False for a bug
    (an error of no known kind: exit 1), whose message gets the hint to rerun with ``--verbose``."""
    from electra.interrupts import Interrupted
    from electra.io import WRITE_ERRNOS, StorageError, storage_error
    if isinstance(error, Interrupted):
        return error.exit_code, str(error), True
    if isinstance(error, KeyboardInterrupt):
        return 128 + signal.SIGINT, "stopped by SIGINT", True
    if isinstance(error, OSError) and not isinstance(error, StorageError) and error.errno in WRITE_ERRNOS:
        # an OSError of a write that escaped ``electra.io.storing`` is still a storage failure
        error = storage_error(error, "the output")
    if isinstance(error, StorageError):
        return EXIT_STORAGE, str(error), True
    if hasattr(error, "error_code"):        # a TensorFlow OpError: its message names the path and the cause
        text = _first_line(getattr(error, "message", "") or str(error))
        return (EXIT_STORAGE, text, True) if storage_error(error, "") else (EXIT_FAILURE, text, False)
    for module, name, status in KNOWN_ERRORS:
        known = getattr(sys.modules.get(module), name, None)
        if known is not None and isinstance(error, known):
            return status, str(error), True
    if isinstance(error, KeyError) and error.args:
        return EXIT_USAGE, str(error.args[0]), True
    if isinstance(error, OSError) and error.filename and error.strerror:
        return EXIT_USAGE, f"{error.filename}: {error.strerror}", True
    if isinstance(error, (ValueError, OSError)):
        return EXIT_USAGE, str(error), True
    return EXIT_FAILURE, f"internal error: {_first_line(str(error)) or 'no message'}", False


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def verbose_requested(argv: Sequence[str]) -> bool:
    """``--verbose`` among the arguments, or ``ELECTRA_VERBOSE`` set to anything but empty, 0, false or no."""
    return "--verbose" in argv or os.environ.get(VERBOSE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def missing_inputs(*inputs: tuple[str, str | None, str]) -> None:
    """Cheap checks that a command's input paths exist, made before TensorFlow loads or anything is written:
    ``(flag, value, kind)`` with kind ``"file"``, ``"dir"``, ``"globs"`` (comma-separated, each must match) or
    ``"weights"`` (an ``--init`` spec: a path, a checkpoint prefix whose ``.index`` exists, ``google:<prefix>``,
    ``hf:<dir>`` or ``hf:<dir>,<dir>``). Unset values and remote paths (``gs://...``) are left to the work itself.
    ``ConfigError`` naming every flag that fails."""
    from electra.configs import ConfigError
    problems = [f"{flag}={value!r} {problem}" for flag, value, kind in inputs if value
                for problem in (_missing(value, kind),) if problem]
    if problems:
        raise ConfigError("; ".join(problems))


def _missing(value: str, kind: str) -> str | None:
    if kind == "globs":
        unmatched = [p for p in value.split(",") if p and "://" not in p and not glob.glob(p)]
        return f"matches no file ({', '.join(unmatched)})" if unmatched else None
    if kind == "weights":
        scheme, colon, rest = value.partition(":")
        parts = rest.split(",") if colon and scheme in ("hf", "google") else [value]
        absent = [p for p in parts if "://" not in p and not os.path.exists(p) and not os.path.exists(p + ".index")]
        return (f"does not exist ({', '.join(absent)}: no such file or directory, nor a checkpoint prefix with an "
                f".index file)") if absent else None
    if "://" in value or (os.path.isdir if kind == "dir" else os.path.isfile)(value):
        return None
    return f"is not a {'directory' if kind == 'dir' else 'file'}" if os.path.exists(value) else "does not exist"


@dataclasses.dataclass(frozen=True)
class Command:
    """One user-facing program.

    ``config``: the frozen config dataclass its flags bind to (``electra.cli``); ``run(config)`` does the work and
    returns a JSON-able result printed on stdout, an exit status, or None; ``doc``: ``--help``'s text, with a working
    example; ``tensorflow``: whether the work loads TensorFlow (then it is loaded quietly first); ``check(config)``:
    cheap checks beyond the config's own (``missing_inputs``), run before TensorFlow loads or a lock is taken.
    """
    name: str
    config: type
    run: Callable[[Any], Any]
    doc: str
    tensorflow: bool = True
    check: Callable[[Any], None] | None = None

    def parse(self, argv: Sequence[str] | None = None, check: bool = True) -> Any:
        """The config ``argv`` asks for (``check=False``: without the required-field and cross-field checks)."""
        return self._parse(argv, check)[0]

    def _parse(self, argv: Sequence[str] | None, check: bool) -> tuple[Any, bool]:
        from electra.cli import parse_command
        return parse_command(self.config, None if argv is None else list(argv), self.doc, check=check,
                             prog=self.name)

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run the command; the exit status (module docstring). Every failure is one line ``<name>: <message>`` on
        stderr, after the traceback when verbose."""
        argv = sys.argv[1:] if argv is None else list(argv)
        verbose = verbose_requested(argv)
        try:
            config, flag = self._parse(argv, True)
            verbose = verbose or flag
            if self.check is not None:
                self.check(config)
            from electra.interrupts import DEFAULT_SIGNALS, STOP
            configure_logging(verbose, self.tensorflow)
            with STOP.installed(getattr(getattr(config, "runtime", None), "stop_signals", DEFAULT_SIGNALS)):
                result = self.run(config)
        except SystemExit:          # argparse's usage errors (status 2) and --help
            raise
        except BaseException as error:      # noqa: B036 -- Interrupted and KeyboardInterrupt get their status too
            status, message, expected = outcome(error)
            if verbose:
                traceback.print_exception(error)
            print(f"{self.name}: {message}{'' if expected or verbose else HINT}", file=sys.stderr)
            return status
        if isinstance(result, int) and not isinstance(result, bool):
            return result
        if result is not None:
            print(json.dumps(result, default=_plain))   # one line: the last line of stdout, per rank under horovodrun
        return EXIT_OK


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as numbers and lists; anything else (paths, ...) as text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def configure_logging(verbose: bool = False, tensorflow: bool = True) -> None:
    """The project's log lines on stderr; unless ``verbose``, TensorFlow loaded (when ``tensorflow``) without its
    start-up noise and the libraries' noise filtered out (module docstring)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("tensorflow", "absl"):     # their INFO lines (checkpoint sharding timings, "Assets written")
        logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger(name).addFilter(_not_noise)
    if tensorflow and "tensorflow" not in sys.modules:
        with filtered_stderr():
            import tensorflow as tf
            tf.config.list_physical_devices()    # the CUDA probe: "failed call to cuInit" on machines without one


def _not_noise(record: logging.LogRecord) -> bool:
    return not NOISE.search(record.getMessage())


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern = NOISE):
    """File descriptor 2 (C++ writes too) through a pipe that drops the lines ``noise`` matches, keeps the others
    in order; restored, with every line written, on exit."""
    sys.stderr.flush()
    read, write = os.pipe()
    original = os.dup(2)
    os.dup2(write, 2)
    os.close(write)

    def pump() -> None:
        with os.fdopen(read, "rb") as pipe:
            for line in pipe:
                if not noise.search(line.decode("utf-8", "replace")):
                    os.write(original, line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)     # the pipe's last writer closes: the pump drains it and stops
        thread.join()
        os.close(original)

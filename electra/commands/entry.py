"""The one wrapper around every user-facing command: flags bound to a frozen config by ``electra.cli``, logging set up
once (quiet by default), the work run, failures turned into one line on stderr and an exit status.

Quiet by default: TensorFlow's C++ start-up lines (no CUDA driver, cuInit, cuDNN/cuBLAS factories, CPU features,
oneDNN) are written to file descriptor 2 while the library loads, before ``TF_CPP_MIN_LOG_LEVEL`` or absl's
threshold is read, so TensorFlow is imported (and its devices listed) with stderr passed through a filter that drops
those lines (``NOISE``) and keeps every other; after that ``TF_CPP_MIN_LOG_LEVEL=2`` keeps C++ info and warnings out
(XLA's "Compiled cluster"), TensorFlow's and absl's Python loggers log warnings and errors only (not checkpoint
sharding timings), less the SavedModel input-rename warnings. ``--verbose`` changes none of it and logs everything.

Exit status: 0 done; 2 bad input or settings (a flag, recipe, file, vocabulary, run directory held by another run):
nothing was started or nothing was lost; 1 the work itself failed (non-finite loss, unreadable checkpoint, a build);
74 (sysexits' EX_IOERR) a write failed for lack of room or rights (full disk, quota, read-only file system): the
message names the path, what was written before is intact; 128 + N stopped by signal N (143 SIGTERM, 130 SIGINT,
138 SIGUSR1; ``electra.interrupts``): a training run saved a checkpoint first, so the same command resumes it.

A command module defines ``COMMAND = Command(...)`` and ``main = COMMAND.main``; ``setup.py`` lists ``main`` as a
console script and ``run_scripts/*.py`` launch it from a checkout.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
import threading
from typing import Any, Callable, Sequence

NOISE = re.compile("|".join((
    r"All log messages before absl::InitializeLog\(\) is called",
    r"Could not find cuda drivers", r"failed call to cuInit", r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered", r"TF-TRT Warning: Could not find TensorRT",
    r"cpu_feature_guard\.cc", r"^To enable the following instructions", r"oneDNN custom operations are on",
    r"Compiled cluster using XLA", r"Function `\w+` contains input name\(s\)")))

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_STORAGE = 0, 1, 2, 74


class UsageError(ValueError):
    """Bad input or settings found by a command itself (exit status 2)."""


def _usage_errors() -> tuple[type, ...]:
    """Exceptions meaning "the input or the settings are wrong" (exit 2). Imported late: TensorFlow loads with them."""
    from electra.configs import ConfigError
    errors: list[type] = [UsageError, ConfigError, FileNotFoundError, ValueError, KeyError]
    for module, name in (("electra.training.distribution", "LaunchError"),
                         ("electra.training.rundir", "RunLockedError"),
                         ("data_prep.common", "DataPrepError")):
        errors.append(_lookup(module, name))
    return tuple(e for e in errors if e is not None)


def _failure_errors() -> tuple[type, ...]:
    """Exceptions meaning "the work failed" (exit 1); checked before the usage errors (some subclass ValueError)."""
    errors = [_lookup(m, n) for m, n in (("electra.training.experiment", "TrainingError"),
                                          ("electra.training.checkpointing", "CheckpointReadError"),
                                          ("electra.commands.install_horovod", "BuildError"))]
    return tuple(e for e in errors if e is not None)


def _lookup(module: str, name: str):
    if module not in sys.modules:
        return None       # a command that never imported it cannot raise it
    return getattr(sys.modules[module], name, None)


@dataclasses.dataclass(frozen=True)
class Command:
    """One user-facing program.

    ``config``: the frozen config dataclass its flags bind to (``electra.cli``); ``run(config)`` does the work and
    returns a JSON-able result printed on stdout, an exit status, or None; ``doc``: ``--help``'s text, with a working
    example; ``tensorflow``: whether the work loads TensorFlow (then it is loaded quietly first).
    """
    name: str
    config: type
    run: Callable[[Any], Any]
    doc: str
    tensorflow: bool = True

    def parse(self, argv: Sequence[str] | None = None, check: bool = True) -> Any:
        """The config ``argv`` asks for (``check=False``: without the required-field and cross-field checks)."""
        return self._parse(argv, check)[0]

    def _parse(self, argv: Sequence[str] | None, check: bool) -> tuple[Any, bool]:
        from electra.cli import parse_command
        return parse_command(self.config, None if argv is None else list(argv), self.doc, check=check,
                             prog=self.name)

    def main(self, argv: Sequence[str] | None = None) -> int:
        try:
            config, verbose = self._parse(argv, True)
        except _usage_errors() as e:
            return self._fail(e, EXIT_USAGE)
        from electra.interrupts import DEFAULT_SIGNALS, STOP, Interrupted
        from electra.io import StorageError
        configure_logging(verbose, self.tensorflow)
        runtime = getattr(config, "runtime", None)
        try:
            with STOP.installed(getattr(runtime, "stop_signals", DEFAULT_SIGNALS)):
                result = self.run(config)
        except Interrupted as e:
            return self._fail(e, e.exit_code)
        except StorageError as e:
            return self._fail(e, EXIT_STORAGE)
        except _failure_errors() as e:
            return self._fail(e, EXIT_FAILURE)
        except _usage_errors() as e:
            return self._fail(e, EXIT_USAGE)
        if isinstance(result, int) and not isinstance(result, bool):
            return result
        if result is not None:
            print(json.dumps(result, default=_plain))   # one line: the last line of stdout, per rank under horovodrun
        return EXIT_OK

    def _fail(self, error: BaseException, status: int) -> int:
        kind = "" if isinstance(error, UsageError) or type(error).__name__ in (
            "ConfigError", "Interrupted", "StorageError") else f"{type(error).__name__}: "
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"{self.name}: {kind}{message}", file=sys.stderr)
        return status


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

"""The one wrapper around every user-facing command: flags bound to a frozen config by ``electra.cli``, logging set up
once (quiet by default), the work run, failures turned into one line on stderr and an exit status.

Exit status: 0 done; 2 bad input or settings (a flag, recipe, file, vocabulary, run directory held by another run):
nothing was started or nothing was lost; 1 the work itself failed (non-finite loss, unreadable checkpoint, a build).

A command module defines ``COMMAND = Command(...)`` and ``main = COMMAND.main``; ``setup.py`` lists ``main`` as a
console script and ``run_scripts/*.py`` launch it from a checkout.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any, Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


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
                                          ("electra.training.checkpointing", "CheckpointReadError"))]
    return tuple(e for e in errors if e is not None)


def _lookup(module: str, name: str):
    if module not in sys.modules:
        return None       # a command that never imported it cannot raise it
    return getattr(sys.modules[module], name, None)


@dataclasses.dataclass(frozen=True)
class Command:
    """One user-facing program.

    ``config``: the frozen config dataclass its flags bind to (``electra.cli``); ``run(config)`` does the work and
    returns a JSON-able result printed on stdout (or None); ``doc``: ``--help``'s text, with a working example.
    """
    name: str
    config: type
    run: Callable[[Any], Any]
    doc: str

    def parse(self, argv: Sequence[str] | None = None, check: bool = True) -> Any:
        from electra.cli import parse
        return parse(self.config, None if argv is None else list(argv), self.doc, check=check)

    def main(self, argv: Sequence[str] | None = None) -> int:
        try:
            config = self.parse(argv)
        except _usage_errors() as e:
            return self._fail(e, EXIT_USAGE)
        _configure_logging(bool(getattr(config, "verbose", False)))
        try:
            result = self.run(config)
        except _failure_errors() as e:
            return self._fail(e, EXIT_FAILURE)
        except _usage_errors() as e:
            return self._fail(e, EXIT_USAGE)
        if isinstance(result, int) and not isinstance(result, bool):
            return result
        if result is not None:
            print(json.dumps(result, indent=2, default=_plain))
        return EXIT_OK

    def _fail(self, error: BaseException, status: int) -> int:
        kind = "" if isinstance(error, UsageError) or type(error).__name__ == "ConfigError" else \
            f"{type(error).__name__}: "
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"{self.name}: {kind}{message}", file=sys.stderr)
        return status


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays as numbers and lists; anything else (paths, ...) as text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _configure_logging(verbose: bool) -> None:
    import logging
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

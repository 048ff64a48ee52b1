"""One error family; each kind carries the exit code the CLI boundary turns it into."""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_CANNOT_CHECK = 3
EXIT_BUG = 4
EXIT_INTERRUPTED = 130


class VolctlError(Exception):
    """An expected failure: says what went wrong and, in `hint`, what to do next."""

    exit_code = EXIT_BUG

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(VolctlError):
    """The configuration or an input file is invalid."""

    exit_code = EXIT_CANNOT_CHECK


class Unreachable(VolctlError):
    """A service, the broker or Prometheus did not answer."""

    exit_code = EXIT_CANNOT_CHECK


class NotEnoughData(VolctlError):
    """The check could not run because there is too little data."""

    exit_code = EXIT_CANNOT_CHECK


class ModelIntegrityError(VolctlError):
    """A model artifact does not match its manifest (refused: joblib files are code)."""

    exit_code = EXIT_CANNOT_CHECK

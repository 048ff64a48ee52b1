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


class DiskFull(VolctlError):
    """A write failed for want of space (or a read-only or over-quota filesystem): nothing was
    half-written, and the message names the folder."""

    exit_code = EXIT_CANNOT_CHECK


_NO_ROOM = {28: "full", 122: "over its quota", 30: "read-only"}  # ENOSPC, EDQUOT, EROFS


def disk_full(exc: BaseException, where: object = None) -> DiskFull | None:
    """`exc` as a DiskFull naming `where` (else the file it failed on) when it is one, else None."""
    reason = _NO_ROOM.get(getattr(exc, "errno", None) or 0)
    if reason is None:
        return None
    place = where or getattr(exc, "filename", None)
    if place is None:
        return DiskFull(f"cannot write: the disk is {reason} ({exc.strerror})",
                        "free space on the disk of the state dir and the registry (`df -h`), then try again")
    return DiskFull(f"cannot write to {place}: the disk is {reason} ({exc.strerror})",
                    f"free space on the disk holding {place} (`df -h {place}`), then try again")

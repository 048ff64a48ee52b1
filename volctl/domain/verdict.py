"""One verdict type for every report: the answer, and the exit code that says it (DESIGN.md §7).
Runbooks branch on these codes, so every command ends by returning its report's verdict."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from volctl.domain.errors import EXIT_CANNOT_CHECK, EXIT_CHECK_FAILED, EXIT_OK


class Verdict(Enum):
    OK = "ok"  # the objective is met, the check passed
    FAILED = "failed"  # the check ran and the answer is no
    UNKNOWN = "cannot measure"  # not enough data, something unreachable: never a pass

    @property
    def exit_code(self) -> int:
        return {Verdict.OK: EXIT_OK, Verdict.FAILED: EXIT_CHECK_FAILED, Verdict.UNKNOWN: EXIT_CANNOT_CHECK}[self]

    @classmethod
    def combine(cls, verdicts: Iterable[Verdict]) -> Verdict:
        """A "no" anywhere is a no; otherwise anything unmeasured makes the whole unmeasured."""
        found = set(verdicts)
        if cls.FAILED in found:
            return cls.FAILED
        return cls.UNKNOWN if cls.UNKNOWN in found or not found else cls.OK

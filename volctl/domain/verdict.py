"""One verdict type for every report: the answer, and the exit code that says it (docs/design.md §7).
Runbooks branch on these codes, so every command ends by returning its report's verdict.

Four outcomes, as Argo Rollouts' analysis runs have them: pass, fail, inconclusive (the check ran
but the evidence is too thin: too few requests, labelled ticks, episodes or rows) and error (it
could not reach what it measures). Neither of the last two is ever a pass."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from volctl.domain.errors import EXIT_CANNOT_CHECK, EXIT_CHECK_FAILED, EXIT_OK


class Verdict(Enum):
    PASS = "pass"  # the objective is met, the check passed
    FAIL = "fail"  # the check ran and the answer is no
    INCONCLUSIVE = "inconclusive"  # the check ran on too little evidence to answer
    ERROR = "error"  # what it measures did not answer

    @property
    def exit_code(self) -> int:
        return {Verdict.PASS: EXIT_OK, Verdict.FAIL: EXIT_CHECK_FAILED}.get(self, EXIT_CANNOT_CHECK)

    @classmethod
    def combine(cls, verdicts: Iterable[Verdict]) -> Verdict:
        """A "no" anywhere is a no; then an error; then too little evidence (nothing judged too)."""
        found = set(verdicts)
        for verdict in (cls.FAIL, cls.ERROR, cls.INCONCLUSIVE):
            if verdict in found:
                return verdict
        return cls.PASS if found else cls.INCONCLUSIVE

"""Is the stream flowing? The age of the newest raw tick and of the newest prediction, judged
against `slo.freshness_seconds` whenever a stream should flow: a source run by the stack (the
background replay or synthetic source) or `slo.stream_expected` (a live ingest run elsewhere).
A stalled stream otherwise reads healthy: every service answers, lag is zero, nothing is new."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from volctl.domain.settings import Settings
from volctl.domain.verdict import Verdict


@dataclass(frozen=True)
class Expectation:
    """Why a stream should flow now ("" when nothing says it should), and for how long it has."""

    reason: str = ""
    running_s: float | None = None  # how long the source has run (None: not known)


@dataclass
class Freshness:
    limit_s: float
    expected: Expectation
    tick_age_s: float | None  # None: no tick read since the consume service started
    prediction_age_s: float | None

    @property
    def starting(self) -> bool:
        """The source started within the limit: not having a tick yet is not a stall."""
        running = self.expected.running_s
        return running is not None and running < self.limit_s

    @property
    def problems(self) -> list[str]:
        if not self.expected.reason:
            return []
        found = []
        for what, age in (("tick", self.tick_age_s), ("prediction", self.prediction_age_s)):
            if age is None and not self.starting:
                found.append(f"no {what} since the consume service started")
            elif age is not None and age > self.limit_s:
                found.append(f"newest {what} {age:.0f} s old (limit {self.limit_s:g} s)")
        return found

    @property
    def outcome(self) -> Verdict:
        return Verdict.FAIL if self.problems else Verdict.PASS

    def detail(self) -> str:
        ages = f"newest tick {_age(self.tick_age_s)}, newest prediction {_age(self.prediction_age_s)}"
        if not self.expected.reason:
            return f"{ages}; not judged: no source is running (slo.stream_expected = false)"
        if self.problems:
            return f"STALE: {'; '.join(self.problems)} while {self.expected.reason}"
        note = " (starting)" if self.starting and self.tick_age_s is None else ""
        return f"{ages}{note} (limit {self.limit_s:g} s; {self.expected.reason})"

    def as_document(self) -> dict[str, Any]:
        return {"tick_age_s": self.tick_age_s, "prediction_age_s": self.prediction_age_s, "limit_s": self.limit_s,
                "expected": self.expected.reason, "problems": self.problems, "verdict": self.outcome.value}


def expectation(settings: Settings) -> Expectation:
    """A stream should flow while the stack runs a source, or when the configuration says so."""
    from volctl.clients.processes import Supervisor
    from volctl.domain.topology import REPLAY

    record = Supervisor(settings.state_path).record(REPLAY)
    if record is not None:
        return Expectation(f"the stack's replay runs (pid {record.pid})", record.uptime_s)
    if settings.slo.stream_expected:
        return Expectation("slo.stream_expected is set")
    return Expectation()


def from_members(bodies: Iterable[Mapping[str, Any]], limit_s: float, expected: Expectation, now: float) -> Freshness:
    """Freshness from the consume members' /health: the newest tick any of them read (an idle
    member owns partitions no product is on) and the newest prediction any of them delivered."""
    bodies = list(bodies)

    def age(field: str) -> float | None:
        times = [b[field] for b in bodies if isinstance(b.get(field), int | float) and b[field] > 0]
        return max(now - max(times), 0.0) if times else None

    return Freshness(limit_s, expected, age("last_tick_at"), age("last_prediction_at"))


def _age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s ago"

"""What `volctl slo check` measures with: a row per objective (its verdict in the four words and
the finer status behind it), each PromQL expression asked once at one instant, and the /predict
counts of every window fetched once and shared by every row."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Protocol

from volctl.core.monitoring import queries
from volctl.core.monitoring.freshness import Expectation
from volctl.domain.clock import seconds_of
from volctl.domain.settings import SloSettings
from volctl.domain.verdict import Verdict

MET, BREACHED, LOW_TRAFFIC, NO_DATA, INFO = "met", "breached", "too little traffic", "no data", "info"
NOT_JUDGED = "no offered load"  # these three: inconclusive, and why
TOO_FEW_LABELS = "too few labels"
NO_SOURCE = "no source running"
COVERED = 0.95  # a burn window whose span the data holds to this share is measured over the window
MIN_SPIKES = 3  # spike ticks in the quality window: fewer, and realised precision and recall say nothing


@dataclass
class Budget:
    remaining: float  # fraction of the period's budget left (negative: overspent)
    requests_left: float
    minutes_left: float
    exhausted_in_hours: float | None  # at the window's burn rate; None when not burning


@dataclass
class SloRow:
    name: str
    objective: str
    measured: float | None
    shown: str
    status: str  # met | breached | info | why it could not be judged (LOW_TRAFFIC, NO_DATA, ...)
    budget: Budget | None = None
    burn_rates: dict[str, float] = field(default_factory=dict)
    explain: list[str] = field(default_factory=list)
    lacking: str = ""  # an inconclusive row: what it lacked, in numbers ("9 of 100 requests in 5m")
    key: str = ""  # the catalogue's objective (objectives.OBJECTIVES) that measured it

    @property
    def verdict(self) -> str | None:
        """pass | fail | inconclusive; None: a row shown beside the objectives, never judged."""
        if self.status == INFO:
            return None
        return {MET: Verdict.PASS.value, BREACHED: Verdict.FAIL.value}.get(self.status, Verdict.INCONCLUSIVE.value)

    @property
    def reason(self) -> str:
        if self.verdict != Verdict.INCONCLUSIVE.value:
            return ""
        return f"{self.status}: {self.lacking}" if self.lacking else self.status


class Prometheus(Protocol):
    url: str

    def value(self, expr: str, at: float | None = None) -> float | None: ...


class Measurements:
    """Each expression asked once, all at one instant: every row, the table and --explain use the
    same numbers, and windows of different length describe the same moment."""

    def __init__(self, client: Prometheus, at: float | None = None) -> None:
        self.client = client
        self.at = time.time() if at is None else at
        self.values: dict[str, float | None] = {}
        self.asked = 0

    def __call__(self, expr: str) -> float | None:
        if expr not in self.values:
            self.asked += 1
            value = self.client.value(expr, self.at)
            self.values[expr] = None if value is not None and value != value else value  # NaN: no data
        return self.values[expr]

    def line(self, expr: str) -> str:
        value = self(expr)
        return f"{expr}  =  {'no data' if value is None else f'{value:.6g}'}"


@dataclass(frozen=True)
class WindowCounts:
    """A window's /predict counts and scrape health, fetched once and shared by every row."""

    window: str
    requests: float
    failed: float
    up: float | None  # share of successful scrapes; None: no scrape in the window
    explain: tuple[str, ...]

    @classmethod
    def fetch(cls, measure: Measurements, window: str) -> WindowCounts:
        exprs = (queries.requests_in(window), queries.failed_in(window), queries.scrapes_up(window))
        requests, failed, up = (measure(e) for e in exprs)
        return cls(window, requests or 0.0, failed or 0.0, up, tuple(measure.line(e) for e in exprs))

    def bad_fraction(self, availability: bool) -> float | None:
        """Failed / answered (availability: or the failed scrapes, when worse: a dead service
        answers nothing, so requests alone would call it healthy)."""
        ratio = self.failed / self.requests if self.requests else None
        if availability and self.up is not None:
            down = 1 - self.up
            ratio = down if ratio is None else max(ratio, down)
        return ratio

    def summary(self, availability: bool) -> str:
        ratio = self.bad_fraction(availability)
        text = f"≈{self.failed:.0f} failed / ≈{self.requests:.0f} requests over {self.window} (increase() estimates)"
        if availability and self.up is not None:
            text += f"; scrapes failed {1 - self.up:.4%}"
        return text + ("" if ratio is None else f" -> {ratio:.4%}")


def at_most_the_longer(counts: dict[str, WindowCounts]) -> dict[str, WindowCounts]:
    """increase() extrapolates each window to its edges, so at one instant a short window can
    estimate a few more requests than a longer one holding the same samples; no shorter window
    counts more than a longer one (the longer one's figure is the better estimate)."""
    ordered = sorted(counts, key=seconds_of, reverse=True)
    fixed: dict[str, WindowCounts] = {}
    ceiling: WindowCounts | None = None
    for span in ordered:
        found = counts[span]
        if ceiling is not None and (found.requests > ceiling.requests or found.failed > ceiling.failed):
            found = replace(found, requests=min(found.requests, ceiling.requests),
                            failed=min(found.failed, ceiling.failed),
                            explain=(*found.explain, f"capped at the {ceiling.window} window's counts: "
                                     "increase() extrapolated this shorter window above it"))
        fixed[span] = ceiling = found
    return fixed


@dataclass
class Evidence:
    """What every objective's rows are measured from: one instant's expressions, each window's
    counts (fetched once), what the stream is expected to do, and the rows measured before."""

    measure: Measurements
    slo: SloSettings
    window: str
    counts: dict[str, WindowCounts]
    expected: Expectation = field(default_factory=Expectation)
    rows: list[SloRow] = field(default_factory=list)  # judged so far (throughput reads latency's and errors')

    @property
    def now(self) -> WindowCounts:
        return self.counts[self.window]

    @property
    def enough(self) -> bool:
        """Enough requests in the window for a verdict (slo.min_requests)."""
        return self.now.requests >= self.slo.min_requests


def verdict_of(value: float | None, ok: bool, enough: bool) -> str:
    if not enough:
        return LOW_TRAFFIC
    if value is None:
        return NO_DATA
    return MET if ok else BREACHED


def ms(value: float | None) -> str:
    return "no data" if value is None else f"{value * 1000:.1f} ms"


def seconds_text(age: float | None) -> str:
    return "never" if age is None else f"{age:.1f} s"

"""`volctl slo check`: every SLO measured from Prometheus over a window, with error budgets and
burn rates. The arithmetic is done here, on request counts, and every number keeps the PromQL
and the sum that produced it (`--explain`).

- Ratios over a window are count-weighted: errors / requests from `increase()` over the whole
  window, never an average of short-window ratios.
- Below `slo.min_requests` requests the verdict is inconclusive ("too little traffic: 9 of 100
  requests"): no traffic is not a pass. A dead service fails availability without traffic.
- Every row's verdict is one of pass, fail, inconclusive (its reason says what it lacked), or
  info (shown, never judged); its status keeps the finer reason.
- Budgets are over `slo.period` (30 d): remaining in requests and in minutes, and the time until
  it runs out at the burn rate of the window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from volctl.core.monitoring import objectives, queries
from volctl.core.monitoring.freshness import Expectation
from volctl.core.monitoring.sli import (
    BREACHED,
    COVERED,
    INFO,
    LOW_TRAFFIC,
    MET,
    NOT_JUDGED,
    Evidence,
    Measurements,
    Prometheus,
    SloRow,
    WindowCounts,
    at_most_the_longer,
)
from volctl.domain.clock import seconds_of
from volctl.domain.settings import SloSettings
from volctl.domain.verdict import Verdict


@dataclass
class SloReport:
    prometheus: str
    window: str
    period: str
    requests: float
    rows: list[SloRow] = field(default_factory=list)
    info: list[SloRow] = field(default_factory=list)
    queries: int = 0  # instant queries asked (each distinct expression once)
    data_span_s: float | None = None  # predict data Prometheus holds within the budget period (None: none)
    # burn windows longer than that data: their rate is the data's, not the window's (shown as "-")
    burn_windows_beyond_data: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> Verdict:
        return Verdict.combine(Verdict(row.verdict) for row in self.rows if row.verdict is not None)

    @property
    def verdict(self) -> str:
        return self.outcome.value

    def as_document(self, explain: bool = True) -> dict[str, Any]:
        document = {"verdict": self.verdict, **asdict(self)}
        for row, shown in zip([*self.rows, *self.info], [*document["rows"], *document["info"]], strict=True):
            shown.update(verdict=row.verdict, reason=row.reason)
            shown.pop("status")  # the internal code: the verdict and its reason say it in the four words
            shown.pop("key")  # the catalogue's handle, for the gate and the charts
            if not explain:
                shown.pop("explain")
        return document


def check_slos(client: Prometheus, slo: SloSettings, window: str = "5m",
               expected: Expectation | None = None) -> SloReport:
    """Every objective of the catalogue measured at one instant, in its order."""
    measure = Measurements(client)
    counts: dict[str, WindowCounts] = {}
    for span in (window, slo.period, *(long for long, _, _, _ in queries.BURN_WINDOWS)):
        counts.setdefault(span, WindowCounts.fetch(measure, span))
    found = Evidence(measure, slo, window, at_most_the_longer(counts), expected or Expectation())
    report = SloReport(client.url, window, slo.period, found.now.requests)
    report.data_span_s = measure(queries.data_span(slo.period))
    report.burn_windows_beyond_data = [long for long, _, _, _ in queries.BURN_WINDOWS
                                       if report.data_span_s is None or report.data_span_s < COVERED * seconds_of(long)]
    for objective in objectives.OBJECTIVES:
        for row in objective.measure(found):
            row.key = objective.key
            judged = row.status in (MET, BREACHED) or not (objective.optional or row.status in (INFO, NOT_JUDGED))
            (report.rows if judged else report.info).append(row)
            found.rows.append(row)
    for row in [*report.rows, *report.info]:
        if row.status == LOW_TRAFFIC:
            row.explain.append(f"{found.now.requests:.0f} requests in {window} (need {slo.min_requests} for a verdict)")
            row.lacking = f"{found.now.requests:.0f} of {slo.min_requests} requests in {window}"
    report.queries = measure.asked
    return report


class RangeClient(Protocol):
    url: str

    def range(self, expr: str, seconds: float, step_s: float) -> list[tuple[float, float]]: ...


@dataclass
class SloHistory:
    """Each objective's series over the charted span (the window, and at least the last hour)."""

    start: float
    end: float
    window_start: float
    step_s: float
    series: dict[str, list[tuple[float, float | None]]] = field(default_factory=dict)
    # A `volctl load` run in the window (the gate's): requests it had answered, each second of it.
    offered: list[tuple[float, float | None]] = field(default_factory=list)


def slo_history(client: RangeClient, slo: SloSettings, window: str) -> SloHistory:
    """Range queries of each objective's trend (objectives.trends); a missing stretch is a gap (None), not a line."""
    import time

    window_s = seconds_of(window)
    span = max(window_s, 3600.0)
    step = max(5.0, span / 240)
    end = time.time()
    history = SloHistory(end - span, end, end - window_s, step)
    for name, expr in objectives.trends(slo, window).items():
        history.series[name] = _with_gaps(client.range(expr, seconds=span, step_s=step), step)
    # A young stack has no hour behind it: the charts start at its first scrape (availability has a
    # point only where the service was scraped; the rates read 0, "or vector(0)", from the start).
    scraped = history.series.get("availability") or [(history.start, None)]
    history.start = min(max(history.start, scraped[0][0] - step), history.window_start)
    return history


def _with_gaps(points: list[tuple[float, float]], step: float) -> list[tuple[float, float | None]]:
    gapped: list[tuple[float, float | None]] = []
    for t, v in points:
        if gapped and t - gapped[-1][0] > 1.5 * step:
            gapped.append((gapped[-1][0] + step, None))
        gapped.append((t, v))
    return gapped

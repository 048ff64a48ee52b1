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

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from volctl.core.monitoring import queries
from volctl.core.monitoring.freshness import Expectation, Freshness
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
            if not explain:
                shown.pop("explain")
        return document


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


def check_slos(client: Prometheus, slo: SloSettings, window: str = "5m",
               expected: Expectation | None = None) -> SloReport:
    measure = Measurements(client)
    period_s = seconds_of(slo.period)
    counts: dict[str, WindowCounts] = {}

    def counts_of(span: str) -> WindowCounts:
        return counts[span]

    for span in (window, slo.period, *(long for long, _, _, _ in queries.BURN_WINDOWS)):
        counts.setdefault(span, WindowCounts.fetch(measure, span))
    counts = at_most_the_longer(counts)
    now = counts_of(window)
    report = SloReport(client.url, window, slo.period, now.requests)
    span_expr = queries.data_span(slo.period)
    report.data_span_s = measure(span_expr)
    report.burn_windows_beyond_data = [long for long, _, _, _ in queries.BURN_WINDOWS
                                       if report.data_span_s is None or report.data_span_s < COVERED * seconds_of(long)]
    enough = now.requests >= slo.min_requests
    traffic_note = f"{now.requests:.0f} requests in {window} (need {slo.min_requests} for a verdict)"

    for quantile in (0.5, 0.95, 0.99):
        expr = queries.latency_quantile(quantile, window)
        value = measure(expr)
        row = SloRow(f"latency p{round(quantile * 100)}", "", value, _ms(value), INFO, explain=[measure.line(expr)])
        if quantile == 0.95:
            row.objective = f"<= {slo.latency_p95_seconds * 1000:g} ms"
            row.status = _verdict(value, value is not None and value <= slo.latency_p95_seconds, enough)
            report.rows.append(row)
        else:
            report.info.append(row)

    for name, objective, budget, availability in (
            ("error rate", f"< {slo.error_rate:.2%}", slo.error_rate, False),
            ("availability", f">= {slo.availability:.2%}", 1 - slo.availability, True)):
        report.rows.append(_ratio_row(name, objective, budget, availability, now, counts_of(slo.period), period_s,
                                      {long: counts_of(long) for long, _, _, _ in queries.BURN_WINDOWS}, enough))

    lag_now, lag_max = measure(queries.CONSUMER_LAG), measure(queries.lag_max(window))
    ok = lag_max is not None and lag_max < slo.consumer_lag_seconds
    report.rows.append(SloRow("consumer lag (max)", f"< {slo.consumer_lag_seconds:g} s", lag_max,
                              "no data" if lag_max is None else f"{lag_max:.1f} s (now {lag_now or 0:.1f} s)",
                              NO_DATA if lag_max is None else (MET if ok else BREACHED),
                              explain=[measure.line(queries.CONSUMER_LAG), measure.line(queries.lag_max(window))]))

    row = _freshness_row(measure, slo, expected or Expectation())
    (report.rows if row.status in (MET, BREACHED) else report.info).append(row)

    span = queries.throughput_span(window)
    expr = queries.best_request_rate(span, window)
    throughput = measure(expr)
    row = SloRow(f"throughput (best {span})", f">= {slo.throughput_rps:g} req/s", throughput,
                 "no data" if throughput is None else f"{throughput:.1f} req/s",
                 _verdict(throughput, throughput is not None and throughput >= slo.throughput_rps, enough),
                 explain=[*now.explain, measure.line(expr)])
    # Throughput is a capacity statement: below it, a service that answered everything in time was
    # simply not offered more (an idle service is not "breached"); only with latency or errors
    # breached does a low rate say the service could not keep up.
    struggling = any(r.status == BREACHED for r in report.rows if r.name in ("latency p95", "error rate"))
    if row.status in (BREACHED, LOW_TRAFFIC) and not struggling:
        row.status = NOT_JUDGED
        row.explain.append("not judged: every request was answered in time, so the rate is what was offered, "
                           "not what the service can take; measure capacity with `volctl load` or `volctl gate`")
        report.info.append(row)
    else:
        report.rows.append(row)
    for row in [*_quality_rows(measure, slo), _bound_row(measure, slo)]:  # too few: shown, not judged
        (report.rows if row.status in (MET, BREACHED) else report.info).append(row)
    for row in [*report.rows, *report.info]:
        if row.status == LOW_TRAFFIC and not row.name.startswith("realised"):
            row.explain.append(traffic_note)
            row.lacking = f"{now.requests:.0f} of {slo.min_requests} requests in {window}"
    report.queries = measure.asked
    return report


def _ratio_row(name: str, objective: str, budget: float, availability: bool, now: WindowCounts,
               period: WindowCounts, period_s: float, burn: dict[str, WindowCounts], enough: bool) -> SloRow:
    """A ratio SLO from counts already fetched: the bad fraction over the window, its budget over
    the period, its burn rates over the alerting windows."""
    bad = now.bad_fraction(availability)
    measured = None if bad is None else (1 - bad if availability else bad)
    ok = bad is not None and (bad <= budget if availability else bad < budget)
    explain = [*now.explain, now.summary(availability), *period.explain, period.summary(availability)]
    # A dead service answers no requests: its failed scrapes are a verdict even without traffic.
    dead = availability and measured is not None and not ok  # failed scrapes fail it even without traffic
    row = SloRow(name, objective, measured, "no data" if measured is None else f"{measured:.3%}",
                 _verdict(measured, ok, enough or dead), explain=explain)
    period_bad = period.bad_fraction(availability)
    if period_bad is not None and budget > 0:
        remaining = 1 - period_bad / budget
        rate = (bad or 0.0) / budget
        row.budget = Budget(remaining, remaining * budget * period.requests, remaining * budget * period_s / 60,
                            remaining * period_s / rate / 3600 if rate > 0 and remaining > 0 else None)
        explain.append(f"budget {budget:.4%} of {period.window}: spent {period_bad:.4%} / {budget:.4%} = "
                       f"{period_bad / budget:.1%}, remaining {remaining:.1%} = {row.budget.requests_left:.0f} "
                       f"requests = {row.budget.minutes_left:.1f} min; burn rate over {now.window} = "
                       f"{bad or 0:.4%} / {budget:.4%} = {rate:.2f}")
    for long, counts in burn.items():
        long_bad = counts.bad_fraction(availability)
        if long_bad is not None and budget > 0:
            row.burn_rates[long] = long_bad / budget
            explain.append(f"burn rate over {long}: {counts.summary(availability)} / {budget:.4%} = "
                           f"{long_bad / budget:.2f}")
    return row


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


def slo_history(client: RangeClient, slo: SloSettings, window: str) -> SloHistory:
    """Range queries of queries.slo_history_expressions; a missing stretch is a gap (None), not a line."""
    import time

    window_s = seconds_of(window)
    span = max(window_s, 3600.0)
    step = max(5.0, span / 240)
    end = time.time()
    history = SloHistory(end - span, end, end - window_s, step)
    for name, expr in queries.slo_history_expressions(slo, window).items():
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


def _freshness_row(measure: Measurements, slo: SloSettings, expected: Expectation) -> SloRow:
    """The stream flows while it should: the newest tick and prediction, as the consume members
    last saw them (judged only while a source runs or slo.stream_expected is set)."""
    tick, prediction = measure(queries.TICK_AGE), measure(queries.PREDICTION_AGE)
    found = Freshness(slo.freshness_seconds, expected, tick, prediction)
    shown = f"tick {_seconds(tick)}, prediction {_seconds(prediction)}"
    verdict = (NO_SOURCE if not expected.reason else BREACHED if found.problems else MET)
    row = SloRow("freshness", f"< {slo.freshness_seconds:g} s", max((a for a in (tick, prediction) if a is not None),
                 default=None), shown, verdict, explain=[measure.line(queries.TICK_AGE),
                                                         measure.line(queries.PREDICTION_AGE)])
    row.explain.append(found.detail())
    return row


def _seconds(age: float | None) -> str:
    return "never" if age is None else f"{age:.1f} s"


def _quality_rows(measure: Measurements, slo: SloSettings) -> list[SloRow]:
    """The served model's realised precision and recall (outcomes: labels 60 s after each
    prediction) against its best shadow challenger and the floors."""
    window = slo.quality_window
    labelled, spikes = measure(queries.labelled_in(window)), measure(queries.spikes_in(window))
    # Precision and recall of a window without spikes are 0 or undefined, not a model's quality.
    lacking = [f"{labelled or 0:.0f} of {slo.min_outcomes} labelled ticks"] if (labelled or 0) < slo.min_outcomes \
        else []
    lacking += [f"{spikes or 0:.0f} of {MIN_SPIKES} spike ticks"] if (spikes or 0) < MIN_SPIKES else []
    enough = not lacking
    rows = []
    for name, floor in (("precision", slo.min_precision), ("recall", slo.min_recall)):
        served = measure(queries.served_realised(name, window))
        best = measure(queries.best_challenger_realised(name, window))
        needed = max(floor, (best - slo.quality_tolerance) if best is not None else floor)
        row = SloRow(f"realised {name} ({window})", f">= best challenger - {slo.quality_tolerance:g}, >= {floor:g}",
                     served, "no data" if served is None else
                     f"{served:.3f} (best challenger {'none' if best is None else f'{best:.3f}'})",
                     NO_DATA if served is None and enough else _verdict(served, served is not None and
                                                                          served >= needed, enough),
                     explain=[measure.line(queries.labelled_in(window)), measure.line(queries.spikes_in(window)),
                              measure.line(queries.served_realised(name, window)),
                              measure.line(queries.best_challenger_realised(name, window))])
        if not enough:
            row.status = TOO_FEW_LABELS
            row.lacking = f"{', '.join(lacking)} in {window}"
            row.explain.append(f"not judged: {row.lacking} (labels come 60 s after each prediction, past the "
                               "5 min warm-up; a calm hour holds few spikes)")
        rows.append(row)
    return rows


def _bound_row(measure: Measurements, slo: SloSettings) -> SloRow:
    """The forecast's 95 % upper bound says what it claims: exceeded on 5 % +/- 3 % of the minutes
    over the quality window (QLIKE against persistence shown beside it)."""
    window = slo.quality_window
    count, rate = measure(queries.forecasts_in(window)), measure(queries.bound_exceedance(window))
    relative = measure(queries.qlike_against_persistence(window))
    low, high = queries.bound_range(slo)
    covered, span = measure(queries.covered_seconds(window)), seconds_of(window)
    enough = count is not None and count >= slo.min_outcomes and covered is not None and covered >= span / 2
    shown = "no data" if rate is None or not count else (
        f"{rate:.1%} of {count:.0f} minutes" + ("" if relative is None else f"; QLIKE {relative:.2f}x persistence's"))
    row = SloRow(f"forecast bound exceeded ({window})", f"{low:.0%} to {high:.0%}", rate, shown,
                 _verdict(rate, rate is not None and low <= rate <= high, enough),
                 explain=[measure.line(queries.forecasts_in(window)), measure.line(queries.bound_exceedance(window)),
                          measure.line(queries.qlike_against_persistence(window)),
                          measure.line(queries.covered_seconds(window))])
    if not enough:
        row.status = TOO_FEW_LABELS
        lacking = [f"{count or 0:.0f} of {slo.min_outcomes} forecasts met"] if (count or 0) < slo.min_outcomes \
            else []
        if (covered or 0) < span / 2:
            lacking.append(f"{(covered or 0) / 60:.0f} of {span / 120:.0f} min covered")
        row.lacking = "; ".join(lacking)
        row.explain.append(f"not judged: {count or 0:.0f} forecasts met by their realised volatility in {window} "
                           f"(need {slo.min_outcomes}), over {(covered or 0) / 60:.0f} min of the {window} window "
                           "(need half of it: an hour's bound is not judged on a few minutes)")
    return row


def _verdict(value: float | None, ok: bool, enough: bool) -> str:
    if not enough:
        return LOW_TRAFFIC
    if value is None:
        return NO_DATA
    return MET if ok else BREACHED


def _ms(value: float | None) -> str:
    return "no data" if value is None else f"{value * 1000:.1f} ms"

"""`volctl slo check`: every SLO measured from Prometheus over a window, with error budgets and
burn rates. The arithmetic is done here, on request counts, and every number keeps the PromQL
and the sum that produced it (`--explain`).

- Ratios over a window are count-weighted: errors / requests from `increase()` over the whole
  window, never an average of short-window ratios.
- Below `slo.min_requests` requests the verdict is "too little traffic": no traffic is not "met".
- Budgets are over `slo.period` (30 d): remaining in requests and in minutes, and the time until
  it runs out at the burn rate of the window.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from volctl.clients.prometheus import PrometheusClient
from volctl.core import queries
from volctl.domain import metrics as m
from volctl.domain.settings import SloSettings

MET, BREACHED, LOW_TRAFFIC, NO_DATA = "met", "breached", "too little traffic", "no data"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds_of(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw])", duration.strip())
    if not match:
        raise ValueError(f"{duration!r} is not a duration like 30s, 5m, 1h, 30d")
    return float(match.group(1)) * _UNITS[match.group(2)]


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
    verdict: str
    budget: Budget | None = None
    burn_rates: dict[str, float] = field(default_factory=dict)
    explain: list[str] = field(default_factory=list)


@dataclass
class SloReport:
    prometheus: str
    window: str
    period: str
    requests: float
    rows: list[SloRow] = field(default_factory=list)
    info: list[SloRow] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        verdicts = {row.verdict for row in self.rows}
        if BREACHED in verdicts:
            return BREACHED
        return MET if verdicts == {MET} else "cannot measure"

    def as_document(self, explain: bool = True) -> dict[str, Any]:
        document = {"verdict": self.verdict, **asdict(self)}
        if not explain:
            for row in [*document["rows"], *document["info"]]:
                row.pop("explain")
        return document


class _Measure:
    """Runs queries and remembers each expression and value for --explain."""

    def __init__(self, client: PrometheusClient) -> None:
        self.client = client

    def __call__(self, expr: str, log: list[str]) -> float | None:
        value = self.client.value(expr)
        if value is not None and value != value:  # NaN: nothing in the window
            value = None
        log.append(f"{expr}  =  {'no data' if value is None else f'{value:.6g}'}")
        return value


def check_slos(client: PrometheusClient, slo: SloSettings, window: str = "5m") -> SloReport:
    measure = _Measure(client)
    period_s = seconds_of(slo.period)
    requests_log: list[str] = []
    requests = measure(f"sum(increase({m.REQUESTS}{queries.PREDICT}[{window}]))", requests_log) or 0.0
    report = SloReport(client.url, window, slo.period, requests)
    enough = requests >= slo.min_requests
    traffic_note = f"{requests:.0f} requests in {window} (need {slo.min_requests} for a verdict)"

    for quantile in (0.5, 0.95, 0.99):
        log: list[str] = []
        value = measure(queries.latency_quantile(quantile, window), log)
        row = SloRow(f"latency p{round(quantile * 100)}", "", value, _ms(value), "info", explain=log)
        if quantile == 0.95:
            row.objective = f"<= {slo.latency_p95_seconds * 1000:g} ms"
            row.verdict = _verdict(value, value is not None and value <= slo.latency_p95_seconds, enough)
            report.rows.append(row)
        else:
            report.info.append(row)

    report.rows.append(_ratio_row(measure, "error rate", f"< {slo.error_rate:.2%}", slo.error_rate, window,
                                  slo.period, period_s, requests_log, enough, availability=False))
    report.rows.append(_ratio_row(measure, "availability", f">= {slo.availability:.2%}", 1 - slo.availability,
                                  window, slo.period, period_s, requests_log, enough, availability=True))

    log = []
    lag_now = measure(queries.CONSUMER_LAG, log)
    lag_max = measure(f"max_over_time(({queries.CONSUMER_LAG})[{window}:5s])", log)
    ok = lag_max is not None and lag_max < slo.consumer_lag_seconds
    report.rows.append(SloRow("consumer lag (max)", f"< {slo.consumer_lag_seconds:g} s", lag_max,
                              "no data" if lag_max is None else f"{lag_max:.1f} s (now {lag_now or 0:.1f} s)",
                              NO_DATA if lag_max is None else (MET if ok else BREACHED), explain=log))

    # Sustained throughput: the best 1-minute request rate within the window (the whole window when shorter).
    span = window if seconds_of(window) < 60 else "1m"
    log = list(requests_log)
    throughput = measure(f"max_over_time((sum(rate({m.REQUESTS}{queries.PREDICT}[{span}])))[{window}:5s])", log)
    report.rows.append(SloRow(
        f"throughput (best {span})", f">= {slo.throughput_rps:g} req/s", throughput,
        "no data" if throughput is None else f"{throughput:.1f} req/s",
        _verdict(throughput, throughput is not None and throughput >= slo.throughput_rps, enough), explain=log))
    for row in report.rows:
        if row.verdict == LOW_TRAFFIC:
            row.explain.append(traffic_note)
    return report


def _ratio_row(measure: _Measure, name: str, objective: str, budget: float, window: str, period: str,
               period_s: float, requests_log: list[str], enough: bool,
               availability: bool) -> SloRow:
    """A ratio SLO: the bad fraction over the window, its budget over the period, its burn rates."""
    log = list(requests_log)
    bad = _bad_fraction(measure, window, availability, log)
    period_bad = _bad_fraction(measure, period, availability, log)
    period_requests = measure(f"sum(increase({m.REQUESTS}{queries.PREDICT}[{period}]))", log) or 0.0
    measured = None if bad is None else (1 - bad if availability else bad)
    ok = bad is not None and bad <= budget if availability else bad is not None and bad < budget
    # A dead service answers no requests: its failed scrapes are a verdict even without traffic.
    row = SloRow(name, objective, measured, "no data" if measured is None else f"{measured:.3%}",
                 _verdict(measured, ok, enough or (availability and measured is not None)), explain=log)
    if period_bad is not None and budget > 0:
        remaining = 1 - period_bad / budget
        burn = (bad or 0.0) / budget
        row.budget = Budget(remaining, remaining * budget * period_requests, remaining * budget * period_s / 60,
                            remaining * period_s / burn / 3600 if burn > 0 and remaining > 0 else None)
        log.append(f"budget {budget:.4%} of {period}: spent {period_bad:.4%} / {budget:.4%} = "
                   f"{period_bad / budget:.1%}, remaining {remaining:.1%} = {row.budget.requests_left:.0f} requests "
                   f"= {row.budget.minutes_left:.1f} min; burn rate over {window} = {bad or 0:.4%} / {budget:.4%} "
                   f"= {burn:.2f}")
    for long, _short, _factor, _severity in queries.BURN_WINDOWS:
        long_bad = _bad_fraction(measure, long, availability, log)
        if long_bad is not None and budget > 0:
            row.burn_rates[long] = long_bad / budget
    return row


def _bad_fraction(measure: _Measure, window: str, availability: bool, log: list[str]) -> float | None:
    """Errors / requests from counts over the window (availability: or failed scrapes, if worse)."""
    errors = f"sum(increase({m.REQUESTS}{queries.PREDICT_5XX}[{window}])) or vector(0)"
    total = f"sum(increase({m.REQUESTS}{queries.PREDICT}[{window}]))"
    failed, requests = measure(errors, log), measure(total, log)
    ratio = None if not requests else (failed or 0.0) / requests
    if ratio is not None:
        log.append(f"{failed or 0:.0f} failed / {requests:.0f} requests = {ratio:.4%} over {window}")
    if availability:
        up = measure(f'avg(avg_over_time(up{{job="predict"}}[{window}]))', log)
        if up is not None:
            down = 1 - up
            log.append(f"scrapes failed {down:.4%} of {window}")
            ratio = down if ratio is None else max(ratio, down)
    return ratio


def _verdict(value: float | None, ok: bool, enough: bool) -> str:
    if not enough:
        return LOW_TRAFFIC
    if value is None:
        return NO_DATA
    return MET if ok else BREACHED


def _ms(value: float | None) -> str:
    return "no data" if value is None else f"{value * 1000:.1f} ms"

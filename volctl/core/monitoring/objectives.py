"""The objective catalogue: one record per service objective. `slo check` measures its rows, the gate
files them under its class, the SLO page draws its trend, Prometheus's rules hold its alerts (and a
ratio objective's burn-rate alerts over its budget) and the dashboard its panel, all from here.
Adding an objective is a record (its measure in `objective_rows`), its runbook, and the promtool
proof of each alert it adds (`alert_proofs`; the suite names a missing one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from volctl.core.monitoring import objective_rows as rows
from volctl.core.monitoring import queries as q
from volctl.core.monitoring.rule_records import Alert, Panel, Series
from volctl.domain.settings import SloSettings

JUDGED, WAITS, ELSEWHERE = "judged", "waits", "elsewhere"  # what the gate does with an objective's row


@dataclass(frozen=True)
class Trend:
    """An objective over time on the SLO page: its series and its line."""

    title: str
    legend: str
    unit: str  # ms | % | s | req/s: shown values are the series' times 1000 (ms), 100 (%) or 1
    expr: Callable[[SloSettings, str], str]  # (targets, window) -> PromQL
    line: Callable[[SloSettings], tuple[float, str]]  # the objective's value and its label
    axis: str = ""  # the axis's name ("": the title's)
    fit: str = ""  # "far": a log scale when the line is far above the data; "ceiling": room above 100 %
    caption: str = ""
    with_load: bool = False  # a `volctl load` run in the window is drawn beside it, its own rate each second


def _no_alerts(slo: SloSettings) -> tuple[Alert, ...]:
    return ()


@dataclass(frozen=True)
class Objective:
    key: str  # stable: the gate's and the charts' handle, a ratio objective's recording and burn alerts
    kind: str  # its class in the gate (latency, errors, ...)
    measure: rows.Measure  # its rows in `slo check` (the first judged, others shown beside it)
    runbook: str  # runbooks/<name>.md: what to run when it fails
    optional: bool = False  # while it lacks its evidence (no source, too few labels): shown, not judged
    gate: str = JUDGED  # JUDGED: a judged row counts; WAITS: an unjudged one too; ELSEWHERE: another check's
    todo: str = ""  # what to do when the gate could not measure or judge it
    trend: Trend | None = None
    budget: Callable[[SloSettings], float] | None = None  # a ratio objective's allowed bad fraction
    bad: Callable[[str], str] | None = None  # a ratio objective's bad fraction over a window, as judged
    alerts: Callable[[SloSettings], tuple[Alert, ...]] = _no_alerts
    panel: Callable[[SloSettings], Panel] | None = None


_HEALTH_FIRST = "run `volctl health` (Prometheus and predict up?), then the gate again"

OBJECTIVES: tuple[Objective, ...] = (
    Objective(
        "latency p95", "latency", rows.latency, "high-latency",
        todo=f"{_HEALTH_FIRST}; too little traffic: a longer --duration or a higher --rps",
        trend=Trend("p95 latency", "p95 latency, 1 min", "ms", lambda slo, window: q.latency_quantile(0.95, "1m"),
                    lambda slo: (slo.latency_p95_seconds, f"objective {slo.latency_p95_seconds * 1000:g} ms"),
                    fit="far"),
        alerts=lambda slo: (Alert(
            "PredictLatencyHigh", q.latency_quantile(0.95), ">", slo.latency_p95_seconds, "5m",
            f"p95 prediction latency above {slo.latency_p95_seconds * 1000:g} ms", runbook="high-latency",
            shown="p95 {{ $value | humanizeDuration }}"),),
        panel=lambda slo: Panel("Prediction latency (p50 / p95 / p99)", tuple(
            Series(f"p{round(x * 100)}", q.latency_quantile(x)) for x in (0.5, 0.95, 0.99)),
            "s", slo.latency_p95_seconds)),
    Objective(
        "errors", "errors", rows.errors, "error-spike", todo=_HEALTH_FIRST,
        trend=Trend("error rate (5xx / requests)", "error rate, 1 min", "%",
                    lambda slo, window: q.error_ratio_where_asked("1m"),
                    lambda slo: (slo.error_rate, f"objective < {slo.error_rate:.2%}"), axis="error rate"),
        budget=lambda slo: slo.error_rate,
        bad=lambda window: f"({q.failed_in(window)}) / clamp_min({q.requests_in(window)}, 1)",
        alerts=lambda slo: (Alert(
            "PredictErrorRateHigh", q.error_ratio(), ">", slo.error_rate, "5m",
            f"more than {slo.error_rate:.1%} of /predict requests fail", runbook="error-spike", objective="errors",
            shown="{{ $value | humanizePercentage }} of requests failed over 5m"),),
        panel=lambda slo: Panel("Error rate (5xx) and rejected inputs (4xx)", (
            Series("errors", q.error_ratio()), Series("rejected", q.rejected_ratio())), "percentunit",
            slo.error_rate)),
    # Availability burns on failed requests, like errors but with its tighter budget; a dead predict
    # pages ServiceDown (in a minute, runbook startup) instead: counted here too, it paged a second time
    # for the one failure. `slo check` still counts failed scrapes against it (`queries.unavailability`).
    Objective(
        "availability", "availability", rows.availability, "error-spike", todo=_HEALTH_FIRST,
        trend=Trend("availability", "availability, 1 min", "%", lambda slo, window: f"1 - ({q.unavailability('1m')})",
                    lambda slo: (slo.availability, f"objective >= {slo.availability:.2%}"), fit="ceiling",
                    caption="Failed requests or failed scrapes of the predict service, whichever is worse."),
        budget=lambda slo: round(1 - slo.availability, 10), bad=q.unavailability),
    Objective(
        "consumer lag", "lag", rows.lag, "consumer-lag",
        todo="run `volctl lag` (which partition could not be read) and `volctl health` (is consume running?)",
        trend=Trend("consumer lag (max over members)", "lag", "s", lambda slo, window: q.CONSUMER_LAG,
                    lambda slo: (slo.consumer_lag_seconds, f"objective < {slo.consumer_lag_seconds:g} s"),
                    axis="consumer lag", fit="far"),
        alerts=lambda slo: (Alert(
            "ConsumerLagHigh", q.CONSUMER_LAG, ">", slo.consumer_lag_seconds, "2m",
            f"consumer more than {slo.consumer_lag_seconds:g} s behind", runbook="consumer-lag",
            shown="{{ $value | humanizeDuration }} behind"),),
        panel=lambda slo: Panel("Consumer lag", (Series("seconds behind", q.CONSUMER_LAG),), "s",
                                slo.consumer_lag_seconds)),
    Objective(
        "freshness", "freshness", rows.freshness, "broker-outage", optional=True,
        todo="run `volctl health`: is a source running (`volctl status`), is the broker up?",
        alerts=lambda slo: (
            Alert("StreamStale", q.TICK_AGE, ">", slo.freshness_seconds, "1m",
                  f"no new tick for more than {slo.freshness_seconds:g} s: the source or the broker stopped",
                  severity="ticket", runbook="broker-outage", shown="newest tick {{ $value | humanizeDuration }} old"),
            # Ticks arrive but no prediction comes out: the consume service is stuck or cannot score.
            Alert("PredictionsStale", q.PREDICTION_AGE, ">", slo.freshness_seconds, "2m",
                  f"ticks arrive but no new prediction for more than {slo.freshness_seconds:g} s: the consume "
                  "service is stuck", multiwindow=f"({q.PREDICTION_AGE}) > {slo.freshness_seconds:g} and on () "
                  f"({q.TICK_AGE}) <= {slo.freshness_seconds:g}", runbook="consumer-lag",
                  shown="newest prediction {{ $value | humanizeDuration }} old"))),
    # A capacity statement: judged by the gate's load checks, shown by `slo check` under offered load.
    Objective(
        "throughput", "throughput", rows.throughput, "high-latency", gate=ELSEWHERE,
        todo="run the gate again with a longer --duration or a higher --rps",
        trend=Trend("throughput", "/predict requests, per {span}", "req/s",
                    lambda slo, window: q.request_rate(q.throughput_span(window)),
                    lambda slo: (slo.throughput_rps, f"objective >= {slo.throughput_rps:g} req/s"),
                    axis="requests per second", with_load=True,
                    caption="Judged only under offered load (`volctl load`, `volctl gate`)."),
        panel=lambda slo: Panel("Request rate (/predict)", (Series("requests/s", q.request_rate()),), "reqps")),
    *(Objective(
        f"realised {measure}", "quality", rows.realised(measure), "model-quality", optional=True, gate=ELSEWHERE,
        alerts=lambda slo, measure=measure: (_below_challenger(slo, measure),),
        panel=lambda slo, measure=measure: Panel(
            f"Realised {measure} per variant ({slo.quality_window}{': served and shadow' * (measure == 'precision')})",
            (Series("{{variant}}", q.realised_by_variant(measure, slo.quality_window)),), "percentunit",
            (slo.min_precision if measure == "precision" else slo.min_recall) or None))
      for measure in ("precision", "recall")),
    Objective(
        "forecast bound", "quality", rows.forecast_bound, "model-quality", optional=True, gate=WAITS,
        alerts=lambda slo: (_bound_miscalibrated(slo),)),
)


def _below_challenger(slo: SloSettings, measure: str) -> Alert:
    """The served model realises less than its best shadow challenger, with enough labelled ticks."""
    window = slo.quality_window
    gap = f"{q.best_challenger_realised(measure, window)} - {q.served_realised(measure, window)}"
    return Alert(
        f"ModelQuality{measure.title()}BelowChallenger", gap, ">", slo.quality_tolerance, "10m",
        f"the served model's realised {measure} is more than {slo.quality_tolerance:g} below its best "
        f"shadow challenger's over {window}", "ticket",
        f"({gap}) > {slo.quality_tolerance:g} and on () ({q.labelled_in(window)} >= {slo.min_outcomes})",
        "model-quality", shown=f'{{{{ printf "%.3f" $value }}}} below the best challenger\'s {measure}')


def _bound_miscalibrated(slo: SloSettings) -> Alert:
    window = slo.quality_window
    exceedance, (low, high) = q.bound_exceedance(window), q.bound_range(slo)
    return Alert(
        "ForecastBoundMiscalibrated", exceedance, ">", high, "30m",
        f"the forecast's 95 % upper bound was exceeded by a share of forecasts outside {low:.0%}-{high:.0%} over "
        f"{window}: the bound no longer says what it claims", "ticket",
        f"(({exceedance}) > {high:g} or ({exceedance}) < {low:g}) and on () ({q.forecasts_in(window)}) >= "
        f"{slo.min_outcomes}", "model-quality", objective="forecast bound",
        shown=f"bound exceeded by {{{{ $value | humanizePercentage }}}} of forecasts (expected {low:.0%}-{high:.0%})")


# Readers look OBJECTIVES up when they run (`objectives.OBJECTIVES`), never bind it at import: a
# record added (or a test's) is read by every one of them.


def objective(key: str) -> Objective:
    return next(o for o in OBJECTIVES if o.key == key)


def kinds() -> tuple[str, ...]:
    """The objectives' classes, in the catalogue's order."""
    return tuple(dict.fromkeys(o.kind for o in OBJECTIVES))


def ratio_objectives() -> tuple[Objective, ...]:
    return tuple(o for o in OBJECTIVES if o.budget is not None)


def trends(slo: SloSettings, window: str) -> dict[str, str]:
    """Each charted objective's series over time (by key), then each ratio objective's error budget
    left over the period at each instant ("budget KEY")."""
    found = {o.key: o.trend.expr(slo, window) for o in OBJECTIVES if o.trend is not None}
    for ratio in ratio_objectives():
        if ratio.budget is not None and ratio.bad is not None:
            found[f"budget {ratio.key}"] = f"1 - ({ratio.bad(slo.period)}) / {ratio.budget(slo):g}"
    return found

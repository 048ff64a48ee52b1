"""The rules Prometheus evaluates and the dashboard's panels, built from the PromQL of `queries`:
recording rules, the alerts (each with its severity, objective and runbook) and the multiwindow
burn-rate alerts of the ratio objectives."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from volctl.core.monitoring.queries import (
    ALERT_LIFT_MIN_ALERTS,
    ALERTS_NOW,
    BURN_WINDOWS,
    CONSUMER_LAG,
    CONSUMER_OFFSET_LAG,
    CONSUMERS_UP,
    DRIFT_SCORE_THRESHOLDS,
    DRIFT_SCORES,
    DRIFT_SHARE,
    DRIFT_THRESHOLD,
    MODEL_INFO,
    OUTCOMES_PENDING,
    PREDICTION_AGE,
    SERVED_MODELS,
    TARGETS_UP,
    TICK_AGE,
    alert_lift,
    alerts_in,
    best_challenger_realised,
    bound_exceedance,
    bound_range,
    error_ratio,
    forecasts_in,
    labelled_in,
    latency_quantile,
    processing_rate,
    realised_by_variant,
    rejected_ratio,
    request_rate,
    served_realised,
    slo_check_expressions,
    slo_history_expressions,
)
from volctl.domain import metrics as m
from volctl.domain.clock import seconds_of
from volctl.domain.settings import Settings, SloSettings


@dataclass(frozen=True)
class Series:
    legend: str
    expr: str


@dataclass(frozen=True)
class Panel:
    title: str
    series: tuple[Series, ...]
    unit: str  # Grafana unit id
    threshold: float | None = None  # the SLO line, drawn red
    kind: str = "timeseries"


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str  # the measured value; the rule fires when `expr op threshold` holds for `for_`
    op: str
    threshold: float
    for_: str
    summary: str
    severity: str = "page"
    multiwindow: str = ""  # the whole condition when `expr op threshold` is not all (burn rates: both windows)
    runbook: str = "health-check"  # runbooks/<name>.md: what the on-call engineer runs when it fires
    objective: str = ""  # alerts about one objective (a page and its ticket): Alertmanager's inhibition
    # The value with its unit, as Prometheus renders it when the alert fires (a Go template):
    # "0 of 1 consume members up", not "0".
    shown: str = "{{ $value | humanize }}"

    @property
    def condition(self) -> str:
        return self.multiwindow or f"({self.expr}) {self.op} {self.threshold:g}"

    @property
    def labels(self) -> dict[str, str]:
        """What the rule adds to its series' labels: routing (severity), inhibition (objective)."""
        return {"severity": self.severity, "objective": self.objective or self.name}

    @property
    def annotations(self) -> dict[str, str]:
        return {"summary": self.summary, "runbook": runbook_command(self.runbook), "value": self.shown}


def held(alerts: tuple[Alert, ...], scale: float) -> tuple[Alert, ...]:
    """The alerts with every `for:` times `scale` (whole seconds; a fire drill's shorter holds)."""
    if scale == 1:
        return alerts
    return tuple(dataclasses.replace(a, for_=f"{round(seconds_of(a.for_) * scale)}s") for a in alerts)


def rendered_alerts(settings: Settings) -> tuple[Alert, ...]:
    """The alerts as this stack's rules hold them (its SLO targets, its hold scale)."""
    return held(alerts(settings.slo), settings.prometheus.alert_hold_scale)


def runbook_command(runbook: str) -> str:
    return f"volctl runbook run {runbook}"


RATIO_WINDOWS = tuple(sorted({w for long, short, _, _ in BURN_WINDOWS for w in (long, short)},
                             key=lambda w: (w[-1] != "m", w[-1] != "h", int(w[:-1]))))


@dataclass(frozen=True)
class RatioSlo:
    name: str  # "errors" or "availability"
    budget: float  # allowed bad fraction
    expr_of: object  # window -> PromQL of the bad fraction

    def record(self, window: str) -> str:
        return f"volctl:slo_{self.name}:ratio_rate{window}"


def ratio_slos(slo: SloSettings) -> tuple[RatioSlo, ...]:
    """The burn-rate alerts' objectives. Availability burns on failed requests, like errors but with
    its tighter budget; a dead predict pages ServiceDown (in a minute, runbook startup) instead: counted
    here too, it paged a second time for the one failure, and again after its restart, while the
    five-minute window still held the outage. `slo check` still counts failed scrapes against
    availability's budget (`unavailability`)."""
    return (RatioSlo("errors", slo.error_rate, error_ratio),
            RatioSlo("availability", round(1 - slo.availability, 10), error_ratio))


def _members_known(job: str) -> str:
    """How many members of `job` Prometheus knows (a Go template: "unknown" when it knows none)."""
    count = f'count(up{{job=\\"{job}\\"}})'
    return f'{{{{ with query "{count}" }}}}{{{{ . | first | value }}}}{{{{ else }}}}unknown{{{{ end }}}}'


def burn_recordings(slo: SloSettings) -> tuple[Recording, ...]:
    return tuple(Recording(r.record(w), r.expr_of(w)) for r in ratio_slos(slo) for w in RATIO_WINDOWS)


def burn_alerts(slo: SloSettings) -> tuple[Alert, ...]:
    alerts = []
    for ratio in ratio_slos(slo):
        for long, short, factor, severity in BURN_WINDOWS:
            limit = factor * ratio.budget
            alerts.append(Alert(
                f"SloBurn{ratio.name.title()}{long}", ratio.record(long), ">", limit, "2m",
                f"{ratio.name} budget burning {factor:g}x too fast over {long} and {short}",
                severity, f"{ratio.record(long)} > {limit:g} and {ratio.record(short)} > {limit:g}",
                "error-spike", objective=ratio.name,
                shown=f"{{{{ $value | humanizePercentage }}}} bad over {long} (limit {limit:.2%})"))
    return tuple(alerts)


def recordings(slo: SloSettings | None = None) -> tuple[Recording, ...]:
    return (*_base_recordings(), *burn_recordings(slo or SloSettings()))


def _base_recordings() -> tuple[Recording, ...]:
    return (
        Recording("volctl:predict_latency_seconds:p50_5m", latency_quantile(0.5)),
        Recording("volctl:predict_latency_seconds:p95_5m", latency_quantile(0.95)),
        Recording("volctl:predict_latency_seconds:p99_5m", latency_quantile(0.99)),
        Recording("volctl:predict_requests:rate1m", request_rate()),
        Recording("volctl:predict_error_ratio:rate5m", error_ratio()),
        Recording("volctl:consumer_lag_seconds:max", CONSUMER_LAG),
    )


def alerts(slo: SloSettings) -> tuple[Alert, ...]:
    return (
        Alert("PredictLatencyHigh", latency_quantile(0.95), ">", slo.latency_p95_seconds, "5m",
              f"p95 prediction latency above {slo.latency_p95_seconds * 1000:g} ms", runbook="high-latency",
              shown="p95 {{ $value | humanizeDuration }}"),
        Alert("PredictErrorRateHigh", error_ratio(), ">", slo.error_rate, "5m",
              f"more than {slo.error_rate:.1%} of /predict requests fail", runbook="error-spike", objective="errors",
              shown="{{ $value | humanizePercentage }} of requests failed over 5m"),
        Alert("ConsumerLagHigh", CONSUMER_LAG, ">", slo.consumer_lag_seconds, "2m",
              f"consumer more than {slo.consumer_lag_seconds:g} s behind", runbook="consumer-lag",
              shown="{{ $value | humanizeDuration }} behind"),
        Alert("StreamStale", TICK_AGE, ">", slo.freshness_seconds, "1m",
              f"no new tick for more than {slo.freshness_seconds:g} s: the source or the broker stopped",
              severity="ticket", runbook="broker-outage", shown="newest tick {{ $value | humanizeDuration }} old"),
        # Ticks arrive but no prediction comes out: the consume service is stuck or cannot score.
        Alert("PredictionsStale", PREDICTION_AGE, ">", slo.freshness_seconds, "2m",
              f"ticks arrive but no new prediction for more than {slo.freshness_seconds:g} s: the consume service "
              "is stuck", multiwindow=f"({PREDICTION_AGE}) > {slo.freshness_seconds:g} and on () ({TICK_AGE}) <= "
              f"{slo.freshness_seconds:g}", runbook="consumer-lag",
              shown="newest prediction {{ $value | humanizeDuration }} old"),
        Alert("PredictUnhealthy", f"min({m.HEALTH})", "<", 1, "1m", "the predict service has no model loaded",
              runbook="model-rollback", shown="health {{ $value }} (1: a model is loaded)"),
        Alert("ServiceDown", TARGETS_UP, "<", 1, "1m", "Prometheus cannot scrape a volctl service", runbook="startup",
              shown="{{ $labels.job }} at {{ $labels.instance }} not scraped (up {{ $value }})"),
        # /predict and the stream answer from different models (a switch that reached one service).
        Alert("ServedModelSplit", SERVED_MODELS, ">", 1, "2m",
              "the stack serves more than one model: /predict and the stream answer differently",
              severity="ticket", runbook="model-rollback", shown="{{ $value }} models served (1 expected)"),
        # Every member of the group gone: nothing scores the stream (one member down is ServiceDown).
        Alert("ConsumerDown", CONSUMERS_UP, "<", 1, "1m", "no consume member answers: nothing scores the stream",
              runbook="consumer-lag", shown=f"{{{{ $value }}}} of {_members_known('consume')} consume members up"),
        *quality_alerts(slo),
        *burn_alerts(slo),
    )


def quality_alerts(slo: SloSettings) -> tuple[Alert, ...]:
    """The served model realises less than its best shadow challenger, with enough labelled ticks."""
    window = slo.quality_window
    alerts = []
    for measure in ("precision", "recall"):
        gap = f"{best_challenger_realised(measure, window)} - {served_realised(measure, window)}"
        alerts.append(Alert(
            f"ModelQuality{measure.title()}BelowChallenger", gap, ">", slo.quality_tolerance, "10m",
            f"the served model's realised {measure} is more than {slo.quality_tolerance:g} below its best "
            f"shadow challenger's over {window}", "ticket",
            f"({gap}) > {slo.quality_tolerance:g} and on () ({labelled_in(window)} >= {slo.min_outcomes})",
            "model-quality", shown=f'{{{{ printf "%.3f" $value }}}} below the best challenger\'s {measure}'))
    exceedance, low, high = bound_exceedance(window), *bound_range(slo)
    alerts.append(Alert(
        "ForecastBoundMiscalibrated", exceedance, ">", high, "30m",
        f"the forecast's 95 % upper bound was exceeded on a share of minutes outside {low:.0%}-{high:.0%} over "
        f"{window}: the bound no longer says what it claims", "ticket",
        f"(({exceedance}) > {high:g} or ({exceedance}) < {low:g}) and on () ({forecasts_in(window)}) >= "
        f"{slo.min_outcomes}", "model-quality", objective="forecast bound",
        shown=f"bound exceeded on {{{{ $value | humanizePercentage }}}} of minutes (expected {low:.0%}-{high:.0%})"))
    lift = alert_lift(window)
    alerts.append(Alert(
        "AlertLiftCollapsed", lift, "<", 1.0, "30m",
        f"the served model alerts before calmer minutes than its silences over {window}: alert lift below 1, "
        "worse than a persistence rule", "ticket",
        f"({lift}) < 1 and on () ({alerts_in(window)}) >= {ALERT_LIFT_MIN_ALERTS}", "model-quality",
        shown='alert lift {{ printf "%.2f" $value }} (below 1: worse than persistence)'))
    return tuple(alerts)


def dashboard_panels(slo: SloSettings) -> tuple[Panel, ...]:
    return (
        Panel("Prediction latency (p50 / p95 / p99)", tuple(
            Series(f"p{round(q * 100)}", latency_quantile(q)) for q in (0.5, 0.95, 0.99)),
            "s", slo.latency_p95_seconds),
        Panel("Request rate (/predict)", (Series("requests/s", request_rate()),), "reqps"),
        Panel("Error rate (5xx) and rejected inputs (4xx)", (
            Series("errors", error_ratio()), Series("rejected", rejected_ratio())), "percentunit", slo.error_rate),
        Panel("Consumer lag", (Series("seconds behind", CONSUMER_LAG),), "s", slo.consumer_lag_seconds),
        Panel(f"Realised precision per variant ({slo.quality_window}: served and shadow)", (
            Series("{{variant}}", realised_by_variant("precision", slo.quality_window)),), "percentunit",
            slo.min_precision or None),
        Panel(f"Realised recall per variant ({slo.quality_window})", (
            Series("{{variant}}", realised_by_variant("recall", slo.quality_window)),), "percentunit",
            slo.min_recall or None),
        Panel("Predictions waiting for their label (60 s horizon)", (Series("pending", OUTCOMES_PENDING),), "short"),
        Panel("Consumer offset lag", (Series("messages behind", CONSUMER_OFFSET_LAG),), "short"),
        Panel("Processing rate", (Series("ticks/s", processing_rate()),), "short"),
        Panel("Model variant", (Series("{{job}} {{variant}} {{version}}", MODEL_INFO),), "short", kind="table"),
        Panel("Feature drift (newest drift report)", (
            Series("drifted share", DRIFT_SHARE), Series("threshold", DRIFT_THRESHOLD)), "percentunit"),
        Panel("Drift score per feature, beside its threshold (calibrated on the reference's own chunks)", (
            Series("{{feature}} ({{method}})", DRIFT_SCORES),
            Series("{{feature}} threshold (calibrated: {{calibrated}})", DRIFT_SCORE_THRESHOLDS)), "short",
            kind="table"),
        # What Prometheus's rules say now; `volctl alerts` adds silences and the incident timeline.
        Panel("Alerts firing and pending (the rules' ALERTS series)", (
            Series("{{alertname}} {{severity}} {{alertstate}}", ALERTS_NOW),), "short", kind="table"),
    )


def every_expression(slo: SloSettings) -> dict[str, str]:
    """Name → expression, for tests that evaluate them all against a real Prometheus."""
    found = {r.record: r.expr for r in recordings(slo)}
    found |= {f"slo check {name}": expr for name, expr in slo_check_expressions(slo, "5m").items()}
    found |= {f"alert {a.name}": a.expr for a in alerts(slo)}
    found |= {f"panel {p.title} / {s.legend}": s.expr for p in dashboard_panels(slo) for s in p.series}
    found |= {f"slo chart {name}": expr for name, expr in slo_history_expressions(slo).items()}
    return found

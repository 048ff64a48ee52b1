"""Every PromQL expression of the project, built from the metric names in volctl.domain.metrics and the
SLO targets in the config: the Prometheus rules, the Grafana dashboard, `volctl health --watch`
and `volctl slo check` all read them from here, so they cannot disagree.

Errors are 5xx answers (the service failed); 4xx are rejected inputs, shown but not counted
against the error budget. Ratios use `or vector(0)` on the numerator so that "no errors" is 0,
not "no data".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from volctl.domain import metrics as m
from volctl.domain.clock import seconds_of
from volctl.domain.settings import Settings, SloSettings

PREDICT = '{endpoint="/predict"}'
PREDICT_5XX = '{endpoint="/predict",status=~"5.."}'
PREDICT_4XX = '{endpoint="/predict",status=~"4.."}'


def latency_quantile(quantile: float, window: str = "5m") -> str:
    return f"histogram_quantile({quantile}, sum by (le) (rate({m.LATENCY}_bucket[{window}])))"


def request_rate(window: str = "1m") -> str:
    return f"sum(rate({m.REQUESTS}{PREDICT}[{window}])) or vector(0)"


def error_ratio(window: str = "5m") -> str:
    return (f"(sum(rate({m.REQUESTS}{PREDICT_5XX}[{window}])) or vector(0))"
            f" / clamp_min(sum(rate({m.REQUESTS}{PREDICT}[{window}])), 1e-9)")


def rejected_ratio(window: str = "5m") -> str:
    return (f"(sum(rate({m.REQUESTS}{PREDICT_4XX}[{window}])) or vector(0))"
            f" / clamp_min(sum(rate({m.REQUESTS}{PREDICT}[{window}])), 1e-9)")


# A member joining the group exports NaN (unknown): left out, so a stack of only joining members has no
# lag ("no data", could not measure) rather than a NaN read as a breach.
CONSUMER_LAG = f"max({m.CONSUMER_LAG_SECONDS} >= 0)"
CONSUMER_OFFSET_LAG = f"sum({m.CONSUMER_OFFSET_LAG})"
CONSUMER_RATE = f"sum({m.CONSUMER_RATE})"
CONSUMER_ERRORS = f"sum(rate({m.CONSUMER_ERRORS}[5m])) or vector(0)"
MODEL_INFO = f"max by (job, variant, version) ({m.MODEL_INFO})"
TARGETS_UP = 'up{job=~"predict|consume"}'
# Prometheus's own series, one per active alert; a lone 0 row when none is (an empty table reads "no data")
ALERTS_NOW = 'sum by (alertname, severity, alertstate) (ALERTS{alertstate=~"firing|pending"}) or on () vector(0)'
SERVED_MODELS = f"count(count by (variant, version) ({m.MODEL_INFO}))"  # distinct models served: 1
CONSUMERS_UP = 'sum(up{job="consume"}) or vector(0)'  # members answering; 0 (not "no data") when none is
DRIFT_SHARE = f"max({m.DRIFT_SHARE})"  # from the newest `volctl drift report`, exported by the consume service
DRIFT_THRESHOLD = f"max({m.DRIFT_THRESHOLD})"
DRIFT_SCORES = f"max by (feature, method) ({m.DRIFT_SCORE})"
DRIFT_SCORE_THRESHOLDS = f"max by (feature, calibrated) ({m.DRIFT_SCORE_THRESHOLD})"


SERVED_VARIANT = f'max by (variant) ({m.MODEL_INFO}{{job="consume"}})'
OUTCOMES_PENDING = f"sum({m.OUTCOMES_PENDING})"


def realised_by_variant(measure: str, window: str) -> str:
    """Realised precision or recall per variant (served and shadow) from the outcome counters."""
    missed = "tp|fp" if measure == "precision" else "tp|fn"
    return (f'sum by (variant) (increase({m.OUTCOMES}{{outcome="tp"}}[{window}])) / '
            f'sum by (variant) (increase({m.OUTCOMES}{{outcome=~"{missed}"}}[{window}]))')


def served_realised(measure: str, window: str) -> str:
    return f"max({realised_by_variant(measure, window)} and on (variant) {SERVED_VARIANT})"


def best_challenger_realised(measure: str, window: str) -> str:
    return f"max({realised_by_variant(measure, window)} unless on (variant) {SERVED_VARIANT})"


def next_volatility_median(alerted: int, window: str) -> str:
    """The served variant's median realised volatility of the minute after an alert (1) or a silence (0)."""
    return (f"histogram_quantile(0.5, sum by (le) (increase({m.OUTCOME_NEXT_VOLATILITY}_bucket"
            f'{{alerted="{alerted}"}}[{window}]) and on (variant) {SERVED_VARIANT}))')


def alert_lift(window: str) -> str:
    """How much more volatile the next minute is after the served model's alerts than after its
    silences (medians): the figure everyone reads, live."""
    return f"({next_volatility_median(1, window)}) / ({next_volatility_median(0, window)})"


def alerts_in(window: str) -> str:
    return (f'max(sum by (variant) (increase({m.OUTCOME_NEXT_VOLATILITY}_count{{alerted="1"}}[{window}])) '
            f"and on (variant) {SERVED_VARIANT})")


ALERT_LIFT_MIN_ALERTS = 30  # fewer alerts in the window: their median says little


def forecasts_in(window: str) -> str:
    """Forecasts met by their realised next-60 s volatility in the window (every member's)."""
    return f"sum(increase({m.FORECAST_OUTCOMES}[{window}]))"


def bound_exceedance(window: str) -> str:
    """The share of those whose realised volatility exceeded the forecast's 95 % upper bound."""
    return (f'sum(increase({m.FORECAST_OUTCOMES}{{exceeded="1"}}[{window}])) / '
            f"clamp_min({forecasts_in(window)}, 1)")


def covered_seconds(window: str) -> str:
    """How much of the window the consume service was scraped for (the oldest scrape in it, to now):
    an objective over an hour is not judged on the first minutes of a stack."""
    return f'time() - min(min_over_time(timestamp(up{{job="consume"}})[{window}:5s]))'


def qlike_against_persistence(window: str) -> str:
    """The forecast's QLIKE over persistence's on the same outcomes (below 1: it loses less)."""
    return (f'sum(increase({m.FORECAST_QLIKE}{{forecast="model"}}[{window}])) / '
            f'sum(increase({m.FORECAST_QLIKE}{{forecast="persistence"}}[{window}]))')


def labelled_in(window: str) -> str:
    """Labelled ticks of the served variant in the window (every variant counts each tick once)."""
    return f"max(sum by (variant) (increase({m.OUTCOMES}[{window}])) and on (variant) {SERVED_VARIANT})"


def spikes_in(window: str) -> str:
    """Labelled ticks of the served variant whose label was a spike (caught or missed)."""
    return (f'max(sum by (variant) (increase({m.OUTCOMES}{{outcome=~"tp|fn"}}[{window}])) '
            f"and on (variant) {SERVED_VARIANT})")


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


# Multiwindow, multi-burn-rate alerting (Google SRE workbook, ch. 5): (long, short, factor, severity).
# A factor of 14.4 over 1 h spends 2 % of a 30-day budget; both windows must burn, so the alert
# stops soon after the burning stops.
BURN_WINDOWS = (("1h", "5m", 14.4, "page"), ("6h", "30m", 6.0, "page"),
                ("1d", "2h", 3.0, "ticket"), ("3d", "6h", 1.0, "ticket"))
RATIO_WINDOWS = tuple(sorted({w for long, short, _, _ in BURN_WINDOWS for w in (long, short)},
                             key=lambda w: (w[-1] != "m", w[-1] != "h", int(w[:-1]))))


def data_span(window: str) -> str:
    """Seconds of predict scrapes Prometheus holds within `window` (to the minute): a burn rate over
    3d on a stack two minutes old is the two minutes' rate."""
    def oldest(span: str, step: str) -> str:
        return f'max(time() - min_over_time(timestamp(up{{job="predict"}})[{span}:{step}]))'

    # minute steps over the window; a stack younger than a minute boundary has none: 5 s steps over 5m
    return f"{oldest(window, '1m')} or {oldest('5m', '5s')}"


def requests_in(window: str) -> str:
    """/predict requests answered over the window (a count)."""
    return f"sum(increase({m.REQUESTS}{PREDICT}[{window}]))"


def failed_in(window: str) -> str:
    """/predict requests answered 5xx over the window (0, not "no data", when none failed)."""
    return f"sum(increase({m.REQUESTS}{PREDICT_5XX}[{window}])) or vector(0)"


def scrapes_up(window: str) -> str:
    """The share of successful scrapes of the predict service over the window."""
    return f'avg(avg_over_time(up{{job="predict"}}[{window}]))'


def newest_age(stamp_metric: str) -> str:
    """Seconds since the freshest consume member last saw a tick / a prediction (0: never, left out)."""
    return f"time() - max({stamp_metric} > 0)"


TICK_AGE, PREDICTION_AGE = newest_age(m.CONSUMER_LAST_TICK), newest_age(m.CONSUMER_LAST_PREDICTION)


def lag_max(window: str) -> str:
    return f"max_over_time(({CONSUMER_LAG})[{window}:5s])"


def best_request_rate(span: str, window: str) -> str:
    """The best `span` request rate within the window: sustained throughput."""
    return f"max_over_time((sum(rate({m.REQUESTS}{PREDICT}[{span}])))[{window}:5s])"


def unavailability(window: str) -> str:
    """What users saw: the share of failed requests, or of failed scrapes of the service, whichever
    is worse (a dead service answers no requests, so requests alone would call it healthy)."""
    return f"max(({error_ratio(window)}) or (1 - avg_over_time(up{{job=\"predict\"}}[{window}])))"


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
        Panel("Processing rate", (Series("ticks/s", CONSUMER_RATE),), "short"),
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


def slo_check_expressions(slo: SloSettings, window: str) -> dict[str, str]:
    """What `volctl slo check` asks, by name: each window's counts once, then the gauges."""
    found = {f"p{round(q * 100)} latency {window}": latency_quantile(q, window) for q in (0.5, 0.95, 0.99)}
    for span in dict.fromkeys((window, slo.period, *(long for long, _, _, _ in BURN_WINDOWS))):
        found |= {f"requests {span}": requests_in(span), f"failed {span}": failed_in(span),
                  f"scrapes up {span}": scrapes_up(span)}
    found |= {"consumer lag now": CONSUMER_LAG, f"consumer lag max {window}": lag_max(window),
              "newest tick age": TICK_AGE, "newest prediction age": PREDICTION_AGE,
              f"best request rate {window}": best_request_rate(throughput_span(window), window),
              f"predict data held in {slo.period}": data_span(slo.period)}
    found |= quality_expressions(slo)
    return found


def bound_range(slo: SloSettings) -> tuple[float, float]:
    """The exceedance rates the bound's objective accepts."""
    return (round(max(slo.bound_exceedance - slo.bound_tolerance, 0.0), 10),
            round(min(slo.bound_exceedance + slo.bound_tolerance, 1.0), 10))


def quality_expressions(slo: SloSettings) -> dict[str, str]:
    window = slo.quality_window
    found = {f"labelled {window}": labelled_in(window), f"spikes {window}": spikes_in(window),
             f"forecasts {window}": forecasts_in(window),
             f"covered {window}": covered_seconds(window),
             f"bound exceedance {window}": bound_exceedance(window),
             f"qlike against persistence {window}": qlike_against_persistence(window)}
    for measure in ("precision", "recall"):
        found |= {f"served {measure} {window}": served_realised(measure, window),
                  f"best challenger {measure} {window}": best_challenger_realised(measure, window)}
    return found


def throughput_span(window: str) -> str:
    """A minute, or the whole window when it is shorter (a 15 s gate run still gets a rate)."""
    return window if seconds_of(window) < 60 else "1m"


def every_expression(slo: SloSettings) -> dict[str, str]:
    """Name → expression, for tests that evaluate them all against a real Prometheus."""
    found = {r.record: r.expr for r in recordings(slo)}
    found |= {f"slo check {name}": expr for name, expr in slo_check_expressions(slo, "5m").items()}
    found |= {f"alert {a.name}": a.expr for a in alerts(slo)}
    found |= {f"panel {p.title} / {s.legend}": s.expr for p in dashboard_panels(slo) for s in p.series}
    found |= {f"slo chart {name}": expr for name, expr in slo_history_expressions(slo).items()}
    return found


def slo_history_expressions(slo: SloSettings) -> dict[str, str]:
    """One series per objective, for the charts of `slo check --html` (1-minute rates, so a chart
    moves within an hour), and each ratio SLO's error budget left over the period at each instant."""
    period = slo.period
    return {
        "latency p95": latency_quantile(0.95, "1m"),
        "error rate": error_ratio("1m"),
        "availability": f"1 - ({unavailability('1m')})",
        "consumer lag (max)": CONSUMER_LAG,
        "throughput": request_rate("1m"),
        "budget error rate": f"1 - (({failed_in(period)}) / clamp_min({requests_in(period)}, 1)) / {slo.error_rate:g}",
        "budget availability": f"1 - ({unavailability(period)}) / {1 - slo.availability:g}",
    }

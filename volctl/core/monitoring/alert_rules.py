"""The rules Prometheus evaluates and the dashboard's panels: each objective's alerts and panel
from the catalogue (`objectives`), the multiwindow burn-rate alerts of its ratio objectives, and
the alerts and panels about the stack itself (a service down, two models served, drift, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from volctl.core.monitoring import objectives
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
    SERVED_MODELS,
    TARGETS_UP,
    alert_lift,
    alerts_in,
    error_ratio,
    latency_quantile,
    processing_rate,
    request_rate,
    slo_check_expressions,
)
from volctl.core.monitoring.rule_records import Alert, Panel, Recording, Series, held
from volctl.domain import metrics as m
from volctl.domain.settings import Settings, SloSettings


def rendered_alerts(settings: Settings) -> tuple[Alert, ...]:
    """The alerts as this stack's rules hold them (its SLO targets, its hold scale)."""
    return held(alerts(settings.slo), settings.prometheus.alert_hold_scale)


RATIO_WINDOWS = tuple(sorted({w for long, short, _, _ in BURN_WINDOWS for w in (long, short)},
                             key=lambda w: (w[-1] != "m", w[-1] != "h", int(w[:-1]))))


@dataclass(frozen=True)
class RatioSlo:
    name: str  # the objective's key: "errors" or "availability"
    budget: float  # allowed bad fraction
    runbook: str

    def record(self, window: str) -> str:
        return f"volctl:slo_{self.name}:ratio_rate{window}"


def ratio_slos(slo: SloSettings) -> tuple[RatioSlo, ...]:
    """The burn-rate alerts' objectives. Each burns on failed requests (`error_ratio`): a dead predict
    pages ServiceDown instead, once (see `objectives`)."""
    return tuple(RatioSlo(o.key, o.budget(slo), o.runbook)
                 for o in objectives.ratio_objectives() if o.budget is not None)


def _members_known(job: str) -> str:
    """How many members of `job` Prometheus knows (a Go template: "unknown" when it knows none)."""
    count = f'count(up{{job=\\"{job}\\"}})'
    return f'{{{{ with query "{count}" }}}}{{{{ . | first | value }}}}{{{{ else }}}}unknown{{{{ end }}}}'


def burn_recordings(slo: SloSettings) -> tuple[Recording, ...]:
    return tuple(Recording(r.record(w), error_ratio(w)) for r in ratio_slos(slo) for w in RATIO_WINDOWS)


def burn_alerts(slo: SloSettings) -> tuple[Alert, ...]:
    alerts = []
    for ratio in ratio_slos(slo):
        for long, short, factor, severity in BURN_WINDOWS:
            limit = factor * ratio.budget
            alerts.append(Alert(
                f"SloBurn{ratio.name.title()}{long}", ratio.record(long), ">", limit, "2m",
                f"{ratio.name} budget burning {factor:g}x too fast over {long} and {short}",
                severity, f"{ratio.record(long)} > {limit:g} and {ratio.record(short)} > {limit:g}",
                ratio.runbook, objective=ratio.name,
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
    """Every objective's alerts, the alerts about the stack itself, then the burn-rate alerts."""
    return (*(a for o in objectives.OBJECTIVES for a in o.alerts(slo)), *stack_alerts(slo), *burn_alerts(slo))


def stack_alerts(slo: SloSettings) -> tuple[Alert, ...]:
    return (
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
        Alert("AlertLiftCollapsed", alert_lift(slo.quality_window), "<", 1.0, "30m",
              f"the served model alerts before calmer minutes than its silences over {slo.quality_window}: alert "
              "lift below 1, worse than a persistence rule", "ticket",
              f"({alert_lift(slo.quality_window)}) < 1 and on () ({alerts_in(slo.quality_window)}) >= "
              f"{ALERT_LIFT_MIN_ALERTS}", "model-quality",
              shown='alert lift {{ printf "%.2f" $value }} (below 1: worse than persistence)'),
    )


def dashboard_panels(slo: SloSettings) -> tuple[Panel, ...]:
    """Each objective's panel, then the stack's."""
    return (
        *(o.panel(slo) for o in objectives.OBJECTIVES if o.panel is not None),
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
    found |= {f"slo chart {name}": expr for name, expr in objectives.trends(slo, "5m").items()}
    return found

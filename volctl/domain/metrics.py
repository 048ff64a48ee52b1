"""Prometheus metric names (docs/design.md §5: dashboards and SLO queries depend on them) and the
collectors of each service, always registered on a registry passed in."""

from __future__ import annotations

import math
from functools import cache

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REQUESTS = "volatility_api_requests_total"
ERRORS = "volatility_api_errors_total"
LATENCY = "volatility_prediction_latency_seconds"
HEALTH = "volatility_api_health_status"
MODEL_INFO = "volatility_model_info"
PREDICTIONS = "volatility_predictions_total"
CONSUMER_PROCESSED = "volatility_consumer_messages_processed_total"
CONSUMER_ERRORS = "volatility_consumer_errors_total"
CONSUMER_DLQ = "volatility_consumer_dlq_total"
CONSUMER_LAG_SECONDS = "volatility_consumer_lag_seconds"
CONSUMER_OFFSET_LAG = "volatility_consumer_offset_lag"
CONSUMER_RATE = "volatility_consumer_processing_rate"
CONSUMER_WARMING_UP = "volatility_consumer_warming_up_total"
# Freshness (wall clock, epoch s): when this member last read a raw tick / had a prediction acknowledged.
# `time() - max(...)` is the age of the stream; a source that stops shows as a growing age.
CONSUMER_LAST_TICK = "volatility_consumer_last_tick_timestamp_seconds"
CONSUMER_LAST_PREDICTION = "volatility_consumer_last_prediction_timestamp_seconds"
MODEL_SWITCHES = "volatility_model_switches_total"
OUTCOMES = "volatility_outcomes_total"  # {variant, outcome="tp|fp|fn|tn"}: predictions met by their label
OUTCOME_SCORE = "volatility_outcome_score"  # histogram {variant, label}: scores per true label
# histogram {variant, alerted="1|0"}: the realised volatility of the 60 s after each labelled prediction,
# split by whether it alerted: the live alert lift (median after alerts over median after silence)
OUTCOME_NEXT_VOLATILITY = "volatility_outcome_next_volatility"
OUTCOMES_PENDING = "volatility_outcomes_pending"
OUTCOMES_UNLABELLED = "volatility_outcomes_unlabelled_total"  # {reason}: horizons that closed without a label
# The forecast met by the realised next-60 s volatility: {exceeded="1|0"} the 95 % upper bound, and the
# QLIKE sums {forecast="model|persistence"} (their ratio over a window: the forecast's loss against persistence)
FORECAST_OUTCOMES = "volatility_forecast_outcomes_total"
FORECAST_QLIKE = "volatility_forecast_qlike_total"
FORECAST_BOUND_MULTIPLIER = "volatility_forecast_bound_multiplier"  # upper bound / forecast served now
DRIFT_SHARE = "volatility_drift_share"
DRIFT_THRESHOLD = "volatility_drift_share_threshold"
DRIFT_REPORT_TIME = "volatility_drift_report_timestamp_seconds"
DRIFT_SCORE = "volatility_drift_score"
DRIFT_SCORE_THRESHOLD = "volatility_drift_score_threshold"  # per feature: calibrated, or Evidently's default
DRIFT_FEATURE = "volatility_feature_drifted"
# volctl's Alertmanager receiver: notifications kept in the incident timeline, bodies refused
INCIDENT_NOTIFICATIONS = "volatility_incident_notifications_total"  # {status="firing|resolved"}
INCIDENT_REJECTED = "volatility_incident_rejected_total"  # {reason}


def latency_buckets(low: float = 0.00005, high: float = 2.0, ratio: float = 1.25) -> tuple[float, ...]:
    """Geometric buckets 50 µs .. 2 s, 25 % apart: a quantile read from them is within ~12 %. (From
    0.5 ms, 97 % of requests fell in the first bucket and p50 and p95 read its edge.)"""
    buckets, edge = [], low
    while edge < high * ratio:
        buckets.append(float(f"{edge:.4g}"))
        edge *= ratio
    return tuple(buckets)


# prometheus_client appends "_total" to counter names itself.
def _counter_name(name: str) -> str:
    return name.removesuffix("_total")


class PredictMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(_counter_name(REQUESTS), "HTTP requests by endpoint, method and status",
                                ["endpoint", "method", "status"], registry=registry)
        self.errors = Counter(_counter_name(ERRORS), "Rejected or failed requests by cause",
                              ["endpoint", "error_type"], registry=registry)
        self.latency = Histogram(LATENCY, "Whole /predict request time: parse, validate, score, serialise",
                                 ["variant"], buckets=latency_buckets(), registry=registry)
        self.health = Gauge(HEALTH, "1 when a model is loaded and serving, else 0", registry=registry)
        self.model_info = Gauge(MODEL_INFO, "The served model (value 1)", ["variant", "version"], registry=registry)
        self.model_switches = model_switches(registry)
        self.predictions = Counter(_counter_name(PREDICTIONS), "Scored rows by variant and predicted label",
                                   ["variant", "prediction"], registry=registry)

    # Label lookups cost microseconds; the hot path asks for the same few children every time.
    @cache  # noqa: B019 - one PredictMetrics per service, alive as long as the service
    def request_counter(self, endpoint: str, method: str, status: int) -> Counter:
        return self.requests.labels(endpoint, method, str(status))

    @cache  # noqa: B019
    def latency_of(self, variant: str) -> Histogram:
        return self.latency.labels(variant)

    @cache  # noqa: B019
    def predictions_of(self, variant: str) -> tuple[Counter, Counter]:
        """(label 1, label 0) counters of a variant."""
        return self.predictions.labels(variant, "1"), self.predictions.labels(variant, "0")


class ConsumeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.processed = Counter(_counter_name(CONSUMER_PROCESSED), "Ticks read from the raw topic and predicted",
                                 registry=registry)
        self.errors = Counter(_counter_name(CONSUMER_ERRORS), "Bad messages and failed broker calls by cause",
                              ["error_type"], registry=registry)
        self.dlq = Counter(_counter_name(CONSUMER_DLQ), "Messages sent to the dead-letter topic", registry=registry)
        self.lag_seconds = Gauge(CONSUMER_LAG_SECONDS,
                                 "Now minus the event time of the last processed tick (0 when caught up; "
                                 "NaN while joining the group: unknown)", registry=registry)
        self.offset_lag = Gauge(CONSUMER_OFFSET_LAG, "High watermark minus position, summed over partitions "
                                "(NaN while joining the group or while a partition's end is unknown)",
                                registry=registry)
        self.lag_seconds.set(math.nan)  # unknown until the member owns its partitions
        self.offset_lag.set(math.nan)
        self.rate = Gauge(CONSUMER_RATE, "Messages processed per second over the last interval", registry=registry)
        self.last_tick = Gauge(CONSUMER_LAST_TICK, "When this member last read a raw tick (epoch s)",
                               registry=registry)
        self.last_prediction = Gauge(CONSUMER_LAST_PREDICTION, "When this member last had a prediction "
                                     "acknowledged by the broker (epoch s)", registry=registry)
        self.warming_up = Counter(_counter_name(CONSUMER_WARMING_UP),
                                  "Predictions made while their product's windows were not covered yet "
                                  "(label forced to 0: never a spike)", registry=registry)
        self.model_info = Gauge(MODEL_INFO, "The model scoring the stream (value 1)", ["variant", "version"],
                                registry=registry)
        self.model_switches = model_switches(registry)
        self.outcomes = Counter(_counter_name(OUTCOMES), "Predictions met by their realised label 60 s later, per "
                                "variant (served and shadow challengers)", ["variant", "outcome"], registry=registry)
        self.outcome_score = Histogram(OUTCOME_SCORE, "Scores of labelled predictions per variant and true label",
                                       ["variant", "label"], buckets=[i / 20 for i in range(1, 20)], registry=registry)
        self.outcome_next_volatility = Histogram(
            OUTCOME_NEXT_VOLATILITY, "Realised volatility of the 60 s after each labelled prediction, per variant "
            "and whether it alerted", ["variant", "alerted"],
            buckets=[round(1e-6 * 10 ** (i / 8), 12) for i in range(0, 33)], registry=registry)  # 1e-6 .. 1e-2
        self.outcomes_pending = Gauge(OUTCOMES_PENDING, "Predictions waiting for their label's horizon",
                                      registry=registry)
        self.outcomes_unlabelled = Counter(_counter_name(OUTCOMES_UNLABELLED), "Predictions whose horizon closed "
                                           "without a label", ["reason"], registry=registry)
        self.forecast_outcomes = Counter(_counter_name(FORECAST_OUTCOMES), "Forecasts met by the realised next-60 s "
                                         "volatility, by whether it exceeded the 95 % upper bound", ["exceeded"],
                                         registry=registry)
        self.forecast_qlike = Counter(_counter_name(FORECAST_QLIKE), "QLIKE summed over the forecasts met by their "
                                      "realised volatility: the model's and persistence's", ["forecast"],
                                      registry=registry)
        self.forecast_bound = Gauge(FORECAST_BOUND_MULTIPLIER, "The upper bound over the forecast served now "
                                    "(recalibrated on the last hour's outcomes)", registry=registry)
        for exceeded in ("0", "1"):  # both series exist (at 0) before the first outcome
            self.forecast_outcomes.labels(exceeded)
        for forecast in ("model", "persistence"):
            self.forecast_qlike.labels(forecast)


def model_switches(registry: CollectorRegistry) -> Counter:
    return Counter(_counter_name(MODEL_SWITCHES), "Calls of POST /admin/model by outcome (switched, forbidden, ...)",
                   ["outcome"], registry=registry)


def sample_value(text: object, name: str) -> float | None:
    """The value of an unlabelled sample `name` in a service's /metrics text (None when absent)."""
    for line in str(text).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class IncidentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(_counter_name(INCIDENT_NOTIFICATIONS),
                                     "Alerts kept in the incident timeline, by status", ["status"], registry=registry)
        self.rejected = Counter(_counter_name(INCIDENT_REJECTED), "Bodies refused by the receiver, by reason",
                                ["reason"], registry=registry)

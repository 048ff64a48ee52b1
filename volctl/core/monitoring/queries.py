"""Every PromQL expression of the project, built from the metric names in volctl.domain.metrics and the
SLO targets in the config: the Prometheus rules, the Grafana dashboard, `volctl health --watch`
and `volctl slo check` all read them from here, so they cannot disagree.

Errors are 5xx answers (the service failed); 4xx are rejected inputs, shown but not counted
against the error budget. Ratios use `or vector(0)` on the numerator so that "no errors" is 0,
not "no data".
"""

from __future__ import annotations

from volctl.domain import metrics as m
from volctl.domain.clock import seconds_of
from volctl.domain.settings import SloSettings

PREDICT = '{endpoint="/predict"}'
PREDICT_5XX = '{endpoint="/predict",status=~"5.."}'
PREDICT_4XX = '{endpoint="/predict",status=~"4.."}'


def latency_quantile(quantile: float, window: str = "5m") -> str:
    return f"histogram_quantile({quantile}, sum by (le) (rate({m.LATENCY}_bucket[{window}])))"


def request_rate(window: str = "1m") -> str:
    return f"sum(rate({m.REQUESTS}{PREDICT}[{window}])) or vector(0)"


def processing_rate(window: str = "1m") -> str:
    """Ticks processed per second by every consume member, from their counters: the members' own
    rate gauge covers the last second only and read 0 between batches while ticks flowed."""
    return f"sum(rate({m.CONSUMER_PROCESSED}[{window}]))"


def _share_of_requests(selector: str, window: str, where_asked: bool = False) -> str:
    """The /predict requests matching `selector` over all of them; "or vector(0)" makes "none" 0.
    `where_asked`: no value where no request came (a gap on a chart), rather than 0."""
    total = f"sum(rate({m.REQUESTS}{PREDICT}[{window}]))"
    return (f"(sum(rate({m.REQUESTS}{selector}[{window}])) or vector(0))"
            f" / {f'({total} > 0)' if where_asked else f'clamp_min({total}, 1e-9)'}")


def error_ratio(window: str = "5m") -> str:
    return _share_of_requests(PREDICT_5XX, window)


def error_ratio_where_asked(window: str) -> str:
    """The error ratio only where requests came: a minute without any has no ratio (a gap on a
    chart), not an error rate of 0."""
    return _share_of_requests(PREDICT_5XX, window, where_asked=True)


def rejected_ratio(window: str = "5m") -> str:
    return _share_of_requests(PREDICT_4XX, window)


# A member joining the group exports NaN (unknown): left out, so a stack of only joining members has no
# lag ("no data", could not measure) rather than a NaN read as a breach.
CONSUMER_LAG = f"max({m.CONSUMER_LAG_SECONDS} >= 0)"
CONSUMER_OFFSET_LAG = f"sum({m.CONSUMER_OFFSET_LAG})"
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


# Multiwindow, multi-burn-rate alerting (Google SRE workbook, ch. 5): (long, short, factor, severity).
# A factor of 14.4 over 1 h spends 2 % of a 30-day budget; both windows must burn, so the alert
# stops soon after the burning stops.
BURN_WINDOWS = (("1h", "5m", 14.4, "page"), ("6h", "30m", 6.0, "page"),
                ("1d", "2h", 3.0, "ticket"), ("3d", "6h", 1.0, "ticket"))


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

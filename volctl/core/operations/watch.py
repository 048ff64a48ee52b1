"""The numbers behind `volctl health --watch`: the deep checks and one Prometheus snapshot of the
SLO measures, observed every interval."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from volctl.clients.prometheus import PrometheusClient
from volctl.core.monitoring import queries
from volctl.domain.errors import Unreachable
from volctl.domain.settings import Settings, SloSettings

if TYPE_CHECKING:
    from volctl.core.operations.health import HealthReport, StackClients


@dataclass
class Row:
    label: str
    value: float | None
    format: str
    objective: str = ""
    breached: bool = False


@dataclass
class Snapshot:
    taken_at: str
    rows: list[Row] = field(default_factory=list)
    error: str = ""


def snapshot(client: PrometheusClient, slo: SloSettings) -> Snapshot:
    result = Snapshot(time.strftime("%H:%M:%S"))
    measures = (  # (label, PromQL, format, objective, scale): latencies read in ms, as the objectives are set
        ("p50 latency", queries.latency_quantile(0.5, "1m"), "{:.1f} ms", None, 1000),
        ("p95 latency", queries.latency_quantile(0.95, "1m"), "{:.1f} ms", slo.latency_p95_seconds, 1000),
        ("request rate", queries.request_rate(), "{:.1f} req/s", None, 1),
        ("error rate (5xx)", queries.error_ratio("1m"), "{:.2%}", slo.error_rate, 1),
        ("consumer lag", queries.CONSUMER_LAG, "{:.1f} s", slo.consumer_lag_seconds, 1),
        ("processing rate", queries.processing_rate("1m"), "{:.0f} ticks/s", None, 1),
    )
    for label, expr, fmt, limit, scale in measures:
        try:
            value = client.value(expr)
        except Unreachable as exc:
            result.error = exc.message
            value = None
        if value is not None and value != value:  # NaN: no traffic in the window
            value = None
        if value is not None:
            value *= scale
        limit = None if limit is None else limit * scale
        breached = limit is not None and value is not None and value > limit
        objective = "" if limit is None else ("< " + fmt.format(limit))
        result.rows.append(Row(label, value, fmt, objective, breached))
    return result


def observe_stack(clients: StackClients, settings: Settings, interval_s: float
                  ) -> Iterator[tuple[HealthReport, Snapshot]]:
    """(deep checks, SLO snapshot) now, then every `interval_s`, until the caller stops."""
    from volctl.core.monitoring.freshness import expectation
    from volctl.core.operations.health import check_stack

    while True:
        yield check_stack(clients, settings, expectation(settings)), snapshot(clients.prometheus, settings.slo)
        time.sleep(interval_s)

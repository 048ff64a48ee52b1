"""The Prometheus HTTP API: readiness, scrape targets, instant queries."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from volctl.domain.errors import Unreachable
from volctl.domain.metrics import sample_value


@dataclass
class Sample:
    labels: dict[str, str]
    value: float


class PrometheusClient:
    def __init__(self, url: str, timeout_s: float = 3.0, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s, transport=transport)

    def ready(self) -> bool:
        try:
            return self._client.get("/-/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def last_reload(self) -> float | None:
        """When it last read its config and rules successfully (its own metric); None: unknown."""
        return self._own("prometheus_config_last_reload_success_timestamp_seconds")

    def failed_writes(self) -> float | None:
        """Writes to its write-ahead log that failed since it started (a full disk: it still says
        ready, and what it stores has holes); None: unknown."""
        return self._own("prometheus_tsdb_wal_writes_failed_total")

    def _own(self, metric: str) -> float | None:
        """A sample of its own /metrics."""
        try:
            text = self._client.get("/metrics").text
        except httpx.HTTPError:
            return None
        return sample_value(text, metric)

    def targets(self) -> list[dict[str, Any]]:
        return self._api("/api/v1/targets", {"state": "active"})["activeTargets"]

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts as the rules see them now (GET /api/v1/alerts): labels,
        annotations, state, activeAt, value."""
        return self._api("/api/v1/alerts", {})["alerts"]

    def alertmanagers(self) -> list[str]:
        """The Alertmanager URLs Prometheus sends alerts to now."""
        return [a["url"] for a in self._api("/api/v1/alertmanagers", {})["activeAlertmanagers"]]

    def query(self, expr: str, at: float | None = None) -> list[Sample]:
        """An instant query (GET /api/v1/query) at `at` (epoch s; now when None): a report that asks
        several windows asks them all at one instant, so a shorter window never counts more."""
        data = self._api("/api/v1/query", {"query": expr, "time": f"{time.time() if at is None else at:.3f}"})
        result = data.get("result") or []
        if data.get("resultType") == "scalar":  # [time, value]
            return [Sample({}, float(result[1]))]
        return [Sample(item.get("metric", {}), float(item["value"][1])) for item in result]

    def range(self, expr: str, seconds: float, step_s: float) -> list[tuple[float, float]]:
        """(time, value) points of a single-series expression over the last `seconds`."""
        end = time.time()
        data = self._api("/api/v1/query_range", {"query": expr, "start": f"{end - seconds:.3f}",
                                                 "end": f"{end:.3f}", "step": f"{step_s:g}"})
        result = data.get("result") or []
        points = [(float(t), float(v)) for t, v in result[0]["values"]] if result else []
        return [(t, v) for t, v in points if v == v]

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The single value of an expression that aggregates to one series; None when it has no data."""
        samples = self.query(expr, at)
        return samples[0].value if samples else None

    def close(self) -> None:
        self._client.close()

    def _api(self, path: str, params: dict[str, str]) -> Any:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise Unreachable(f"Prometheus at {self.url} did not answer: {exc}",
                              hint="start the stack with `volctl up`, or check prometheus.url") from exc
        try:
            document = response.json()
        except ValueError as exc:
            raise Unreachable(f"Prometheus at {self.url} answered {response.status_code} without JSON") from exc
        if document.get("status") != "success":
            raise QueryError(f"Prometheus rejected {params.get('query', path)!r}: {document.get('error')}")
        return document["data"]


class QueryError(Unreachable):
    """Prometheus answered, but not with data (a bad expression): we could not measure."""

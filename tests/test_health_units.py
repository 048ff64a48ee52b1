"""`volctl health` core against in-memory services and Prometheus (httpx.MockTransport)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import free_port
from volctl.clients.http import ServiceClient
from volctl.clients.prometheus import PrometheusClient
from volctl.core.operations.health import StackClients, check_stack
from volctl.domain.settings import load_settings
from volctl.domain.verdict import Verdict


def _transport(routes: dict[str, tuple[int, object]]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        status, body = routes.get(request.url.path, (404, {"detail": "no route"}))
        return httpx.Response(status, text=body) if isinstance(body, str) else httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


def test_a_member_still_joining_and_a_served_model_unknown_here_are_failed_checks(tmp_path: Path) -> None:
    settings = load_settings(env={}, overrides={"state_dir": str(tmp_path),
                                                "kafka.bootstrap": f"127.0.0.1:{free_port()}"})
    predict = ServiceClient("predict", "http://predict", transport=_transport({
        "/health": (200, {"status": "ok", "model_variant": "ml", "version": "v9"}),
        "/version": (200, {"model": "ml", "version": "v9", "sha": "b" * 64})}))
    consume = ServiceClient("consume", "http://consume", transport=_transport({
        "/health": (503, {"status": "starting", "assigned_partitions": 0}),
        "/metrics": (200, "volatility_consumer_lag_seconds NaN\nvolatility_consumer_offset_lag NaN\n")}))
    prometheus = PrometheusClient("http://prometheus:9090", transport=_transport({
        "/-/ready": (200, "ok"),
        "/api/v1/targets": (200, {"status": "success", "data": {"activeTargets": [
            {"labels": {"job": "predict"}, "health": "up"}, {"labels": {"job": "consume"}, "health": "up"}]}})}))
    report = check_stack(StackClients(predict, (consume,), prometheus), settings)
    checks = {c.name: c for c in report.checks}
    assert checks["predict /health"].ok and checks["scrape targets up"].ok
    assert not checks["consume /health"].ok and "starting" in checks["consume /health"].detail
    assert not checks["consumer lag"].ok and checks["consumer lag"].detail.startswith("unknown: joining")
    assert not checks["model sha256"].ok and "not found" in checks["model sha256"].detail
    assert report.unreachable == ["broker"] and report.outcome == Verdict.FAIL


def test_a_target_not_scraped_yet_is_starting_not_down() -> None:
    """Issue 24: straight after `up` or `scale`, health failed "scrape targets up" for a few seconds."""
    from volctl.core.operations.health import check_prometheus

    def targets(*health: str) -> PrometheusClient:
        members = [{"labels": {"job": "consume", "member": f"consume-{i + 1}"}, "health": h}
                   for i, h in enumerate(health)]
        return PrometheusClient("http://prometheus:9090", transport=_transport({
            "/-/ready": (200, "ok"),
            "/api/v1/targets": (200, {"status": "success", "data": {"activeTargets": members}})}))

    starting = check_prometheus(targets("up", "unknown")).checks[-1]
    assert starting.ok and "starting (not scraped yet): consume-2" in starting.detail
    down = check_prometheus(targets("up", "down")).checks[-1]
    assert not down.ok and "down: consume-2" in down.detail


def test_with_consume_down_health_keeps_lag_and_freshness_and_says_what_to_do(tmp_path: Path) -> None:
    """Issue 38: with consume down, `health` dropped its lag and freshness rows instead of saying
    "no prediction for 56 s", and printed no next step (`lag` said it best)."""
    settings = load_settings(env={}, overrides={"state_dir": str(tmp_path),
                                                "kafka.bootstrap": f"127.0.0.1:{free_port()}"})
    predict = ServiceClient("predict", "http://predict", transport=_transport({
        "/health": (200, {"status": "ok", "model_variant": "ml", "version": "v9"}),
        "/version": (200, {"model": "ml", "version": "v9", "sha": "b" * 64})}))
    consume = ServiceClient("consume", f"http://127.0.0.1:{free_port()}")  # nothing listens
    prometheus = PrometheusClient("http://prometheus:9090", transport=_transport({
        "/-/ready": (200, "ok"),
        "/api/v1/targets": (200, {"status": "success", "data": {"activeTargets": [
            {"labels": {"job": "predict"}, "health": "up"}, {"labels": {"job": "consume"}, "health": "down"}]}})}))
    report = check_stack(StackClients(predict, (consume,), prometheus, prediction_age=lambda: 56.4), settings)
    checks = {c.name: c for c in report.checks}
    assert checks["stream freshness"].detail == "no prediction for 56 s (the newest on ticks.predictions)"
    assert not checks["consumer lag"].ok and "no consume member answers" in checks["consumer lag"].detail
    assert report.outcome == Verdict.FAIL and report.as_document()["next_step"].startswith(
        "`volctl status` shows how consume ended and `volctl logs consume` its last lines")
    from tests.test_next_steps import unknown_in

    assert unknown_in(report.next_step, ["health"]) == []


def test_the_watch_reads_latency_in_ms_and_the_processing_rate_from_the_counters() -> None:
    """`health --watch` showed "0.0003 s" beside an objective set in ms, and "processing rate 0
    ticks/s" on a fresh stack while ticks flowed (a gauge of the last second, read between batches)."""
    from volctl.core.operations.watch import snapshot
    from volctl.domain.metrics import CONSUMER_PROCESSED
    from volctl.domain.settings import SloSettings

    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        query = request.url.params.get("query") or dict(httpx.QueryParams(request.content.decode())).get("query", "")
        asked.append(query)
        value = "42" if CONSUMER_PROCESSED in query else "0.00031" if "histogram_quantile" in query else "1"
        return httpx.Response(200, json={"status": "success", "data": {
            "resultType": "vector", "result": [{"metric": {}, "value": [0, value]}]}})

    rows = {r.label: r for r in snapshot(PrometheusClient("http://p:9090", transport=httpx.MockTransport(answer)),
                                         SloSettings()).rows}
    assert rows["p95 latency"].format.format(rows["p95 latency"].value) == "0.3 ms"
    assert rows["p95 latency"].objective == "< 800.0 ms"
    assert rows["processing rate"].value == 42 and any(f"rate({CONSUMER_PROCESSED}[1m])" in q for q in asked)


def test_a_prometheus_that_cannot_write_its_data_is_not_healthy() -> None:
    """On a full disk Prometheus's WAL writes failed while it still reported ready (issue 41, point 1)."""
    from volctl.core.operations.health import check_prometheus

    def prometheus(metrics: str) -> PrometheusClient:
        return PrometheusClient("http://prometheus:9090", transport=_transport({
            "/-/ready": (200, "ok"), "/metrics": (200, metrics),
            "/api/v1/targets": (200, {"status": "success", "data": {"activeTargets": []}})}))

    full = check_prometheus(prometheus("prometheus_tsdb_wal_writes_failed_total 37\n")).checks[0]
    assert not full.ok and "37 writes to its data failed" in full.detail and "full disk" in full.detail
    fine = check_prometheus(prometheus("prometheus_tsdb_wal_writes_failed_total 0\n")).checks[0]
    assert fine.ok and fine.name == "prometheus ready"

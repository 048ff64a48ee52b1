"""Deep health checks: each check is a row with a verdict, a latency and a detail."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from volctl.clients.http import ServiceClient
from volctl.clients.kafka import bootstrap_of, is_reachable, list_topics, partition_counts, topics_of
from volctl.clients.prometheus import PrometheusClient
from volctl.core.monitoring.freshness import Expectation
from volctl.core.monitoring.freshness import from_members as freshness_from_members
from volctl.domain.errors import Unreachable, VolctlError
from volctl.domain.metrics import CONSUMER_LAG_SECONDS, CONSUMER_OFFSET_LAG, sample_value
from volctl.domain.partitioning import products_by_partition
from volctl.domain.registry import Registry
from volctl.domain.settings import Settings
from volctl.domain.verdict import Verdict


@dataclass
class Check:
    name: str
    ok: bool
    latency_ms: float | None
    detail: str


@dataclass
class HealthReport:
    checks: list[Check] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    owned: dict[str, list[int]] = field(default_factory=dict)  # consume member -> partitions it owns
    models: list[str] = field(default_factory=list)  # "variant version" each consume member scores with
    predict_model: str = ""  # "variant version" predict serves ("" when it did not say)
    member_health: list[dict[str, Any]] = field(default_factory=list)  # each consume member's /health body
    freshness: dict[str, Any] | None = None  # is the stream flowing (core.freshness)

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks) and not self.unreachable

    @property
    def outcome(self) -> Verdict:
        if self.nothing_answered:
            return Verdict.ERROR
        return Verdict.PASS if self.healthy else Verdict.FAIL

    def as_document(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "verdict": self.outcome.value, "next_step": self.next_step,
                "checks": [asdict(c) for c in self.checks],
                "unreachable": list(self.unreachable), "partitions_by_member": dict(self.owned),
                "freshness": self.freshness}

    @property
    def next_step(self) -> str:
        """The one thing to do next, as `lag` ends with one ("" when healthy)."""
        if self.healthy:
            return ""
        down = [name for name in self.unreachable if name != "broker"] or self.unreachable
        if self.nothing_answered:
            return "`volctl status` shows what runs; `volctl up` starts the stack"
        if down:
            first = down[0]
            return (f"`volctl status` shows how {first} ended and `volctl logs {first}` its last lines; "
                    "`volctl up` starts what is down")
        return "`volctl runbook run health-check` walks through the failed checks"

    @property
    def nothing_answered(self) -> bool:
        """Every component was unreachable: nothing could be measured (exit 3, not 1)."""
        return bool(self.unreachable) and all(c.latency_ms is None for c in self.checks)

    def merge(self, other: HealthReport) -> None:
        self.checks += other.checks
        self.unreachable += other.unreachable
        self.owned.update(other.owned)
        self.member_health += other.member_health
        self.freshness = other.freshness or self.freshness
        self.models += other.models
        self.predict_model = other.predict_model or self.predict_model


@dataclass(frozen=True)
class StackClients:
    """What the deep checks talk to; the CLI builds them, tests pass fakes. `consume`: every member
    of the group, member 1 first; `predict_workers`: each predict worker alone, when there are several
    (`predict` is the shared address clients use)."""

    predict: ServiceClient
    consume: tuple[ServiceClient, ...]
    prometheus: PrometheusClient
    predict_workers: tuple[ServiceClient, ...] = ()
    alertmanager: ServiceClient | None = None  # None: no Alertmanager is configured to be checked
    # Seconds since the newest message on the predictions topic (None: none there or no broker):
    # with every consume member down, what the stream looks like from the broker's side.
    prediction_age: Callable[[], float | None] | None = None

    def all(self) -> list[ServiceClient | PrometheusClient]:
        return [self.predict, *self.predict_workers, *self.consume, self.prometheus,
                *([self.alertmanager] if self.alertmanager else [])]


def check_stack(clients: StackClients, settings: Settings, expected: Expectation | None = None) -> HealthReport:
    """Every deep check of the running stack, one row each (one per member of a scaled service);
    with `expected` (a stream should flow), whether it does."""
    report = HealthReport()
    report.merge(check_predict(clients.predict, settings.registry_path))
    if clients.predict_workers:
        report.merge(check_agreement("predict workers", [_served_by(w) for w in clients.predict_workers]))
    carried = products_by_partition(settings.kafka.products, settings.kafka.partitions)
    members = [check_consume(client, settings.slo.consumer_lag_seconds, carried) for client in clients.consume]
    for member in members:
        report.merge(member)
    if len(clients.consume) > 1:
        report.merge(check_group(members, settings.kafka.partitions))
    report.merge(check_one_model(report.predict_model, report.models))
    if not report.member_health and clients.prediction_age is not None:
        report.merge(check_stream_without_consume(clients.prediction_age, settings.kafka.topic_predictions))
    report.merge(check_broker(settings))
    report.merge(check_prometheus(clients.prometheus))
    if clients.alertmanager is not None:
        report.merge(check_alertmanager(clients.alertmanager, clients.prometheus))
    if expected is not None and report.member_health:
        report.merge(check_freshness(report.member_health, settings.slo.freshness_seconds, expected))
    return report


def check_one_model(predict: str, consume: list[str]) -> HealthReport:
    """One served model: what /predict answers with is what scores the stream (issue 38: one
    service's admin switch left predict on baseline and consume on ml, and health said healthy)."""
    report = HealthReport()
    if predict and consume:
        split = set(consume) != {predict}
        detail = (f"predict serves {predict}; consume: {', '.join(sorted(set(consume)))}: `volctl rollback --to "
                  f"VARIANT` serves one model everywhere" if split
                  else f"predict and {len(consume)} consume member(s) serve {predict}")
        report.checks.append(Check("one served model", not split, 0.0, detail))
    return report


def check_stream_without_consume(prediction_age: Callable[[], float | None], topic: str) -> HealthReport:
    """No consume member answers: its lag and freshness rows stay, from the broker (`lag` says the same)."""
    report = HealthReport()
    try:
        age = prediction_age()
    except VolctlError as exc:
        report.checks.append(Check("stream freshness", False, None, f"unknown: {exc.message}"))
        return report
    report.checks.append(Check("consumer lag", False, None, "unknown: no consume member answers "
                               "(`volctl lag` reads the group's committed offsets from the broker)"))
    report.checks.append(Check("stream freshness", False, None,
                               f"no prediction for {age:.0f} s (the newest on {topic})" if age is not None
                               else f"no prediction on {topic} at all"))
    return report


def check_freshness(bodies: list[dict[str, Any]], limit_s: float, expected: Expectation) -> HealthReport:
    """The stream flows: a stalled source reads healthy on every other check."""
    found = freshness_from_members(bodies, limit_s, expected, time.time())
    report = HealthReport(freshness=found.as_document())
    report.checks.append(Check("stream freshness", found.outcome != Verdict.FAIL, 0.0, found.detail()))
    return report


def _served_by(client: ServiceClient) -> tuple[str, str | None]:
    """(worker, the model it serves: "variant version", None when it does not answer)."""
    try:
        answer = client.get("/version")
    except Unreachable:
        return client.name, None
    body = answer.body if isinstance(answer.body, dict) else {}
    return client.name, f"{body.get('model')} {body.get('version')}" if answer.status == 200 else None


def check_agreement(what: str, served: list[tuple[str, str | None]]) -> HealthReport:
    """Every member serves the same model (a rollback that reached only some of them is a failure)."""
    report = HealthReport()
    down = [name for name, model in served if model is None]
    models = {model for _, model in served if model is not None}
    if down:
        report.unreachable += down
    ok = not down and len(models) == 1
    detail = (f"{len(served)} serve {next(iter(models))}" if ok else
              "; ".join(f"{name}: {model or 'not answering'}" for name, model in served))
    report.checks.append(Check(what, ok, 0.0 if models else None, detail))
    return report


def check_group(members: list[HealthReport], partitions: int) -> HealthReport:
    """The consumer group as a whole: who owns which partition, and that every member scores with the same model."""
    owners = {p: name for member in members for name, owned in member.owned.items() for p in owned}
    answered = [m for m in members if m.owned]
    detail = ", ".join(f"{name}: {','.join(map(str, owned)) or 'none'}"
                       for m in members for name, owned in m.owned.items())
    models = {model for m in members for model in m.models}
    unowned = [p for p in range(partitions) if p not in owners]
    report = HealthReport()
    ok = bool(answered) and not unowned and len(models) <= 1
    problem = (f"partition(s) {', '.join(map(str, unowned))} owned by no member; " if unowned else "") + (
        f"members score with different models: {', '.join(sorted(models))}; " if len(models) > 1 else "")
    report.checks.append(Check("consumer group", ok, 0.0 if answered else None,
                               f"{problem}partitions by member: {detail or 'no member answered'}"))
    return report


def check_consume(client: ServiceClient, lag_slo_s: float, carried: dict[int, list[str]] | None = None
                  ) -> HealthReport:
    """One consume member: its /health, the partitions it owns and the products on them (which
    members own work), and its lag."""
    report = HealthReport()
    name = client.name
    try:
        health = client.get("/health")
    except Unreachable as exc:
        report.unreachable.append(name)
        report.checks.append(Check(f"{name} /health", False, None, exc.message))
        report.owned[name] = []
        return report
    body = health.body if isinstance(health.body, dict) else {}
    report.member_health.append(body)
    ok = health.status == 200
    report.owned[name] = [p for p in body.get("partitions") or [] if isinstance(p, int)]
    if body.get("model_variant"):
        report.models.append(f"{body.get('model_variant')} {body.get('model_version')}")
    if ok:
        model = f"{body.get('model_variant')} {body.get('model_version')}"
        owned = report.owned[name]
        work = [f"{p} ({', '.join(carried.get(p) or []) or 'idle'})" if carried else str(p) for p in owned]
        detail = (f"partitions {', '.join(work)}, {model}" if owned
                  else f"{body.get('assigned_partitions')} partitions, {model}")
    elif body.get("status") in ("starting", "not assigned"):
        detail = (f"{body['status']}: 0 partitions assigned"
                  + (" (joining the consumer group)" if body["status"] == "starting" else
                     " (more members than partitions?)"))
    else:
        detail = f"{health.status}: {body.get('last_error') or body}"
    report.checks.append(Check(f"{name} /health", ok, health.latency_s * 1000, detail))
    metrics = client.get("/metrics")
    lag = sample_value(metrics.body, CONSUMER_LAG_SECONDS)
    offset_lag = sample_value(metrics.body, CONSUMER_OFFSET_LAG)
    lag_check = "consumer lag" if name == "consume" else f"{name} lag"
    if lag is None:
        report.checks.append(Check(lag_check, False, metrics.latency_s * 1000, "no lag metric exported"))
    elif math.isnan(lag):
        report.checks.append(Check(lag_check, False, metrics.latency_s * 1000,
                                   "unknown: joining the consumer group (it owns no partitions yet)"))
    else:
        messages = "messages unknown" if offset_lag is None or math.isnan(offset_lag) else f"{offset_lag:.0f} messages"
        report.checks.append(Check(lag_check, lag < lag_slo_s, metrics.latency_s * 1000,
                                   f"{lag:.1f} s behind, {messages} (SLO < {lag_slo_s:g} s)"))
    return report


def check_broker(settings: Settings) -> HealthReport:
    report = HealthReport()
    bootstrap = bootstrap_of(settings.kafka)
    started = time.perf_counter()
    try:
        if not is_reachable(bootstrap):  # milliseconds, where a Kafka client would retry for seconds
            raise Unreachable(f"Kafka at {bootstrap} does not accept connections")
        topics = list_topics(bootstrap, timeout_s=3.0)
    except Unreachable as exc:
        report.unreachable.append("broker")
        report.checks.append(Check("broker metadata", False, None, exc.message))
        return report
    missing = [t for t in topics_of(settings.kafka) if t not in topics]
    kind = "external" if settings.kafka.bootstrap else "embedded, memory only"
    detail = f"{bootstrap} ({kind}); " + (f"missing topics: {', '.join(missing)}" if missing
                                           else f"{len(topics_of(settings.kafka))} topics present")
    report.checks.append(Check("broker metadata", not missing, (time.perf_counter() - started) * 1000, detail))
    if not missing:
        report.merge(check_raw_partitions(bootstrap, settings.kafka.topic_raw, settings.kafka.partitions))
    return report


def check_raw_partitions(bootstrap: str, topic: str, wanted: int) -> HealthReport:
    """The raw topic has the partitions the config spreads products over: a client that wrote during a
    broker restart auto-created it with the broker's own count, and that was accepted silently."""
    report = HealthReport()
    try:
        found = partition_counts(bootstrap, [topic], timeout_s=3.0).get(topic)
    except Unreachable as exc:
        report.checks.append(Check("raw topic partitions", False, None, f"unknown: {exc.message}"))
        return report
    if found is not None and found != wanted:
        report.checks.append(Check("raw topic partitions", False, None,
                                   f"{topic} has {found} partitions, kafka.partitions says {wanted}: another client "
                                   "created it (a broker restart with a client writing); recreate the topic, or set "
                                   f"kafka.partitions = {found}"))
    return report


def check_alertmanager(client: ServiceClient, prometheus: PrometheusClient) -> HealthReport:
    """Alerts reach someone: Alertmanager is ready and Prometheus sends to it."""
    report = HealthReport()
    try:
        answer = client.get("/-/ready")
    except Unreachable:
        answer = None
    if answer is None or answer.status != 200:
        report.unreachable.append("alertmanager")
        report.checks.append(Check("alertmanager ready", False, None, f"{client.base_url}/-/ready did not answer 200: "
                                   "alerts reach no one (`volctl status` says why)"))
        return report
    try:
        wired = prometheus.alertmanagers()
    except VolctlError:
        wired = None
    host = client.base_url.split("://", 1)[-1].rstrip("/")
    sends = wired is not None and any(host in url for url in wired)
    detail = (f"{client.base_url}; Prometheus sends to it" if sends else
              f"{client.base_url}, but Prometheus " + ("did not answer" if wired is None else
                                                        f"sends to {', '.join(wired) or 'no Alertmanager'}"))
    report.checks.append(Check("alertmanager ready", sends, answer.latency_s * 1000, detail))
    return report


def check_prometheus(client: PrometheusClient) -> HealthReport:
    report = HealthReport()
    started = time.perf_counter()
    if not client.ready():
        report.unreachable.append("prometheus")
        report.checks.append(Check("prometheus ready", False, None, f"{client.url}/-/ready did not answer 200"))
        return report
    failed = client.failed_writes()
    if failed:  # ready, yet writing nothing: a full disk under its data (issue 41)
        report.checks.append(Check("prometheus ready", False, (time.perf_counter() - started) * 1000,
                                   f"{client.url} answers, but {failed:,.0f} writes to its data failed since it "
                                   "started (a full disk?): free space, then restart it (`volctl down`, `volctl up`)"))
    else:
        report.checks.append(Check("prometheus ready", True, (time.perf_counter() - started) * 1000, client.url))
    started = time.perf_counter()
    targets = client.targets()
    def name(target: dict[str, Any]) -> str:
        labels = target.get("labels", {})
        return labels.get("member") or labels.get("job", "?")

    down = [f"{name(t)} ({t.get('lastError') or 'down'})" for t in targets if t.get("health") == "down"]
    starting = [name(t) for t in targets if t.get("health") not in ("up", "down")]  # "unknown": not scraped yet
    up = sorted(name(t) for t in targets if t.get("health") == "up")
    detail = f"down: {', '.join(down)}" if down else f"{', '.join(up)} up"
    if starting:
        detail += f"; starting (not scraped yet): {', '.join(starting)}"
    report.checks.append(Check("scrape targets up", bool(targets) and not down, (time.perf_counter() - started) * 1000,
                               detail))
    return report


def check_predict(client: ServiceClient, registry_root: Path) -> HealthReport:
    """Predict /health and /version, the served model's sha256 against the registry, and one
    /predict round trip with a real feature row stored in the model's manifest."""
    report = HealthReport()
    try:
        health = client.get("/health")
    except Unreachable as exc:
        report.unreachable.append("predict")
        report.checks.append(Check("predict /health", False, None, exc.message))
        return report
    ok = health.status == 200
    detail = f"{health.body.get('model_variant')} {health.body.get('version')}" if ok else str(health.body)
    report.checks.append(Check("predict /health", ok, health.latency_s * 1000, detail))
    version = client.get("/version")
    if version.status != 200:
        detail = f"/version answered {version.status}"
        report.checks.append(Check("model sha256", False, version.latency_s * 1000, detail))
        return report
    report.checks.append(_sha_check(version.body, registry_root, version.latency_s))
    report.predict_model = f"{version.body.get('model')} {version.body.get('version')}"
    try:
        samples = Registry(registry_root).manifest(version.body["version"]).get("sample_rows") or []
    except VolctlError:  # not in the local registry (its sha256 row says so): no rows to send
        samples = []
    if samples:
        reply = client.post("/predict", {"rows": samples[:1]})
        ok = reply.status == 200
        detail = f"score {reply.body['scores'][0]:.3f}" if ok else f"{reply.status}: {reply.body}"
        report.checks.append(Check("predict round trip", ok, reply.latency_s * 1000, detail))
    return report


def _sha_check(version: dict, registry_root: Path, latency_s: float) -> Check:
    try:
        expected = Registry(registry_root).verify(version["version"], version["model"])
    except VolctlError as exc:
        return Check("model sha256", False, latency_s * 1000, exc.message)
    ok = expected == version.get("sha")
    detail = f"{version['model']} {version['version']} sha256 {expected[:12]}…"
    if not ok:
        detail += " (the served file differs from the registry's)"
    return Check("model sha256", ok, latency_s * 1000, detail)


def wait_until_answering(client: ServiceClient, path: str, timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll until the service answers `path` with a 2xx, or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.get(path).status < 300:
                return True
        except Unreachable:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)

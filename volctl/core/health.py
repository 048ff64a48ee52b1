"""Deep health checks: each check is a row with a verdict, a latency and a detail."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from services.registry import Registry
from volctl.clients.http import ServiceClient
from volctl.errors import Unreachable, VolctlError


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

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks) and not self.unreachable


def check_predict(client: ServiceClient, registry_root: Path) -> HealthReport:
    """Predict /health and /version, the served model's sha256 against the registry, and one
    /predict round trip with a real feature row stored in the model's manifest."""
    report = HealthReport()
    try:
        health = client.get("/health")
    except Unreachable as exc:
        report.unreachable.append(client.name)
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
    samples = Registry(registry_root).manifest(version.body["version"]).get("sample_rows") or []
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

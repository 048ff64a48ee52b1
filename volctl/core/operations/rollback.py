"""`volctl rollback`: switch the model of the predict and the consume service together, or not at all.

Each process that serves a model (every predict worker and every consume member, each at its own
address) loads and verifies the target itself (POST /admin/model), then swaps with no restart.
The predict workers go first, then the consume members; when any of them fails, every one already
switched is switched back, so they never score with different models for longer than the calls
take. Afterwards each one is verified on its own /version and /metrics.
"""

from __future__ import annotations

import getpass
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from volctl.clients.http import ServiceClient
from volctl.domain.errors import ConfigError, VolctlError
from volctl.domain.settings import Settings
from volctl.domain.variants import VARIANTS, split_target
from volctl.domain.verdict import Verdict

if TYPE_CHECKING:
    from volctl.domain.registry import Registry


@dataclass
class Target:
    variant: str
    version: str
    sha: str  # expected artifact sha256 from the local registry; "" when it is not reachable from here

    def describe(self) -> str:
        return f"{self.variant} {self.version}"


@dataclass
class ServiceSwitch:
    service: str
    url: str
    before: dict[str, Any]
    after: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    changed: bool = False
    error: str = ""
    status: int = 0  # the last answer's HTTP status (507: the service's disk is full)
    verified: bool | None = None
    verify_detail: str = ""
    reverted: bool = False


@dataclass
class RollbackPlan:
    target: Target
    switches: list[ServiceSwitch]
    change_id: str

    @property
    def nothing_to_do(self) -> bool:
        return all(_serves(s.before, self.target) for s in self.switches)


@dataclass
class RollbackReport:
    plan: RollbackPlan
    dry_run: bool
    ok: bool = True
    problem: str = ""
    seconds: float = 0.0

    @property
    def outcome(self) -> Verdict:
        """fail: a service refused and what switched was switched back; error: it could not be done
        (a full disk) and nothing stays switched."""
        if self.ok:
            return Verdict.PASS
        undone = all(s.reverted or not s.changed for s in self.plan.switches)
        return Verdict.ERROR if undone and any(s.status == 507 for s in self.plan.switches) else Verdict.FAIL

    def as_document(self) -> dict[str, Any]:
        return {"verdict": self.outcome.value, "ok": self.ok, "changed": not self.dry_run and self.ok, **asdict(self)}


def plan_rollback(services: Mapping[str, ServiceClient], registry: Registry | None, to: str) -> RollbackPlan:
    """Where each service is now and what `to` (baseline, ml, a version, or VERSION:VARIANT) means for it. The target
    is verified in `registry` first (None: the services' registries are not reachable from here).

    `services`: every process that serves a model (each predict worker, each consume member) by
    name, predict first; the first one decides what "the current version" is."""
    switches = []
    for service, client in services.items():
        answer = client.get("/version")
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise ConfigError(f"{service} at {client.base_url} answered /version with {answer.status}: "
                              f"{answer.body}", hint="check it with `volctl health`")
        switches.append(ServiceSwitch(service, client.base_url, _served(answer.body)))
    current = switches[0].before  # predict decides what "the current version" is
    if to in VARIANTS:
        variant, version = to, current["version"]
    else:  # VERSION (the served variant of another version) or VERSION:VARIANT
        version, named = split_target(to)
        variant = named or current["variant"]
        if variant not in VARIANTS:
            raise ConfigError(f"unknown variant {variant!r} in --to {to!r}", hint=f"use one of {', '.join(VARIANTS)}")
    # A wrong name or a tampered file stops here, before any service is asked.
    sha = registry.verify(version, variant) if registry is not None else ""
    return RollbackPlan(Target(variant, version, sha), switches, uuid.uuid4().hex[:12])


def execute_rollback(services: Mapping[str, ServiceClient], plan: RollbackPlan, token: str, reason: str,
                     dry_run: bool = False) -> RollbackReport:
    """Every process loads and verifies the target first (a dry run stops there); then predict
    workers, then consume members, swap; on any failure what was switched is switched back. Then verify."""
    report = RollbackReport(plan, dry_run)
    started = time.perf_counter()
    request = {"variant": plan.target.variant, "version": plan.target.version, "expect_sha": plan.target.sha,
               "actor": local_actor(), "reason": reason, "change_id": plan.change_id, "dry_run": dry_run}
    # The load is the slow part (reading, hashing, the first import of scikit-learn): done by every
    # process before any swaps, the swaps take milliseconds each, and one that cannot load the
    # target stops the change before anything is switched.
    for switch in plan.switches:
        probe = switch if dry_run else ServiceSwitch(switch.service, switch.url, switch.before)
        if not _call(probe, services[switch.service], token, {**request, "dry_run": True}):
            report.ok = False
            report.problem = f"{switch.service} cannot switch to the target, nothing was switched: {probe.error}"
            switch.error, switch.status = probe.error, probe.status
            break
    if not report.ok or dry_run:
        report.seconds = time.perf_counter() - started
        return report
    for switch in plan.switches:
        if not _call(switch, services[switch.service], token, request):
            report.ok = False
            report.problem = f"{switch.service} refused the switch: {switch.error}"
            _revert(plan.switches, services, token, request, report.problem)
            break
    if report.ok:
        for switch in plan.switches:
            _verify(switch, services[switch.service], plan.target)
        failed = [s.service for s in plan.switches if not s.verified]
        if failed:
            report.ok = False
            report.problem = f"switched, but {', '.join(failed)} does not report {plan.target.describe()} afterwards"
    report.seconds = time.perf_counter() - started
    return report


def align_to_choice(services: Mapping[str, ServiceClient], registry: Registry | None, choice: dict[str, Any],
                    token: str) -> RollbackReport | None:
    """Bring every service to the stack's recorded choice (a service that missed a switch, or was
    switched alone, serves something else); None when every one serves it already."""
    plan = plan_rollback(services, registry, f"{choice['version']}:{choice['variant']}")
    if plan.nothing_to_do:
        return None
    reason = f"volctl up: the stack's recorded choice (switched at {choice.get('at')} by {choice.get('actor')})"
    return execute_rollback(services, plan, token, reason)


def rollback_history(settings: Settings, limit: int = 20) -> list[dict[str, Any]]:
    """The newest `limit` audit entries, oldest first (lines that do not parse are skipped, counted)."""
    from volctl.domain.model_admin import audit_path
    from volctl.domain.text import printable, printable_document

    try:
        lines = audit_path(settings).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines[-limit:]:
        try:
            entry = json.loads(line)
        except ValueError:
            entry = {"outcome": "unreadable line", "detail": printable(line, 200)}
        # Callers wrote actor and reason: any JSON string, a lone surrogate too, must still print.
        entries.append(printable_document(entry) if isinstance(entry, dict) else
                       {"outcome": "unreadable line", "detail": printable(line, 200)})
    return entries


def local_actor() -> str:
    """Who is calling, for the audit log: user@host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{os.uname().nodename}"


def _call(switch: ServiceSwitch, client: ServiceClient, token: str, request: dict[str, Any]) -> bool:
    started = time.perf_counter()
    try:
        answer = client.post("/admin/model", request, headers={"Authorization": f"Bearer {token}"})
    except VolctlError as exc:  # did not answer: not switched
        switch.error = exc.message
        return False
    switch.seconds = time.perf_counter() - started
    body = answer.body if isinstance(answer.body, dict) else {"detail": str(answer.body)}
    switch.status = answer.status
    if answer.status != 200:
        switch.error = f"HTTP {answer.status}: {body.get('detail', body)}"
        return False
    switch.after = body.get("after", {})
    switch.changed = bool(body.get("changed"))
    return True


def _revert(switches: list[ServiceSwitch], services: Mapping[str, ServiceClient], token: str,
            request: dict[str, Any], why: str) -> None:
    for switch in switches:
        if not switch.changed:
            continue
        back = {**request, "variant": switch.before["variant"], "version": switch.before["version"],
                "expect_sha": switch.before.get("sha") or "", "reason": f"automatic revert: {why}", "revert": True}
        probe = ServiceSwitch(switch.service, switch.url, switch.after)
        switch.reverted = _call(probe, services[switch.service], token, back)
        if not switch.reverted:
            switch.error = f"could not switch back: {probe.error}"


def _verify(switch: ServiceSwitch, client: ServiceClient, target: Target) -> None:
    """The service says so on /version and in volatility_model_info on /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    from volctl.domain.metrics import MODEL_INFO

    try:
        version = client.get("/version").body
        metrics = client.get("/metrics").body
    except VolctlError as exc:
        switch.verified, switch.verify_detail = False, exc.message
        return
    served = _served(version)
    info = [(s.labels.get("variant"), s.labels.get("version"))
            for family in text_string_to_metric_families(str(metrics)) if family.name == MODEL_INFO
            for s in family.samples if s.value == 1]
    switch.verified = _serves(served, target) and info == [(target.variant, target.version)]
    switch.verify_detail = f"/version {served['variant']} {served['version']}; {MODEL_INFO} {info}"


def _served(version_document: dict[str, Any]) -> dict[str, Any]:
    """/version's answer in the shape the admin endpoint reports models (its `model` is the variant)."""
    return {"variant": version_document.get("model"), "version": version_document.get("version"),
            "sha": version_document.get("sha")}


def _serves(served: dict[str, Any], target: Target) -> bool:
    return (served.get("variant") == target.variant and served.get("version") == target.version
            and (not target.sha or served.get("sha") == target.sha))

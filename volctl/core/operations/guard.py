"""`volctl guard`: a watcher that rolls back on evidence, the way Argo Rollouts and Flagger do on
Kubernetes, but on the detector's realised quality as well as on request metrics, on one laptop.

Every interval it judges the served model: its realised quality against the challengers scored in
shadow (`volctl quality`) and the fast burn of the error and latency objectives (Prometheus). After
`failure_limit` consecutive failing evaluations it switches both services to the better variant
(`volctl rollback`'s core, audited with reason "guard: <why>"), then keeps watching. It never
flaps: after a switch it waits `dwell_s` before it may switch again. An evaluation that cannot
measure neither counts as a failure nor clears the count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from volctl.core.model.quality import quality_report
from volctl.domain.clock import utc_iso
from volctl.domain.errors import VolctlError
from volctl.domain.variants import fallback, rollback_target
from volctl.domain.verdict import Verdict

if TYPE_CHECKING:
    from volctl.clients.http import ServiceClient
    from volctl.clients.prometheus import PrometheusClient
    from volctl.domain.registry import Registry
    from volctl.domain.settings import Settings

FAST_BURN = 14.4  # the error budget burnt this fast over 5 minutes pages (the 1h/5m burn-rate alert)


@dataclass
class GuardPolicy:
    window: str = "1h"
    failure_limit: int = 3
    dwell_s: float = 600.0
    dry_run: bool = False


@dataclass
class GuardState:
    failures: int = 0
    last_switch_at: float | None = None


@dataclass
class Evaluation:
    at: str
    verdict: str  # pass | fail | inconclusive
    why: str
    served: str
    target: str  # what a rollback would serve ("" when nothing is better)
    failures: int
    action: str  # none | waiting (dwell) | would roll back | rolled back | rollback failed
    detail: str = ""

    def as_document(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(settings: Settings, state: GuardState, policy: GuardPolicy, services: Mapping[str, ServiceClient],
             registry: Registry | None, prometheus: PrometheusClient | None, token: str,
             now: Callable[[], float] = time.time) -> Evaluation:
    """One evaluation, and the rollback when the evidence has lasted `failure_limit` evaluations."""
    quality = quality_report(settings.state_path, policy.window, settings.slo.min_precision, settings.slo.min_recall,
                             registry_root=settings.registry_path)
    problems, target = [], ""
    if quality.better:
        problems.append(f"{quality.served} worse than {quality.better} over {policy.window}")
        target = rollback_target(quality.better)
    problems += [f"{quality.served} {floor}" for floor in quality.floors]  # no target: nothing better to serve
    problems += _stalled(settings, services, now())  # no target: another model would not make ticks flow
    burns, measured = _burns(settings, prometheus)
    for name, burn in burns.items():
        if burn > FAST_BURN:
            problems.append(f"{name} budget burning {burn:.0f}x over 5m")
            target = target or fallback(quality.served)
    served = quality.served or _served(services)
    if problems:
        state.failures += 1
        verdict, why = Verdict.FAIL.value, "; ".join(problems)
    elif quality.outcome is Verdict.INCONCLUSIVE and not measured:
        verdict, why = Verdict.INCONCLUSIVE.value, quality.problem or "nothing to judge yet"
    else:
        state.failures = 0
        judged = [f"{served} not worse than its challengers" if quality.outcome is Verdict.PASS
                  else f"quality not judged ({quality.problem})",
                  "error and latency budgets not burning fast" if measured
                  else "budgets not judged (Prometheus not reachable or too little traffic)"]
        verdict, why = Verdict.PASS.value, "; ".join(judged)
    evaluation = Evaluation(utc_iso(now()), verdict, why, served, target, state.failures, "none")
    if verdict != Verdict.FAIL.value or state.failures < policy.failure_limit or not target:
        return evaluation
    if state.last_switch_at is not None and now() - state.last_switch_at < policy.dwell_s:
        evaluation.action = "waiting (dwell)"
        evaluation.detail = f"switched {now() - state.last_switch_at:.0f} s ago; at most one switch per " \
                            f"{policy.dwell_s:.0f} s"
        return evaluation
    return _roll_back(evaluation, state, policy, services, registry, token, now)


def _stalled(settings: Settings, services: Mapping[str, ServiceClient], now: float) -> list[str]:
    """A stream that should flow and does not, as the consume members see it."""
    from volctl.clients.http import get_json
    from volctl.core.monitoring.freshness import expectation, from_members

    expected = expectation(settings)
    members = [client for name, client in services.items() if name.startswith("consume")]
    if not expected.reason or not members:
        return []
    bodies = [get_json(c.name, c.base_url, "/health", timeout_s=1) or {} for c in members]
    found = from_members(bodies, settings.slo.freshness_seconds, expected, now)
    return [f"stream stalled: {'; '.join(found.problems)}"] if found.problems else []


def _roll_back(evaluation: Evaluation, state: GuardState, policy: GuardPolicy,
               services: Mapping[str, ServiceClient], registry: Registry | None, token: str,
               now: Callable[[], float]) -> Evaluation:
    from volctl.core.operations.rollback import execute_rollback, plan_rollback

    if policy.dry_run:
        evaluation.action = "would roll back"
        evaluation.detail = f"volctl rollback --to {evaluation.target} --reason \"guard: {evaluation.why}\""
        return evaluation
    try:
        plan = plan_rollback(services, registry, evaluation.target)
        report = execute_rollback(services, plan, token, f"guard: {evaluation.why}")
    except VolctlError as exc:
        evaluation.action, evaluation.detail = "rollback failed", exc.message
        return evaluation
    if report.ok:
        evaluation.action = "rolled back"
        evaluation.detail = f"both services serve {plan.target.describe()} (change {plan.change_id})"
        state.last_switch_at, state.failures = now(), 0
    else:
        evaluation.action, evaluation.detail = "rollback failed", report.problem
    return evaluation


def _burns(settings: Settings, prometheus: PrometheusClient | None) -> tuple[dict[str, float], bool]:
    """Error-budget burn over 5 minutes of the error and latency objectives; ({}, False) when
    Prometheus cannot be asked or there is no traffic."""
    if prometheus is None:
        return {}, False
    from volctl.core.monitoring.queries import failed_in, latency_quantile, requests_in

    try:
        requests = sum(s.value for s in prometheus.query(requests_in("5m")))
        if requests < settings.slo.min_requests:
            return {}, False
        failed = sum(s.value for s in prometheus.query(failed_in("5m")))
        p95 = max((s.value for s in prometheus.query(latency_quantile(0.95, "5m"))), default=0.0)
    except VolctlError:
        return {}, False
    burns = {"errors": failed / requests / max(settings.slo.error_rate, 1e-9)}
    if p95 > settings.slo.latency_p95_seconds:  # 5 % may be slow: p95 above target burns faster than that
        burns["latency"] = FAST_BURN + 1
    return burns, True


def _served(services: Mapping[str, ServiceClient]) -> str:
    if "predict" not in services:
        return ""
    try:
        answer = services["predict"].get("/version")
        return str(answer.body.get("model", "")) if isinstance(answer.body, dict) else ""
    except VolctlError:
        return ""

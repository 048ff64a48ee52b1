"""`rollback` core against in-memory services (httpx.MockTransport): all or nothing, no stack."""

from __future__ import annotations

import json

import httpx

from volctl.clients.http import ServiceClient
from volctl.core.operations.rollback import execute_rollback, plan_rollback

ML = {"model": "ml", "version": "v1", "sha": "a" * 64}


def _service(name: str, refuse: bool, calls: list[tuple[str, dict]]) -> ServiceClient:
    served = dict(ML)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            return httpx.Response(200, json=served)
        if request.url.path == "/metrics":
            return httpx.Response(200, text=f'volatility_model_info{{variant="{served["model"]}",'
                                            f'version="{served["version"]}"}} 1.0\n')
        body = json.loads(request.content)
        before = {"variant": served["model"], "version": served["version"], "sha": served["sha"]}
        if body.get("dry_run"):  # loads and verifies; an incompatible model is refused only at the swap
            return httpx.Response(200, json={"dry_run": True, "before": before, "after": before})
        calls.append((name, body))
        if refuse and not body["reason"].startswith("automatic revert"):
            return httpx.Response(409, json={"detail": "needs features this build does not compute"})
        served.update(model=body["variant"], version=body["version"])
        return httpx.Response(200, json={"before": before, "after": {"variant": body["variant"],
                                                                      "version": body["version"]}, "changed": True})

    return ServiceClient(name, f"http://{name}", transport=httpx.MockTransport(handle))


def test_a_refusing_consume_switches_predict_back() -> None:
    calls: list[tuple[str, dict]] = []
    services = {"predict": _service("predict", False, calls), "consume": _service("consume", True, calls)}
    plan = plan_rollback(services, None, "baseline")
    assert (plan.target.variant, plan.target.version) == ("baseline", "v1")
    report = execute_rollback(services, plan, "token", "test")
    assert not report.ok and "consume refused" in report.problem
    predict = plan.switches[0]
    assert predict.changed and predict.reverted
    assert [(name, body["variant"]) for name, body in calls] == [("predict", "baseline"), ("consume", "baseline"),
                                                                 ("predict", "ml")]
    assert services["predict"].get("/version").body["model"] == "ml"


def test_both_switch_and_verify() -> None:
    calls: list[tuple[str, dict]] = []
    services = {name: _service(name, False, calls) for name in ("predict", "consume")}
    report = execute_rollback(services, plan_rollback(services, None, "baseline"), "token", "test")
    assert report.ok and all(s.verified for s in report.plan.switches)


def test_a_member_that_cannot_load_the_target_stops_the_change_before_any_swap() -> None:
    calls: list[tuple[str, dict]] = []
    services = {name: _service(name, False, calls) for name in ("predict", "predict-2", "consume", "consume-2")}

    def refuse_to_load(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            return httpx.Response(200, json=ML)
        return httpx.Response(409, json={"detail": "ml v1 here has another sha256"})

    services["consume-2"] = ServiceClient("consume-2", "http://consume-2",
                                          transport=httpx.MockTransport(refuse_to_load))
    report = execute_rollback(services, plan_rollback(services, None, "baseline"), "token", "test")
    assert not report.ok and "consume-2 cannot switch to the target, nothing was switched" in report.problem
    assert calls == [] and all(not s.changed for s in report.plan.switches)
    assert all(services[name].get("/version").body["model"] == "ml" for name in ("predict", "predict-2", "consume"))

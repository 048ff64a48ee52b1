"""`volctl up/health/status/logs/down` as a user runs them: real broker, real Prometheus, real
services on free ports; the first test through the installed `volctl` script, the others through
typer's runner in this process (the same commands, without a Python start-up each)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import ROOT, VOLCTL
from tests.stacks import Stack, _listening, needs_prometheus, on_healthy_stack
from volctl.domain.registry import Registry

pytestmark = pytest.mark.integration
@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path) -> Iterator[Stack]:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed")
    stack = Stack(tmp_path_factory.mktemp("stack"), trained_registry)
    result = stack.run("up", "--demo")
    assert result.returncode == 0, result.stdout + result.stderr
    yield stack
    stack.run("down")


@needs_prometheus
@pytest.mark.e2e
@pytest.mark.slow
def test_up_health_status_down_twice_and_idempotent(tmp_path: Path, trained_registry: Path) -> None:
    stack = Stack(tmp_path / "state", trained_registry)
    stack.process = True  # as a user runs them: the installed script, a process a command
    try:
        for _ in range(2):
            up = stack.run("up", "--json")
            assert up.returncode == 0, up.stdout + up.stderr
            assert re.search(r"starting \[\d+ s\]: starting the broker", up.stderr), up.stderr  # piped: a line a step
            report = json.loads(up.stdout)
            started = [c["name"] for c in report["components"]]  # Prometheus after what it watches
            assert started == ["broker", "incidents", "alertmanager", "predict", "consume", "prometheus"]
            assert {c["action"] for c in report["components"]} == {"started"}
            again = stack.json("up")  # idempotent: nothing new, nothing restarted
            assert {c["action"] for c in again["components"]} == {"running"}
            assert [c["pid"] for c in again["components"]] == [c["pid"] for c in report["components"]]
            if "[slo]" not in stack.config.read_text():  # a changed objective reaches the running Prometheus
                stack.config.write_text(stack.config.read_text() + "\n[slo]\nlatency_p95_seconds = 0.7\n")
                assert stack.json("up")["components"][-1]["pid"] == report["components"][-1]["pid"]
                prometheus = stack.url("prometheus")
                rules = httpx.get(prometheus + "/api/v1/rules").json()["data"]["groups"]
                latency = next(r for g in rules for r in g["rules"] if r["name"] == "PredictLatencyHigh")
                assert latency["query"].endswith("> 0.7"), latency["query"]  # reloaded by SIGHUP
                quit_ = httpx.post(prometheus + "/-/quit")  # no lifecycle API: nobody stops it over HTTP
                assert quit_.status_code != 200 and httpx.get(prometheus + "/-/ready").status_code == 200

            health = stack.health_until(0)
            assert health.returncode == 0, health.stdout + health.stderr
            idle = stack.run("slo", "check", "--window", "1m")  # a fresh stack, nothing offered yet
            assert idle.returncode == 3 and "too little traffic" in idle.stdout, idle.stdout  # no traffic: not "met"
            status = {c["name"]: c for c in stack.json("status")}
            assert all(status[name]["action"] == "running"
                       for name in ("broker", "prometheus", "incidents", "alertmanager", "predict", "consume"))
            assert "memory only" in status["broker"]["detail"]
            latest = Registry(trained_registry).latest()
            recommended = Registry(trained_registry).manifest(latest)["recommended_variant"]
            assert status["predict"]["detail"] == f"model {recommended} {latest}"  # model.variant = auto

            stopped = stack.json("down")
            assert [o["name"] for o in stopped][:3] == ["guard", "replay", "prometheus"]  # before what it watches
            assert {o["name"]: o["how"] for o in stopped} == {
                "guard": "not running", "replay": "not running", "prometheus": "stopped", "consume": "stopped",
                "predict": "stopped", "alertmanager": "stopped", "incidents": "stopped", "broker": "stopped"}
            assert not any(_listening(port) for port in stack.ports.values())
            assert not list((stack.state / "run").glob("*.pid"))
    finally:  # a failed check leaves no stack behind (a no-op after the last down)
        stack.run("down")
    assert stack.run("health").returncode == 3  # nothing answers: could not check


@needs_prometheus
@pytest.mark.e2e
def test_a_port_taken_by_another_program_is_reported_before_anything_starts(tmp_path: Path,
                                                                           trained_registry: Path) -> None:
    stack = Stack(tmp_path / "state", trained_registry)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", stack.ports["predict"]))
        squatter.listen()
        result = stack.run("up")
    assert result.returncode == 3
    assert f"port {stack.ports['predict']} for predict is taken" in result.stderr
    assert "hint: stop that process, or set predict.port" in result.stderr
    assert "Traceback" not in result.stderr
    assert all(c["action"] == "down" for c in stack.json("status"))


def test_killed_predict_fails_health_by_name_and_up_brings_it_back(running_stack: Stack) -> None:
    assert running_stack.health_until(0).returncode == 0
    predict = next(c for c in running_stack.json("status") if c["name"] == "predict")
    os.kill(predict["pid"], signal.SIGKILL)
    result = running_stack.health_until(1)
    assert result.returncode == 1
    assert "unhealthy: predict /health" in result.stdout
    # status says what happened (issue 38: "predict down, pid -"): how, when, and its log's end
    dead = next(c for c in running_stack.json("status") if c["name"] == "predict")
    assert dead["action"] == "down" and dead["pid"] == predict["pid"], dead
    assert dead["ended"]["how"] == "killed by SIGKILL" and dead["ended"]["signal"] == "SIGKILL"
    assert dead["ended"]["ago_s"] < 120 and dead["ended"]["log"], dead
    shown = " ".join(running_stack.run("status").stdout.split())
    assert f"predict ended {dead['ended']['at']}" in shown and "killed by SIGKILL; its log ends:" in shown, shown
    back = {c["name"]: c["action"] for c in running_stack.json("up", "--demo")["components"]}
    assert back == {"broker": "running", "prometheus": "running", "incidents": "running", "alertmanager": "running",
                    "predict": "started", "consume": "running", "replay": "running"}
    assert running_stack.health_until(0).returncode == 0


@on_healthy_stack
def test_prometheus_scrapes_both_services_and_rules_load(healthy_stack: Stack) -> None:
    running_stack = healthy_stack  # the shared one (tests/stacks.py)
    rules = running_stack.state / "prometheus" / "rendered" / "prometheus" / "rules.yml"
    check = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        targets = httpx.get(running_stack.url("prometheus") + "/api/v1/targets").json()["data"]["activeTargets"]
        if {t["labels"]["job"]: t["health"] for t in targets} == {"predict": "up", "consume": "up"}:
            break
        time.sleep(0.5)
    assert {t["labels"]["job"]: t["health"] for t in targets} == {"predict": "up", "consume": "up"}
    loaded = httpx.get(running_stack.url("prometheus") + "/api/v1/rules").json()["data"]["groups"]
    from volctl.core.monitoring import alert_rules
    from volctl.domain.settings import SloSettings

    expected = len(alert_rules.recordings(SloSettings())) + len(alert_rules.alerts(SloSettings()))
    assert sum(len(g["rules"]) for g in loaded) == expected


def test_every_promql_expression_of_rules_and_dashboard_returns_data(running_stack: Stack) -> None:
    from volctl.core.monitoring import alert_rules
    from volctl.domain.settings import SloSettings

    rendered = running_stack.state / "prometheus" / "rendered"
    rules = yaml.safe_load((rendered / "prometheus" / "rules.yml").read_text())
    dashboard = json.loads((rendered / "grafana" / "dashboards" / "volctl.json").read_text())
    catalogue = alert_rules.every_expression(SloSettings())
    alerts = {a.condition for a in alert_rules.alerts(SloSettings())}
    in_files = [r.get("expr") for g in rules["groups"] for r in g["rules"]]
    in_files += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert all(expr in catalogue.values() or expr in alerts for expr in in_files)  # nothing hand-written

    # The drift panels show the newest drift report, which the consume service exports.
    data = ROOT.parent / "shared" / "data"
    drift = running_stack.run("drift", "report",
                              "--reference", str(data / "btcusd_2025-12-01_advtrade_ticker_10min.ndjson"),
                              "--current", str(data / "btc_eth_2026-04-03_flat.ndjson"))
    assert drift.returncode in (0, 1), drift.stdout + drift.stderr
    row = {"rows": [{name: 0.1 for name in httpx.get(running_stack.url("predict") + "/version").json()["features"]}]}
    deadline = time.monotonic() + 60
    missing = dict(catalogue)
    while missing and time.monotonic() < deadline:
        for _ in range(20):  # traffic for the latency and rate expressions
            httpx.post(running_stack.url("predict") + "/predict", json=row)
        for name, expr in list(missing.items()):
            answer = httpx.get(running_stack.url("prometheus") + "/api/v1/query", params={"query": expr}).json()
            assert answer["status"] == "success", f"{name}: {answer}"  # parses
            if answer["data"]["result"]:
                del missing[name]
        time.sleep(1)
    assert not missing, f"no data for: {sorted(missing)}"


@on_healthy_stack
def test_logs_show_each_component(healthy_stack: Stack) -> None:
    running_stack = healthy_stack
    result = running_stack.run("logs", "consume", "-n", "5")
    assert result.returncode == 0 and "volctl.consume" in result.stdout
    assert running_stack.run("logs", "nonsense").returncode == 2


def test_compose_file_is_valid(tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (make test installs it where apt works)")
    # The compose files are for containers, each on its own default port: rendered from the defaults.
    env = {**{k: v for k, v in os.environ.items() if k != "VOLCTL_CONFIG"},
           "VOLCTL_RENDER_DIR": str(tmp_path / "compose")}
    render = subprocess.run([VOLCTL, "render", "--flavour", "compose", "--out", str(tmp_path / "compose")],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert render.returncode == 0, render.stderr
    result = subprocess.run(["docker-compose", "-f", "compose.yaml", "config"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(config["services"]) == {"kafka", "model-init", "predict", "consume", "prometheus", "alertmanager",
                                       "incidents", "grafana"}
    assert all("healthcheck" in config["services"][s]
               for s in ("kafka", "predict", "consume", "prometheus", "alertmanager", "incidents"))
    # consume replicas each take a free host port of a range (a fixed port would stop `--scale consume=3`)
    assert "8001-8009:8001" in str(config["services"]["consume"]["ports"][0])
    prometheus = yaml.safe_load((tmp_path / "compose" / "prometheus" / "prometheus.yml").read_text())
    # Every replica of a scaled service is found by DNS, so `--scale consume=3` needs no edit
    discovered = {c["job_name"]: (c["dns_sd_configs"][0]["names"], c["dns_sd_configs"][0]["port"])
                  for c in prometheus["scrape_configs"]}
    assert discovered == {"predict": (["predict"], 8000), "consume": (["consume"], 8001)}
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    alertmanager = tmp_path / "compose" / "alertmanager" / "alertmanager.yml"
    assert "http://incidents:9095/alerts" in alertmanager.read_text()
    if shutil.which("amtool"):
        check = subprocess.run(["amtool", "check-config", str(alertmanager)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    promtool = shutil.which("promtool")
    if promtool:
        check = subprocess.run([promtool, "check", "config", "--syntax-only",
                                str(tmp_path / "compose" / "prometheus" / "prometheus.yml")],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.unit
def test_up_trains_a_model_first_only_when_the_registry_is_empty(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The wiring of `up`'s first step (training itself is test_training's): with no version it trains
    on the configured data (here the synthetic source) and names the version; with one, nothing."""
    from types import SimpleNamespace

    import volctl.core.model.dataset as dataset
    import volctl.core.model.training as training
    from volctl.core.operations.stack import _ensure_model
    from volctl.domain.settings import load_settings

    asked: list[object] = []
    monkeypatch.setattr(dataset, "load_dataset", lambda paths, *_a, **_k: asked.append(paths) or "rows")
    monkeypatch.setattr(training, "train_model", lambda rows, registry, **_k: SimpleNamespace(
        version=f"20261207-000000-synthetic from {rows} into {registry.root}"))
    registry = tmp_path / "registry"
    settings = load_settings(env={}, overrides={"model.registry_dir": str(registry), "data.dir": "synthetic"})
    progress: list[str] = []
    assert _ensure_model(settings, progress.append) == f"20261207-000000-synthetic from rows into {registry}"
    assert asked == [None] and "the synthetic source" in progress[0]
    version = registry / "20261207-000000-synthetic"
    version.mkdir(parents=True)
    (version / "manifest.json").write_text("{}")
    assert _ensure_model(settings, progress.append) is None and asked == [None]  # a version: nothing trained


@pytest.mark.unit
def test_logs_names_the_components_in_the_order_the_stack_starts_them() -> None:
    from volctl.cli.stack import COMPONENTS
    from volctl.core.operations.stack_processes import ORDER

    assert COMPONENTS == ORDER


def test_up_goes_on_when_the_recorded_model_left_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every service started on the configured model (the recorded one no longer loads): `up` says
    so and does not fail; a choice it cannot check at all (a service that does not answer) fails it."""
    from volctl.core.operations import rollback, stack
    from volctl.domain.errors import Unreachable
    from volctl.domain.registry import ModelNotFound
    from volctl.domain.settings import load_settings

    settings = load_settings(env={}, overrides={"state_dir": str(tmp_path)})
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "served.json").write_text(json.dumps({"variant": "ml", "version": "gone"}))
    for error, ok in ((ModelNotFound("model gone not found"), True), (Unreachable("predict did not answer"), False)):
        def refuse(*_args: object, error: Exception = error) -> None:
            raise error

        monkeypatch.setattr(rollback, "align_to_choice", refuse)
        report = stack.UpReport()
        stack._align_models(settings, report, lambda _message: None)
        assert report.aligned_ok is ok, report
        assert ("not in the registry any more" if ok else "could not check the served models") in report.aligned

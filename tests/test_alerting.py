"""Issue 26: alerts reach a person. Alertmanager's rendered config checked by amtool; volctl's
receiver as a real process; `volctl alerts` merging Alertmanager and Prometheus; and end to end on a
running stack: a consume service stopped -> the alert reaches the receiver through Alertmanager ->
`volctl alerts` exits 1 and names the runbook -> restart -> resolved, both ends in the timeline."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import ROOT, free_port, wait_for_http, write_config
from tests.stacks import Stack, needs_prometheus
from volctl.clients.alertmanager import AlertmanagerClient
from volctl.clients.prometheus import PrometheusClient
from volctl.core.monitoring import alert_rules
from volctl.core.monitoring.alerts import alerts_report
from volctl.core.monitoring.runbooks import find_runbook
from volctl.domain.clock import epoch_of_rfc3339
from volctl.domain.errors import ConfigError
from volctl.domain.incidents import MAX_NOTIFICATION_BYTES, BadNotification, entries_of, incidents_of, receiver_secret
from volctl.domain.settings import load_settings
from volctl.domain.verdict import Verdict
from volctl.reports.monitoring import render_monitoring

needs_alertmanager = pytest.mark.skipif(shutil.which("prometheus-alertmanager") is None
                                        and shutil.which("alertmanager") is None,
                                        reason="prometheus-alertmanager is not installed")


TOKEN = "an-admin-token-for-the-tests-0123456789"


def _notification(status: str, name: str = "ConsumerDown", starts: str = "2026-12-06T07:17:30.702Z",
                  ends: str = "0001-01-01T00:00:00Z") -> dict:
    """The body Alertmanager 0.25 posts to a webhook (version 4)."""
    return {"version": "4", "groupKey": f'{{}}:{{alertname="{name}"}}', "status": status, "receiver": "page",
            "groupLabels": {"alertname": name}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
            "alerts": [{"status": status, "labels": {"alertname": name, "severity": "page", "objective": name},
                        "annotations": {"summary": "no consume member answers",
                                        "runbook": "volctl runbook run consumer-lag"},
                        "startsAt": starts, "endsAt": ends, "generatorURL": "", "fingerprint": "5ed27bbb1dcf8e29"}]}


# -- the timeline --------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "reason"), [
    ([], "not_an_object"), ({"alerts": []}, "not_alertmanager"), ({"version": "4", "alerts": {}}, "not_alertmanager"),
    ({"version": "4", "alerts": [{"status": "odd"}]}, "bad_alert"), ({"version": "4", "alerts": [1]}, "bad_alert")])
def test_what_is_not_a_notification_is_refused_with_its_reason(body: object, reason: str) -> None:
    with pytest.raises(BadNotification) as refused:
        entries_of(body, 0.0)
    assert refused.value.reason == reason


def test_a_firing_then_a_repeat_then_a_resolution_are_one_incident() -> None:
    entries = [*entries_of(_notification("firing"), 100.0), *entries_of(_notification("firing"), 400.0),
               *entries_of(_notification("resolved", ends="2026-12-06T07:18:51.702Z"), 500.0)]
    assert [e["status"] for e in entries] == ["firing", "firing", "resolved"]
    assert entries[0]["runbook"] == "volctl runbook run consumer-lag" and entries[0]["severity"] == "page"
    [incident] = incidents_of(entries)
    assert incident.alertname == "ConsumerDown" and incident.notified_at == 100.0
    assert incident.resolved_notified_at == 500.0 and incident.lasted_s == pytest.approx(81.0)
    again = incidents_of([*entries, *entries_of(_notification("firing", starts="2026-12-06T09:00:00Z"), 900.0)])
    assert len(again) == 2 and again[1].resolved_at is None and again[1].lasted_s is None


def test_an_outage_counts_from_the_first_pending_evaluation_not_from_the_firing() -> None:
    fired = entries_of(_notification("firing"), 100.0)
    resolved = entries_of(_notification("resolved", ends="2026-12-06T07:18:51.702Z"), 500.0)
    [guessed] = incidents_of([*fired, *resolved])
    guessed.pending_s = 60.0  # the rule's `for`, when Prometheus did not say
    assert guessed.lasted_s == pytest.approx(141.0)
    fired[0]["active_at"] = "2026-12-06T07:16:25.000Z"  # what Prometheus's alerts API said as it fired
    [told] = incidents_of([*fired, *resolved])
    told.pending_s = 60.0
    assert told.lasted_s == pytest.approx(146.702) and told.since_epoch == epoch_of_rfc3339("2026-12-06T07:16:25Z")


# -- the rendered config, checked by amtool ------------------------------------------------------


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool (prometheus-alertmanager) is not installed")
@pytest.mark.parametrize("receivers", [{}, {
    "alertmanager.webhook_urls": ["https://pager.example/hook"], "alertmanager.slack_api_url": "https://hooks.slack.example/x",
    "alertmanager.email_to": "oncall@example.com"}])
def test_the_rendered_alertmanager_config_passes_amtool_and_routes_by_severity(tmp_path: Path,
                                                                                receivers: dict) -> None:
    settings = load_settings(env={}, overrides={"state_dir": str(tmp_path), **receivers})
    config = render_monitoring(settings, "embedded", tmp_path / "rendered").alertmanager_config
    checked = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for labels, receiver in ((["severity=page"], "page"), (["severity=ticket"], "ticket"), ([], "volctl")):
        routed = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={config}", *labels],
                                capture_output=True, text=True)
        assert routed.stdout.strip() == receiver, routed.stdout + routed.stderr
    text = config.read_text()
    assert text.count(f"http://127.0.0.1:{settings.alertmanager.receiver_port}/alerts") == 3  # every receiver
    assert ("pager.example" in text and "slack_configs" in text and "email_configs" in text) == bool(receivers)


def test_rendering_again_rewrites_only_what_changed(tmp_path: Path) -> None:
    settings = load_settings(env={}, overrides={"state_dir": str(tmp_path)})
    first = render_monitoring(settings, "embedded", tmp_path / "rendered")
    assert first.prometheus_changed and first.alertmanager_changed and first.changed == frozenset(first.all())
    again = render_monitoring(settings, "embedded", tmp_path / "rendered")
    assert again.changed == frozenset() and not again.prometheus_changed and not again.alertmanager_changed
    slower = load_settings(env={}, overrides={"state_dir": str(tmp_path), "alertmanager.group_wait": "30s"})
    moved = render_monitoring(slower, "embedded", tmp_path / "rendered")
    assert moved.changed == {moved.alertmanager_config} and not moved.prometheus_changed


def test_the_embedded_alertmanager_gets_credentials_that_stay_put_until_the_token_changes(tmp_path: Path) -> None:
    import bcrypt

    from volctl.domain.incidents import alertmanager_password
    from volctl.domain.model_admin import TOKEN_FILE

    (tmp_path / TOKEN_FILE).write_text("t" * 40)
    settings = load_settings(env={}, overrides={"state_dir": str(tmp_path)})
    first = render_monitoring(settings, "embedded", tmp_path / "rendered")
    password = alertmanager_password("t" * 40)
    hashed = yaml.safe_load(first.alertmanager_web.read_text())["basic_auth_users"]["volctl"]
    assert bcrypt.checkpw(password.encode(), hashed.encode()) and password not in first.alertmanager_web.read_text()
    sent = yaml.safe_load(first.prometheus_config.read_text())["alerting"]["alertmanagers"][0]["basic_auth"]
    assert sent == {"username": "volctl", "password": password}
    assert render_monitoring(settings, "embedded", tmp_path / "rendered").changed == frozenset()  # a salted hash kept
    (tmp_path / TOKEN_FILE).write_text("u" * 40)
    rotated = render_monitoring(settings, "embedded", tmp_path / "rendered")
    assert rotated.alertmanager_web in rotated.changed and rotated.prometheus_changed
    assert render_monitoring(settings, "compose", tmp_path / "compose").alertmanager_web is None
    refused = AlertmanagerClient("http://am:9093", transport=httpx.MockTransport(lambda _r: httpx.Response(401)))
    with pytest.raises(ConfigError, match="refused volctl's credentials"):
        refused.silences()


def test_a_fire_drill_scales_every_hold_and_nothing_else(tmp_path: Path) -> None:
    def holds(scale: float) -> dict[str, str]:
        settings = load_settings(env={}, overrides={"state_dir": str(tmp_path), "prometheus.alert_hold_scale": scale})
        rules = yaml.safe_load(render_monitoring(settings, "embedded", tmp_path / str(scale)).rules.read_text())
        return {r["alert"]: r["for"] for g in rules["groups"] for r in g["rules"] if "alert" in r}

    normal, drill = holds(1.0), holds(0.1)
    assert normal["ConsumerDown"] == "1m" and drill["ConsumerDown"] == "6s"
    assert normal["AlertLiftCollapsed"] == "30m" and drill["AlertLiftCollapsed"] == "180s"
    assert set(normal) == set(drill)
    with pytest.raises(ConfigError, match=r"prometheus\.alert_hold_scale"):
        load_settings(env={"VOLCTL_PROMETHEUS_ALERT_HOLD_SCALE": "0"})


def test_a_page_inhibits_the_ticket_of_its_own_objective() -> None:
    burns = {a.name: a for a in alert_rules.burn_alerts(load_settings(env={}).slo)}
    assert burns["SloBurnErrors1h"].labels["objective"] == burns["SloBurnErrors1d"].labels["objective"] == "errors"
    assert burns["SloBurnErrors1h"].severity == "page" and burns["SloBurnErrors1d"].severity == "ticket"


def test_every_alert_names_an_existing_runbook_and_runbook_run_takes_the_alert_name() -> None:
    catalogue = alert_rules.alerts(load_settings(env={}).slo)
    by_alert = {a.name: a.runbook for a in catalogue}
    for alert in catalogue:
        assert alert.summary and alert.severity in ("page", "ticket")
        assert find_runbook(alert.name, by_alert=by_alert).name == alert.runbook
    with pytest.raises(ConfigError):
        find_runbook("NoSuchAlert", by_alert=by_alert)


def test_alertmanager_settings_are_checked_for_meaning() -> None:
    for key, value in (("alertmanager.webhook_urls", "ftp://x"), ("alertmanager.slack_api_url", "http://x"),
                       ("alertmanager.email_to", "nobody"), ("alertmanager.group_wait", "soon"),
                       # issue 41: a newline ends a mail header; Alertmanager runs Go templates at send time
                       ("alertmanager.slack_channel", "#ops\nx"), ("alertmanager.slack_channel", '{{ template "x" }}'),
                       ("alertmanager.email_from", "a@b\nBcc: c@d"), ("alertmanager.email_to", "{{ .x }}@d")):
        with pytest.raises(ConfigError, match=key):
            load_settings(env={}, overrides={key: value})


# -- `volctl alerts` over stubbed APIs (the merge), then for real below ---------------------------


def _api(routes: dict[str, object]) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json=routes[request.url.path]))


def test_the_report_merges_what_alertmanager_holds_with_what_prometheus_evaluates(tmp_path: Path) -> None:
    down = {"alertname": "ServiceDown", "severity": "page", "objective": "ServiceDown", "member": "consume-2"}
    lag = {"alertname": "ConsumerLagHigh", "severity": "page", "objective": "ConsumerLagHigh"}
    stale = {"alertname": "StreamStale", "severity": "ticket", "objective": "StreamStale"}
    manager = AlertmanagerClient("http://am:9093", transport=_api({
        "/api/v2/alerts": [
            {"labels": down, "annotations": {"summary": "s", "runbook": "volctl runbook run startup"},
             "startsAt": "2026-12-06T07:17:30.702Z",
             "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}},
            {"labels": stale, "annotations": {}, "startsAt": "2026-12-06T07:10:00Z",
             "status": {"state": "suppressed", "silencedBy": ["abc"], "inhibitedBy": []}}],
        "/api/v2/silences": [{"id": "abc", "matchers": [{"name": "alertname", "value": "StreamStale", "isEqual": True}],
                              "status": {"state": "active"}, "endsAt": "2026-12-06T08:10:00Z",
                              "createdBy": "me@host", "comment": "known"}]}))
    prometheus = PrometheusClient("http://prom:9090", transport=_api({"/api/v1/alerts": {"status": "success", "data": {
        "alerts": [{"labels": down, "state": "firing", "value": "0e+00", "activeAt": "2026-12-06T07:16:30Z"},
                   {"labels": lag, "state": "pending", "value": "4.2e+01", "activeAt": "2026-12-06T07:20:00Z",
                    "annotations": {"summary": "lag"}}]}}}))
    report = alerts_report(manager, prometheus, alert_rules.alerts(load_settings(env={}).slo), tmp_path)
    assert [(a.name, a.state, a.value) for a in report.alerts] == [
        ("ServiceDown", "firing", 0.0), ("ConsumerLagHigh", "pending", 42.0), ("StreamStale", "silenced", None)]
    assert report.alerts[0].since == "2026-12-06T07:17:30Z" and report.alerts[0].labels["member"] == "consume-2"
    assert report.alerts[1].runbook == "volctl runbook run consumer-lag"  # from the catalogue
    assert report.silences[0].matchers == "alertname=StreamStale" and report.outcome is Verdict.FAIL

    def refused(_request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    gone = alerts_report(AlertmanagerClient("http://am:9093", transport=httpx.MockTransport(refused)), prometheus,
                         (), tmp_path)
    assert gone.outcome is Verdict.ERROR and "did not answer" in gone.problem
    # Prometheus down, nothing held: "no alert fires" cannot be known (issue 41: it exited 0)
    quiet = AlertmanagerClient("http://am:9093", transport=_api({"/api/v2/alerts": [], "/api/v2/silences": []}))
    blind = alerts_report(quiet, PrometheusClient("http://prom:9090", transport=httpx.MockTransport(refused)),
                          (), tmp_path)
    assert blind.outcome is Verdict.ERROR and blind.problem.startswith("Prometheus, which evaluates the rules")
    still = alerts_report(manager, PrometheusClient("http://prom:9090", transport=httpx.MockTransport(refused)),
                          (), tmp_path)
    assert still.outcome is Verdict.FAIL  # what Alertmanager holds firing still fires


# -- the receiver, a real process ----------------------------------------------------------------


@contextmanager
def running_receiver(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The receiver as `volctl up` runs it (its log on stderr), stopped with SIGTERM afterwards."""
    port = free_port()
    config = write_config(tmp_path / "volctl.toml", {"state_dir": str(tmp_path / "state"), "admin_token": TOKEN})
    process = subprocess.Popen([sys.executable, "-m", "services.incidents", "--config", str(config), "--port",
                                str(port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", process=process)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with running_receiver(tmp_path) as (process, url):
        yield url, tmp_path / "state" / "incidents"
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


def test_the_receiver_keeps_notifications_and_refuses_and_counts_the_rest(receiver: tuple[str, Path]) -> None:
    url, folder = receiver
    alertmanager = httpx.Client(headers={"Authorization": f"Bearer {receiver_secret(TOKEN)}"}, timeout=5)
    assert alertmanager.post(url + "/alerts", json=_notification("firing")).status_code == 200
    assert alertmanager.post(url + "/alerts", json=_notification("resolved")).status_code == 200
    assert alertmanager.post(url + "/alerts", content=b"{not json").json()["reason"] == "not_json"
    assert alertmanager.post(url + "/alerts", json={"alerts": []}).status_code == 400
    big = alertmanager.post(url + "/alerts", content=b"x" * (MAX_NOTIFICATION_BYTES + 1))
    assert big.status_code == 413
    # issue 41: anyone could post a page; only the stack's Alertmanager has the token now
    for forged in ({}, {"Authorization": "Bearer guess"}, {"Authorization": f"Bearer {TOKEN}"}):
        refused = httpx.post(url + "/alerts", json=_notification("firing", name="PredictLatencyHigh"), headers=forged)
        assert refused.status_code == 401 and refused.json()["reason"] == "unauthorized"
    metrics = httpx.get(url + "/metrics", timeout=5).text
    for line in ('volatility_incident_notifications_total{status="firing"} 1.0',
                 'volatility_incident_notifications_total{status="resolved"} 1.0',
                 'volatility_incident_rejected_total{reason="not_json"} 1.0',
                 'volatility_incident_rejected_total{reason="size"} 1.0',
                 'volatility_incident_rejected_total{reason="unauthorized"} 3.0'):
        assert line in metrics
    lines = [json.loads(line) for path in sorted(folder.glob("timeline-*.jsonl"))
             for line in path.read_text().splitlines()]
    assert [(e["status"], e["alertname"], e["value"]) for e in lines] == [
        ("firing", "ConsumerDown", None), ("resolved", "ConsumerDown", None)]  # Prometheus is not running: unknown


# -- end to end ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alerting_stack(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path) -> Iterator[Stack]:
    # A fire drill: notifications at once and holds a tenth as long (the default waits, 10 s, a
    # minute between a group's updates and ConsumerDown's minute, are for people).
    stack = Stack(tmp_path_factory.mktemp("alerting"), trained_registry,
                  {"alertmanager.group_wait": "1s", "alertmanager.group_interval": "1s",
                   "prometheus.alert_hold_scale": 0.1})
    result = stack.run("up", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    yield stack
    stack.run("down")


def _timeline(stack: Stack) -> list[dict]:
    return [json.loads(line) for path in sorted((stack.state / "incidents").glob("timeline-*.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]


def _alertmanager_auth(stack: Stack) -> tuple[str, str]:
    """The credentials `volctl up` gave the stack's Alertmanager (from its admin token)."""
    from volctl.domain.incidents import ALERTMANAGER_USER, alertmanager_password
    from volctl.domain.model_admin import TOKEN_FILE

    return ALERTMANAGER_USER, alertmanager_password((stack.state / TOKEN_FILE).read_text().strip())


def _last_reloads(stack: Stack) -> tuple[float, float]:
    """When Prometheus and Alertmanager last read their config, from their own metrics."""
    found = []
    for port, name, auth in (
            (stack.ports["prometheus"], "prometheus_config_last_reload_success_timestamp_seconds", None),
            (stack.ports["alertmanager"], "alertmanager_config_last_reload_success_timestamp_seconds",
             _alertmanager_auth(stack))):
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, auth=auth).text
        found.append(float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " "))))
    return found[0], found[1]


def _until(condition, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"{what} within {timeout_s:.0f} s")


@needs_prometheus
@needs_alertmanager
@pytest.mark.slow
def test_a_stopped_consumer_pages_through_alertmanager_and_resolves_on_restart(alerting_stack: Stack) -> None:
    stack = alerting_stack
    quiet = stack.run("alerts")
    assert quiet.returncode == 0, quiet.stdout
    health = stack.run("health")
    assert "alertmanager ready" in health.stdout and "Prometheus sends to it" in health.stdout, health.stdout
    pid = json.loads((stack.state / "run" / "consume.pid").read_text())["pid"]
    started = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    def firing() -> dict | None:
        result = stack.run("alerts", "--json")
        document = json.loads(result.stdout)
        names = {a["name"]: a for a in document["alerts"] if a["state"] == "firing"}
        return document if result.returncode == 1 and "ConsumerDown" in names else None

    document = _until(firing, 150, "ConsumerDown firing in `volctl alerts` (exit 1)")
    fired_s = time.monotonic() - started
    down = next(a for a in document["alerts"] if a["name"] == "ConsumerDown")
    assert down["runbook"] == "volctl runbook run consumer-lag" and down["severity"] == "page"
    assert down["shown"] == "0 of 1 consume members up", down  # the value with its unit
    _until(lambda: any(e["alertname"] == "ConsumerDown" and e["status"] == "firing" for e in _timeline(stack)), 30,
           "the firing notification in the timeline")
    reached_s = time.monotonic() - started
    shown = stack.run("alerts")
    assert "ConsumerDown" in shown.stdout and "volctl runbook run consumer-lag" in shown.stdout
    # One failure, one page: ServiceDown{job="consume"} fires too, held back by ConsumerDown.
    states = _until(lambda: {a["name"]: a["state"] for a in json.loads(stack.run("alerts", "--json").stdout)["alerts"]
                             if a["name"] == "ServiceDown" and a["state"] != "pending"} or None, 60,
                    "ServiceDown for the dead member, past pending")
    assert states == {"ServiceDown": "inhibited"}, states
    time.sleep(3)  # a group_wait (1 s) and more: a notification that was going out has reached the receiver
    pages = [e["alertname"] for e in _timeline(stack) if e["status"] == "firing"]
    assert pages == ["ConsumerDown"], pages
    health = stack.run("health")  # keeps the stream's rows, from the broker, and says what to do
    text = " ".join(health.stdout.split())
    assert health.returncode == 1 and "stream freshness │ FAIL" in text and "no prediction" in text, text
    assert "next: `volctl status` shows how consume ended and `volctl logs consume` its last lines" in text

    # issue 41: anyone on the machine could POST a silence to Alertmanager (the CLI only checked that a
    # token was set); its API now takes volctl's credentials only, checked by Alertmanager itself
    forged = {"matchers": [{"name": "alertname", "value": ".+", "isRegex": True, "isEqual": True}],
              "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2126-01-01T00:00:00Z", "createdBy": "x", "comment": "x"}
    silences = stack.url("alertmanager") + "/api/v2/silences"
    assert httpx.post(silences, json=forged, timeout=5).status_code == 401
    assert httpx.post(silences, json=forged, timeout=5, auth=("volctl", "a guess")).status_code == 401
    assert httpx.get(silences, timeout=5).status_code == 401  # what is silenced is not public either
    assert json.loads(stack.run("alerts", "--json").stdout)["silences"] == []
    # `--for 100y` was taken; longer than alertmanager.max_silence needs --force
    century = stack.run("alerts", "silence", "ServiceDown", "--for", "100y", "--reason", "x")
    assert century.returncode == 3 and "longer than alertmanager.max_silence (7d)" in century.stdout + century.stderr
    silenced = stack.run("alerts", "silence", "ServiceDown", "--for", "10m", "--reason", "restarting consume")
    assert silenced.returncode == 0, silenced.stdout + silenced.stderr
    states = {a["name"]: a["state"] for a in json.loads(stack.run("alerts", "--json").stdout)["alerts"]}
    assert states.get("ServiceDown") in ("silenced", "inhibited", None)  # held back, or resolved already

    reloads = _last_reloads(stack)
    restarted = time.monotonic()
    assert stack.run("up").returncode == 0
    # Nothing changed, so nothing reloads: after a reload Prometheus has no Alertmanager for a few
    # seconds, and a resolution sent then waited a minute for its resend.
    assert _last_reloads(stack) == reloads
    _until(lambda: any(e["alertname"] == "ConsumerDown" and e["status"] == "resolved" for e in _timeline(stack)), 60,
           "the resolved notification in the timeline")
    resolved_s = time.monotonic() - restarted
    after = json.loads(stack.run("alerts", "--json").stdout)
    incident = next(i for i in after["incidents"] if i["alertname"] == "ConsumerDown")
    assert incident["resolved_at"] and incident["value"] == 0.0  # no member answered: sum(up) was 0
    assert incident["shown"] == "0 of 1 consume members up", incident
    # The outage counts from the first pending evaluation (Prometheus's activeAt), a `for` before it fired.
    held_s = 0.1 * 60  # ConsumerDown's minute at this stack's alert_hold_scale
    since, fired = epoch_of_rfc3339(incident["since"]), epoch_of_rfc3339(incident["started_at"])
    assert incident["active_at"] and since is not None and fired is not None and fired - since >= held_s - 1, incident
    assert incident["lasted_s"] == pytest.approx(epoch_of_rfc3339(incident["resolved_at"]) - since, abs=1), incident
    assert "since (UTC)" in stack.run("alerts").stdout
    silence_id = next(s["id"] for s in after["silences"])
    lifted = stack.run("alerts", "unsilence", silence_id, "--json")
    assert lifted.returncode == 0 and json.loads(lifted.stdout) == {"unsilenced": silence_id,
                                                                    "matchers": "alertname=ServiceDown"}
    audit = (stack.state / "incidents" / "actions.jsonl").read_text().splitlines()
    actions = [json.loads(line)["action"] for line in audit]
    assert actions == ["silence", "unsilence"]
    # Prometheus gone, nothing held: whether an alert fires cannot be known (exit 3, not "no alert fires")
    from volctl.clients.processes import Supervisor

    Supervisor(stack.state).stop("prometheus", 10)
    blind = stack.run("alerts")
    assert blind.returncode == 3 and "cannot tell whether an alert fires" in blind.stdout, blind.stdout
    print(f"\nkill -> firing in `volctl alerts`: {fired_s:.0f} s; -> in the timeline: {reached_s:.0f} s; "
          f"`volctl up` -> resolved in the timeline: {resolved_s:.0f} s")


@needs_prometheus
@needs_alertmanager
@pytest.mark.e2e
def test_without_the_alertmanager_binary_the_stack_starts_and_says_so(tmp_path: Path, trained_registry: Path) -> None:
    stack = Stack(tmp_path / "state", trained_registry, {"alertmanager.bin": "no-such-alertmanager"})
    try:
        result = stack.run("up", "--json", PATH=f"{Path(sys.executable).parent}:{_path_without_alertmanager()}")
        assert result.returncode == 0, result.stdout + result.stderr
        states = {c["name"]: c for c in json.loads(result.stdout)["components"]}
        assert states["alertmanager"]["action"] == "not installed"
        assert "apt-get install prometheus-alertmanager" in states["alertmanager"]["detail"]
        assert "incidents" not in states
    finally:
        stack.run("down")


def _path_without_alertmanager() -> str:
    """A folder for PATH with prometheus in it and no Alertmanager under either name."""
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"volctl-path-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    link = folder / "prometheus"
    if not link.exists():
        link.symlink_to(shutil.which("prometheus") or "/usr/bin/prometheus")
    return str(folder)


def test_a_forged_alert_can_neither_drive_the_terminal_nor_suggest_a_command(tmp_path: Path) -> None:
    """Issue 41, point 4: an alert name holding ESC[2J, an OSC title, CR or newline was printed raw; a
    forged one suggested "run: volctl down --yes; rm -rf /"; one with more than 50 labels showed "unnamed"."""
    hostile = "PredictLatencyHigh\x1b[2J\x1b]0;owned\x07\r\nX"
    body = _notification("firing", name=hostile)
    body["alerts"][0]["annotations"]["runbook"] = "volctl down --yes; rm -rf /"
    body["alerts"][0]["labels"] = {**{f"l{i}": "v" for i in range(60)}, **body["alerts"][0]["labels"]}
    [entry] = entries_of(body, 1.0)
    assert entry["alertname"] == "PredictLatencyHigh\\x1b[2J\\x1b]0;owned\\x07\\r\\nX"
    assert entry["alertname"].isprintable() and len(entry["labels"]) <= 53
    forged = {**entry, "alertname": "ConsumerDown", "fingerprint": "another"}
    (tmp_path / "timeline-0001.jsonl").write_text(json.dumps(entry) + "\n" + json.dumps(forged) + "\n")
    empty = AlertmanagerClient("http://am:9093", transport=_api({"/api/v2/alerts": [], "/api/v2/silences": []}))
    prometheus = PrometheusClient("http://prom:9090", transport=_api({"/api/v1/alerts": {
        "status": "success", "data": {"alerts": []}}}))
    report = alerts_report(empty, prometheus, alert_rules.alerts(load_settings(env={}).slo), tmp_path)
    runs = {i.alertname: i.runbook for i in report.incidents}
    assert runs == {entry["alertname"]: "", "ConsumerDown": "volctl runbook run consumer-lag"}  # the catalogue's


def test_tail_shows_a_hostile_key_and_body_as_escapes() -> None:
    from volctl.clients.kafka import Message
    from volctl.core.operations.topics import KEY_SHOWN, TailedMessage

    message = Message("ticks.raw", 0, 1, 0, b"\x1b[2J" + b"k" * 10_000, b'"\x1b]0;owned\x07"')
    shown = TailedMessage.of(message)
    assert shown.key is not None and shown.key.startswith("\\x1b[2J") and len(shown.key) <= KEY_SHOWN + 3
    assert shown.value == '"\\x1b]0;owned\\x07"'  # not JSON (a raw control character): shown as text


@pytest.mark.integration
def test_clients_that_break_off_write_a_line_not_a_traceback_each(tmp_path: Path) -> None:
    """Issue 41, point 5: each reset connection wrote about 300 B of traceback to incidents.log,
    outside the log's summary; now one line, and a burst of them one summary."""
    import socket
    import struct

    with running_receiver(tmp_path) as (process, url):
        port = int(url.rsplit(":", 1)[1])
        for _ in range(50):  # a partial request, then a reset (SO_LINGER 0)
            with socket.create_connection(("127.0.0.1", port)) as client:
                client.sendall(b"POST /alerts HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        time.sleep(1)
        assert httpx.get(url + "/health", timeout=5).status_code == 200
    log = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in log, log[:2000]
    assert 1 <= log.count("broke off") <= 2, log[:2000]  # the first, then "[x 49 more in the last ...]"


def test_slow_clients_hold_at_most_a_bounded_pool_and_the_rest_are_told_busy(tmp_path: Path) -> None:
    """Issue 41, point 2: 3,000 connections each sending half a `GET /health` made 1,639 threads in
    consume (the same server class as here), which stopped answering for 15 minutes. Now at most
    MAX_CLIENTS threads serve; the others get a counted 503 at once, and it answers once they go."""
    import socket

    from volctl.domain.http_server import MAX_CLIENTS

    with running_receiver(tmp_path) as (process, url):
        port = int(url.rsplit(":", 1)[1])
        slow, answers = [], []
        try:
            for _ in range(MAX_CLIENTS + 40):
                client = socket.create_connection(("127.0.0.1", port), timeout=5)
                client.sendall(b"GET /health HTTP/1.1\r\n")  # and nothing more
                slow.append(client)
            time.sleep(1)
            threads = len(os.listdir(f"/proc/{process.pid}/task"))
            assert threads <= MAX_CLIENTS + 8, threads
            for client in slow[MAX_CLIENTS + 5:]:  # the ones over the cap were answered and closed
                client.settimeout(5)
                answers.append(client.recv(200))
        finally:
            for client in slow:
                client.close()
        assert answers and all(a.startswith(b"HTTP/1.0 503 ") for a in answers), answers[:3]
        deadline = time.monotonic() + 30
        while (reply := httpx.get(url + "/health", timeout=5)).status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert reply.status_code == 200
        metrics = httpx.get(url + "/metrics", timeout=5).text
        series = 'volatility_incident_rejected_total{reason="busy"}'
        busy = next(line for line in metrics.splitlines() if line.startswith(series))
        assert float(busy.split()[-1]) >= len(answers), busy

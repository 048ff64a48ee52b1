"""Issue 26, point 5: every alert rule volctl renders is proven under `promtool test rules`: it
fires on a synthetic series of its incident within its `for:`, and stays silent on a healthy one.
The cases come from the catalogue (volctl/core/monitoring/alert_proofs.py), so a new alert without a proof
fails here, and so does a rule that cannot fire."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from volctl.core.monitoring import alert_rules
from volctl.core.monitoring.alert_proofs import death_cases, deaths, promtool_cases, proofs
from volctl.domain.settings import SloSettings, load_settings
from volctl.reports.monitoring import render_monitoring


def test_every_alert_of_the_catalogue_has_a_proof() -> None:
    names = {alert.name for alert in alert_rules.alerts(SloSettings())}
    assert names == set(proofs(SloSettings())), names ^ set(proofs(SloSettings()))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
@pytest.mark.integration
def test_every_rendered_alert_fires_on_its_incident_and_stays_silent_when_healthy(tmp_path: Path) -> None:
    settings = load_settings(env={})
    files = render_monitoring(settings, "embedded", tmp_path / "rendered")
    cases = promtool_cases(settings.slo)
    spec = {"rule_files": [str(files.rules)], "evaluation_interval": "1m", "tests": cases}
    test_file = tmp_path / "alerts_test.yml"
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(cases) == 2 * len(alert_rules.alerts(settings.slo))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
@pytest.mark.integration
def test_a_rule_that_cannot_fire_fails_its_proof(tmp_path: Path) -> None:
    """The proof is not a formality: a rule over a metric nobody exports fails it."""
    settings = load_settings(env={})
    files = render_monitoring(settings, "embedded", tmp_path / "rendered")
    broken = files.rules.read_text().replace("volatility_consumer_lag_seconds", "volatility_consumer_lag_typo")
    files.rules.write_text(broken)
    case = next(c for c in promtool_cases(settings.slo) if c["name"] == "ConsumerLagHigh: fires on its incident")
    test_file = tmp_path / "alerts_test.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": [str(files.rules)], "evaluation_interval": "1m",
                                         "tests": [case]}, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True)
    assert result.returncode != 0 and "ConsumerLagHigh" in result.stdout + result.stderr


# -- one failure, one page: each component killed ---------------------------------------------------


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
@pytest.mark.integration
def test_each_killed_component_fires_exactly_its_alerts(tmp_path: Path) -> None:
    settings = load_settings(env={})
    files = render_monitoring(settings, "embedded", tmp_path / "rendered")
    spec = {"rule_files": [str(files.rules)], "evaluation_interval": "1m", "tests": death_cases(settings.slo)}
    test_file = tmp_path / "deaths_test.yml"
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _alertmanager() -> str | None:
    return shutil.which(load_settings(env={}).alertmanager.bin) or shutil.which("alertmanager")


@pytest.mark.skipif(_alertmanager() is None, reason="Alertmanager is not installed")
@pytest.mark.integration
@pytest.mark.parametrize("component", sorted(deaths(SloSettings())))
def test_each_killed_component_pages_once_through_the_real_alertmanager(tmp_path: Path, component: str) -> None:
    """What fires when a component dies (proved above by promtool) goes to Alertmanager with the
    rendered config; its inhibitions leave one page (none for the broker: a ticket)."""
    from tests.conftest import free_port

    settings = load_settings(env={}, overrides={"state_dir": str(tmp_path)})
    files = render_monitoring(settings, "embedded", tmp_path / "rendered")
    port = free_port()
    process = subprocess.Popen([str(_alertmanager()), f"--config.file={files.alertmanager_config}",
                                f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                "--cluster.listen-address="], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/v2/alerts"
    catalogue = {a.name: a for a in alert_rules.alerts(settings.slo)}
    death = deaths(settings.slo)[component]
    sent = [{"labels": {"alertname": name, **catalogue[name].labels, **labels},
             "annotations": {**catalogue[name].annotations, "value": value}}
            for name, (labels, value) in death.firing.items()]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.post(url, json=sent, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "Alertmanager did not start"
            time.sleep(0.2)
        held = httpx.get(url, timeout=5).json()
        groups = httpx.get(url + "/groups", timeout=5).json()
    finally:
        process.terminate()
        process.wait(10)
    assert len(held) == len(sent)
    # a page is a group of the page receiver with an alert not inhibited: one notification (and its updates)
    pages = sorted(group["labels"].get("objective", "") for group in groups if group["receiver"]["name"] == "page"
                   and any(a["status"]["state"] == "active" for a in group["alerts"]))
    assert tuple(pages) == death.pages, groups

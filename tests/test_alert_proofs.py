"""Issue 26, point 5: every alert rule volctl renders is proven under `promtool test rules`: it
fires on a synthetic series of its incident within its `for:`, and stays silent on a healthy one.
The cases come from the catalogue (volctl/core/alert_proofs.py), so a new alert without a proof
fails here, and so does a rule that cannot fire."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from volctl.core import queries
from volctl.core.alert_proofs import promtool_cases, proofs
from volctl.domain.settings import SloSettings, load_settings
from volctl.reports.monitoring import render_monitoring


def test_every_alert_of_the_catalogue_has_a_proof() -> None:
    names = {alert.name for alert in queries.alerts(SloSettings())}
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
    assert len(cases) == 2 * len(queries.alerts(settings.slo))


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

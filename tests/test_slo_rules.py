"""The generated SLO rules under `promtool test rules`: burn-rate alerts fire on synthetic series
that burn the budget, and stay quiet on healthy ones."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from volctl.core.monitoring import alert_rules
from volctl.domain.settings import SloSettings, load_settings
from volctl.reports.monitoring import render_monitoring

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
OK = 'volatility_api_requests_total{endpoint="/predict",method="POST",status="200"}'
FAILED = 'volatility_api_requests_total{endpoint="/predict",method="POST",status="500"}'


def _alert(name: str, value: str) -> dict:
    alert = next(a for a in alert_rules.alerts(SloSettings()) if a.name == name)
    return {"exp_labels": {"alertname": name, **alert.labels}, "exp_annotations": {**alert.annotations, "value": value}}


def _promtool_test(tmp_path: Path, cases: list[dict]) -> subprocess.CompletedProcess[str]:
    files = render_monitoring(load_settings(env={}), "embedded", tmp_path / "rendered")
    spec = {"rule_files": [str(files.rules)], "evaluation_interval": "1m", "tests": cases}
    test_file = tmp_path / "slo_test.yml"
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    return subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True)


def test_fast_error_burn_pages_and_healthy_traffic_stays_quiet(tmp_path: Path) -> None:
    burning = {  # half the requests fail for 80 minutes: 50x the 1 % budget
        "interval": "1m",
        "input_series": [{"series": OK, "values": "0+30x80"}, {"series": FAILED, "values": "0+30x80"},
                         {"series": 'up{job="predict",instance="p"}', "values": "1x80"}],
        "alert_rule_test": [
            {"eval_time": "75m", "alertname": "SloBurnErrors1h",
             "exp_alerts": [_alert("SloBurnErrors1h", "50% bad over 1h (limit 14.40%)")]},
            {"eval_time": "75m", "alertname": "SloBurnAvailability1h",  # failed requests are unavailability
             "exp_alerts": [_alert("SloBurnAvailability1h", "50% bad over 1h (limit 1.44%)")]},
            {"eval_time": "75m", "alertname": "SloBurnErrors3d",
             "exp_alerts": [_alert("SloBurnErrors3d", "50% bad over 3d (limit 1.00%)")]},
        ],
    }
    healthy = {  # 0.5 % errors: inside a 1 % budget, so no burn alert of any window
        "interval": "1m",
        "input_series": [{"series": OK, "values": "0+199x80"}, {"series": FAILED, "values": "0+1x80"},
                         {"series": 'up{job="predict",instance="p"}', "values": "1x80"}],
        "alert_rule_test": [{"eval_time": "75m", "alertname": name, "exp_alerts": []}
                            for name in ("SloBurnErrors1h", "SloBurnErrors6h", "SloBurnErrors3d",
                                         "SloBurnAvailability1h", "PredictErrorRateHigh")],
    }
    result = _promtool_test(tmp_path, [burning, healthy])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_dead_service_pages_service_down_and_no_burn(tmp_path: Path) -> None:
    down = {  # scrapes fail for 80 minutes and no request succeeds: one page (ServiceDown), not a burn too
        "interval": "1m",
        "input_series": [{"series": 'up{job="predict",instance="p"}', "values": "0x80"}],
        "alert_rule_test": [
            {"eval_time": "75m", "alertname": "ServiceDown", "exp_alerts": [{
                **_alert("ServiceDown", "predict at p not scraped (up 0)"),
                "exp_labels": {"alertname": "ServiceDown", "job": "predict", "instance": "p",
                               **_alert("ServiceDown", "")["exp_labels"]}}]},
            {"eval_time": "75m", "alertname": "SloBurnAvailability1h", "exp_alerts": []},
            {"eval_time": "75m", "alertname": "SloBurnErrors1h", "exp_alerts": []},  # no requests, no errors
        ],
    }
    result = _promtool_test(tmp_path, [down])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_error_rate_chart_has_a_gap_where_no_request_came(tmp_path: Path) -> None:
    """The SLO page drew minutes without requests as an error rate of 0 %, as if measured."""
    from volctl.core.monitoring.objectives import trends

    expr = trends(SloSettings(), "5m")["errors"]
    case = {"interval": "1m",
            "input_series": [{"series": OK, "values": "0+54x10 540x20 540+54x10"},  # requests, none, requests
                             {"series": FAILED, "values": "0+6x10 60x20 60+6x10"}],
            "promql_expr_test": [{"expr": expr, "eval_time": "25m", "exp_samples": []},  # no request: no value
                                 {"expr": expr, "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": 0.1}]}]}
    result = _promtool_test(tmp_path, [case])
    assert result.returncode == 0, result.stdout + result.stderr

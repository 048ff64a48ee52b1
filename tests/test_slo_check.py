"""`volctl slo check` against the real Prometheus of a running stack, healthy and with faults."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.stacks import HEALTHY_SETTINGS, Stack, on_healthy_stack, on_slow_stack

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")]


def _drive(stack: Stack, rps: float, seconds: float) -> int:
    """`volctl load` at a fixed rate with real rows; returns how many requests it sent."""
    result = stack.run("load", "--rps", str(rps), "--duration", f"{seconds:g}s", "--json", timeout=120)
    assert result.returncode in (0, 1), result.stderr  # 1: the load's own SLO checks failed (faults)
    time.sleep(3)  # two more scrapes and rule evaluations at 1 s
    return json.loads(result.stdout)["sent"]


@contextmanager
def stack_up(tmp_path: Path, registry: Path, **env: str) -> Iterator[Stack]:
    """A stack with SLO targets a test's modest load can meet; `env` reaches the services `up` starts."""
    stack = Stack(tmp_path / "state", registry, HEALTHY_SETTINGS)
    result = stack.run("up", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        yield stack
    finally:
        stack.run("down")


@pytest.mark.e2e
@on_healthy_stack
def test_slo_check_meets_objectives_under_load(healthy_stack: Stack, tmp_path: Path) -> None:
    stack = healthy_stack
    sent = _drive(stack, rps=25, seconds=15)
    # 15 s, not 1 m: Prometheus starts before the services, so its first scrapes of them failed,
    # and a window holding those would rightly count them as unavailability.
    result = stack.run("slo", "check", "--window", "15s", "--json", "--explain")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["rows"]}
    assert report["verdict"] == "pass" and report["requests"] >= 0.5 * sent
    assert rows["throughput (best 15s)"]["measured"] > 5
    assert rows["error rate"]["measured"] == 0 and rows["error rate"]["budget"]["remaining"] == 1
    assert 0 < rows["latency p95"]["measured"] < 0.8
    assert any("histogram_quantile(0.95" in line for line in rows["latency p95"]["explain"])
    page = tmp_path / "slo.html"
    assert stack.run("slo", "check", "--window", "15s", "--html", str(page)).returncode == 0
    text = page.read_text()
    assert 'class="pass">pass<' in text and "<polyline" in text and "<script" not in text  # self-contained
    health = stack.run("load", "--endpoint", "health", "--rps", "50", "--duration", "1s", "--json")
    probe = json.loads(health.stdout)
    assert probe["sent"] == 50 and probe["ok"] == 50 and probe["server_p95_ms"] is None


@pytest.mark.e2e
@on_slow_stack
def test_injected_errors_and_slowness_breach_the_slos(slow_stack: Stack) -> None:
    stack = slow_stack  # 900 ms and 30 % errors injected into predict (tests/stacks.py)
    _drive(stack, rps=25, seconds=12)
    result = stack.run("slo", "check", "--window", "1m", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["rows"]}
    assert rows["error rate"]["verdict"] == "fail" and 0.15 < rows["error rate"]["measured"] < 0.45
    assert rows["availability"]["verdict"] == "fail"
    assert rows["latency p95"]["verdict"] == "fail" and rows["latency p95"]["measured"] > 0.8
    assert rows["error rate"]["burn_rates"]["1h"] > 14.4  # a page-worthy burn, over the minutes held
    # a stack minutes old holds no hour of data: every burn window says so instead of a number
    document = json.loads(result.stdout)
    assert 0 < document["data_span_s"] < 3600 and document["burn_windows_beyond_data"] == ["1h", "6h", "1d", "3d"]
    human = stack.run("slo", "check", "--window", "1m")
    assert human.returncode == 1 and "SLO breached: latency p95, error rate, availability" in human.stdout
    text = " ".join(human.stdout.split())
    assert "-/-/-/-" in text and "burn over 1h, 6h, 1d, 3d: not shown: Prometheus holds" in text, text


def test_prometheus_unreachable_exits_3_naming_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tests.conftest import free_port
    from volctl.cli.app import app

    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["slo", "check"], env={"VOLCTL_PROMETHEUS_URL": url, "NO_COLOR": "1"})
    assert result.exit_code == 3 and f"Prometheus at {url} did not answer" in result.output
    assert "Traceback" not in result.output

"""Runbooks: every shipped one checks against the real CLI, broken ones fail the check, and
`runbook run high-latency` follows its decisions on a real stack, healthy and slow."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, VOLCTL
from tests.stacks import Stack, on_healthy_stack, on_slow_stack
from volctl.core.monitoring import alert_rules
from volctl.core.monitoring.runbook_run import answered_alerts
from volctl.core.monitoring.runbooks import check_runbook, list_runbooks, parse_runbook
from volctl.domain.incidents import Incident
from volctl.domain.settings import SloSettings

needs_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")
SHIPPED = {"startup", "shutdown", "health-check", "high-latency", "error-spike", "consumer-lag", "data-drift",
           "model-rollback", "broker-outage", "full-restart"}


def _volctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VOLCTL, *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "160"})


def test_every_shipped_runbook_checks_and_every_alert_names_one() -> None:
    runbooks = {r.name: r for r in list_runbooks()}
    assert set(runbooks) >= SHIPPED
    for runbook in runbooks.values():
        assert runbook.summary and runbook.steps, runbook.name
        assert check_runbook(runbook, _check_command) == [], runbook.name
    assert {alert.runbook for alert in alert_rules.alerts(SloSettings())} <= set(runbooks)
    result = _volctl("runbook", "check")
    checked = [line for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert result.returncode == 0 and len(checked) == len(runbooks)


def test_a_broken_runbook_fails_the_check(tmp_path: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text(
        "# Broken\nWhen to use: never.\n"
        "## 1. Unknown command\n```volctl\nvolctl frobnicate --now\n```\n- exit 0 -> step 2\n"
        "## 2. Unknown option\n```volctl\nvolctl slo check --windw 5m\n```\n- exit 1 -> step 7\n"
        "## 3. Not volctl\n```volctl\nrm -rf /\n```\n- exit 2 -> maybe later\n")
    problems = check_runbook(parse_runbook(broken), _check_command)
    text = "\n".join(problems)
    assert "volctl has no command `volctl frobnicate`" in text
    assert "--windw" in text
    assert "goes to step 7, which does not exist" in text
    assert "steps run volctl commands only" in text and "'maybe later' is not" in text
    result = _volctl("runbook", "check", str(broken))
    assert result.returncode == 1 and "FAIL broken" in result.stdout
    assert _volctl("runbook", "run", str(broken)).returncode == 3  # refuses to run a broken runbook
    assert _volctl("runbook", "show", "nope").returncode == 3


def test_decisions_follow_exit_codes(tmp_path: Path) -> None:
    runbook = tmp_path / "r.md"
    runbook.write_text("# R\n## 1. A\n```volctl\nvolctl health\n```\n- exit 0, 1 → step 2\n- exit 3 -> done: down\n"
                       "## 2. B\n```volctl\nvolctl rollback --to baseline\n```\n")
    steps = parse_runbook(runbook).steps
    assert steps[0].decide(1).step == 2 and steps[0].decide(3).kind == "done" and steps[0].decide(4).kind == "stop"
    assert steps[1].mutating and steps[1].decide(0).kind == "next"


def test_a_runbook_that_silences_asks_first_and_check_says_which_steps_change_state(tmp_path: Path) -> None:
    """Issue 41: "Routine health check" ran `alerts silence ConsumerDown --for 100y` without asking
    (only rollback and down asked), and `runbook check` called it ok."""
    runbook = tmp_path / "routine.md"
    runbook.write_text("# Routine health check\n## 1. Quiet\n```volctl\nvolctl alerts silence ConsumerDown --for 100y "
                       "--reason x\n```\n## 2. Look\n```volctl\nvolctl health\n```\n")
    steps = parse_runbook(runbook).steps
    assert steps[0].mutating and not steps[1].mutating
    assert not parse_runbook(ROOT / "runbooks" / "health-check.md").steps[0].mutating
    checked = _volctl("runbook", "check", str(runbook))
    assert "changes state: step 1: volctl alerts silence ConsumerDown --for 100y" in checked.stdout, checked.stdout
    ran = _volctl("runbook", "run", str(runbook))  # no TTY, no --yes: asks, so stops before the silence
    assert ran.returncode == 1 and "declined" in ran.stdout, ran.stdout


@needs_prometheus
@pytest.mark.integration
@pytest.mark.e2e
@on_healthy_stack
def test_high_latency_on_a_healthy_stack_stops_at_nothing_to_do(healthy_stack: Stack) -> None:
    stack = healthy_stack
    result = stack.run("runbook", "run", "high-latency", "--json", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    run = json.loads(result.stdout)
    assert run["outcome"] == "done" and run["message"] == "healthy, nothing to do"
    assert [s["number"] for s in run["steps"]][-1] in (2, 3)  # never reached the rollback
    assert Path(run["record"]).is_file() and Path(run["record"]).with_suffix(".json").is_file()


@needs_prometheus
@pytest.mark.integration
@pytest.mark.e2e
@on_slow_stack
@pytest.mark.slow
def test_high_latency_with_injected_slowness_reaches_the_rollback(slow_stack: Stack) -> None:
    # ml served and slow (and failing: tests/stacks.py): the runbook's way out is the baseline rule
    stack = slow_stack
    declined = stack.run("runbook", "run", "high-latency", timeout=180)  # no TTY, no --yes: asks, so stops
    assert declined.returncode == 1 and "declined" in declined.stdout
    result = stack.run("runbook", "run", "high-latency", "--yes", timeout=240)
    assert result.returncode == 1, result.stdout + result.stderr  # slow on the baseline too: escalate
    assert "$ volctl rollback --to baseline --reason" in result.stdout
    assert "still slow on the baseline" in result.stdout
    records = sorted((stack.state / "incidents").glob("*-high-latency.json"))
    assert len(records) == 2
    run = json.loads(records[-1].read_text())
    rollback = next(s for s in run["steps"] if s["number"] == 5)
    assert rollback["exit_code"] == 0 and "every service serves baseline" in rollback["output"]
    assert run["outcome"] == "stop"
    assert "## Step 5. Roll back to the baseline rule" in records[-1].with_suffix(".md").read_text()
    # run by hand while no alert fired (the timeline is empty): the record says so
    assert run["alerts"] == [] and "answers: no alert (run by hand" in result.stdout


def test_the_record_names_the_alerts_that_started_the_run() -> None:
    runbook = parse_runbook(ROOT / "runbooks" / "consumer-lag.md")
    firing = Incident("ConsumerDown", "page", "f1", "no consume member answers", "volctl runbook run consumer-lag",
                      "2026-12-07T16:02:17Z", 0.0, shown="0 of 1 consume members up", pending_s=6.0)
    resolved = Incident("ConsumerLagHigh", "page", "f2", "", "volctl runbook run consumer-lag",
                        "2026-12-07T15:00:00Z", 40.0, resolved_at="2026-12-07T15:05:00Z")
    other = Incident("PredictLatencyHigh", "page", "f3", "", "volctl runbook run high-latency",
                     "2026-12-07T16:00:00Z", 2.0)
    said = ["ConsumerDown since 2026-12-07T16:02:11Z: 0 of 1 consume members up"]
    assert answered_alerts("consumer-lag", runbook, [resolved, firing, other]) == said
    assert answered_alerts("ConsumerDown", runbook, [firing]) == said
    assert answered_alerts("ConsumerLagHigh", runbook, [resolved]) == [
        "ConsumerLagHigh (named on the command line; not firing as far as the timeline knows)"]


def _check_command(argv: list[str]) -> str | None:
    """The CLI's own command check against the real root command."""
    import typer

    from volctl.cli.app import app
    from volctl.cli.runbook import command_problem

    return command_problem(argv, typer.main.get_command(app))

"""Issue 24: a stalled stream reads healthy. Freshness is judged whenever a stream should flow."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.stacks import Stack, needs_prometheus
from volctl.core.monitoring.freshness import Expectation, from_members
from volctl.domain.verdict import Verdict

NOW = 1_800_000_000.0
REPLAY = Expectation("the stack's replay runs (pid 1)", 600.0)


def test_a_stream_that_should_flow_and_does_not_fails() -> None:
    fresh = from_members([{"last_tick_at": NOW - 2, "last_prediction_at": NOW - 2.5}], 30, REPLAY, NOW)
    assert fresh.outcome is Verdict.PASS and "newest tick 2.0 s ago" in fresh.detail()
    # two members: one idle (owns no product's partition), one fresh: the stream flows
    idle = from_members([{"last_tick_at": None}, {"last_tick_at": NOW - 1, "last_prediction_at": NOW - 1}],
                        30, REPLAY, NOW)
    assert idle.outcome is Verdict.PASS
    stale = from_members([{"last_tick_at": NOW - 200, "last_prediction_at": NOW - 200}], 30, REPLAY, NOW)
    assert stale.outcome is Verdict.FAIL and "newest tick 200 s old (limit 30 s)" in stale.detail()
    never = from_members([{}], 30, REPLAY, NOW)
    assert never.outcome is Verdict.FAIL and "no tick since the consume service started" in never.detail()


def test_nothing_running_is_not_judged_and_a_starting_source_is_not_a_stall() -> None:
    quiet = from_members([{"last_tick_at": NOW - 900}], 30, Expectation(), NOW)
    assert quiet.outcome is Verdict.PASS and "not judged: no source is running" in quiet.detail()
    starting = from_members([{}], 30, Expectation("the stack's replay runs (pid 1)", 5.0), NOW)
    assert starting.outcome is Verdict.PASS and "(starting)" in starting.detail()


def test_lag_is_never_ok_on_a_stream_that_should_flow_and_does_not() -> None:
    from volctl.core.operations.lag import ERR, OK, LagInputs, Observation

    class Reader:
        bootstrap = "127.0.0.1:9092"

    history = [{0: Observation(NOW + i, 500, 500, NOW)} for i in range(3)]  # caught up: nothing new
    inputs = LagInputs(Reader(), "g", "ticks.raw", dict, lambda: None, REPLAY, 30.0)  # type: ignore[arg-type]
    stalled = inputs.judge(history, 30.0, 412.0)
    assert stalled.status == ERR and "newest prediction 412 s old" in stalled.stream_problem
    assert inputs.judge(history, 30.0, None).status == ERR  # no prediction at all while a replay runs
    assert inputs.judge(history, 30.0, 3.0).status == OK
    quiet = LagInputs(Reader(), "g", "ticks.raw", dict, lambda: None, Expectation(), 30.0)  # type: ignore[arg-type]
    assert quiet.judge(history, 30.0, None).status == OK  # nothing should flow: caught up is OK


@needs_prometheus
@pytest.mark.integration
@pytest.mark.e2e
def test_a_frozen_replay_fails_health_lag_and_slo_check_then_recovers(tmp_path: Path, trained_registry: Path) -> None:
    """The replay process is alive ("running" in status) but sends nothing (SIGSTOP): health, lag
    and slo check say the stream stalled; once it sends again, health is back to 0."""
    stack = Stack(tmp_path / "state", trained_registry, {"slo.freshness_seconds": 8})
    assert stack.run("up", "--demo").returncode == 0
    try:
        assert stack.health_until(0).returncode == 0
        replay = next(c for c in stack.json("status") if c["name"] == "replay")
        os.kill(replay["pid"], signal.SIGSTOP)
        try:
            health = stack.health_until(1, timeout_s=90)
            assert health.returncode == 1 and "stream freshness" in health.stdout, health.stdout
            assert "STALE" in stack.run("health", "--json").stdout
            lag = stack.run("lag", "--window", "2", "--json")
            assert lag.returncode == 1 and json.loads(lag.stdout)["stream_problem"], lag.stdout
            deadline = time.monotonic() + 60
            while True:  # Prometheus sees it once it has scraped the stale gauge
                slo = stack.run("slo", "check", "--window", "1m", "--json")
                rows = {r["name"]: r for r in json.loads(slo.stdout)["rows"]}
                if rows.get("freshness", {}).get("verdict") == "fail" or time.monotonic() > deadline:
                    break
                time.sleep(2)
            assert rows["freshness"]["verdict"] == "fail" and slo.returncode == 1, rows.get("freshness")
        finally:
            os.kill(replay["pid"], signal.SIGCONT)
        assert stack.health_until(0, timeout_s=60).returncode == 0
    finally:
        stack.run("down")

"""Issue 12 against the real broker: future ticks in the DLQ, few duplicates after a broker
restart, and an ingest that says how far it got when the broker dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.streaming import StreamEnv, read_topic, source_keys, wait_until_covered

pytestmark = pytest.mark.integration
FLAT = "btc_eth_2026-04-03_flat.ndjson"


def test_a_tick_from_the_future_goes_to_the_dlq(stream_env: StreamEnv) -> None:
    from kafka import KafkaProducer

    stream_env.start_consume()
    now = time.time()
    tick = {"product_id": "BTC-USD", "price": "90000", "best_bid": "89999", "best_ask": "90001"}
    times = [now - 20 + i for i in range(10)] + [now + 10 * 365 * 86400] + [now - 9 + i for i in range(5)]
    producer = KafkaProducer(bootstrap_servers=stream_env.bootstrap)
    for ts in times:
        producer.send(stream_env.topics["raw"], key=b"BTC-USD", value=orjson.dumps({**tick, "time": ts}))
    producer.flush()
    producer.close()
    metrics = stream_env.wait_processed(len(times))
    assert metrics['volatility_consumer_errors_total{error_type="future"}'] == 1
    dead = [orjson.loads(r.value) for r in read_topic(stream_env.bootstrap, stream_env.topics["dlq"])]
    assert [d["reason"] for d in dead] == ["future"] and dead[0]["source"]["offset"] == 10
    assert len(read_topic(stream_env.bootstrap, stream_env.topics["predictions"])) == 15


@pytest.mark.slow
def test_a_broker_restart_duplicates_at_most_what_was_in_flight(tmp_path: Path, trained_registry: Path,
                                                                  shared_data: Path) -> None:
    from tests.conftest import start_test_broker
    from volctl.core.operations.broker import start_broker

    broker = start_test_broker(tmp_path / "broker")
    env = StreamEnv(broker.bootstrap, broker.port, "dups", tmp_path / "state", trained_registry)
    try:
        env.start_consume()
        assert env.ingest("--replay", str(shared_data / FLAT), "--speed", "0", "--limit", "200").returncode == 0
        env.wait_processed(200)
        broker.supervisor.stop("broker")
        deadline = time.monotonic() + 20
        while httpx.get(env.consume_url + "/health").json()["broker"]["reachable"] and time.monotonic() < deadline:
            time.sleep(0.2)
        start_broker(broker.settings, broker.supervisor)  # memory only: it comes back empty
        deadline = time.monotonic() + 30
        while not httpx.get(env.consume_url + "/health").json()["broker"]["reachable"] \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert env.ingest("--replay", str(shared_data / FLAT), "--speed", "0", "--limit", "2500").returncode == 0
        raw_keys, covered = wait_until_covered(broker.bootstrap, env.topics, timeout_s=90)
        assert len(raw_keys) == 2500 and covered == raw_keys
        time.sleep(8)  # a re-read after a failed commit would show up here
        keys = source_keys(read_topic(broker.bootstrap, env.topics["predictions"]))
        duplicates = len(keys) - len(set(keys))
        print(f"duplicates after a broker restart: {duplicates} of {len(set(keys))}")
        assert duplicates <= 500, f"{duplicates} of 2500 ticks predicted twice"  # at most one poll in flight
    finally:
        env.stop()
        broker.supervisor.stop("broker")


def test_ingest_says_how_far_it_got_when_the_broker_dies(tmp_path: Path, trained_registry: Path) -> None:
    from tests.conftest import start_test_broker

    broker = start_test_broker(tmp_path / "broker")
    env = StreamEnv(broker.bootstrap, broker.port, "dies", tmp_path / "state", trained_registry)
    ingest = subprocess.Popen([str(Path(sys.executable).parent / "volctl"), "ingest", "--synthetic", "--rate", "300",
                               "--duration", "120", "--outage", "5", "--json"], env=env.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        from volctl.clients.kafka import list_topics

        deadline = time.monotonic() + 30  # ticks are flowing once the topic exists
        while env.topics["raw"] not in list_topics(broker.bootstrap) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)
    finally:
        os.kill(broker.supervisor.record("broker").pid, signal.SIGKILL)  # the broker dies
    stdout, stderr = ingest.communicate(timeout=100)  # before the fix: exit 4 after ~80 s, no summary
    broker.supervisor.stop("broker")
    assert ingest.returncode == 3, stderr
    assert "went away" in stderr and "acknowledged" in stderr and "Traceback" not in stderr, stderr
    summary = json.loads(stdout)
    assert summary["sent"] > 0 and summary["stopped_early"]


@pytest.mark.slow
def test_ingest_carries_on_through_a_broker_restart_and_loses_nothing(tmp_path: Path, trained_registry: Path) -> None:
    """Issue 24: after `kill -9` of the broker and a restart, the replay stayed "running" with 0
    messages delivered for minutes (InitProducerId UnknownError for good). Now sending pauses while
    the broker is away, a new producer resends what was refused, and the run ends with nothing lost."""
    from tests.conftest import start_test_broker
    from volctl.clients.kafka import ensure_topics, list_topics
    from volctl.core.operations.broker import start_broker

    broker = start_test_broker(tmp_path / "broker")
    env = StreamEnv(broker.bootstrap, broker.port, "restart", tmp_path / "state", trained_registry)
    ingest = subprocess.Popen([str(Path(sys.executable).parent / "volctl"), "ingest", "--synthetic", "--rate", "100",
                               "--duration", "25", "--json"], env=env.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while env.topics["raw"] not in list_topics(broker.bootstrap) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)
        os.kill(broker.supervisor.record("broker").pid, signal.SIGKILL)
        time.sleep(4)
        start_broker(broker.settings, broker.supervisor)  # memory only: it comes back empty
        ensure_topics(broker.bootstrap, env.topics.values(), 3)
        stdout, stderr = ingest.communicate(timeout=120)
        assert ingest.returncode == 0, stderr
        summary = json.loads(stdout)
        assert summary["failed"] == 0 and summary["resent"] > 0 and summary["sent"] >= 2500, summary
        after = read_topic(broker.bootstrap, env.topics["raw"])  # the restarted broker's messages only
        assert len(after) > 0.2 * summary["sent"], (len(after), summary)
    finally:
        if ingest.poll() is None:
            ingest.kill()
        broker.supervisor.stop("broker")


def test_consume_is_ok_only_once_it_owns_partitions(stream_env: StreamEnv) -> None:
    stream_env.start_consume()
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = httpx.get(stream_env.consume_url + "/health")
        body = reply.json()
        seen.append((reply.status_code, body["status"], body["assigned_partitions"]))
        if reply.status_code == 200:
            break
        time.sleep(0.05)
    assert seen[-1][0] == 200 and seen[-1][1] == "ok"
    assert all(partitions > 0 for code, _, partitions in seen if code == 200), seen
    assert all(status in ("unhealthy", "starting") for code, status, _ in seen[:-1]), seen
    assert len(seen) > 1, "the join was not observed at all"  # before the fix: "ok" with 0 partitions


def _processes_using(state: Path) -> list[int]:
    """Pids whose command line names this state directory (Prometheus gets it in its flags)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(state) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(__import__("shutil").which("prometheus") is None, reason="prometheus is not installed")
@pytest.mark.e2e
def test_concurrent_ups_leave_no_orphan(tmp_path: Path, trained_registry: Path) -> None:
    from tests.conftest import VOLCTL
    from tests.stacks import Stack, _listening

    stack = Stack(tmp_path / "state", trained_registry)
    env = {**__import__("os").environ, "VOLCTL_CONFIG": str(stack.config), "NO_COLOR": "1"}
    ups = [subprocess.Popen([VOLCTL, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for _ in range(3)]
    outputs = [up.communicate(timeout=180) for up in ups]
    try:
        assert [up.returncode for up in ups] == [0, 0, 0], outputs
        assert any("waiting for `volctl up`" in err for _, err in outputs), outputs  # the others said whom
        status = stack.json("status")
        assert all(c["action"] == "running" for c in status if c["name"] not in ("replay", "guard")), status
    finally:
        down = stack.run("down")
    assert down.returncode == 0, down.stdout + down.stderr
    for name in ("prometheus", "predict", "consume", "kafka"):
        assert not _listening(stack.ports[name]), f"{name} still listens after down"  # before: an orphan
    assert _processes_using(stack.state) == []

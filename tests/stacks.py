"""Stacks for the tests: a config with every port from the test process's block, commands through the
CLI, and the shared stacks by profile (one healthy stack, one slow one), each started once in
the one worker their tests are grouped on (`xdist_group`), left as healthy as it was found."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import own_ports, volctl, write_config

needs_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")


class Stack:
    """A stack's config and state: every port from this process's block, `settings` (dotted keys) on top."""

    def __init__(self, state: Path, registry: Path, settings: dict[str, object] | None = None) -> None:
        self.state = state
        ports = own_ports()
        self.ports = {"kafka": ports["kafka.embedded_port"], "prometheus": _port_of(ports["prometheus.url"]),
                      "predict": ports["predict.port"], "alertmanager": _port_of(ports["alertmanager.url"]),
                      "incidents": ports["alertmanager.receiver_port"], "consume": ports["consume.port"],
                      "workers": ports["predict.worker_port"]}
        self.process = False  # True: every command through the installed console script
        self.config = write_config(state / "volctl.toml", {
            "state_dir": str(state), "prometheus.scrape_interval": "1s", "model.registry_dir": str(registry),
            **(settings or {})}, ports)

    def run(self, *args: str, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess[str]:
        """In this process (typer's runner), or through the installed script when `self.process`."""
        env = {"VOLCTL_CONFIG": str(self.config), "NO_COLOR": "1", "COLUMNS": "160", **extra_env}
        return volctl(*args, env=env, timeout=timeout, process=self.process)

    def json(self, *args: str) -> object:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def caught_up(self, timeout_s: float = 60, window: str | None = None) -> None:
        """Return once the consume group has read everything on the raw topic (offset lag 0, from
        its commits) and the member says so too (its lag gauge 0), two scrapes later: a window that
        starts now holds no sample from the catch-up. (An old recording ingested is months behind
        while it is read: one such sample, scraped just before a gate's window, failed its lag check.)
        `window`: and until Prometheus's highest lag over that window, which a gate run right after
        looks back on, is under the objective again (on a busy machine the catch-up ended within it)."""
        deadline = time.monotonic() + timeout_s
        while True:
            lag = json.loads(self.run("lag", "--window", "1", "--json").stdout)
            if lag["offset_lag"] == 0 and self._member_lag_s() == 0:
                time.sleep(2)  # prometheus.scrape_interval is 1 s here
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the consume service did not catch up: {lag}")
            time.sleep(1)
        while window is not None and not self._lag_under_objective(window):
            if time.monotonic() > deadline + 60:
                raise AssertionError(f"Prometheus still sees the catch-up's lag over the last {window}")
            time.sleep(1)

    def _lag_under_objective(self, window: str) -> bool:
        from volctl.clients.prometheus import PrometheusClient
        from volctl.core.monitoring.queries import lag_max
        from volctl.domain.settings import SloSettings

        client = PrometheusClient(self.url("prometheus"))
        try:
            highest = client.value(lag_max(window))
        finally:
            client.close()
        return highest is not None and highest < SloSettings().consumer_lag_seconds

    def _member_lag_s(self) -> float | None:
        import httpx

        from volctl.domain.metrics import CONSUMER_LAG_SECONDS, sample_value

        try:
            return sample_value(httpx.get(self.url("consume") + "/metrics", timeout=5).text, CONSUMER_LAG_SECONDS)
        except httpx.HTTPError:
            return None

    def health_until(self, code: int, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.run("health")
            if result.returncode == code or time.monotonic() > deadline:
                return result
            time.sleep(0.5)


def _port_of(url: object) -> int:
    return int(str(url).rsplit(":", 1)[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0



# Shared profiles: tests that only read a stack, or leave it as they found it, run on these.
HEALTHY_SETTINGS: dict[str, object] = {"slo.throughput_rps": 5, "slo.min_requests": 100}  # a modest load meets them
SLOW_FAULTS = "delay_ms=900,error_rate=0.3"  # injected into predict: latency and errors breach their objectives
on_healthy_stack = pytest.mark.xdist_group("healthy-stack")
on_slow_stack = pytest.mark.xdist_group("slow-stack")


def started(stack: Stack, *args: str, **env: str) -> Stack:
    result = stack.run("up", *args, timeout=240, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return stack


@pytest.fixture(scope="session")
def healthy_stack(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path) -> Iterator[Stack]:
    """`volctl up` on the recommended variant, no source running: every objective it is asked about is
    judged on the requests its tests send (a replay would add realised quality and forecast rows)."""
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed")
    stack = started(Stack(tmp_path_factory.mktemp("healthy-stack"), trained_registry, HEALTHY_SETTINGS))
    yield stack
    stack.run("down")


@pytest.fixture(scope="session")
def slow_stack(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path) -> Iterator[Stack]:
    """A stack whose predict service is slow and fails 30 % of /predict (ml served: a runbook's way out
    is the baseline rule, and the faults stay)."""
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed")
    stack = Stack(tmp_path_factory.mktemp("slow-stack"), trained_registry, {**HEALTHY_SETTINGS, "model.variant": "ml"})
    yield started(stack, VOLCTL_PREDICT_FAULTS=SLOW_FAULTS)
    stack.run("down")

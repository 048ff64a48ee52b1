"""Starting the stack's processes and waiting until each answers: the services, Prometheus,
Alertmanager and volctl's receiver, and the background commands (the replay, the guard). A process
that never gets ready is stopped again, so nothing untracked keeps a port."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from volctl.clients import built
from volctl.clients.http import status_of
from volctl.clients.processes import ProcessRecord, Supervisor
from volctl.core.operations.broker import BROKER
from volctl.domain.errors import Unreachable
from volctl.domain.files import write_atomically
from volctl.domain.incidents import alertmanager_auth
from volctl.domain.settings import Settings
from volctl.domain.topology import (
    ALERTMANAGER,
    CONSUME,
    GUARD,
    INCIDENTS,
    PREDICT,
    PROMETHEUS,
    REPLAY,
    consume_members,
    members,
    parse_member,
    scrape_targets_path,
)

Progress = Callable[[str], None]
REPLAY_OUTAGE_S = 900  # the background replay waits this long for a broker that went away
READY_TIMEOUT_S = 30.0
# each service: its members, 1 first (the broker stays first: `status` reads it there)
# Prometheus after what it watches (and stopped before it): a scrape of a service still starting or
# already stopped counts as failed, and a fresh stack would begin with its availability breached.
ORDER = (BROKER, INCIDENTS, ALERTMANAGER, PREDICT, CONSUME, PROMETHEUS, REPLAY, GUARD)


class MonitoringFiles(Protocol):
    prometheus_config: Path
    alertmanager_config: Path
    alertmanager_web: Path | None  # its API's credentials, when it has some

    @property
    def prometheus_changed(self) -> bool: ...

    @property
    def alertmanager_changed(self) -> bool: ...


@dataclass
class ComponentState:
    name: str
    action: str  # started | running (already) | external | stopped | down | not configured
    pid: int | None = None
    port: int | None = None
    ready_s: float | None = None
    uptime_s: float | None = None
    detail: str = ""
    ended: dict[str, object] | None = None  # a component down: how and when it ended, its log's last lines


def member_names_on_disk(supervisor: Supervisor, service: str) -> list[str]:
    """The members of `service` that have a pid file, member 1 first."""
    found = {}
    for path in supervisor.run_dir.glob(f"{service}*.pid"):
        parsed = parse_member(path.stem)
        if parsed is not None and parsed[0] == service:
            found[parsed[1]] = path.stem
    return [found[index] for index in sorted(found)]


def start_prometheus(settings: Settings, supervisor: Supervisor, files: MonitoringFiles) -> ComponentState:
    folder = settings.state_path / PROMETHEUS
    url = settings.prometheus.url
    record = supervisor.record(PROMETHEUS)
    if record is not None:  # running: re-read the config and rules if they changed
        if files.prometheus_changed:
            reload_prometheus(settings, record.pid)
        return ComponentState(PROMETHEUS, "running", record.pid, record.port, 0.0, record.uptime_s, url)
    argv = [shutil.which(settings.prometheus.bin) or settings.prometheus.bin,
            f"--config.file={files.prometheus_config.resolve()}",
            f"--storage.tsdb.path={(folder / 'data').resolve()}",
            f"--storage.tsdb.retention.time={settings.prometheus.retention}",
            # no --web.enable-lifecycle: anyone could POST /-/quit; a reload is a SIGHUP from us
            f"--web.listen-address=127.0.0.1:{settings.prometheus.port}"]
    record = supervisor.start(PROMETHEUS, argv, port=settings.prometheus.port)
    return wait_ready(supervisor, record, f"{url}/-/ready", url)


def reload_prometheus(settings: Settings, pid: int, timeout_s: float = 15.0) -> None:
    """Reload (SIGHUP), wait until it has read the new files, then until it knows its Alertmanager
    again: for a few seconds after a reload it has none, and an alert that resolves then reaches no
    one for a minute (the resend delay)."""
    with contextlib.closing(built.prometheus(settings, timeout_s=5)) as client:
        before = client.last_reload() or 0.0
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout_s
        while (client.last_reload() or 0.0) <= before:
            if time.monotonic() > deadline:
                raise Unreachable(f"Prometheus at {settings.prometheus.url} did not re-read its config and rules "
                                  f"within {timeout_s:g} s", hint=f"see `volctl logs {PROMETHEUS}`")
            time.sleep(0.2)
        while time.monotonic() < deadline:
            with contextlib.suppress(Unreachable):
                if client.alertmanagers():
                    return
            time.sleep(0.2)


def alertmanager_binary(settings: Settings) -> str | None:
    """The Alertmanager to start: alertmanager.bin, else `alertmanager` (upstream's name); None when
    neither is installed (the stack starts without one, and says so)."""
    return shutil.which(settings.alertmanager.bin) or shutil.which("alertmanager")


MISSING_ALERTMANAGER = ("Alertmanager is not installed: alerts are evaluated but reach no one "
                        "(apt-get install prometheus-alertmanager, or set alertmanager.bin)")


def start_alerting(settings: Settings, supervisor: Supervisor, files: MonitoringFiles, env: dict[str, str],
                    progress: Progress) -> list[ComponentState]:
    """volctl's receiver, then Alertmanager routing to it; a running Alertmanager re-reads its config."""
    binary = alertmanager_binary(settings)
    if binary is None:
        progress("warning: " + MISSING_ALERTMANAGER)
        return [ComponentState(ALERTMANAGER, "not installed", detail=MISSING_ALERTMANAGER)]
    alerting, auth = settings.alertmanager, alertmanager_auth(settings)
    progress("starting volctl's alert receiver")
    receiver = start_service(supervisor, INCIDENTS, [sys.executable, "-m", "services.incidents"], env,
                              alerting.receiver_port, f"http://127.0.0.1:{alerting.receiver_port}/health")
    receiver.detail = f"incident timeline in {settings.state_path / 'incidents'}"
    record = supervisor.record(ALERTMANAGER)
    if record is not None:
        if files.alertmanager_changed and status_of(f"{alerting.url}/-/reload", method="POST", timeout_s=5,
                                                    auth=auth) != 200:
            raise Unreachable(f"Alertmanager at {alerting.url} did not re-read its config",
                              hint=f"see `volctl logs {ALERTMANAGER}`")
        return [receiver, ComponentState(ALERTMANAGER, "running", record.pid, record.port, 0.0, record.uptime_s,
                                         alerting.url)]
    progress("starting Alertmanager")
    folder = settings.state_path / ALERTMANAGER
    argv = [binary, f"--config.file={files.alertmanager_config.resolve()}",
            f"--storage.path={(folder / 'data').resolve()}",
            f"--web.listen-address=127.0.0.1:{alerting.port}",
            "--cluster.listen-address="]  # one instance: no gossip port (it would take 9094)
    if files.alertmanager_web is not None:
        argv.append(f"--web.config.file={files.alertmanager_web.resolve()}")
    record = supervisor.start(ALERTMANAGER, argv, port=alerting.port)
    return [receiver, wait_ready(supervisor, record, f"{alerting.url}/-/ready", alerting.url, auth)]


def start_members(settings: Settings, supervisor: Supervisor, service: str, count: int, env: dict[str, str],
                   progress: Progress) -> list[ComponentState]:
    """Start members 1..count of a service that do not run, each waited for on its own port."""
    states = []
    for member in members(settings, service, count):
        progress(f"starting the {service} service" + (f" ({member.name})" if count > 1 else ""))
        flag = {CONSUME: "--member", PREDICT: "--worker"}[service]
        argv = [sys.executable, "-m", f"services.{service}"]
        if count > 1:
            argv += [flag, str(member.index)]
        states.append(start_service(supervisor, member.name, argv, env, member.port, f"{member.url}/health"))
    return states


def reconcile_consumers(settings: Settings, supervisor: Supervisor, count: int, env: dict[str, str],
                         progress: Progress) -> list[ComponentState]:
    """Members 1..count running, the ones above stopped (highest first)."""
    states = start_members(settings, supervisor, CONSUME, count, env, progress)
    publish_targets(settings, CONSUME, count)  # before the extra ones stop: no scrape of a stopped one
    wanted = {m.name for m in consume_members(settings, count)}
    for name in reversed(member_names_on_disk(supervisor, CONSUME)):
        if name not in wanted:
            progress(f"stopping {name}")
            outcome = supervisor.stop(name)
            states.append(ComponentState(name, "stopped" if outcome.how != "not running" else "down", outcome.pid,
                                         detail=f"{outcome.how} in {outcome.seconds:.1f} s; the group rebalances"))
    return states


def child_env(config_file: Path | None) -> dict[str, str]:
    """What the stack's own processes are started with: the config file they must read too."""
    return {"VOLCTL_CONFIG": str(config_file.resolve())} if config_file else {}


def publish_targets(settings: Settings, service: str, count: int) -> None:
    """Prometheus's file-based discovery: one file per job listing the wanted members (it re-reads
    the file when it changes, so `scale` needs no reload). Written once they answer: a scrape
    before a member listens counts as failed, and a fresh stack would start with its availability
    breached; a member that dies later stays listed, so its failed scrapes say so."""
    groups = [{"targets": [m.address], "labels": {"member": m.name}} for m in members(settings, service, count)]
    write_atomically(scrape_targets_path(settings, service), json.dumps(groups, indent=2))


def start_service(supervisor: Supervisor, name: str, argv: list[str], env: dict[str, str], port: int,
                   ready_url: str) -> ComponentState:
    record = supervisor.record(name)
    if record is not None:
        return ComponentState(name, "running", record.pid, record.port, 0.0, record.uptime_s, ready_url)
    record = supervisor.start(name, argv, env=env, port=port)
    return wait_ready(supervisor, record, ready_url, ready_url.removesuffix("/health"))


def start_replay(settings: Settings, supervisor: Supervisor, replay: str, env: dict[str, str]) -> ComponentState:
    source = replay
    if replay == "demo":
        data = settings.data_path()
        source = str(data.resolve()) if data else "synthetic"
    args = (["--synthetic"] if source == "synthetic"
            else ["--replay", source, "--loop", "--speed", "1", "--event-time", "now"])
    args += ["--outage", str(REPLAY_OUTAGE_S)]  # a broker restart (`volctl up` after a crash) is waited for
    detail = "synthetic source" if source == "synthetic" else f"{source}, looping in real time"
    return start_background(supervisor, REPLAY, ["ingest", *args], env, detail)


def start_background(supervisor: Supervisor, name: str, args: list[str], env: dict[str, str],
                      detail: str) -> ComponentState:
    """A `volctl` command kept running by the stack (the replay, the guard)."""
    record = supervisor.record(name)
    if record is not None:
        return ComponentState(name, "running", record.pid, None, 0.0, record.uptime_s)
    record = supervisor.start(name, [sys.executable, "-m", "volctl", *args], env=env)
    time.sleep(1.0)  # loading a recording takes a moment; an early exit means a bad file, broker or token
    code = supervisor.exited_early(record)
    if code is not None:
        raise Unreachable(f"the {name} exited at once (code {code}): {log_tail(supervisor, name)}",
                          hint=f"see `volctl logs {name}`")
    return ComponentState(name, "started", record.pid, None, 1.0, detail=detail)


def wait_ready(supervisor: Supervisor, record: ProcessRecord, ready_url: str, detail: str,
               auth: tuple[str, str] | None = None) -> ComponentState:
    """Wait for `ready_url` to answer 200, then write the pid file; a process that never gets
    there (or an interrupted wait) is stopped, so nothing untracked keeps the port."""
    try:
        waited = await_ready(supervisor, record, ready_url, auth)
    except BaseException:
        supervisor.abandon(record)
        raise
    supervisor.track(record)
    return ComponentState(record.name, "started", record.pid, record.port, waited, detail=detail)


def await_ready(supervisor: Supervisor, record: ProcessRecord, ready_url: str,
                auth: tuple[str, str] | None = None) -> float:
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT_S:
        code = supervisor.exited_early(record)
        if code is not None:
            raise Unreachable(f"{record.name} exited during start-up (code {code}): "
                              f"{log_tail(supervisor, record.name)}", hint=f"see `volctl logs {record.name}`")
        if status_of(ready_url, auth=auth) == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise Unreachable(f"{record.name} did not become ready within {READY_TIMEOUT_S:.0f} s ({ready_url})",
                      hint=f"see `volctl logs {record.name}`")


def log_tail(supervisor: Supervisor, name: str, lines: int = 3) -> str:
    return " | ".join(supervisor.log_tail(name, lines)) or "(no log)"


"""The local stack: start, stop and describe broker, Prometheus, predict, consume and replay.

Every process runs detached with a pid file and a log in the state directory (see
clients/processes.py), so `up` is idempotent, `down` works from any shell, and a port held by
something volctl did not start is reported before anything is started.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from volctl.clients.http import ServiceClient, admin_clients, get_json, status_of
from volctl.clients.kafka import bootstrap_of, is_reachable
from volctl.clients.processes import ProcessRecord, StopOutcome, Supervisor
from volctl.clients.prometheus import PrometheusClient
from volctl.core.broker import BROKER, broker_binary, start_broker
from volctl.domain.clock import utc_iso
from volctl.domain.errors import ConfigError, Unreachable, VolctlError
from volctl.domain.files import write_atomically
from volctl.domain.metrics import CONSUMER_LAG_SECONDS, sample_value
from volctl.domain.settings import Settings
from volctl.domain.topology import (
    CONSUME,
    PREDICT,
    Member,
    Scale,
    configured_scale,
    consume_members,
    forget_scale,
    members,
    parse_member,
    running_scale,
    scrape_targets_path,
    write_scale,
)

PROMETHEUS, REPLAY, GUARD = "prometheus", "replay", "guard"
ALERTMANAGER, INCIDENTS = "alertmanager", "incidents"  # routes alerts; volctl's receiver keeps the timeline
REPLAY_OUTAGE_S = 900  # the background replay waits this long for a broker that went away
# each service: its members, 1 first (the broker stays first: `status` reads it there)
# Prometheus after what it watches (and stopped before it): a scrape of a service still starting or
# already stopped counts as failed, and a fresh stack would begin with its availability breached.
ORDER = (BROKER, INCIDENTS, ALERTMANAGER, PREDICT, CONSUME, PROMETHEUS, REPLAY, GUARD)
READY_TIMEOUT_S = 30.0
Progress = Callable[[str], None]


class MonitoringFiles(Protocol):
    prometheus_config: Path
    alertmanager_config: Path

    @property
    def prometheus_changed(self) -> bool: ...

    @property
    def alertmanager_changed(self) -> bool: ...


# (settings, flavour, folder) -> the rendered files; volctl.reports.monitoring.render_monitoring
MonitoringWriter = Callable[[Settings, str, Path], MonitoringFiles]


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


@dataclass
class UpReport:
    components: list[ComponentState] = field(default_factory=list)
    seconds: float = 0.0
    trained: str | None = None
    token_created: bool = False
    # what was done so that every service serves the stack's recorded choice ("" nothing: they did)
    aligned: str = ""
    aligned_ok: bool = True


def up(settings: Settings, config_file: Path | None, write_monitoring: MonitoringWriter,
       replay: str | None = None, progress: Progress = lambda _m: None,
       on_wait: Progress | None = None, guard: bool = False, consumers: int | None = None,
       predict_workers: int | None = None) -> UpReport:
    """Start what is not running, in order, waiting for each to be ready.

    `replay`: None (no background ticks), a recording path, "synthetic", or "demo" (the
    configured recordings when there are some, else the synthetic source). Another `up` or `down`
    on the same state directory is waited for (`on_wait` says whom). `write_monitoring` renders
    the Prometheus config and rules (volctl.reports.monitoring.render_monitoring). `guard` also
    starts `volctl guard` in the background (its log: `volctl logs guard`). `consumers` and
    `predict_workers`: how many of each (None: as many as run now, else the configured number).
    """
    started = time.monotonic()
    supervisor = Supervisor(settings.state_path)
    with supervisor.exclusive("up", on_wait=on_wait or progress):  # concurrent `up`s would each start a Prometheus
        scale = _wanted_scale(settings, supervisor, consumers, predict_workers)
        report = _up(settings, supervisor, config_file, write_monitoring, replay, progress, guard, scale)
    report.seconds = time.monotonic() - started
    return report


def _up(settings: Settings, supervisor: Supervisor, config_file: Path | None, write_monitoring: MonitoringWriter,
        replay: str | None, progress: Progress, guard: bool, scale: Scale) -> UpReport:
    report = UpReport()
    _preflight(settings, supervisor, scale)
    report.token_created = ensure_admin_token(settings)
    report.trained = _ensure_model(settings, progress)
    env = _child_env(config_file)
    write_scale(settings, scale)  # the counts every command addresses members by; targets once they answer

    progress("starting the broker")
    broker = start_broker(settings, supervisor)
    report.components.append(ComponentState(
        BROKER, "started" if broker.started else ("external" if broker.kind == "external" else "running"),
        broker.pid, None if broker.kind == "external" else settings.kafka.embedded_port, broker.ready_s,
        detail=broker.bootstrap + (" (memory only)" if broker.memory_only else "")))
    files = write_monitoring(settings, "embedded", settings.state_path / PROMETHEUS / "rendered")
    if settings.alertmanager.embedded:
        report.components += _start_alerting(settings, supervisor, files, env, progress)
    report.components += _start_members(settings, supervisor, PREDICT, scale.predict_workers, env, progress)
    _publish_targets(settings, PREDICT, scale.predict_workers)
    report.components += _reconcile_consumers(settings, supervisor, scale.consumers, env, progress)
    if settings.prometheus.embedded:
        progress("starting Prometheus")
        report.components.append(_start_prometheus(settings, supervisor, files))
    if replay is not None:
        progress("starting the background replay")
        report.components.append(_start_replay(settings, supervisor, replay, env))
    if guard:
        progress("starting the guard")
        report.components.append(_start_background(supervisor, GUARD, ["guard"], env,
                                                    "volctl guard: rolls back on evidence, every minute"))
    _wait_group_settled(settings, scale.consumers, progress)
    _align_models(settings, report, progress)
    if settings.prometheus.embedded:
        _wait_scraped(settings, progress)
    return report


def _align_models(settings: Settings, report: UpReport, progress: Progress) -> None:
    """Services that were running keep what they serve: bring any that differs from the stack's
    recorded choice to it, the way a rollback does (all or none, audited)."""
    from volctl.core.rollback import align_to_choice
    from volctl.domain.model_admin import read_admin_token, recorded_choice
    from volctl.domain.registry import ModelNotFound, Registry

    choice = recorded_choice(settings)
    if choice is None:
        return
    progress("checking that every service serves the recorded model")
    clients = admin_clients(settings)
    try:
        registry = Registry(settings.registry_path) if settings.registry_path.is_dir() else None
        switched = align_to_choice(clients, registry, choice, read_admin_token(settings))
    except ModelNotFound as exc:  # gone from the registry: every service started on the configured model instead
        report.aligned = (f"the recorded choice ({choice['variant']} {choice['version']}) is not in the registry "
                          f"any more ({exc.message}): the services serve what they started on")
        return
    except VolctlError as exc:
        report.aligned, report.aligned_ok = f"could not check the served models: {exc.message}", False
        return
    finally:
        for client in clients.values():
            client.close()
    if switched is None:
        return
    moved = [s.service for s in switched.plan.switches if s.changed]
    target = switched.plan.target.describe()
    report.aligned_ok = switched.ok
    report.aligned = (f"switched {', '.join(moved)} to the recorded {target}" if switched.ok
                      else f"could not bring every service to the recorded {target}: {switched.problem}")


def _wait_group_settled(settings: Settings, count: int, progress: Progress, timeout_s: float = 30.0) -> None:
    """Return once the consumer group has rebalanced: every partition owned by exactly one member
    (30 s at most, the consume service's own limit for a join). Straight after a change a member
    that has not rejoined yet still reports its old partitions and the new owner has none."""
    progress("waiting for the consumer group to rebalance")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        members_now = consume_members(settings, count)
        owned = [p for member in members_now
                 for p in ((get_json(member.name, member.url, "/health", timeout_s=1) or {}).get("partitions") or [])]
        if sorted(owned) == list(range(settings.kafka.partitions)) and all(map(_lag_measured, members_now)):
            return
        time.sleep(0.3)


def _lag_measured(member: Member) -> bool:
    """A member that has joined measures its lag after its next poll; until then it says unknown."""
    with ServiceClient(member.name, member.url, timeout_s=1) as client:
        try:
            lag = sample_value(client.get("/metrics").body, CONSUMER_LAG_SECONDS)
        except Unreachable:
            return False
    return lag is not None and not math.isnan(lag)


def _wait_scraped(settings: Settings, progress: Progress) -> None:
    """Return once Prometheus has scraped every target it knows (at most three scrape intervals):
    `health` straight after `up` or `scale` then sees each member, not "not scraped yet"."""
    from volctl.domain.clock import seconds_of

    client = PrometheusClient(settings.prometheus.url)
    deadline = time.monotonic() + 3 * seconds_of(settings.prometheus.scrape_interval) + 2
    progress("waiting for Prometheus's first scrape of every member")
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(Unreachable):
                targets = client.targets()
                if targets and all(t.get("health") != "unknown" for t in targets):
                    return
            time.sleep(0.5)
    finally:
        client.close()


def scale_consumers(settings: Settings, count: int, config_file: Path | None,
                    progress: Progress = lambda _m: None, dry_run: bool = False) -> list[ComponentState]:
    """Start or stop consume members until `count` run (the group rebalances); Prometheus follows
    through its target file. One row per member, the stopped ones included (`dry_run`: what
    would start or stop, nothing changed)."""
    supervisor = Supervisor(settings.state_path)
    if not any(supervisor.record(m.name) for m in consume_members(settings)):
        raise Unreachable("no consume service runs in this stack", hint="start it with `volctl up --consumers N`")
    if dry_run:
        wanted = {m.name for m in consume_members(settings, count)}
        names = sorted(wanted | set(_member_names_on_disk(supervisor, CONSUME)),
                       key=lambda n: parse_member(n) or ("", 0))
        return [ComponentState(n, ("running" if supervisor.record(n) else "would start") if n in wanted
                               else ("would stop" if supervisor.record(n) else "down")) for n in names]
    with supervisor.exclusive("scale", on_wait=progress):
        scale = Scale(count, running_scale(settings).predict_workers)
        _preflight(settings, supervisor, scale)
        write_scale(settings, scale)
        states = _reconcile_consumers(settings, supervisor, count, _child_env(config_file), progress)
        _wait_group_settled(settings, count, progress)
        _wait_scraped(settings, progress)
        return states


def down(settings: Settings, dry_run: bool = False, timeout_s: float = 10.0) -> list[StopOutcome]:
    """Stop every component volctl started, newest first: SIGTERM, then SIGKILL after `timeout_s`."""
    supervisor = Supervisor(settings.state_path)
    if dry_run:
        return _stop_all(supervisor, dry_run, timeout_s)
    with supervisor.exclusive("down"):
        outcomes = _stop_all(supervisor, dry_run, timeout_s)
        forget_scale(settings)
        return outcomes


def component_names(settings: Settings, supervisor: Supervisor) -> list[str]:
    """Every component in start order, each service's members expanded: those the running scale
    wants and any other member that still has a pid file."""
    names = []
    for name in ORDER:
        if name in (PREDICT, CONSUME):
            wanted = [m.name for m in members(settings, name)]
            names += wanted + [n for n in _member_names_on_disk(supervisor, name) if n not in wanted]
        else:
            names.append(name)
    return names


def _member_names_on_disk(supervisor: Supervisor, service: str) -> list[str]:
    """The members of `service` that have a pid file, member 1 first."""
    found = {}
    for path in supervisor.run_dir.glob(f"{service}*.pid"):
        parsed = parse_member(path.stem)
        if parsed is not None and parsed[0] == service:
            found[parsed[1]] = path.stem
    return [found[index] for index in sorted(found)]


def _stop_all(supervisor: Supervisor, dry_run: bool, timeout_s: float) -> list[StopOutcome]:
    outcomes = []
    names = [n for service in ORDER for n in ((_member_names_on_disk(supervisor, service) or [service])
                                              if service in (PREDICT, CONSUME) else [service])]
    for name in reversed(names):
        record = supervisor.record(name)
        if dry_run:
            outcomes.append(StopOutcome(name, record.pid if record else None,
                                        "would stop" if record else "not running"))
        else:
            outcomes.append(supervisor.stop(name, timeout_s))
    return outcomes


def status(settings: Settings) -> list[ComponentState]:
    supervisor = Supervisor(settings.state_path)
    states = []
    for name in component_names(settings, supervisor):
        record = supervisor.record(name)
        state = ComponentState(name, "running" if record else "down")
        if record:
            state.pid, state.port, state.uptime_s = record.pid, record.port, record.uptime_s
        elif (ended := supervisor.ended(name)) is not None:
            state.pid = ended.get("pid")  # type: ignore[assignment]
            at = float(ended.get("at") or 0)  # type: ignore[arg-type]
            state.ended = {**ended, "at": utc_iso(at), "ago_s": round(time.time() - at, 1),
                           "log": supervisor.log_tail(name, 4, service_only=True)}
            state.detail = f"ended {state.ended['at']} ({_ago(time.time() - at)} ago): {ended.get('how')}"
        states.append(state)
    broker = states[0]
    if settings.kafka.bootstrap:
        reachable = is_reachable(settings.kafka.bootstrap)
        broker.action = "external"
        broker.detail = f"{settings.kafka.bootstrap} ({'reachable' if reachable else 'UNREACHABLE'})"
    else:
        broker.detail = f"embedded tansu {bootstrap_of(settings.kafka)}: memory only, data is lost when it stops"
    by_name = {state.name: state for state in states}
    if not settings.prometheus.embedded:
        by_name[PROMETHEUS].action, by_name[PROMETHEUS].detail = "external", settings.prometheus.url
    alerting = by_name[ALERTMANAGER]
    if not settings.alertmanager.embedded:
        alerting.action, alerting.detail = "external", settings.alertmanager.url
    elif alerting.action == "down" and alertmanager_binary(settings) is None:
        alerting.action, alerting.detail = "not installed", MISSING_ALERTMANAGER
    elif alerting.action == "running":
        alerting.detail = settings.alertmanager.url
    if by_name[INCIDENTS].action == "running":
        by_name[INCIDENTS].detail = f"incident timeline in {settings.state_path / 'incidents'}"
    addresses = {m.name: m for service in (PREDICT, CONSUME) for m in members(settings, service)}
    for state in states:
        if state.name in addresses:
            _describe_member(addresses[state.name], state)
    return states


def ensure_admin_token(settings: Settings) -> bool:
    """Create `<state>/admin_token` (mode 600) unless a token is configured or one exists."""
    path = settings.state_path / "admin_token"
    if settings.admin_token or path.exists():
        return False
    settings.state_path.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secrets.token_urlsafe(32) + "\n")
    return True


# -- steps ---------------------------------------------------------------------------------------


def _wanted_scale(settings: Settings, supervisor: Supervisor, consumers: int | None,
                  workers: int | None) -> Scale:
    """The flags, else what runs now, else the config; a running predict keeps its worker count."""
    live = {service: any(supervisor.record(n) for n in _member_names_on_disk(supervisor, service))
            for service in (PREDICT, CONSUME)}
    running = running_scale(settings)
    base = running if any(live.values()) else configured_scale(settings)
    wanted = Scale(consumers or base.consumers, workers or base.predict_workers)
    if live[PREDICT] and wanted.predict_workers != running.predict_workers:
        raise ConfigError(f"predict runs with {running.predict_workers} worker(s); "
                          f"{wanted.predict_workers} needs a restart of the predict service",
                          hint=f"`volctl down`, then `volctl up --predict-workers {wanted.predict_workers}`")
    return wanted


def _preflight(settings: Settings, supervisor: Supervisor, scale: Scale) -> None:
    """Fail before starting anything: missing binaries, ports taken by other programs."""
    if not settings.kafka.bootstrap:
        broker_binary(settings)
    if settings.prometheus.embedded and not shutil.which(settings.prometheus.bin):
        raise ConfigError(f"the Prometheus binary {settings.prometheus.bin!r} was not found",
                          hint="apt-get install prometheus, set prometheus.bin, or set prometheus.embedded = false")
    # (what needs the port, the component whose own process may already hold it, port, config key)
    ports = [(m.name, m.name, m.port, _port_key(settings, m)) for service in (PREDICT, CONSUME)
             for m in members(settings, service, scale.predict_workers if service == PREDICT else scale.consumers)]
    if scale.predict_workers > 1:  # the port the workers share, held by worker 1 once it runs
        ports.append(("predict (shared)", PREDICT, settings.predict.port, "predict.port"))
    if settings.prometheus.embedded:
        ports.append((PROMETHEUS, PROMETHEUS, settings.prometheus.port, "prometheus.url"))
    if settings.alertmanager.embedded and alertmanager_binary(settings):
        ports += [(ALERTMANAGER, ALERTMANAGER, settings.alertmanager.port, "alertmanager.url"),
                  (INCIDENTS, INCIDENTS, settings.alertmanager.receiver_port, "alertmanager.receiver_port")]
    if not settings.kafka.bootstrap:
        ports.append((BROKER, BROKER, settings.kafka.embedded_port, "kafka.embedded_port"))
    for name, holder, port, key in ports:
        if supervisor.record(holder) is None and _port_taken(port):
            raise ConfigError(f"port {port} for {name} is taken by a process volctl did not start",
                              hint=f"stop that process, or set {key} to another port (in volctl.toml, or "
                                   f"{_env_name(key)} in the environment)")


def _ensure_model(settings: Settings, progress: Progress) -> str | None:
    from volctl.domain.registry import Registry

    if Registry(settings.registry_path).versions():
        return None
    from volctl.core.dataset import load_dataset
    from volctl.core.training import train_model

    data = settings.data_path()
    progress(f"no trained model yet: training one on {data or 'the synthetic source'}")
    result = train_model(load_dataset([data] if data else None, settings.data.naive_timezone, progress=progress),
                         Registry(settings.registry_path), progress=progress)
    return result.version


def _start_prometheus(settings: Settings, supervisor: Supervisor, files: MonitoringFiles) -> ComponentState:
    folder = settings.state_path / PROMETHEUS
    url = settings.prometheus.url
    record = supervisor.record(PROMETHEUS)
    if record is not None:  # running: re-read the config and rules if they changed
        if files.prometheus_changed:
            _reload_prometheus(settings, record.pid)
        return ComponentState(PROMETHEUS, "running", record.pid, record.port, 0.0, record.uptime_s, url)
    argv = [shutil.which(settings.prometheus.bin) or settings.prometheus.bin,
            f"--config.file={files.prometheus_config.resolve()}",
            f"--storage.tsdb.path={(folder / 'data').resolve()}",
            f"--storage.tsdb.retention.time={settings.prometheus.retention}",
            # no --web.enable-lifecycle: anyone could POST /-/quit; a reload is a SIGHUP from us
            f"--web.listen-address=127.0.0.1:{settings.prometheus.port}"]
    record = supervisor.start(PROMETHEUS, argv, port=settings.prometheus.port)
    return _wait_ready(supervisor, record, f"{url}/-/ready", url)


def _reload_prometheus(settings: Settings, pid: int, timeout_s: float = 15.0) -> None:
    """Reload (SIGHUP), wait until it has read the new files, then until it knows its Alertmanager
    again: for a few seconds after a reload it has none, and an alert that resolves then reaches no
    one for a minute (the resend delay)."""
    with contextlib.closing(PrometheusClient(settings.prometheus.url, timeout_s=5)) as client:
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


def _start_alerting(settings: Settings, supervisor: Supervisor, files: MonitoringFiles, env: dict[str, str],
                    progress: Progress) -> list[ComponentState]:
    """volctl's receiver, then Alertmanager routing to it; a running Alertmanager re-reads its config."""
    binary = alertmanager_binary(settings)
    if binary is None:
        progress("warning: " + MISSING_ALERTMANAGER)
        return [ComponentState(ALERTMANAGER, "not installed", detail=MISSING_ALERTMANAGER)]
    alerting = settings.alertmanager
    progress("starting volctl's alert receiver")
    receiver = _start_service(supervisor, INCIDENTS, [sys.executable, "-m", "services.incidents"], env,
                              alerting.receiver_port, f"http://127.0.0.1:{alerting.receiver_port}/health")
    receiver.detail = f"incident timeline in {settings.state_path / 'incidents'}"
    record = supervisor.record(ALERTMANAGER)
    if record is not None:
        if files.alertmanager_changed and status_of(f"{alerting.url}/-/reload", method="POST", timeout_s=5) != 200:
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
    record = supervisor.start(ALERTMANAGER, argv, port=alerting.port)
    return [receiver, _wait_ready(supervisor, record, f"{alerting.url}/-/ready", alerting.url)]


def _port_key(settings: Settings, member: Member) -> str:
    """The config key that moves a member's port."""
    if member.service == CONSUME:
        return "consume.port"
    return "predict.port" if member.port == settings.predict.port else "predict.worker_port"


def _start_members(settings: Settings, supervisor: Supervisor, service: str, count: int, env: dict[str, str],
                   progress: Progress) -> list[ComponentState]:
    """Start members 1..count of a service that do not run, each waited for on its own port."""
    states = []
    for member in members(settings, service, count):
        progress(f"starting the {service} service" + (f" ({member.name})" if count > 1 else ""))
        flag = {CONSUME: "--member", PREDICT: "--worker"}[service]
        argv = [sys.executable, "-m", f"services.{service}"]
        if count > 1:
            argv += [flag, str(member.index)]
        states.append(_start_service(supervisor, member.name, argv, env, member.port, f"{member.url}/health"))
    return states


def _reconcile_consumers(settings: Settings, supervisor: Supervisor, count: int, env: dict[str, str],
                         progress: Progress) -> list[ComponentState]:
    """Members 1..count running, the ones above stopped (highest first)."""
    states = _start_members(settings, supervisor, CONSUME, count, env, progress)
    _publish_targets(settings, CONSUME, count)  # before the extra ones stop: no scrape of a stopped one
    wanted = {m.name for m in consume_members(settings, count)}
    for name in reversed(_member_names_on_disk(supervisor, CONSUME)):
        if name not in wanted:
            progress(f"stopping {name}")
            outcome = supervisor.stop(name)
            states.append(ComponentState(name, "stopped" if outcome.how != "not running" else "down", outcome.pid,
                                         detail=f"{outcome.how} in {outcome.seconds:.1f} s; the group rebalances"))
    return states


def _child_env(config_file: Path | None) -> dict[str, str]:
    """What the stack's own processes are started with: the config file they must read too."""
    return {"VOLCTL_CONFIG": str(config_file.resolve())} if config_file else {}


def _publish_targets(settings: Settings, service: str, count: int) -> None:
    """Prometheus's file-based discovery: one file per job listing the wanted members (it re-reads
    the file when it changes, so `scale` needs no reload). Written once they answer: a scrape
    before a member listens counts as failed, and a fresh stack would start with its availability
    breached; a member that dies later stays listed, so its failed scrapes say so."""
    groups = [{"targets": [m.address], "labels": {"member": m.name}} for m in members(settings, service, count)]
    write_atomically(scrape_targets_path(settings, service), json.dumps(groups, indent=2))


def _start_service(supervisor: Supervisor, name: str, argv: list[str], env: dict[str, str], port: int,
                   ready_url: str) -> ComponentState:
    record = supervisor.record(name)
    if record is not None:
        return ComponentState(name, "running", record.pid, record.port, 0.0, record.uptime_s, ready_url)
    record = supervisor.start(name, argv, env=env, port=port)
    return _wait_ready(supervisor, record, ready_url, ready_url.removesuffix("/health"))


def _start_replay(settings: Settings, supervisor: Supervisor, replay: str, env: dict[str, str]) -> ComponentState:
    source = replay
    if replay == "demo":
        data = settings.data_path()
        source = str(data.resolve()) if data else "synthetic"
    args = (["--synthetic"] if source == "synthetic"
            else ["--replay", source, "--loop", "--speed", "1", "--event-time", "now"])
    args += ["--outage", str(REPLAY_OUTAGE_S)]  # a broker restart (`volctl up` after a crash) is waited for
    detail = "synthetic source" if source == "synthetic" else f"{source}, looping in real time"
    return _start_background(supervisor, REPLAY, ["ingest", *args], env, detail)


def _start_background(supervisor: Supervisor, name: str, args: list[str], env: dict[str, str],
                      detail: str) -> ComponentState:
    """A `volctl` command kept running by the stack (the replay, the guard)."""
    record = supervisor.record(name)
    if record is not None:
        return ComponentState(name, "running", record.pid, None, 0.0, record.uptime_s)
    record = supervisor.start(name, [sys.executable, "-m", "volctl", *args], env=env)
    time.sleep(1.0)  # loading a recording takes a moment; an early exit means a bad file, broker or token
    code = supervisor.exited_early(record)
    if code is not None:
        raise Unreachable(f"the {name} exited at once (code {code}): {_log_tail(supervisor, name)}",
                          hint=f"see `volctl logs {name}`")
    return ComponentState(name, "started", record.pid, None, 1.0, detail=detail)


def _wait_ready(supervisor: Supervisor, record: ProcessRecord, ready_url: str, detail: str) -> ComponentState:
    """Wait for `ready_url` to answer 200, then write the pid file; a process that never gets
    there (or an interrupted wait) is stopped, so nothing untracked keeps the port."""
    try:
        waited = _await_ready(supervisor, record, ready_url)
    except BaseException:
        supervisor.abandon(record)
        raise
    supervisor.track(record)
    return ComponentState(record.name, "started", record.pid, record.port, waited, detail=detail)


def _await_ready(supervisor: Supervisor, record: ProcessRecord, ready_url: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < READY_TIMEOUT_S:
        code = supervisor.exited_early(record)
        if code is not None:
            raise Unreachable(f"{record.name} exited during start-up (code {code}): "
                              f"{_log_tail(supervisor, record.name)}", hint=f"see `volctl logs {record.name}`")
        if status_of(ready_url) == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    raise Unreachable(f"{record.name} did not become ready within {READY_TIMEOUT_S:.0f} s ({ready_url})",
                      hint=f"see `volctl logs {record.name}`")


def _describe_member(member: Member, state: ComponentState) -> None:
    """The model a running member serves (and, for a consume member, the partitions it owns)."""
    if state.action != "running":
        return
    if member.service == PREDICT:
        version = get_json(member.name, member.url, "/version", timeout_s=1)
        state.detail = (f"model {version.get('model')} {version.get('version')}" if version
                        else "not answering /version")
        return
    health = get_json(member.name, member.url, "/health", timeout_s=1)
    if not health:
        state.detail = "not answering /health"
        return
    owned = ", ".join(map(str, health.get("partitions") or [])) or "none"
    state.detail = (f"model {health.get('model_variant')} {health.get('model_version')}; partitions {owned} "
                    f"({health.get('status')})")


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _log_tail(supervisor: Supervisor, name: str, lines: int = 3) -> str:
    return " | ".join(supervisor.log_tail(name, lines)) or "(no log)"


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 \
        else f"{seconds / 3600:.1f} h"


def log_lines(settings: Settings, name: str, count: int) -> list[str]:
    path = Supervisor(settings.state_path).log_path(name)
    if not path.exists():
        raise ConfigError(f"no log for {name} at {path}", hint="start the stack with `volctl up`")
    return path.read_text(errors="replace").splitlines()[-count:]


def _env_name(key: str) -> str:
    """The environment variable that sets a dotted config key (`predict.port` -> VOLCTL_PREDICT_PORT)."""
    return "VOLCTL_" + key.replace(".", "_").upper()

"""The local stack: start, stop and describe broker, Prometheus, predict, consume and replay.

Every process runs detached with a pid file and a log in the state directory (see
clients/processes.py), so `up` is idempotent, `down` works from any shell, and a port held by
something volctl did not start is reported before anything is started.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from volctl.clients import built
from volctl.clients.built import admin_clients
from volctl.clients.http import metric_sample
from volctl.clients.processes import StopOutcome, Supervisor
from volctl.core.operations.broker import BROKER, broker_binary, start_broker
from volctl.core.operations.lag import partition_claims
from volctl.core.operations.stack_processes import (
    ORDER,
    ComponentState,
    MonitoringFiles,
    Progress,
    alertmanager_binary,
    child_env,
    member_names_on_disk,
    publish_targets,
    reconcile_consumers,
    start_alerting,
    start_background,
    start_members,
    start_prometheus,
    start_replay,
)
from volctl.domain.errors import ConfigError, Unreachable, VolctlError
from volctl.domain.metrics import CONSUMER_LAG_SECONDS
from volctl.domain.settings import Settings
from volctl.domain.topology import (
    ALERTMANAGER,
    CONSUME,
    GUARD,
    INCIDENTS,
    PREDICT,
    PROMETHEUS,
    Member,
    Scale,
    configured_scale,
    consume_members,
    forget_scale,
    members,
    parse_member,
    running_scale,
    write_scale,
)

# (settings, flavour, folder) -> the rendered files; volctl.reports.monitoring.render_monitoring
MonitoringWriter = Callable[[Settings, str, Path], MonitoringFiles]


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
    env = child_env(config_file)
    write_scale(settings, scale)  # the counts every command addresses members by; targets once they answer

    progress("starting the broker")
    broker = start_broker(settings, supervisor)
    report.components.append(ComponentState(
        BROKER, "started" if broker.started else ("external" if broker.kind == "external" else "running"),
        broker.pid, None if broker.kind == "external" else settings.kafka.embedded_port, broker.ready_s,
        detail=broker.bootstrap + (" (memory only)" if broker.memory_only else "")))
    files = write_monitoring(settings, "embedded", settings.state_path / PROMETHEUS / "rendered")
    if settings.alertmanager.embedded:
        report.components += start_alerting(settings, supervisor, files, env, progress)
    report.components += start_members(settings, supervisor, PREDICT, scale.predict_workers, env, progress)
    publish_targets(settings, PREDICT, scale.predict_workers)
    report.components += reconcile_consumers(settings, supervisor, scale.consumers, env, progress)
    if settings.prometheus.embedded:
        progress("starting Prometheus")
        report.components.append(start_prometheus(settings, supervisor, files))
    if replay is not None:
        progress("starting the background replay")
        report.components.append(start_replay(settings, supervisor, replay, env))
    if guard:
        progress("starting the guard")
        report.components.append(start_background(supervisor, GUARD, ["guard"], env,
                                                    "volctl guard: rolls back on evidence, every minute"))
    _wait_group_settled(settings, scale.consumers, progress)
    _align_models(settings, report, progress)
    if settings.prometheus.embedded:
        _wait_scraped(settings, progress)
    return report


def _align_models(settings: Settings, report: UpReport, progress: Progress) -> None:
    """Services that were running keep what they serve: bring any that differs from the stack's
    recorded choice to it, the way a rollback does (all or none, audited)."""
    from volctl.core.operations.rollback import align_to_choice
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
        claimed = sorted(partition for partition, _, _ in partition_claims(members_now))
        if claimed == list(range(settings.kafka.partitions)) and all(map(_lag_measured, members_now)):
            return
        time.sleep(0.3)


def _lag_measured(member: Member) -> bool:
    """A member that has joined measures its lag after its next poll; until then it says unknown."""
    lag = metric_sample(member.name, member.url, CONSUMER_LAG_SECONDS)
    return lag is not None and not math.isnan(lag)


def _wait_scraped(settings: Settings, progress: Progress) -> None:
    """Return once Prometheus has scraped every target it knows (at most three scrape intervals):
    `health` straight after `up` or `scale` then sees each member, not "not scraped yet"."""
    from volctl.domain.clock import seconds_of

    client = built.prometheus(settings)
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
        names = sorted(wanted | set(member_names_on_disk(supervisor, CONSUME)),
                       key=lambda n: parse_member(n) or ("", 0))
        return [ComponentState(n, ("running" if supervisor.record(n) else "would start") if n in wanted
                               else ("would stop" if supervisor.record(n) else "down")) for n in names]
    with supervisor.exclusive("scale", on_wait=progress):
        scale = Scale(count, running_scale(settings).predict_workers)
        _preflight(settings, supervisor, scale)
        write_scale(settings, scale)
        states = reconcile_consumers(settings, supervisor, count, child_env(config_file), progress)
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


def _stop_all(supervisor: Supervisor, dry_run: bool, timeout_s: float) -> list[StopOutcome]:
    outcomes = []
    names = [n for service in ORDER for n in ((member_names_on_disk(supervisor, service) or [service])
                                              if service in (PREDICT, CONSUME) else [service])]
    for name in reversed(names):
        record = supervisor.record(name)
        if dry_run:
            outcomes.append(StopOutcome(name, record.pid if record else None,
                                        "would stop" if record else "not running"))
        else:
            outcomes.append(supervisor.stop(name, timeout_s))
    return outcomes


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
    live = {service: any(supervisor.record(n) for n in member_names_on_disk(supervisor, service))
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
    from volctl.core.model.dataset import load_dataset
    from volctl.core.model.training import train_model

    data = settings.data_path()
    progress(f"no trained model yet: training one on {data or 'the synthetic source'}")
    result = train_model(load_dataset([data] if data else None, settings.data.naive_timezone, progress=progress),
                         Registry(settings.registry_path), progress=progress)
    return result.version


def _port_key(settings: Settings, member: Member) -> str:
    """The config key that moves a member's port."""
    if member.service == CONSUME:
        return "consume.port"
    return "predict.port" if member.port == settings.predict.port else "predict.worker_port"


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _env_name(key: str) -> str:
    """The environment variable that sets a dotted config key (`predict.port` -> VOLCTL_PREDICT_PORT)."""
    return "VOLCTL_" + key.replace(".", "_").upper()

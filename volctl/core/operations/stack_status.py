"""`volctl status` and `volctl logs`: what runs of the stack, what ended and how, and what each
member serves."""

from __future__ import annotations

import time

from volctl.clients.http import get_json
from volctl.clients.kafka import bootstrap_of, is_reachable
from volctl.clients.processes import Supervisor
from volctl.core.operations.stack_processes import (
    MISSING_ALERTMANAGER,
    ORDER,
    ComponentState,
    alertmanager_binary,
    member_names_on_disk,
)
from volctl.domain.clock import utc_iso
from volctl.domain.errors import ConfigError
from volctl.domain.settings import Settings
from volctl.domain.topology import ALERTMANAGER, CONSUME, INCIDENTS, PREDICT, PROMETHEUS, Member, members


def component_names(settings: Settings, supervisor: Supervisor) -> list[str]:
    """Every component in start order, each service's members expanded: those the running scale
    wants and any other member that still has a pid file."""
    names = []
    for name in ORDER:
        if name in (PREDICT, CONSUME):
            wanted = [m.name for m in members(settings, name)]
            names += wanted + [n for n in member_names_on_disk(supervisor, name) if n not in wanted]
        else:
            names.append(name)
    return names


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


def _ago(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 \
        else f"{seconds / 3600:.1f} h"


def log_lines(settings: Settings, name: str, count: int) -> list[str]:
    path = Supervisor(settings.state_path).log_path(name)
    if not path.exists():
        raise ConfigError(f"no log for {name} at {path}", hint="start the stack with `volctl up`")
    return path.read_text(errors="replace").splitlines()[-count:]

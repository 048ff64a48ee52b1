"""Who runs where once the stack grows past one process: the members of the consumer group and the
predict workers, their names and own addresses, and how many run now.

Member 1 keeps the plain service name (`consume`, `predict`) and the configured port, so a stack of
one is addressed as before; member i > 1 is `consume-i` on consume.port + i - 1. Predict workers
share predict.port only when there are several; each then also listens alone on
predict.worker_port + i - 1, the address Prometheus scrapes and rollback switches.
`volctl up` and `volctl scale` write the running counts to `<state>/run/scale.json`; every command
that addresses members reads them from there, else from the config.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from volctl.domain.files import write_atomically
from volctl.domain.settings import Settings

CONSUME, PREDICT = "consume", "predict"
# the stack's other processes, by the names the supervisor keeps them under
PROMETHEUS, REPLAY, GUARD = "prometheus", "replay", "guard"
ALERTMANAGER, INCIDENTS = "alertmanager", "incidents"  # routes alerts; volctl's receiver keeps the timeline
_MEMBER = re.compile(r"(consume|predict)(?:-([1-9][0-9]*))?")


@dataclass(frozen=True)
class Member:
    service: str
    index: int  # 1-based
    host: str
    port: int  # its own port: health, metrics, admin

    @property
    def name(self) -> str:
        return member_name(self.service, self.index)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Scale:
    consumers: int
    predict_workers: int


def member_name(service: str, index: int) -> str:
    return service if index == 1 else f"{service}-{index}"


def parse_member(name: str) -> tuple[str, int] | None:
    """(service, index) of a member name such as consume-2; None for any other name."""
    match = _MEMBER.fullmatch(name)
    if match is None or match.group(2) == "1":
        return None
    return match.group(1), int(match.group(2) or 1)


def consume_members(settings: Settings, count: int | None = None) -> list[Member]:
    count = running_scale(settings).consumers if count is None else count
    return [Member(CONSUME, i, settings.consume.host, settings.consume.port + i - 1) for i in range(1, count + 1)]


def predict_workers(settings: Settings, count: int | None = None) -> list[Member]:
    count = running_scale(settings).predict_workers if count is None else count
    if count == 1:
        return [Member(PREDICT, 1, settings.predict.host, settings.predict.port)]
    return [Member(PREDICT, i, settings.predict.host, settings.predict.worker_port + i - 1)
            for i in range(1, count + 1)]


def members(settings: Settings, service: str, count: int | None = None) -> list[Member]:
    return consume_members(settings, count) if service == CONSUME else predict_workers(settings, count)


def scale_path(settings: Settings) -> Path:
    return settings.state_path / "run" / "scale.json"


def configured_scale(settings: Settings) -> Scale:
    return Scale(settings.consume.replicas, settings.predict.workers)


def running_scale(settings: Settings) -> Scale:
    """The counts `up`/`scale` last started, else the configured ones."""
    configured = configured_scale(settings)
    try:
        document = json.loads(scale_path(settings).read_text())
        found = Scale(int(document["consumers"]), int(document["predict_workers"]))
    except (OSError, ValueError, KeyError, TypeError):
        return configured
    return found if found.consumers >= 1 and found.predict_workers >= 1 else configured


def write_scale(settings: Settings, scale: Scale) -> None:
    path = scale_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps({"consumers": scale.consumers, "predict_workers": scale.predict_workers}))


def scrape_targets_path(settings: Settings, service: str) -> Path:
    """The file-based service discovery file of a job (written by `up`/`scale`, read by Prometheus)."""
    return settings.state_path / "prometheus" / "targets" / f"{service}.json"


def forget_scale(settings: Settings) -> None:
    scale_path(settings).unlink(missing_ok=True)

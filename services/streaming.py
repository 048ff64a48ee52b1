"""Kafka plumbing shared by `volctl` and the consume service: client tuning, topics, reachability.

kafka-python is imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from volctl.config import KafkaSettings
from volctl.errors import Unreachable

# The embedded broker takes ~23 s to admit a consumer-group member with kafka-python's defaults,
# ~3 s with these (DESIGN.md §8). They are also sensible for a real cluster at this scale.
CONSUMER_TUNING: dict[str, Any] = {
    "session_timeout_ms": 6000, "heartbeat_interval_ms": 2000,
    # A topic created (or re-created) after subscribing is seen within 10 s, not kafka-python's 5 min.
    "metadata_max_age_ms": 10_000,
}
# Fail a send within seconds instead of blocking for a minute while the broker is away.
PRODUCER_TUNING: dict[str, Any] = {"max_block_ms": 5000, "request_timeout_ms": 5000, "linger_ms": 5}


def bootstrap_of(kafka: KafkaSettings) -> str:
    """The configured cluster, else the embedded broker's address."""
    return kafka.bootstrap or f"127.0.0.1:{kafka.embedded_port}"


def topics_of(kafka: KafkaSettings) -> tuple[str, str, str]:
    return kafka.topic_raw, kafka.topic_predictions, kafka.topic_dlq


def is_reachable(bootstrap: str, timeout_s: float = 0.5) -> bool:
    """Whether any bootstrap address accepts a TCP connection (cheap; no Kafka handshake)."""
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


@contextmanager
def _admin(bootstrap: str, timeout_s: float) -> Iterator[Any]:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000),
                                 client_id="volctl-admin")
    except KafkaError as exc:
        raise Unreachable(f"Kafka at {bootstrap} does not answer ({type(exc).__name__})",
                          hint="start it with `volctl up`, or check kafka.bootstrap") from exc
    try:
        yield admin
    except KafkaError as exc:
        raise Unreachable(f"Kafka at {bootstrap} failed a metadata request: {exc}") from exc
    finally:
        admin.close()


def list_topics(bootstrap: str, timeout_s: float = 5.0) -> set[str]:
    """Topic names from a metadata request; raises Unreachable when the broker does not answer."""
    with _admin(bootstrap, timeout_s) as admin:
        return set(admin.list_topics())


def topic_id(bootstrap: str, topic: str, timeout_s: float = 5.0) -> str | None:
    """The topic's id: it changes when a topic is deleted and created again (a memory broker restart)."""
    with _admin(bootstrap, timeout_s) as admin:
        described = admin.describe_topics([topic])
    return str(described[0].get("topic_id")) if described and not described[0].get("error_code") else None


def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int, timeout_s: float = 5.0) -> list[str]:
    """Create the topics that are missing; returns the names created (idempotent)."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    created = []
    with _admin(bootstrap, timeout_s) as admin:
        for topic in [t for t in topics if t not in set(admin.list_topics())]:
            try:
                admin.create_topics([NewTopic(topic, partitions, 1)])
                created.append(topic)
            except TopicAlreadyExistsError:  # another process won the race
                pass
    return created


def wait_for_metadata(bootstrap: str, timeout_s: float = 10.0) -> float:
    """Block until the broker answers a metadata request; returns the seconds waited."""
    started = time.monotonic()
    while True:
        if is_reachable(bootstrap):
            try:
                list_topics(bootstrap, timeout_s=2.0)
                return time.monotonic() - started
            except Unreachable:
                pass
        if time.monotonic() - started > timeout_s:
            raise Unreachable(f"Kafka at {bootstrap} did not answer metadata within {timeout_s:.0f} s",
                              hint="see `volctl logs broker`")
        time.sleep(0.1)


def commit_metadata(now: float | None = None) -> str:
    """The metadata string the consume service commits with: its commit time. Kafka's OffsetFetch
    returns offsets and metadata but no commit time, and lag evaluation needs one."""
    return json.dumps({"committed_at": round(time.time() if now is None else now, 3)})


def committed_at(metadata: str | None) -> float | None:
    try:
        return float(json.loads(metadata or "")["committed_at"])
    except (ValueError, KeyError, TypeError):
        return None

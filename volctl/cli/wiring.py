"""Clients built from the settings, for the commands that hand them to core (core never builds
its own)."""

from __future__ import annotations

from volctl.clients.http import get_json
from volctl.clients.kafka import KafkaReader, bootstrap_of
from volctl.core.lag import LagInputs, newest_event_age
from volctl.domain.settings import Settings


def kafka_reader(settings: Settings) -> KafkaReader:
    return KafkaReader(bootstrap_of(settings.kafka))


def lag_inputs(settings: Settings, group: str | None = None, topic: str | None = None) -> LagInputs:
    """Where `lag` looks. For volctl's own group the consume service tells its last commit time
    (tansu drops commit metadata) and the predictions topic tells freshness."""
    reader = kafka_reader(settings)
    group = group or settings.kafka.group
    ours = group == settings.kafka.group

    def commit_clock() -> float | None:
        if not ours:
            return None
        return (get_json("consume", settings.consume.url, "/health", timeout_s=1) or {}).get("last_commit_at")

    def freshness() -> float | None:
        return newest_event_age(reader, settings.kafka.topic_predictions) if ours else None

    return LagInputs(reader, group, topic or settings.kafka.topic_raw, commit_clock, freshness)

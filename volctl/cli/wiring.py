"""What the commands hand to core beside the clients (`volctl.clients.built`): where `lag` looks."""

from __future__ import annotations

from volctl.clients import built
from volctl.core.operations.lag import LagInputs, newest_message_age, partition_owners
from volctl.domain.settings import Settings


def lag_inputs(settings: Settings, group: str | None = None, topic: str | None = None) -> LagInputs:
    """Where `lag` looks. For volctl's own group the consume service tells its last commit time
    (tansu drops commit metadata) and the predictions topic tells freshness."""
    reader = built.kafka_reader(settings)
    group = group or settings.kafka.group
    ours = group == settings.kafka.group

    def owners() -> dict[int, tuple[str, float | None]]:
        if not ours:
            return {}
        from volctl.domain.topology import consume_members

        return partition_owners(consume_members(settings))

    def freshness() -> float | None:
        return newest_message_age(reader, settings.kafka.topic_predictions) if ours else None

    from volctl.core.monitoring.freshness import Expectation, expectation

    return LagInputs(reader, group, topic or settings.kafka.topic_raw, owners, freshness,
                     expectation(settings) if ours else Expectation(), settings.slo.freshness_seconds)



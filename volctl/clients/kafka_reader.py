"""Read-only views of a Kafka cluster (the embedded tansu broker or a real one): partitions, true
high watermarks, committed offsets of a group, and messages.

High watermarks come from a fetch response, not ListOffsets: tansu under-reports ListOffsets
(DESIGN.md §8), and a fetch answers correctly on every broker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from services.streaming import CONSUMER_TUNING, is_reachable
from volctl.errors import ConfigError, Unreachable


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Committed:
    offset: int | None  # None: the group never committed on this partition
    metadata: str | None


class KafkaReader:
    def __init__(self, bootstrap: str, timeout_s: float = 5.0) -> None:
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        if not is_reachable(bootstrap):
            raise Unreachable(f"Kafka at {bootstrap} does not answer",
                              hint="start the stack with `volctl up`, or check kafka.bootstrap")
        self.bootstrap = bootstrap
        try:
            self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                           request_timeout_ms=int(timeout_s * 1000) + 1000,
                                           consumer_timeout_ms=int(timeout_s * 1000), client_id="volctl-inspect",
                                           **{k: v for k, v in CONSUMER_TUNING.items() if k == "metadata_max_age_ms"})
        except KafkaError as exc:
            raise Unreachable(f"Kafka at {bootstrap} does not answer ({type(exc).__name__})") from exc

    def close(self) -> None:
        self._consumer.close(autocommit=False)

    def topics(self) -> list[str]:
        return sorted(t for t in self._consumer.topics() if not t.startswith("__"))

    def partitions(self, topic: str) -> list[Any]:
        from kafka import TopicPartition

        found = self._consumer.partitions_for_topic(topic)
        if not found:
            known = ", ".join(self.topics()) or "none"
            raise ConfigError(f"topic {topic!r} does not exist on {self.bootstrap}", hint=f"topics: {known}")
        return [TopicPartition(topic, p) for p in sorted(found)]

    def high_watermarks(self, partitions: list[Any], exact: bool = True) -> dict[Any, int]:
        """The true end of each partition, from one fetch at the (possibly under-reported) end.
        A partition whose fetch did not answer is empty when ListOffsets says 0; otherwise, with
        `exact`, it is left out (unknown, not guessed), else ListOffsets' figure stands in."""
        self._consumer.assign(partitions)
        self._consumer.seek_to_end(*partitions)
        marks: dict[Any, int] = {}
        deadline = time.monotonic() + 2.0
        while len(marks) < len(partitions) and time.monotonic() < deadline:
            self._consumer.poll(timeout_ms=200, max_records=1, update_offsets=False)
            for tp in partitions:
                high = self._consumer.highwater(tp)
                if high is not None:
                    marks[tp] = high
        for tp in partitions:
            listed = self._consumer.position(tp) or 0
            if tp not in marks and (listed == 0 or not exact):
                marks[tp] = listed
        return marks

    def groups(self) -> list[str] | None:
        """Consumer groups the cluster knows (ListGroups); None when it cannot say."""
        from kafka import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="volctl-inspect")
        except Exception:  # KafkaError or a broker without the API: unknown, not "none"
            return None
        try:
            return sorted(group["group_id"] for group in admin.list_groups())
        except Exception:
            return None
        finally:
            admin.close()

    def beginnings(self, partitions: list[Any]) -> dict[Any, int]:
        return dict(self._consumer.beginning_offsets(partitions))

    def committed(self, group: str, partitions: list[Any]) -> dict[Any, Committed]:
        from kafka import KafkaConsumer

        reader = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False,
                               client_id="volctl-inspect")
        try:  # OffsetFetch only: this consumer never joins the group, so it cannot disturb it
            found = {}
            for tp in partitions:
                answer = reader.committed(tp, metadata=True)
                found[tp] = Committed(answer.offset if answer else None, answer.metadata if answer else None)
            return found
        finally:
            reader.close(autocommit=False)

    def messages(self, partitions: list[Any], starts: dict[Any, int], follow: bool = False,
                 idle_s: float = 1.0) -> Iterator[Message]:
        """Messages from `starts` on; without `follow`, until nothing new arrives for `idle_s`."""
        self._consumer.assign(partitions)
        for tp, offset in starts.items():
            self._consumer.seek(tp, offset)
        quiet_since = time.monotonic()
        while follow or time.monotonic() - quiet_since < idle_s:
            polled = self._consumer.poll(timeout_ms=200)
            for records in polled.values():
                quiet_since = time.monotonic()
                for r in records:
                    yield Message(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value)

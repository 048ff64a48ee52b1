"""`volctl topics` and `volctl tail`: what is on the broker, and the newest messages of a topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from volctl.clients.kafka import KafkaReader, Message
from volctl.domain.text import printable_document, visible


@dataclass
class PartitionInfo:
    partition: int
    start: int
    high_watermark: int

    @property
    def messages(self) -> int:
        return self.high_watermark - self.start


@dataclass
class TopicInfo:
    name: str
    partitions: list[PartitionInfo] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(p.messages for p in self.partitions)


def describe_topics(reader: KafkaReader) -> list[TopicInfo]:
    found = []
    for name in reader.topics():
        partitions = reader.partitions(name)
        highs, starts = reader.high_watermarks(partitions, exact=False), reader.beginnings(partitions)
        found.append(TopicInfo(name, [PartitionInfo(tp.partition, starts.get(tp, 0), highs[tp])
                                      for tp in partitions]))
    return found


KEY_SHOWN = 200  # characters of a message key shown (a product id is a dozen; a hostile one 10,000)


@dataclass
class TailedMessage:
    partition: int
    offset: int
    timestamp: float  # seconds
    key: str | None
    value: Any  # parsed JSON, or the text when it is not JSON

    @classmethod
    def of(cls, message: Message) -> TailedMessage:
        text = message.value.decode("utf-8", errors="replace") if message.value is not None else ""
        try:
            value: Any = json.loads(text)  # shown with json.dumps: a control character prints as its escape
            value = visible(value) if isinstance(value, str) else printable_document(value)
        except ValueError:
            value = visible(text)  # a dead letter or a foreign client's bytes: never a terminal's command
        key = visible(message.key.decode("utf-8", errors="replace")[:KEY_SHOWN]) if message.key is not None else None
        return cls(message.partition, message.offset, message.timestamp_ms / 1000, key, value)


def tail(reader: KafkaReader, topic: str, count: int = 10, from_beginning: bool = False,
         follow: bool = False) -> Iterator[TailedMessage]:
    """The newest `count` messages in time order (or the first `count` with from_beginning); with
    `follow`, then every new message until the caller stops iterating. The caller owns the reader."""
    partitions = reader.partitions(topic)
    highs, starts = reader.high_watermarks(partitions, exact=False), reader.beginnings(partitions)
    if from_beginning:
        begin = dict(starts)
        ends = {tp: min(highs[tp], starts.get(tp, 0) + count) for tp in partitions}
    else:
        begin = {tp: max(starts.get(tp, 0), highs[tp] - count) for tp in partitions}
        ends = dict(highs)
    initial: list[Message] = []
    pending = {tp.partition: ends[tp] for tp in partitions if ends[tp] > begin[tp]}
    if pending:
        for message in reader.messages(partitions, begin, follow=False):
            end = pending.get(message.partition)
            if end is None or message.offset >= end:
                continue
            initial.append(message)
            if message.offset >= end - 1:
                del pending[message.partition]
            if not pending:
                break
    initial.sort(key=lambda m: (m.timestamp_ms, m.partition, m.offset))
    chosen = initial[:count] if from_beginning else initial[-count:]
    yield from (TailedMessage.of(m) for m in chosen)
    if follow:
        yield from (TailedMessage.of(m) for m in reader.messages(partitions, highs, follow=True))

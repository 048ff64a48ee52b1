"""Delivery and commit rules of the consume loop, with the Kafka client stubbed at its boundary.

The same rules run against the real broker in test_streaming (kill, restart, poison messages);
here the failures are placed exactly: one send of a batch refused, a restart mid-delivery.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from kafka.future import Future
from prometheus_client import CollectorRegistry

from services.consume import app
from services.consume.processor import Batch
from volctl.domain.metrics import ConsumeMetrics
from volctl.domain.settings import KafkaSettings


class SendFuture(Future):
    """What KafkaProducer.send returns (FutureRecordMetadata), already resolved."""

    def get(self, timeout: float | None = None) -> Any:
        if self.failed():
            raise self.exception
        return self.value


class RefusingProducer:
    """Acknowledges every send except the first one of each key in `refuse_once`."""

    def __init__(self, refuse_once: set[bytes], on_flush: Any = None) -> None:
        self.refuse_once = set(refuse_once)
        self.on_flush = on_flush
        self.acknowledged: Counter[tuple[str, bytes | None, bytes]] = Counter()
        self.attempts = 0

    def partitions_for(self, _topic: str) -> set[int]:
        return {0, 1, 2}

    def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> SendFuture:
        self.attempts += 1
        future = SendFuture()
        if key in self.refuse_once:
            self.refuse_once.discard(key)
            future.failure(KafkaTimeoutError("refused for the test"))
        else:
            self.acknowledged[(topic, key, value)] += 1
            future.success(None)
        return future

    def flush(self, timeout: float | None = None) -> None:
        if self.on_flush is not None:
            self.on_flush, callback = None, self.on_flush
            callback()

    def close(self, timeout: float | None = None) -> None:
        pass


class OneBatchConsumer:
    """Returns one poll of records, then stops the service; records what would be committed."""

    def __init__(self, service: app.ConsumeService, records: list[Any]) -> None:
        self.service = service
        self.records = records
        self.commits: list[Any] = []

    def poll(self, timeout_ms: int, max_records: int) -> dict[str, list[Any]]:
        records, self.records = self.records, []
        if not records:
            self.service.stopping.set()
        return {"tp": records}

    def commit(self, offsets: Any) -> None:
        self.commits.append(offsets)

    def assignment(self) -> set[Any]:
        return set()

    def close(self, autocommit: bool = False, timeout_ms: int | None = None) -> None:
        pass


def a_batch() -> Batch:
    batch = Batch(records=3)
    batch.predictions = [(b"BTC-USD", b"p1"), (b"ETH-USD", b"p2"), (b"SOL-USD", b"p3")]
    batch.dead = [(None, b"dead letter")]
    return batch


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> app.ConsumeService:
    monkeypatch.setattr(app, "RETRY_PAUSE_S", 0.0)
    model = SimpleNamespace(variant="ml", version="v-test")
    processor = SimpleNamespace(model=model, process=lambda records: a_batch(), labels=SimpleNamespace(pending=0),
                                bound=None, install=lambda served, challengers, threshold: None)
    feature_log = SimpleNamespace(append=lambda rows: None, close=lambda: None)
    consume = app.ConsumeService(KafkaSettings(), "127.0.0.1:1", processor, ConsumeMetrics(CollectorRegistry()),
                                 feature_log)
    monkeypatch.setattr(consume, "_check_broker", lambda: None)
    return consume


def install(service: app.ConsumeService, producer: RefusingProducer, monkeypatch: pytest.MonkeyPatch) -> None:
    service._producer = producer
    service._partitions = {}
    monkeypatch.setattr(service, "_new_producer", lambda: producer)


def test_only_the_refused_send_is_repeated(service: app.ConsumeService, monkeypatch: pytest.MonkeyPatch) -> None:
    producer = RefusingProducer(refuse_once={b"ETH-USD"})
    install(service, producer, monkeypatch)

    assert service._deliver(a_batch()) is True
    kafka = service.kafka
    assert producer.acknowledged == {(kafka.topic_predictions, b"BTC-USD", b"p1"): 1,
                                     (kafka.topic_predictions, b"ETH-USD", b"p2"): 1,
                                     (kafka.topic_predictions, b"SOL-USD", b"p3"): 1,
                                     (kafka.topic_dlq, None, b"dead letter"): 1}
    assert producer.attempts == 5  # four messages, one of them twice
    assert service.metrics.errors.labels("produce")._value.get() == 1
    assert service.health.last_error == ""  # cleared once the batch got through


def test_a_batch_read_before_the_topic_was_recreated_is_delivered_but_not_committed(
        service: app.ConsumeService, monkeypatch: pytest.MonkeyPatch) -> None:
    record = SimpleNamespace(topic=service.kafka.topic_raw, partition=0, offset=170)
    consumer = OneBatchConsumer(service, [record])
    service._consumer = consumer
    monkeypatch.setattr(service, "_connect", lambda: True)
    # The broker restarts empty while the batch is being delivered.
    producer = RefusingProducer(refuse_once={b"BTC-USD"}, on_flush=service._rewind_raw_topic)
    install(service, producer, monkeypatch)

    service.run()

    assert sum(producer.acknowledged.values()) == 4
    assert consumer.commits == []  # offset 171 of the old topic would skip the new topic's first ticks
    assert service.metrics.processed._value.get() == 3


def test_a_batch_is_committed_after_delivery(service: app.ConsumeService, monkeypatch: pytest.MonkeyPatch) -> None:
    record = SimpleNamespace(topic=service.kafka.topic_raw, partition=2, offset=41)
    consumer = OneBatchConsumer(service, [record])
    service._consumer = consumer
    install(service, RefusingProducer(refuse_once=set()), monkeypatch)

    service.run()

    [offsets] = consumer.commits
    assert [(tp.partition, meta.offset) for tp, meta in offsets.items()] == [(2, 42)]


def test_a_scrape_that_sees_messages_processed_sees_their_dead_letters(service: app.ConsumeService) -> None:
    # "processed" is what a reader waits on: counted before the DLQ, a scrape in between showed
    # 24 processed and 0 dead-lettered (CI, test_streaming's poison messages)
    batch = a_batch()
    batch.dead_reasons["not_json"] = 1
    seen = []
    processed = service.metrics.processed
    original = processed.inc
    processed.inc = lambda amount=1: (seen.append(service.metrics.dlq._value.get()), original(amount))  # type: ignore[method-assign]

    service._account(batch, [])

    assert seen == [1.0] and processed._value.get() == 3


class BehindConsumer:
    """Read up to offset 20,441 of a fetch whose high watermark was 20,441; 50,000 are on the broker,
    and ListOffsets says 49,989 (tansu leaves out the last batch)."""

    def __init__(self, listed: dict[Any, int] | Exception) -> None:
        self.tp = TopicPartition("raw", 0)
        self.listed = listed

    def assignment(self) -> set[Any]:
        return {self.tp}

    def highwater(self, tp: Any) -> int:
        return 20_441

    def position(self, tp: Any, timeout_ms: int) -> int:
        return 20_441

    def end_offsets(self, partitions: list[Any], timeout_ms: int) -> dict[Any, int]:
        if isinstance(self.listed, Exception):
            raise self.listed
        return self.listed


def test_the_lag_counts_ticks_produced_after_the_last_fetch(service: app.ConsumeService) -> None:
    consumer = BehindConsumer({})
    consumer.listed = {consumer.tp: 49_989}
    service._consumer = consumer
    service._refresh_gauges()
    assert service.metrics.offset_lag._value.get() == 49_989 - 20_441  # the fetch's figure alone said 0


def test_the_lag_falls_back_on_the_fetch_when_the_ends_cannot_be_listed(service: app.ConsumeService) -> None:
    service._consumer = BehindConsumer(KafkaTimeoutError("no answer"))
    service._refresh_gauges()
    assert service.metrics.offset_lag._value.get() == 0  # a lower bound: the fetch response is all there is


def test_a_listing_that_times_out_keeps_the_last_listed_end(service: app.ConsumeService) -> None:
    consumer = BehindConsumer({})
    consumer.listed = {consumer.tp: 49_989}
    service._consumer = consumer
    service._refresh_gauges()
    consumer.listed = KafkaTimeoutError("slow on a busy machine")
    service._last_listed -= app.LIST_ENDS_S  # the next refresh lists again, and that listing fails
    service._refresh_gauges()
    # the fetch's figure alone says 0 with 29,548 unread; an end only grows, so the last listing holds
    assert service.metrics.offset_lag._value.get() == 49_989 - 20_441


def test_a_member_still_joining_reports_its_lag_unknown_not_zero(service: app.ConsumeService) -> None:
    """A 0 read as "caught up" while a join slowed by a busy machine left 69,667 ticks unread."""
    import math
    import time

    assert math.isnan(service.metrics.offset_lag._value.get())  # before anything is known
    consumer = BehindConsumer({})
    consumer.listed = {consumer.tp: 49_989}
    service._consumer, service._joining_since = consumer, time.monotonic()
    service._refresh_gauges()
    assert math.isnan(service.metrics.offset_lag._value.get())
    assert math.isnan(service.metrics.lag_seconds._value.get())
    service._joining_since = None  # assigned
    service._refresh_gauges()
    assert service.metrics.offset_lag._value.get() == 49_989 - 20_441

    def unknown_position(tp: Any, timeout_ms: int) -> int:
        raise KafkaTimeoutError("not known yet")

    consumer.position = unknown_position  # type: ignore[method-assign]
    service._positions.clear()
    service._refresh_gauges()
    assert math.isnan(service.metrics.offset_lag._value.get())  # one partition unknown: the sum is unknown
    service._last_event_ts = time.time() - 250 * 86_400  # an old recording ingested: its event time is April's
    service._refresh_gauges()
    # unknown, not "now minus April": 21,422,068 s was the max lag a gate judged on a busy machine
    assert math.isnan(service.metrics.lag_seconds._value.get())


class JoiningConsumer:
    """A consumer whose group join never finishes (tansu lost its SyncGroup answer)."""

    def __init__(self) -> None:
        self.closed_with: dict[str, Any] | None = None

    def close(self, **kwargs: Any) -> None:
        self.closed_with = kwargs


def test_a_join_that_hangs_with_the_broker_up_is_replaced_by_a_new_consumer(service: app.ConsumeService) -> None:
    import time

    stuck = JoiningConsumer()
    service._consumer, service._producer = stuck, None
    service.health.broker_reachable = True
    service._joining_since = time.monotonic() - app.JOIN_STUCK_S + 5
    service._check_join()
    assert service._consumer is stuck  # a slow join is left alone

    service._joining_since = time.monotonic() - app.JOIN_STUCK_S - 1
    service._check_join()
    assert service._consumer is None and stuck.closed_with == {"autocommit": False, "timeout_ms": 2000}
    assert service.metrics.errors.labels("join")._value.get() == 1
    assert "join of group" in service.health.last_error


def test_time_without_a_broker_does_not_count_toward_a_stuck_join(service: app.ConsumeService) -> None:
    import time

    stuck = JoiningConsumer()
    service._consumer = stuck
    service.health.broker_reachable = False
    service._joining_since = time.monotonic() - app.JOIN_STUCK_S - 60
    service._check_join()
    service.health.broker_reachable = True
    service._check_join()
    assert service._consumer is stuck and stuck.closed_with is None


def test_any_assignment_ends_the_join_even_an_empty_one(service: app.ConsumeService) -> None:
    service._consumer = JoiningConsumer()
    listener = app._Rewind(service)
    listener.on_partitions_revoked(set())
    assert service._joining_since is not None
    listener.on_partitions_assigned(set())  # more members than partitions: idle, but joined
    assert service._joining_since is None

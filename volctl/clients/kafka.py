"""All of volctl's Kafka I/O, for the CLI and the consume service alike: client tuning, topics,
reachability, publishing, and read-only views of a cluster (the embedded tansu broker or a real one).

High watermarks come from a fetch response, not ListOffsets: tansu under-reports ListOffsets
(docs/design.md §8), and a fetch answers correctly on every broker. A publisher notices a broker that
went away within its timeout and says how many ticks were acknowledged before it did.
kafka-python is imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from volctl.domain.errors import ConfigError, Unreachable
from volctl.domain.partitioning import ProductPartitioner
from volctl.domain.settings import KafkaSettings

# The embedded broker takes ~23 s to admit a consumer-group member with kafka-python's defaults,
# ~3 s with these (docs/design.md §8). They are also sensible for a real cluster at this scale.
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


def topics_of(kafka: KafkaSettings) -> tuple[str, ...]:
    return kafka.topic_raw, kafka.topic_predictions, kafka.topic_dlq, kafka.topic_outcomes


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


def partition_counts(bootstrap: str, topics: Iterable[str], timeout_s: float = 5.0) -> dict[str, int]:
    """Partitions of each topic that exists (metadata); raises Unreachable when the broker does not answer."""
    with _admin(bootstrap, timeout_s) as admin:
        described = admin.describe_topics(list(topics))
    return {str(d.get("topic") or d.get("name")): len(d.get("partitions") or []) for d in described
            if not d.get("error_code")}


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


# -- publishing ---------------------------------------------------------------------------------

REACHABILITY_CHECK_S = 1.0
OUTAGE_S = 30.0  # a broker away (or refusing every send) this long: the publisher gives up and says so
BROKER_GONE_HINT = "restart the broker (`volctl up`) and replay again; consumers drop duplicates by source offset"


def _by_product(products: Sequence[str]) -> Any:
    """domain/partitioning.py's rule as a kafka-python partitioner."""
    from kafka.partitioner import Partitioner

    class ByProduct(Partitioner):
        def __init__(self) -> None:
            self.choose = ProductPartitioner(products)

        def partition(self, topic: str, key: Any, serialized_key: bytes | None, value: Any,
                      serialized_value: Any, cluster: Any) -> int:
            return self.choose(serialized_key, cluster.partitions_for_topic(topic))

    return ByProduct()


Outgoing = tuple[str, "bytes | None", bytes]  # topic, key, value


class Publisher:
    """At-least-once publishing through broker restarts. A send that fails is kept; at the next
    send (at most once a second) a new producer is made and resends them all: after a broker
    restart kafka-python's producer can stay broken for good (InitProducerId UnknownError), so it is
    replaced, not retried. While the broker refuses connections, sending waits (the replay pauses);
    after `outage_s` without an acknowledgement it gives up with the counts (`went_away`)."""

    def __init__(self, bootstrap: str, client_id: str = "volctl-ingest", timeout_s: float = 10.0,
                 products: Sequence[str] = (), outage_s: float = OUTAGE_S, **tuning: Any) -> None:
        from kafka import KafkaProducer

        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self.outage_s = outage_s
        if not is_reachable(bootstrap):  # fail in milliseconds, not after the client's 30 s of retries
            raise Unreachable(f"Kafka at {bootstrap} does not answer",
                              hint="start the stack with `volctl up`, or check kafka.bootstrap")
        self.acked = 0
        self.resent = 0  # sends repeated through a new producer (a consumer may see them twice)
        self.replaced = 0  # producers replaced after failed sends
        self.last_error = ""
        self._unsent: list[Outgoing] = []  # failed, waiting for a new producer
        self._lock = threading.Lock()  # the callbacks run on the producer's I/O thread
        self._checked_at = 0.0
        self._failing_since: float | None = None  # the first failure since the last acknowledgement
        self._gone = False  # the outage allowance is spent: nothing waits for this broker any more
        wait_ms = int(timeout_s * 1000)
        bounded = {"max_block_ms": min(PRODUCER_TUNING["max_block_ms"], wait_ms),
                   "request_timeout_ms": min(PRODUCER_TUNING["request_timeout_ms"], wait_ms),
                   "delivery_timeout_ms": wait_ms + PRODUCER_TUNING["linger_ms"]}
        options = {**PRODUCER_TUNING, **bounded, **tuning}
        self._new_producer = lambda: KafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id=client_id,
                                                   partitioner=_by_product(products), **options)
        self._producer = self._open()

    @property
    def failed(self) -> int:
        """Sends not (yet) delivered: after `flush`, those the broker never acknowledged."""
        with self._lock:
            return len(self._unsent)

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        if self._unsent:
            self._recover()
        self._send((topic, key, value))

    def went_away(self) -> Unreachable:
        return Unreachable(
            f"Kafka at {self.bootstrap} went away: {self.acked} ticks acknowledged before it did, "
            f"{self.failed} not delivered ({self.last_error})",
            hint=BROKER_GONE_HINT,
        )

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait for every acknowledgement; failed sends are resent through a new producer until
        they are delivered or the time (or the outage allowance) is up."""
        if self._gone:  # given up already: what is buffered stays not delivered (counted as failed)
            timeout_s = 0.0
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while True:
            try:
                self._producer.flush(timeout=max(deadline - time.monotonic(), 0.1))
            except Exception as exc:  # KafkaTimeoutError and friends: what was not acknowledged stays failed
                self.last_error = f"{type(exc).__name__}: {exc}"
            if not self._unsent or time.monotonic() >= deadline:
                return
            try:
                self._recover(wait=True)
            except Unreachable:
                return

    def close(self) -> None:
        self.flush()
        self._close(self._producer, 0.0 if self._gone else min(self.timeout_s, 5.0))

    def _open(self) -> Any:
        from kafka.errors import KafkaError

        try:
            return self._new_producer()
        except KafkaError as exc:
            raise Unreachable(f"Kafka at {self.bootstrap} does not answer ({type(exc).__name__})",
                              hint="start the stack with `volctl up`, or check kafka.bootstrap") from exc

    def _close(self, producer: Any, timeout_s: float) -> None:
        try:
            producer.close(timeout=timeout_s)
        except Exception as exc:
            self.last_error = self.last_error or f"{type(exc).__name__}: {exc}"

    def _send(self, message: Outgoing) -> None:
        from kafka.errors import KafkaError

        topic, key, value = message
        try:
            future = self._producer.send(topic, key=key, value=value)
        except KafkaError as exc:  # metadata or buffer timeout: the broker is away
            self._failed(message, exc)
            return
        future.add_callback(self._acked)
        future.add_errback(lambda exc: self._failed(message, exc))

    def _recover(self, wait: bool = False) -> None:
        """Resend the failed sends through a new producer once the broker accepts connections
        (waiting for it, up to the outage allowance); give up after `outage_s` without an ack."""
        now = time.monotonic()
        if not wait and now - self._checked_at < REACHABILITY_CHECK_S:
            return
        while not is_reachable(self.bootstrap):
            self._give_up_after_outage()
            time.sleep(REACHABILITY_CHECK_S)
        self._give_up_after_outage()
        self._checked_at = time.monotonic()
        with self._lock:
            unsent, self._unsent = self._unsent, []
        if not unsent:
            return
        self._close(self._producer, 0.0)
        self._producer = self._open()
        self.replaced += 1
        self.resent += len(unsent)
        for message in unsent:
            self._send(message)

    def _give_up_after_outage(self) -> None:
        since = self._failing_since
        if since is not None and time.monotonic() - since > self.outage_s:
            self._gone = True
            raise self.went_away()

    def _acked(self, _metadata: Any) -> None:
        with self._lock:
            self.acked += 1
            self._failing_since = None

    def _failed(self, message: Outgoing, exc: BaseException) -> None:
        with self._lock:
            self._unsent.append(message)
            self._failing_since = self._failing_since or time.monotonic()
        self.last_error = f"{type(exc).__name__}: {exc}"


# -- reading ------------------------------------------------------------------------------------

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
        """The end of each partition: the larger of a fetch's high watermark and ListOffsets (the
        consume service measures the same way; either alone can be stale). A partition whose fetch
        did not answer is empty when ListOffsets says 0; otherwise, with `exact`, it is left out
        (unknown, not guessed), else ListOffsets' figure stands in."""
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
            if tp in marks:  # a fetch answer can be older than ListOffsets': the larger is the end
                marks[tp] = max(marks[tp], listed)
            elif listed == 0 or not exact:
                marks[tp] = listed
        return marks

    def groups(self) -> list[str] | None:
        """Consumer groups the cluster knows (ListGroups); None when it cannot say."""
        try:
            with _admin(self.bootstrap, 5.0) as admin:
                return sorted(group["group_id"] for group in admin.list_groups())
        except Unreachable:  # a broker that does not answer ListGroups: unknown, not "none"
            return None

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

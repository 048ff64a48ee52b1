"""The consume service loop: poll ticks, predict, produce, then commit (at-least-once).

Offsets are committed only after every prediction and dead letter of the batch is acknowledged
by the broker. While the broker is away the sends that failed are retried (never skipped) and
/health says why; a memory broker that comes back empty gets its topics re-created and is read
from the beginning. A commit that fails after a rebalance means the batch will be read again:
duplicates carry the same source partition and offset, so readers can drop them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka import ConsumerRebalanceListener

from services.consume.processor import Batch, TickProcessor
from volctl.clients.kafka import (
    CONSUMER_TUNING,
    PRODUCER_TUNING,
    commit_metadata,
    ensure_topics,
    is_reachable,
    topic_id,
    topics_of,
)
from volctl.domain.errors import VolctlError
from volctl.domain.feature_log import FeatureLog, JsonLinesLog
from volctl.domain.forecast import BoundCalibrator
from volctl.domain.labels import LabelRule
from volctl.domain.metrics import ConsumeMetrics
from volctl.domain.model import Scorer, version_document
from volctl.domain.outcomes import KINDS
from volctl.domain.partitioning import ProductPartitioner
from volctl.domain.settings import KafkaSettings
from volctl.domain.variants import model_name

log = logging.getLogger("volctl.consume")
POLL_TIMEOUT_MS = 250
MAX_POLL_RECORDS = 5000
BROKER_CHECK_S = 2.0
# How often the partitions' ends are listed for the lag gauge (a ListOffsets round trip in the loop).
LIST_ENDS_S = 1.0
LIST_ENDS_TIMEOUT_MS = 200
RETRY_PAUSE_S = 1.0
# A group join (JoinGroup then SyncGroup) takes ~3 s on tansu and a session timeout or so on Kafka.
# Past this, with the broker answering, the join is taken as lost and a new consumer joins instead:
# tansu sometimes never answers a SyncGroup after it restarts, and kafka-python waits on it for good.
JOIN_STUCK_S = 30.0
BOUND_PUBLISH_S = 10.0  # how often the recalibrated forecast bound is shared with predict


@dataclass
class HealthState:
    broker_reachable: bool = False
    last_error: str = ""
    assigned_partitions: int = 0
    partitions: list[int] = field(default_factory=list)  # of the raw topic, owned by this member now
    last_batch_at: float | None = None
    last_commit_at: float | None = None  # `volctl lag` needs it: tansu drops commit metadata
    last_tick_at: float | None = None  # freshness: when a raw tick was last read
    last_prediction_at: float | None = None  # and when a prediction was last acknowledged
    started_at: float = field(default_factory=time.time)
    ever_assigned: bool = False

    @property
    def healthy(self) -> bool:
        return self.broker_reachable and not self.last_error

    @property
    def status(self) -> str:
        """ok only when the member owns partitions (consuming, or idle and caught up): a member
        still joining the group ("starting") or left without partitions is not serving the stream."""
        if not self.healthy:
            return "unhealthy"
        if self.assigned_partitions == 0:
            return "not assigned" if self.ever_assigned else "starting"
        return "ok"


class ConsumeService:
    def __init__(self, kafka: KafkaSettings, bootstrap: str, processor: TickProcessor,
                 metrics: ConsumeMetrics, feature_log: FeatureLog, outcomes_log: JsonLinesLog | None = None,
                 challengers_of: Callable[[Scorer], tuple[list[Scorer], LabelRule | None]] | None = None,
                 extra_shadow: list[Scorer] | None = None, member: str = "consume",
                 publish_bound: Callable[[BoundCalibrator], None] | None = None,
                 recording: JsonLinesLog | None = None) -> None:
        self.kafka = kafka
        self.recording = recording  # the consumed ticks, kept for retraining (data.live_recording_mb)
        self.publish_bound = publish_bound  # shares the recalibrated upper bound with the predict workers
        self._bound_published = 0.0
        self.member = member  # its name in the group: client id, logs, `volctl lag`'s owner column
        self.bootstrap = bootstrap
        self.processor = processor
        self.metrics = metrics
        self.feature_log = feature_log
        self.outcomes_log = outcomes_log
        self.challengers_of = challengers_of
        self.extra_shadow = list(extra_shadow or [])  # challengers added with `volctl shadow add`
        self._partitioner = ProductPartitioner(kafka.products)
        self.health = HealthState()
        self.stopping = threading.Event()
        self._consumer: Any = None
        self._producer: Any = None
        self._positions: dict[Any, int] = {}
        self._rate_window = (time.monotonic(), 0)
        self._last_broker_check = 0.0
        self._listed_ends: dict[Any, int] = {}
        self._last_listed = 0.0
        self._last_event_ts: float | None = None
        self._raw_topic_id: str | None = None
        self._from_beginning = False  # after the raw topic was re-created: old positions mean nothing
        self._joining_since: float | None = None  # monotonic time a group join began; None once assigned
        self._topic_generation = 0  # bumped when the raw topic is re-created
        # Delivered but not committed (the commit failed: a broker restart forgot this member). The
        # rejoin resumes these partitions from here instead of re-reading the whole batch.
        self._uncommitted: dict[Any, int] = {}
        self._resumed: dict[Any, int] = {}  # sought to on the rejoin; committed with the next batch
        for error_type in ("connect", "produce", "commit", "join"):  # series exist (at 0) before the first failure
            metrics.errors.labels(error_type)
        self.install_model(processor.model)

    def install_model(self, model: Scorer) -> None:
        """Score with `model` from the next batch on (ValueError when this build cannot), with the
        other variant of its version in shadow and its outcomes labelled by the version's rule."""
        challengers: list[Scorer] = []
        label = None
        if self.challengers_of is not None:
            try:
                challengers, label = self.challengers_of(model)
            except VolctlError as exc:  # the served model still scores; quality cannot be measured
                log.error("no shadow challengers and no outcomes for %s %s: %s", model.variant, model.version,
                          exc.message)
        challengers = [*challengers, *self.extra_shadow]
        self.processor.install(model, challengers, label)
        self.metrics.model_info.clear()
        self.metrics.model_info.labels(model.variant, model.version).set(1)
        if label is not None:  # every variant's outcome series exist (at 0) before the first label
            for name in (model.variant, *(model_name(c.variant, c.version, model.version) for c in challengers)):
                for kind in KINDS:
                    self.metrics.outcomes.labels(name, kind)
                for alerted in ("0", "1"):  # the alert lift reads unknown (NaN) until both have samples
                    self.metrics.outcome_next_volatility.labels(name, alerted)

    # -- shadow models (volctl shadow add/remove, through the admin endpoint) ----------------------

    def add_shadow(self, model: Scorer) -> None:
        served = self.processor.model
        if (model.variant, model.version) == (served.variant, served.version):
            raise ValueError(f"{model.variant} {model.version} is the served model, not a challenger")
        self.extra_shadow = [m for m in self.extra_shadow if (m.variant, m.version) != (model.variant, model.version)]
        self.extra_shadow.append(model)
        self.install_model(served)

    def remove_shadow(self, version: str, variant: str) -> bool:
        kept = [m for m in self.extra_shadow if (m.variant, m.version) != (variant, version)]
        if len(kept) == len(self.extra_shadow):
            return False
        self.extra_shadow = kept
        self.install_model(self.processor.model)
        return True

    def shadow_models(self) -> list[Scorer]:
        """The challengers added by hand (the served version's other variant is always scored too)."""
        return list(self.extra_shadow)

    def health_document(self) -> dict[str, Any]:
        model = self.processor.model
        state = self.health
        return {
            "status": state.status,
            "member": self.member,
            "broker": {"bootstrap": self.bootstrap, "reachable": state.broker_reachable},
            "assigned_partitions": state.assigned_partitions,
            "partitions": list(state.partitions),
            "last_error": state.last_error or None,
            "last_batch_age_s": round(time.time() - state.last_batch_at, 3) if state.last_batch_at else None,
            "last_commit_at": state.last_commit_at,
            "last_tick_at": state.last_tick_at,
            "last_prediction_at": state.last_prediction_at,
            "warming_up": self.processor.engine.warm_up_left(),  # product: stream seconds still to go
            "model_variant": model.variant, "model_version": model.version,
            "uptime_s": round(time.time() - state.started_at, 1),
        }

    def version_document(self) -> dict[str, Any]:
        served = self.processor.model
        shadow = [{"name": model_name(c.variant, c.version, served.version), "variant": c.variant,
                   "version": c.version, "sha": c.sha256, "added": c in self.extra_shadow}
                  for c in self.processor.challengers]
        return {**version_document(served, "consume"), "member": self.member, "shadow": shadow}

    def run(self) -> None:
        """Consume until `stopping` is set; the batch in hand is finished and committed first."""
        while not self.stopping.is_set():
            self._check_broker()
            if self._consumer is None and not self._connect():
                self.stopping.wait(RETRY_PAUSE_S)
                continue
            generation = self._topic_generation
            polled = self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=MAX_POLL_RECORDS)
            records = [record for batch in polled.values() for record in batch]
            if self._resumed and not records:
                self._commit_offsets({})
            if records:
                batch = self.processor.process(records)
                if self._deliver(batch):
                    if generation == self._topic_generation:
                        self._commit(records)
                    else:  # offsets of a topic that is gone: committing them would skip the new one's
                        log.warning("a batch read before the broker restarted was delivered; its offsets "
                                    "are not committed")
                    self._account(batch, records)
            self._refresh_gauges()
            self._check_join()
        self.close()

    def close(self) -> None:
        self._drop_clients(consumer_timeout_ms=None, producer_timeout_s=5)
        self.feature_log.close()
        if self.recording is not None:
            self.recording.close()

    def _drop_clients(self, consumer_timeout_ms: int | None, producer_timeout_s: float) -> None:
        """Close the consumer (leaving the group, committing nothing) and the producer."""
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False, timeout_ms=consumer_timeout_ms)
            except Exception as exc:  # it is being dropped: a failed goodbye changes nothing
                log.warning("closing the consumer: %s", exc)
        if self._producer is not None:
            self._producer.close(timeout=producer_timeout_s)
        self._consumer = self._producer = None

    # -- broker I/O ----------------------------------------------------------------------------

    def _connect(self) -> bool:
        from kafka import KafkaConsumer
        from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

        try:
            ensure_topics(self.bootstrap, topics_of(self.kafka), self.kafka.partitions)
            self._raw_topic_id = topic_id(self.bootstrap, self.kafka.topic_raw)
            self._producer = self._new_producer()
            self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.kafka.group,
                                           enable_auto_commit=False, auto_offset_reset="earliest",
                                           # Topics are created with the configured partition count
                                           # (tansu ignores the flag and uses its own default).
                                           allow_auto_create_topics=False, client_id=f"volctl-{self.member}",
                                           # Round-robin over the sorted partitions: products live on
                                           # partitions 0, 1, ... (domain/partitioning), and the range
                                           # assignor gave both of them to one of two members.
                                           partition_assignment_strategy=(RoundRobinPartitionAssignor,),
                                           **CONSUMER_TUNING)
            self._consumer.subscribe([self.kafka.topic_raw], listener=_Rewind(self))
            self._joining_since = time.monotonic()
        except Exception as exc:  # KafkaError or Unreachable: both mean "not now"
            self._fail("connect", f"cannot connect to Kafka at {self.bootstrap}: {exc}")
            if self._producer is not None:
                self._producer.close(timeout=1)
                self._producer = None
            return False
        log.info("connected to Kafka at %s; consuming %s as group %s", self.bootstrap, self.kafka.topic_raw,
                 self.kafka.group)
        self.health.last_error = ""
        return True

    def _check_join(self) -> None:
        """Replace the consumer when its group join has hung (see JOIN_STUCK_S); the time the broker
        was away does not count."""
        if self._joining_since is None or self._consumer is None:
            return
        now = time.monotonic()
        if not self.health.broker_reachable:
            self._joining_since = now
            return
        if now - self._joining_since < JOIN_STUCK_S:
            return
        self._fail("join", f"the join of group {self.kafka.group} has not finished in {JOIN_STUCK_S:.0f} s "
                           "with the broker answering; a new consumer joins in its place")
        self._joining_since = None
        self._drop_clients(consumer_timeout_ms=2000, producer_timeout_s=1)  # the loop connects afresh

    def _rewind_raw_topic(self) -> None:
        log.warning("%s was re-created (a memory broker restarted): reading it again from the beginning",
                    self.kafka.topic_raw)
        self._topic_generation += 1
        self._positions.clear()
        self._listed_ends = {}  # the old topic's ends
        self._uncommitted.clear()
        self._resumed.clear()
        self.processor.reset_streams()  # the topic is read again from its start: windows start afresh
        self._replace_producer()  # the new broker does not know its id: its sequence numbers would be refused
        assigned = self._consumer.assignment()
        if assigned:
            self._consumer.seek_to_beginning(*assigned)
        else:  # not assigned yet: the rebalance listener rewinds when it is
            self._from_beginning = True

    def _partition_of(self, topic: str, key: bytes) -> int:
        """The product's partition (the same rule as the producer of its ticks: domain/partitioning.py),
        worked out once per product (it costs ~10 µs a message)."""
        partition = self._partitions.get(key)
        if partition is None:
            partitions = sorted(self._producer.partitions_for(topic))
            partition = self._partitions[key] = self._partitioner(key, partitions)
        return partition

    def _new_producer(self) -> Any:
        from kafka import KafkaProducer

        self._partitions: dict[bytes, int] = {}  # a new broker may have a new partition count
        return KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", client_id=f"volctl-{self.member}",
                             allow_auto_create_topics=False, **PRODUCER_TUNING)

    def _replace_producer(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=0)
        try:
            self._producer = self._new_producer()
        except Exception as exc:
            self._fail("connect", f"cannot reconnect the producer: {exc}")

    def _deliver(self, batch: Batch) -> bool:
        """Send the batch's predictions and dead letters until each is acknowledged (or we stop).

        Only the sends that failed are repeated: a batch that half failed is not duplicated.
        """
        pending = [(self.kafka.topic_predictions, key, value) for key, value in batch.predictions]
        pending += [(self.kafka.topic_dlq, key, value) for key, value in batch.dead]
        pending += [(self.kafka.topic_outcomes, key, value) for key, value in batch.outcomes]
        while True:
            futures: list[Any] = []
            error: Exception | None = None
            try:
                for message in pending:
                    futures.append(self._send(*message))
                self._producer.flush(timeout=10)
            except Exception as exc:  # KafkaError and its timeouts: what was not acknowledged is retried
                error = exc
            unacknowledged = [message for i, message in enumerate(pending)
                              if i >= len(futures) or not futures[i].succeeded()]
            if not unacknowledged:
                if batch.predictions:
                    self.health.last_prediction_at = time.time()
                    self.metrics.last_prediction.set(self.health.last_prediction_at)
                if self.health.last_error.startswith("produce"):
                    log.info("producing again after a failure; the batch was delivered")
                    self.health.last_error = ""
                return True
            error = error or next((f.exception for f in futures if f.failed()), None)
            self._fail("produce", f"produce failed, {len(unacknowledged)} of {len(pending)} message(s) "
                                  f"kept for retry: {error or 'not acknowledged in time'}")
            pending = unacknowledged
            if self.stopping.wait(RETRY_PAUSE_S):
                log.warning("stopping with an undelivered batch: its offsets stay uncommitted")
                return False
            self._check_broker()
            # A restarted broker has forgotten this producer's id and sequence numbers: start afresh.
            self._replace_producer()

    def _send(self, topic: str, key: bytes | None, value: bytes) -> Any:
        if topic == self.kafka.topic_predictions:  # keyed by product: the partition is worked out once
            return self._producer.send(topic, key=key, value=value, partition=self._partition_of(topic, key))
        return self._producer.send(topic, key=key, value=value)

    def _commit(self, records: list[Any]) -> None:
        from kafka import TopicPartition

        ends: dict[Any, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            ends[tp] = max(ends.get(tp, -1), record.offset + 1)
        self._commit_offsets(ends)

    def _commit_offsets(self, ends: dict[Any, int]) -> None:
        """Commit `ends` and any offsets the last rejoin resumed from (a batch's are never lower)."""
        from kafka.structs import OffsetAndMetadata

        ends = {**self._resumed, **ends}
        self._positions.update(ends)
        try:
            stamp = commit_metadata()  # `volctl lag` reads when the group last committed from it
            self._consumer.commit({tp: OffsetAndMetadata(end, stamp, -1) for tp, end in ends.items()})
            self.health.last_commit_at = time.time()
            self._uncommitted.clear()
            self._resumed.clear()
        except Exception as exc:  # UnknownMemberId/CommitFailed: the member rejoins, and resumes from `ends`
            self._uncommitted.update(ends)
            self._resumed.clear()
            self._fail("commit", f"commit failed; the rejoin resumes after the delivered offsets, so at most "
                                 f"the messages in flight are processed again: {exc}")

    def _check_broker(self) -> None:
        now = time.monotonic()
        if now - self._last_broker_check < BROKER_CHECK_S:
            return
        self._last_broker_check = now
        reachable = is_reachable(self.bootstrap)
        if reachable and not self.health.broker_reachable and self._consumer is not None:
            log.info("Kafka at %s is back; making sure the topics exist", self.bootstrap)
            try:
                ensure_topics(self.bootstrap, topics_of(self.kafka), self.kafka.partitions)
                current_id = topic_id(self.bootstrap, self.kafka.topic_raw)
                if current_id != self._raw_topic_id:
                    self._raw_topic_id = current_id
                    self._rewind_raw_topic()
            except Exception as exc:
                self._fail("connect", f"Kafka is back but topics could not be checked: {exc}")
                reachable = False
        if not reachable and self.health.broker_reachable:
            log.error("Kafka at %s is unreachable; will resume when it is back", self.bootstrap)
        self.health.broker_reachable = reachable

    def _fail(self, error_type: str, message: str) -> None:
        if message != self.health.last_error:
            log.error(message)
        self.health.last_error = message
        self.metrics.errors.labels(error_type).inc()

    # -- accounting ----------------------------------------------------------------------------

    def _account(self, batch: Batch, records: list[Any]) -> None:
        if batch.records:
            self.health.last_tick_at = time.time()
            self.metrics.last_tick.set(self.health.last_tick_at)
        if batch.warming_up:
            self.metrics.warming_up.inc(batch.warming_up)
        for reason, count in batch.dead_reasons.items():
            self.metrics.errors.labels(reason).inc(count)
            log.warning("%d message(s) sent to %s: %s", count, self.kafka.topic_dlq, reason)
        if batch.dead:
            self.metrics.dlq.inc(len(batch.dead))
        self.feature_log.append(batch.feature_rows)
        if self.recording is not None:
            self.recording.write(batch.recorded)
        if self.outcomes_log is not None:
            self.outcomes_log.write(batch.outcome_documents)
        for (variant, kind), count in batch.outcome_kinds.items():
            self.metrics.outcomes.labels(variant, kind).inc(count)
        _observe_each(self.metrics.outcome_score, batch.outcome_scores)
        _observe_each(self.metrics.outcome_next_volatility, batch.outcome_moves)
        for reason, count in batch.unlabelled.items():
            self.metrics.outcomes_unlabelled.labels(reason).inc(count)
        self._account_forecasts(batch)
        self.metrics.outcomes_pending.set(self.processor.labels.pending)
        self.health.last_batch_at = time.time()
        if batch.last_event_ts is not None:
            self._last_event_ts = batch.last_event_ts
        if self.health.last_error.startswith("commit"):
            self.health.last_error = ""
        started, count = self._rate_window
        self._rate_window = (started, count + batch.records)
        # Last: a reader who sees these messages processed sees their DLQ, error and outcome counts too
        # (counted first, a scrape between the two showed 24 processed and none dead-lettered).
        self.metrics.processed.inc(batch.records)

    def _account_forecasts(self, batch: Batch) -> None:
        """The forecast against what happened: exceedances of its bound, the QLIKE sums (over the
        outcomes persistence could forecast too), and the bound recalibrated, shared every 10 s."""
        if batch.forecast_outcomes:
            exceeded = sum(1 for hit, _, _ in batch.forecast_outcomes if hit)
            self.metrics.forecast_outcomes.labels("1").inc(exceeded)
            self.metrics.forecast_outcomes.labels("0").inc(len(batch.forecast_outcomes) - exceeded)
            compared = [(m, p) for _, m, p in batch.forecast_outcomes if m is not None and p is not None]
            self.metrics.forecast_qlike.labels("model").inc(sum(m for m, _ in compared))
            self.metrics.forecast_qlike.labels("persistence").inc(sum(p for _, p in compared))
        bound = self.processor.bound
        if bound is None:
            return
        self.metrics.forecast_bound.set(bound.multiplier)
        now = time.monotonic()
        if self.publish_bound is not None and now - self._bound_published >= BOUND_PUBLISH_S:
            self._bound_published = now
            try:
                self.publish_bound(bound)
            except OSError as exc:  # a full disk: the bound stays what it was, the stream goes on
                self._fail("bound", f"cannot share the forecast bound: {exc}")

    def _refresh_gauges(self) -> None:
        assignment = self._consumer.assignment() if self._consumer is not None else set()
        self.health.assigned_partitions = len(assignment)
        self.health.partitions = sorted(tp.partition for tp in assignment)
        self.health.ever_assigned = self.health.ever_assigned or bool(assignment)
        # Joining the group, a member owns nothing yet: its lag is unknown (NaN), not 0. A 0 there read
        # as "caught up" while 69,667 ticks waited for a join slowed by a busy machine.
        joining = self._consumer is None or self._joining_since is not None
        offset_lag = math.nan if joining else 0.0
        listed = self._list_ends(assignment)
        for tp in assignment:
            ends = (self._consumer.highwater(tp), listed.get(tp))
            high = max((end for end in ends if end is not None), default=None)
            position = self._positions.get(tp)
            if position is None:
                try:  # kept: asked again each refresh, it timed out now and then on a busy machine
                    position = self._positions[tp] = self._consumer.position(tp, timeout_ms=100)
                except Exception:  # not known yet (joining, or broker away)
                    position = None
            offset_lag += math.nan if high is None or position is None else max(0, high - position)
        self.metrics.offset_lag.set(offset_lag)
        last_event = self._last_event_ts
        # Caught up means no lag, however old the last tick is (a quiet market is not a slow consumer).
        # An unknown offset lag (a position that timed out) leaves it unknown too: "now minus the last
        # tick" would be months after an old recording is ingested, however caught up the member is.
        unknown = joining or offset_lag != offset_lag
        self.metrics.lag_seconds.set(math.nan if unknown else 0.0 if offset_lag == 0 or last_event is None else
                                     max(0.0, time.time() - last_event))
        started, count = self._rate_window
        elapsed = time.monotonic() - started
        if elapsed >= 1.0:
            self.metrics.rate.set(count / elapsed)
            self._rate_window = (time.monotonic(), 0)

    def _list_ends(self, assignment: set[Any]) -> dict[Any, int]:
        """The partitions' ends as ListOffsets gave them at most LIST_ENDS_S ago.

        The fetch responses' high watermark is only as fresh as the last fetch: behind a 20,000-record
        fetch it stays put while the producer goes on, so alone it showed a lag of 0 with 47,000 ticks
        unread. ListOffsets is current but under-reports the end by up to a batch on tansu (docs/design.md
        §8), so the lag uses the larger of the two. A listing that fails or times out (a busy machine)
        keeps the last one: an end only grows, so it is still a lower bound (a re-created topic
        drops it, see `_rewind_raw_topic`)."""
        now = time.monotonic()
        if assignment and now - self._last_listed >= LIST_ENDS_S:
            self._last_listed = now
            # Broker away or slow: the last listing still bounds the end from below.
            with contextlib.suppress(Exception):
                self._listed_ends = dict(self._consumer.end_offsets(list(assignment),
                                                                    timeout_ms=LIST_ENDS_TIMEOUT_MS))
        return self._listed_ends


class _Rewind(ConsumerRebalanceListener):
    """The group's rebalance callbacks: they time the join (see JOIN_STUCK_S), seek newly assigned
    partitions to their beginning once after the topic was re-created, and resume after offsets that
    were delivered but not committed."""

    def __init__(self, service: ConsumeService) -> None:
        self.service = service

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.service._joining_since = time.monotonic()  # kafka-python calls this as a (re)join begins

    def on_partitions_assigned(self, assigned: Any) -> None:
        service = self.service
        service._joining_since = None
        log.info("assigned partitions %s", sorted(tp.partition for tp in assigned))
        if service._from_beginning and assigned:
            service._consumer.seek_to_beginning(*assigned)
            service._from_beginning = False
            return
        resume = {tp: offset for tp, offset in service._uncommitted.items() if tp in assigned}
        for tp, offset in resume.items():  # delivered already: the group's committed offset is older
            service._consumer.seek(tp, offset)
        if resume:
            log.info("resuming after the delivered offsets %s (their commit had failed)",
                     {tp.partition: offset for tp, offset in resume.items()})
            service._resumed = resume
        service._uncommitted = {}


def _observe_each(histogram: Any, samples: list[tuple[str, int, float]]) -> None:
    """(variant, 0|1, value) samples into a histogram labelled by both; labels() is a dict lookup
    behind a lock, so each child is looked up once per batch."""
    children: dict[tuple[str, int], Any] = {}
    for variant, flag, value in samples:
        child = children.get((variant, flag))
        if child is None:
            child = children[(variant, flag)] = histogram.labels(variant, str(flag))
        child.observe(value)

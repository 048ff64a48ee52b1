"""Publishing to Kafka: one producer, sends counted as acknowledged or failed, never silently lost.

A broker that goes away is noticed within `timeout_s`: a send that cannot be delivered (or that
blocks for metadata) is counted as failed, and once sends fail while the broker does not accept
connections, `send` raises Unreachable naming how many ticks were acknowledged before that.
"""

from __future__ import annotations

import time
from typing import Any

from services.streaming import PRODUCER_TUNING, is_reachable
from volctl.errors import Unreachable

REACHABILITY_CHECK_S = 1.0


class Publisher:
    def __init__(self, bootstrap: str, client_id: str = "volctl-ingest", timeout_s: float = 10.0,
                 **tuning: Any) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        if not is_reachable(bootstrap):  # fail in milliseconds, not after the client's 30 s of retries
            raise Unreachable(f"Kafka at {bootstrap} does not answer",
                              hint="start the stack with `volctl up`, or check kafka.bootstrap")
        self.acked = 0
        self.failed = 0
        self.last_error = ""
        self._checked_at = 0.0
        wait_ms = int(timeout_s * 1000)
        bounded = {"max_block_ms": min(PRODUCER_TUNING["max_block_ms"], wait_ms),
                   "request_timeout_ms": min(PRODUCER_TUNING["request_timeout_ms"], wait_ms),
                   "delivery_timeout_ms": wait_ms + PRODUCER_TUNING["linger_ms"]}
        try:
            self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id=client_id,
                                           **{**PRODUCER_TUNING, **bounded, **tuning})
        except KafkaError as exc:
            raise Unreachable(f"Kafka at {bootstrap} does not answer ({type(exc).__name__})",
                              hint="start the stack with `volctl up`, or check kafka.bootstrap") from exc

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        from kafka.errors import KafkaError

        self._check_broker()
        try:
            future = self._producer.send(topic, key=key, value=value)
        except KafkaError as exc:  # metadata or buffer timeout: the broker is away
            self._failed(exc)
            return
        future.add_callback(self._acked)
        future.add_errback(self._failed)

    def went_away(self) -> Unreachable:
        return Unreachable(
            f"Kafka at {self.bootstrap} went away: {self.acked} ticks acknowledged before it did, "
            f"{self.failed} not delivered ({self.last_error})",
            hint="restart the broker (`volctl up`) and replay again; consumers drop duplicates by source offset",
        )

    def flush(self, timeout_s: float | None = None) -> None:
        try:
            self._producer.flush(timeout=self.timeout_s if timeout_s is None else timeout_s)
        except Exception as exc:  # KafkaTimeoutError and friends: what was not acknowledged stays failed
            self.last_error = f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self.flush()
        try:
            self._producer.close(timeout=min(self.timeout_s, 5.0))
        except Exception as exc:
            self.last_error = self.last_error or f"{type(exc).__name__}: {exc}"

    def _check_broker(self) -> None:
        """Once sends fail, look (at most once a second) whether the broker still accepts connections."""
        if not self.failed:
            return
        now = time.monotonic()
        if now - self._checked_at < REACHABILITY_CHECK_S:
            return
        self._checked_at = now
        if not is_reachable(self.bootstrap):
            raise self.went_away()

    def _acked(self, _metadata: Any) -> None:
        self.acked += 1

    def _failed(self, exc: BaseException) -> None:
        self.failed += 1
        self.last_error = f"{type(exc).__name__}: {exc}"

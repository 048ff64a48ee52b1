"""Publishing to Kafka: one producer, sends counted as acknowledged or failed, never silently lost."""

from __future__ import annotations

from typing import Any

from services.streaming import PRODUCER_TUNING, is_reachable
from volctl.errors import Unreachable


class Publisher:
    def __init__(self, bootstrap: str, client_id: str = "volctl-ingest", **tuning: Any) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.bootstrap = bootstrap
        if not is_reachable(bootstrap):  # fail in milliseconds, not after the client's 30 s of retries
            raise Unreachable(f"Kafka at {bootstrap} does not answer",
                              hint="start the stack with `volctl up`, or check kafka.bootstrap")
        self.acked = 0
        self.failed = 0
        self.last_error = ""
        try:
            self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id=client_id,
                                           **{**PRODUCER_TUNING, **tuning})
        except KafkaError as exc:
            raise Unreachable(f"Kafka at {bootstrap} does not answer ({type(exc).__name__})",
                              hint="start the stack with `volctl up`, or check kafka.bootstrap") from exc

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        from kafka.errors import KafkaError

        try:
            future = self._producer.send(topic, key=key, value=value)
        except KafkaError as exc:  # metadata or buffer timeout: the broker is away
            self._failed(exc)
            return
        future.add_callback(self._acked)
        future.add_errback(self._failed)

    def flush(self, timeout_s: float = 30.0) -> None:
        from kafka.errors import KafkaError

        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            self.last_error = str(exc)

    def close(self) -> None:
        self.flush()
        self._producer.close(timeout=5)

    def _acked(self, _metadata: Any) -> None:
        self.acked += 1

    def _failed(self, exc: BaseException) -> None:
        self.failed += 1
        self.last_error = f"{type(exc).__name__}: {exc}"

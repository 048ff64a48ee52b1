"""Helpers for tests against the real broker: per-test topics and config, topic readers."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.conftest import ServiceProcess, free_port, own_ports, volctl, wait_for_http, write_config


@dataclass
class StreamEnv:
    """One test's slice of a broker: its own topics, group, ports and state directory."""

    bootstrap: str
    embedded_port: int
    suffix: str
    state_dir: Path
    registry: Path
    consume_port: int = field(default_factory=free_port)
    services: list[ServiceProcess] = field(default_factory=list)

    @property
    def topics(self) -> dict[str, str]:
        return {name: f"ticks.{name}.{self.suffix}" for name in ("raw", "predictions", "dlq")}

    @property
    def config_path(self) -> Path:
        path = self.state_dir / "volctl.toml"
        if not path.exists():
            ports = {**own_ports(), "kafka.embedded_port": self.embedded_port, "consume.port": self.consume_port}
            write_config(path, {
                "state_dir": str(self.state_dir), "kafka.partitions": 3, "kafka.topic_raw": self.topics["raw"],
                "kafka.topic_predictions": self.topics["predictions"], "kafka.topic_dlq": self.topics["dlq"],
                "kafka.group": f"volctl-consumer-{self.suffix}", "model.registry_dir": str(self.registry),
                "model.variant": "ml"}, ports)
        return path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "VOLCTL_CONFIG": str(self.config_path), "NO_COLOR": "1", "COLUMNS": "120"}

    @property
    def consume_url(self) -> str:
        return f"http://127.0.0.1:{self.consume_port}"

    def start_consume(self) -> ServiceProcess:
        service = ServiceProcess(["-m", "services.consume", "--config", str(self.config_path)], self.consume_url,
                                 self.state_dir / f"consume-{len(self.services)}.log")
        self.services.append(service)
        wait_for_http(self.consume_url + "/metrics", process=service.process)
        return service

    def ingest(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return volctl("ingest", *args, env={"VOLCTL_CONFIG": str(self.config_path), "NO_COLOR": "1",
                                            "COLUMNS": "120"}, timeout=timeout)

    def metrics(self) -> dict[str, float]:
        return parse_metrics(httpx.get(self.consume_url + "/metrics", timeout=5).text)

    def wait_processed(self, count: int, timeout_s: float = 60) -> dict[str, float]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            metrics = self.metrics()
            if metrics.get("volatility_consumer_messages_processed_total", 0) >= count:
                return metrics
            time.sleep(0.2)
        raise TimeoutError(f"consumer processed {self.metrics()} of {count} in {timeout_s} s")

    def stop(self) -> None:
        for service in self.services:
            if service.process.poll() is None:
                service.stop()


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {series: value} (series with labels keep them in the key)."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def read_topic(bootstrap: str, topic: str, quiet_s: float = 1.0) -> list[Any]:
    """Every record of a topic, reading until it has been quiet for `quiet_s` at the high watermarks."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="test-reader")
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        records: list[Any] = []
        last_data = time.monotonic()
        while time.monotonic() - last_data < quiet_s:
            batch = consumer.poll(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
                last_data = time.monotonic()
        return records
    finally:
        consumer.close()


def source_keys(prediction_records: list[Any]) -> list[tuple[int, int, int]]:
    """(partition, offset, index) of the input tick behind each prediction."""
    keys = []
    for record in prediction_records:
        source = orjson.loads(record.value)["source"]
        keys.append((source["partition"], source["offset"], source["index"]))
    return keys


def input_keys(raw_records: list[Any]) -> set[tuple[int, int, int]]:
    return {(r.partition, r.offset, 0) for r in raw_records}


def wait_until_covered(bootstrap: str, topics: dict[str, str], timeout_s: float = 90) -> tuple[set, set]:
    """(input keys, covered keys): waits until every raw tick has a prediction, de-duplicated by
    source; the predictions are read once, as they come (one reader, no re-reading from the start)."""
    from kafka import KafkaConsumer, TopicPartition

    deadline = time.monotonic() + timeout_s
    raw_keys = input_keys(read_topic(bootstrap, topics["raw"]))
    covered: set = set()
    reader = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="test-reader")
    try:
        topic = topics["predictions"]
        while not (partitions := reader.partitions_for_topic(topic)) and time.monotonic() < deadline:
            time.sleep(0.2)
        reader.assign([TopicPartition(topic, p) for p in partitions or ()])
        reader.seek_to_beginning()
        while time.monotonic() < deadline and not covered >= raw_keys:
            for part in reader.poll(timeout_ms=200).values():
                covered.update(source_keys(part))
    finally:
        reader.close()
    return raw_keys, covered

"""Consume service throughput against raw kafka-python consumption, side by side in one run.

Preloads N real ticks into ticks.raw of a fresh embedded broker, then measures (a) a bare
kafka-python consumer reading them (no parsing, no producing) and (b) the consume service end to
end: ticks in, features, scoring, predictions produced and acknowledged, offsets committed.
(b) is timed from its first processed batch to its last, read from its own counter, so the
consumer-group join (~3 s) is not counted. Prints the ratio (target >= 50 %).

    python bench/consume_throughput.py [--ticks 100000] [--registry DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import ROOT, SHARED_DATA, free_port, registry_with_model


def preload(bootstrap: str, topic: str, count: int) -> int:
    """Publish `count` real ticks (the recordings repeated as needed) the way `volctl ingest` does."""
    from volctl.clients.kafka import Publisher
    from volctl.core.ingest import Limits, load_replay, publish, replay_stream, synthetic_stream

    if SHARED_DATA.is_dir():
        ticks, _ = load_replay(SHARED_DATA, "UTC")
        stream = replay_stream(ticks, loop=True)
    else:
        print("no recordings at ../shared/data: preloading the synthetic source")
        stream = synthetic_stream(7, None)
    publisher = Publisher(bootstrap)
    summary = publish(stream, publisher, topic, "bench", limits=Limits(max_ticks=count))
    publisher.close()
    print(f"preloaded {summary.sent:,} ticks in {summary.seconds:.1f} s ({summary.rate:,.0f}/s)")
    return summary.sent


def raw_consumption(bootstrap: str, topic: str, count: int) -> float:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
    consumer.seek_to_beginning()
    seen, started = 0, time.perf_counter()
    while seen < count:
        seen += sum(len(batch) for batch in consumer.poll(timeout_ms=500, max_records=2000).values())
    elapsed = time.perf_counter() - started
    consumer.close()
    return seen / elapsed


def processed(url: str) -> float:
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line.startswith("volatility_consumer_messages_processed_total "):
            return float(line.split()[1])
    return 0.0


def service_throughput(config: Path, port: int, count: int) -> float:
    url = f"http://127.0.0.1:{port}/metrics"
    process = subprocess.Popen([sys.executable, "-m", "services.consume", "--config", str(config)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first: tuple[float, float] | None = None
        last_change, last_done = time.perf_counter(), -1.0
        while True:
            try:
                done = processed(url)
            except httpx.HTTPError:
                done = 0.0
            now = time.perf_counter()
            if done and first is None:
                first = (now, done)
            if done >= count:
                return (done - first[1]) / (now - first[0])
            if done != last_done:
                last_change, last_done = now, done
            elif now - last_change > 30 or process.poll() is not None:
                raise SystemExit(f"the consume service stalled at {done:.0f} of {count} ticks")
            time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=100_000)
    parser.add_argument("--registry", help="model registry (default: train one on ../shared/data)")
    args = parser.parse_args()
    from volctl.clients.processes import Supervisor
    from volctl.core.broker import start_broker
    from volctl.domain.settings import load_settings

    state = Path(tempfile.mkdtemp(prefix="volctl-bench-consume-"))
    registry = registry_with_model(args.registry)
    kafka_port, consume_port = free_port(), free_port()
    config = state / "volctl.toml"
    config.write_text(f'state_dir = "{state}"\n[kafka]\nembedded_port = {kafka_port}\n'
                      f'[consume]\nport = {consume_port}\n[model]\nregistry_dir = "{registry}"\nvariant = "ml"\n')
    settings = load_settings(config)
    supervisor = Supervisor(state)
    broker = start_broker(settings, supervisor)
    try:
        count = preload(broker.bootstrap, settings.kafka.topic_raw, args.ticks)
        raw = raw_consumption(broker.bootstrap, settings.kafka.topic_raw, count)
        service = service_throughput(config, consume_port, count)
        print(f"{'raw kafka-python consume':<36} {raw:>10,.0f} msgs/s")
        print(f"{'consume service end to end':<36} {service:>10,.0f} ticks/s")
        print(f"ratio {service / raw:.0%} (target >= 50%)")
    finally:
        supervisor.stop("broker")
    return 0


if __name__ == "__main__":
    sys.exit(main())

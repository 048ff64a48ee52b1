"""Consume service throughput against raw kafka-python consumption, side by side in one run.

Preloads N real ticks into ticks.raw of a fresh embedded broker, then measures (a) a bare
kafka-python consumer reading them (no parsing, no producing) and (b) the consume service end to
end: ticks in, features, scoring, predictions produced and acknowledged, offsets committed, every
labelable prediction joined with its label (outcomes produced) but no challenger in shadow, and
(c) the same with two challengers scored in shadow (the served version's other variant and a
second version added as `volctl shadow add` does). Each service run is timed from its first
processed batch to its last, read from its own counter, so the consumer-group join (~3 s) is not
counted. Prints the ratios (targets: b/a >= 50 %, c/b >= 80 %) and outcomes per second.

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
    from volctl.core.operations.ingest import Limits, load_replay, publish, replay_stream, synthetic_stream

    if SHARED_DATA.is_dir():
        ticks, _ = load_replay(SHARED_DATA, "UTC")
        stream = replay_stream(ticks, loop=True)
    else:
        print("no recordings at ../shared/data: preloading the synthetic source")
        stream = synthetic_stream(7, None)
    from volctl.domain.settings import KafkaSettings

    publisher = Publisher(bootstrap, products=KafkaSettings().products)
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


def counter(url: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in httpx.get(url, timeout=5).text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def service_throughput(config: Path, port: int, count: int) -> tuple[float, float]:
    """(ticks/s, outcomes/s) of one consume service run over the preloaded ticks."""
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
                outcomes = counter(url, "volatility_outcomes_total") / max(1, len(_variants(url)))
                return (done - first[1]) / (now - first[0]), outcomes / (now - first[0])
            if done != last_done:
                last_change, last_done = now, done
            elif now - last_change > 30 or process.poll() is not None:
                raise SystemExit(f"the consume service stalled at {done:.0f} of {count} ticks")
            time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(15)


def _variants(url: str) -> set[str]:
    return {line.split('variant="')[1].split('"')[0] for line in httpx.get(url, timeout=5).text.splitlines()
            if line.startswith("volatility_outcomes_total{")}


def run_config(state: Path, name: str, kafka_port: int, registry: Path, shadow: bool,
               added: list[str]) -> tuple[Path, int]:
    """A consume service config of its own (state, port, consumer group): each run reads from the start."""
    import json

    folder = state / name
    folder.mkdir()
    port = free_port()
    config = folder / "volctl.toml"
    config.write_text(f'state_dir = "{folder}"\n[kafka]\nembedded_port = {kafka_port}\ngroup = "bench-{name}"\n'
                      f'[consume]\nport = {port}\n[model]\nregistry_dir = "{registry}"\nvariant = "ml"\n'
                      f"shadow = {'true' if shadow else 'false'}\n")
    if added:
        (folder / "shadow-consume.json").write_text(json.dumps({"models": [
            {"variant": "ml", "version": version} for version in added]}))
    return config, port


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=100_000)
    parser.add_argument("--registry", help="model registry (default: train one on ../shared/data)")
    args = parser.parse_args()
    import shutil

    from volctl.clients.processes import Supervisor
    from volctl.core.operations.broker import start_broker
    from volctl.domain.registry import Registry
    from volctl.domain.settings import load_settings

    state = Path(tempfile.mkdtemp(prefix="volctl-bench-consume-"))
    registry = registry_with_model(args.registry)
    newest = Registry(registry).latest()
    second = "0000-bench-challenger"  # a second version, scored in shadow as `volctl shadow add` would
    if not (registry / second).exists():
        shutil.copytree(registry / newest, registry / second)
        manifest = (registry / second / "manifest.json")
        manifest.write_text(manifest.read_text().replace(f'"version": "{newest}"', f'"version": "{second}"'))
    kafka_port = free_port()
    plain, plain_port = run_config(state, "no-shadow", kafka_port, registry, False, [])
    shadowed, shadowed_port = run_config(state, "two-challengers", kafka_port, registry, True, [second])
    settings = load_settings(plain)
    supervisor = Supervisor(state)
    broker = start_broker(settings, supervisor)
    try:
        count = preload(broker.bootstrap, settings.kafka.topic_raw, args.ticks)
        raw = raw_consumption(broker.bootstrap, settings.kafka.topic_raw, count)
        alone, outcomes_alone = service_throughput(plain, plain_port, count)
        both, outcomes_both = service_throughput(shadowed, shadowed_port, count)
        print(f"{'raw kafka-python consume':<44} {raw:>10,.0f} msgs/s")
        print(f"{'consume service, no shadow':<44} {alone:>10,.0f} ticks/s  {outcomes_alone:>8,.0f} outcomes/s")
        print(f"{'consume service, two challengers in shadow':<44} {both:>10,.0f} ticks/s  "
              f"{outcomes_both:>8,.0f} outcomes/s")
        print(f"ratio service / raw {alone / raw:.0%} (target >= 50%); two challengers / none {both / alone:.0%} "
              "(target >= 80%)")
    finally:
        supervisor.stop("broker")
    return 0


if __name__ == "__main__":
    sys.exit(main())

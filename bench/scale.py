"""Scaling out, side by side in one run: consume throughput with 1, 2 and 3 members of one consumer
group, and predict capacity with 1 and 2 workers sharing a port, each as a ratio to one process.

Consume: N synthetic ticks of three products (the recordings hold two: BTC-USD and ETH-USD, so a
third member would idle) are preloaded into a topic of three partitions, one product each. For
each member count a fresh group reads them; throughput is the group's processed count over a
window that starts once every member owns its partitions (the join is not counted) and ends
before the smallest partition drains. Predict: `hey` at increasing concurrency against one
process, then two workers (`--worker 1|2`, SO_REUSEPORT), the ml variant; the best rate counts.

`--source real` preloads the recordings in ../shared/data instead (twice over): two products, and
nearly all ticks are BTC-USD, so the group's rate is the time to drain every tick, and a member per
product cannot go faster than the member that holds BTC-USD. That is the figure a team with one
busy product should read before adding consumers.

    python bench/scale.py [--source synthetic|real] [--ticks 200000] [--window 4] [--seconds 4] [--registry DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import ROOT, SHARED_DATA, free_port, registry_with_model
from consume_throughput import processed
from predict_capacity import hey

CONCURRENCY = (10, 25, 50)


def preload(bootstrap: str, topic: str, count: int) -> int:
    from volctl.clients.kafka import Publisher
    from volctl.core.operations.ingest import Limits, publish, synthetic_stream
    from volctl.domain.settings import KafkaSettings

    publisher = Publisher(bootstrap, products=KafkaSettings().products)
    summary = publish(synthetic_stream(7, None), publisher, topic, "bench", limits=Limits(max_ticks=count))
    publisher.close()
    print(f"preloaded {summary.sent:,} synthetic ticks of 3 products in {summary.seconds:.1f} s")
    return summary.sent


def preload_real(bootstrap: str, topic: str, passes: int = 2) -> int:
    from collections import Counter

    from volctl.clients.kafka import Publisher
    from volctl.core.operations.ingest import load_replay, publish
    from volctl.domain.settings import KafkaSettings

    ticks, _ = load_replay(SHARED_DATA, "UTC")
    publisher = Publisher(bootstrap, products=KafkaSettings().products)
    summary = publish(((n, t) for n in range(1, passes + 1) for t in ticks), publisher, topic, "bench")
    publisher.close()
    mix = ", ".join(f"{p} {c / len(ticks):.1%}" for p, c in Counter(t.product for t in ticks).most_common())
    print(f"preloaded {summary.sent:,} recorded ticks ({passes} passes; {mix}) in {summary.seconds:.1f} s")
    return summary.sent


def group_throughput(state: Path, kafka_port: int, registry: Path, members: int, window_s: float,
                     drain: int | None = None) -> float:
    """Ticks per second of `members` consume processes in a fresh group, once all of them own
    partitions: over `window_s`, or (`drain`) until that many ticks are processed."""
    folder = state / f"members-{members}"
    folder.mkdir()
    base = free_port()
    while any(_taken(base + i) for i in range(members)):
        base = free_port()
    config = folder / "volctl.toml"
    config.write_text(f'state_dir = "{folder}"\n[kafka]\nembedded_port = {kafka_port}\ngroup = "bench-{members}"\n'
                      f'[consume]\nport = {base}\n[model]\nregistry_dir = "{registry}"\nvariant = "ml"\n'
                      "shadow = false\n")
    urls = [f"http://127.0.0.1:{base + i}" for i in range(members)]
    logs = [(folder / f"member-{i + 1}.log").open("wb") for i in range(members)]  # read when one fails
    processes = [subprocess.Popen([sys.executable, "-m", "services.consume", "--config", str(config),
                                   "--member", str(i + 1)], cwd=ROOT,
                                  stdout=logs[i], stderr=subprocess.STDOUT) for i in range(members)]
    try:
        deadline = time.monotonic() + 60
        while not all(_partitions(url) for url in urls):
            if time.monotonic() > deadline:
                raise SystemExit(f"{members} members did not all get partitions within 60 s")
            time.sleep(0.05)
        started, first = time.perf_counter(), sum(processed(url + "/metrics") for url in urls)
        if drain is None:
            time.sleep(window_s)
        while drain is not None and _processed_by(urls) < drain:
            if time.perf_counter() - started > 600:
                raise SystemExit(f"{members} members did not drain {drain:,} ticks within 600 s")
            for process in processes:
                if process.poll() is not None:
                    raise SystemExit(f"a consume member exited with {process.returncode} during the drain "
                                     f"(its log: {folder})")
            time.sleep(0.2)
        done = sum(processed(url + "/metrics") for url in urls)
        return (done - first) / (time.perf_counter() - started)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(15)
        for log in logs:
            log.close()


def _processed_by(urls: list[str]) -> float:
    """The group's processed count; a scrape cut short (a member busy) counts as not there yet."""
    try:
        return sum(processed(url + "/metrics") for url in urls)
    except httpx.HTTPError:
        return 0.0


def _partitions(url: str) -> list[int]:
    try:
        return httpx.get(url + "/health", timeout=1).json().get("partitions") or []
    except (httpx.HTTPError, ValueError):
        return []


def _taken(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def predict_capacity(registry: Path, workers: int, body: Path, seconds: float) -> float:
    port, worker_port = free_port(), free_port()
    config = Path(tempfile.mkdtemp()) / "volctl.toml"
    config.write_text(f'[predict]\nport = {port}\nworkers = {workers}\nworker_port = {worker_port}\n'
                      f'[model]\nregistry_dir = "{registry}"\nvariant = "ml"\n')
    argv = [[sys.executable, "-m", "services.predict", "--config", str(config)]]
    if workers > 1:
        argv = [[*argv[0], "--worker", str(i + 1)] for i in range(workers)]
    processes = [subprocess.Popen(a, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for a in argv]
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(1.0 if workers > 1 else 0.0)  # the other workers bind a moment later
        return max(hey(f"http://127.0.0.1:{port}/predict", body, seconds, c)["rps"] for c in CONCURRENCY)
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", choices=("synthetic", "real"), default="synthetic")
    parser.add_argument("--ticks", type=int, default=200_000, help="synthetic ticks preloaded")
    parser.add_argument("--window", type=float, default=4.0, help="seconds of consumption measured per run")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per hey run")
    parser.add_argument("--registry", help="model registry (default: train one on ../shared/data)")
    args = parser.parse_args()
    if not shutil.which("hey"):
        raise SystemExit("hey is not installed: apt-get install hey")
    import os

    from volctl.clients.processes import Supervisor
    from volctl.core.operations.broker import start_broker
    from volctl.domain.registry import Registry
    from volctl.domain.settings import load_settings

    registry = registry_with_model(args.registry)
    state = Path(tempfile.mkdtemp(prefix="volctl-bench-scale-"))
    kafka_port = free_port()
    settings = load_settings(env={}, overrides={"state_dir": str(state), "kafka.embedded_port": kafka_port})
    supervisor = Supervisor(state)
    broker = start_broker(settings, supervisor)
    try:
        if args.source == "real":
            if not SHARED_DATA.is_dir():
                raise SystemExit(f"--source real reads the recordings in {SHARED_DATA}: there are none")
            total = preload_real(broker.bootstrap, settings.kafka.topic_raw)
            consume = {n: group_throughput(state, kafka_port, registry, n, args.window, drain=total) for n in (1, 2, 3)}
        else:
            preload(broker.bootstrap, settings.kafka.topic_raw, args.ticks)
            consume = {n: group_throughput(state, kafka_port, registry, n, args.window) for n in (1, 2, 3)}
    finally:
        supervisor.stop("broker")
    manifest = Registry(registry).manifest(Registry(registry).latest())
    body = Path(tempfile.mkstemp(suffix=".json")[1])
    body.write_text(json.dumps({"rows": manifest["sample_rows"][:1]}))
    predict = {n: predict_capacity(registry, n, body, args.seconds) for n in (1, 2)}

    print(f"this machine: {os.cpu_count()} cores, shared by the broker, the members and the load generator")
    print(f"{'consume members':<16} {'ticks/s':>10} {'vs one':>7}")
    for n, rate in consume.items():
        print(f"{n:<16} {rate:>10,.0f} {rate / consume[1]:>6.2f}x")
    print(f"{'predict workers':<16} {'req/s':>10} {'vs one':>7}")
    for n, rate in predict.items():
        print(f"{n:<16} {rate:>10,.0f} {rate / predict[1]:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

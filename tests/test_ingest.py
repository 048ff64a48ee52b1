"""`volctl ingest`: pacing and event time (unit), the live feed against a local WebSocket server
that serves recorded real frames and drops the connection mid-stream (integration)."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import orjson
import pytest

from tests.streaming import StreamEnv, read_topic
from volctl.core.operations.ingest import at_rate, load_replay, paced
from volctl.domain.ticks import Tick

LIVE = "btcusd_2026-04-04_advtrade_live_messages.ndjson"


def _ticks(times: list[float]) -> list[tuple[int, Tick]]:
    return [(1, Tick("BTC-USD", t, "100")) for t in times]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacing_follows_event_time_and_shortens_gaps() -> None:
    clock = FakeClock()
    ticks = _ticks([100.0, 101.0, 103.0, 3600.0, 3601.0])  # an hour-long recording gap
    list(paced(ticks, speed=2.0, max_gap_s=20.0, sleep=clock.sleep, clock=lambda: clock.now))
    assert clock.now == pytest.approx((1 + 2 + 20 + 1) / 2)


def test_pacing_at_speed_zero_never_waits() -> None:
    clock = FakeClock()
    assert len(list(paced(_ticks([0, 50, 100]), 0, sleep=clock.sleep, clock=lambda: clock.now))) == 3
    assert clock.sleeps == []


def test_a_loop_back_in_time_waits_one_gap_not_forever() -> None:
    clock = FakeClock()
    passes = [(number, tick) for number, (_, tick) in zip([1, 1, 2, 2], _ticks([10.0, 11.0, 10.0, 11.0]), strict=True)]
    list(paced(passes, 1.0, max_gap_s=5.0, sleep=clock.sleep, clock=lambda: clock.now))
    assert clock.now == pytest.approx(1 + 5 + 1)


def test_slightly_out_of_order_ticks_go_at_once() -> None:
    """Two products interleaved by receive time: a tick 0.2 s older than the one before is not a gap."""
    clock = FakeClock()
    list(paced(_ticks([10.0, 10.5, 10.3, 11.0, 10.9, 12.0]), 1.0, max_gap_s=20.0, sleep=clock.sleep,
               clock=lambda: clock.now))
    assert clock.now == pytest.approx(2.0)


def test_at_rate_releases_tick_n_at_n_over_the_rate() -> None:
    """The synthetic source's schedule: 200/s over 3 s is 600 ticks, and a slow send is caught up
    at once (no sleep while behind) rather than shifting every later tick."""
    clock = FakeClock()
    released: list[float] = []
    for _ in at_rate(_ticks([0.0] * 600), 200.0, sleep=clock.sleep, clock=lambda: clock.now):
        released.append(clock.now)
        if len(released) == 100:
            clock.now += 0.25  # the producer stalled for 50 ticks' worth
    assert released[1] == pytest.approx(1 / 200) and released[-1] == pytest.approx(599 / 200)
    assert released[100:150] == [pytest.approx(99 / 200 + 0.25)] * 50  # behind: no waiting


def _serve_frames(frames: list[str], drop_after: int, port_box: list[int], subscriptions: list[dict],
                  stop: threading.Event) -> None:
    """A stand-in for Coinbase: sends the frames after a ticker subscription; the first connection
    is cut (no close handshake) after `drop_after` frames, the next one continues."""
    from websockets.asyncio.server import serve

    sent = 0

    async def handler(socket) -> None:
        nonlocal sent
        async for message in socket:
            request = json.loads(message)
            subscriptions.append(request)
            if request["channel"] != "ticker":
                continue
            first_connection = sent == 0
            while sent < len(frames):
                await socket.send(frames[sent])
                sent += 1
                if first_connection and sent == drop_after:
                    await asyncio.sleep(0.5)  # let the frames already sent reach the client
                    socket.transport.abort()  # a dropped connection, not a polite close
                    return
            await asyncio.sleep(30)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port_box.append(server.sockets[0].getsockname()[1])
            while not stop.is_set():
                await asyncio.sleep(0.05)

    asyncio.run(main())


@pytest.mark.integration
def test_live_feed_reconnects_resubscribes_publishes_and_records(stream_env: StreamEnv, shared_data: Path) -> None:
    frames = (shared_data / LIVE).read_text().splitlines()[:300]
    port_box: list[int] = []
    subscriptions: list[dict] = []
    stop = threading.Event()
    server = threading.Thread(target=_serve_frames, args=(frames, 120, port_box, subscriptions, stop), daemon=True)
    server.start()
    while not port_box:
        threading.Event().wait(0.02)
    record = stream_env.state_dir / "recorded.ndjson"
    config = stream_env.config_path
    config.write_text(config.read_text() + f'[data]\nlive_url = "ws://127.0.0.1:{port_box[0]}"\n'
                      'products = ["BTC-USD"]\n')
    try:
        result = stream_env.ingest("--live", "--record", str(record), "--limit", "300", "--duration", "60", "--json")
    finally:
        stop.set()
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["sent"] == 300 and summary["failed"] == 0 and summary["recorded"] == 300
    assert "reconnecting" in result.stderr and "reconnected" in result.stderr
    tickers = [s for s in subscriptions if s["channel"] == "ticker"]
    assert len(tickers) == 2 and all(s["product_ids"] == ["BTC-USD"] for s in tickers)

    published = [orjson.loads(r.value) for r in read_topic(stream_env.bootstrap, stream_env.topics["raw"])]
    assert len(published) == 300
    assert published[0]["time"] == "2026-04-04T21:13:43.291084Z"  # exchange event time, kept
    replayed, stats = load_replay(record, "UTC")  # the recording is a replay (and training) file
    assert len(replayed) == 300 and stats.bad_total == 0
    assert [t.time_iso for t in replayed] == [p["time"] for p in published]

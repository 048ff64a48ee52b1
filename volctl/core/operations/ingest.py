"""Publish ticks to the raw topic: replayed recordings, the synthetic source, or the live feed.

Each tick goes out as the flat wire record (`Tick.to_wire`), keyed by product so that a product's
ticks stay in order on one partition. Event times are kept (`event_time="original"`) or replaced
by the send time (`"now"`, the recorded time kept as `recorded_time`): the latter makes an old
recording look live, which is what a looping demo wants.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from volctl.clients.kafka import Publisher
from volctl.domain.clock import utc_iso
from volctl.domain.errors import ConfigError, Unreachable
from volctl.domain.recordings import RECORDING_HINT, ReadStats, RecordingError, discover_series, iter_series
from volctl.domain.synthetic import synthetic_ticks
from volctl.domain.ticks import BadTick, Tick, normalise

EVENT_TIMES = ("original", "now")
DEFAULT_MAX_GAP_S = 20.0  # longer silences are shortened when pacing (> the feature gap of 15 s)
Progress = Callable[[int, int | None], None]
PROGRESS_EVERY = 500


@dataclass
class IngestSummary:
    source: str
    topic: str
    sent: int = 0
    failed: int = 0
    resent: int = 0  # sent again through a new producer after the broker refused them (at-least-once)
    skipped: int = 0  # bad lines or frames, by reason in `bad`
    bad: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    passes: int = 0
    products: dict[str, int] = field(default_factory=dict)
    first_event: str | None = None  # the event times sent (now, with --event-time now)
    last_event: str | None = None
    recorded_span: tuple[str, str] | None = None  # with --event-time now: the recorded times they replace
    recorded: int = 0
    record_path: str | None = None
    stopped_early: bool = False
    problem: str | None = None  # why it stopped before the end (the broker went away), with the counts

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Limits:
    max_ticks: int | None = None
    max_seconds: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def reached(self, sent: int, started: float) -> bool:
        return (self.stop.is_set() or (self.max_ticks is not None and sent >= self.max_ticks)
                or (self.max_seconds is not None and time.monotonic() - started >= self.max_seconds))


def load_replay(path: Path, naive_tz: str) -> tuple[list[Tick], ReadStats]:
    """Every series under `path` (a file or a folder of them), in order."""
    stats = ReadStats()
    try:
        ticks = [tick for series in discover_series(path) for tick in iter_series(series, naive_tz, stats=stats)]
    except RecordingError as exc:
        raise ConfigError(str(exc), hint=RECORDING_HINT) from exc
    if not ticks:
        raise ConfigError(stats.no_ticks(path), hint=RECORDING_HINT)
    return ticks, stats


def replay_stream(ticks: list[Tick], loop: bool) -> Iterator[tuple[int, Tick]]:
    """(pass number, tick); a looping replay starts again after the last tick."""
    number = 1
    while True:
        for tick in ticks:
            yield number, tick
        if not loop:
            return
        number += 1


def paced(stream: Iterable[tuple[int, Tick]], speed: float, max_gap_s: float = DEFAULT_MAX_GAP_S,
          sleep: Callable[[float], None] = time.sleep,
          clock: Callable[[], float] = time.monotonic) -> Iterator[tuple[int, Tick]]:
    """Release ticks at `speed` × their event-time spacing (0: no waiting). Silences longer than
    `max_gap_s` (recording gaps, the jump back at a loop or to an older file) are shortened to it.
    A tick slightly older than the one before (products interleaved by receive time) goes at once:
    treating it as a jump would stall the replay for a whole gap."""
    if speed <= 0:
        yield from stream
        return
    started = clock()
    event_offset = 0.0
    previous: float | None = None
    previous_pass = None
    for item in stream:
        number, ts = item[0], item[1].ts
        jumped = previous is not None and (number != previous_pass or ts < previous - max_gap_s)
        if previous is not None:
            event_offset += max_gap_s if jumped else min(max(ts - previous, 0.0), max_gap_s)
        if previous is None or jumped or ts > previous:  # an out-of-order tick does not move the clock back
            previous = ts
        previous_pass = number
        wait = started + event_offset / speed - clock()
        if wait > 0:
            sleep(wait)
        yield item


def at_rate(stream: Iterable[tuple[int, Tick]], per_second: float, sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.monotonic) -> Iterator[tuple[int, Tick]]:
    """Release exactly `per_second` ticks a second (tick n at start + n / per_second), whatever
    their own spacing: the synthetic source at a chosen rate."""
    started = clock()
    for count, item in enumerate(stream):
        wait = started + count / per_second - clock()
        if wait > 0:
            sleep(wait)
        yield item


def synthetic_stream(seed: int, duration_s: float | None) -> Iterator[tuple[int, Tick]]:
    for tick in synthetic_ticks(seed=seed, duration_s=duration_s or 10 * 365 * 86400.0, start_ts=time.time()):
        yield 1, tick


def publish(stream: Iterable[tuple[int, Tick]], publisher: Publisher, topic: str, source: str,
            event_time: str = "original", limits: Limits | None = None, total: int | None = None,
            progress: Progress | None = None) -> IngestSummary:
    """Send every tick of `stream` (until a limit) and wait for the broker's acknowledgements."""
    limits = limits or Limits()
    summary = IngestSummary(source, topic)
    products: Counter[str] = Counter()
    started = time.monotonic()
    attempted = 0
    try:
        for number, tick in stream:
            if limits.reached(attempted, started):
                summary.stopped_early = True
                break
            sent_as = _send_tick(publisher, topic, tick, event_time)
            attempted += 1
            products[tick.product] += 1
            summary.passes = number
            summary.first_event = summary.first_event or sent_as
            summary.last_event = sent_as
            if event_time == "now":
                summary.recorded_span = ((summary.recorded_span or (tick.time_iso,))[0], tick.time_iso)
            if progress and attempted % PROGRESS_EVERY == 0:
                progress(attempted, total)
    except Unreachable as exc:  # the broker went away: stop, and say how far we got
        summary.stopped_early, summary.problem = True, exc.message
    publisher.flush()
    if progress:
        progress(attempted, total)
    summary.seconds = time.monotonic() - started
    summary.products = dict(products)
    summary.sent, summary.failed, summary.resent = publisher.acked, publisher.failed, publisher.resent
    if summary.problem:  # the counts after the last flush, not those at the moment it stopped
        summary.problem = publisher.went_away().message
    return summary


def ingest_live(publisher: Publisher, topic: str, url: str, products: list[str], naive_tz: str,
                record_to: Path | None = None, limits: Limits | None = None,
                progress: Progress | None = None, on_event: Callable[[str], None] = lambda _m: None) -> IngestSummary:
    """Publish the live ticker feed; with `record_to`, also append every ticker frame to that file."""
    from volctl.clients.coinbase import ticker_frames

    limits = limits or Limits()
    summary = IngestSummary("live", topic, record_path=str(record_to) if record_to else None)
    bad: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    started = time.monotonic()

    async def consume(record: IO[str] | None) -> None:
        async for frame in ticker_frames(url, products, on_event):
            try:
                ticks = normalise(orjson.loads(frame), naive_tz)
            except (orjson.JSONDecodeError, BadTick) as exc:
                bad[getattr(exc, "reason", "not_json")] += 1
                continue
            if ticks and record is not None:
                record.write(frame.strip() + "\n")
                summary.recorded += 1
            for tick in ticks:
                _send_tick(publisher, topic, tick, "original")
                counts[tick.product] += 1
                summary.first_event = summary.first_event or tick.time_iso
                summary.last_event = tick.time_iso
            if ticks and progress:
                progress(counts.total(), None)
            if limits.reached(counts.total(), started):
                return

    async def run(record: IO[str] | None) -> None:
        task = asyncio.create_task(consume(record))
        while not task.done():  # a quiet or broken feed must not outlive a time limit or Ctrl-C
            if limits.reached(counts.total(), started):
                task.cancel()
            await asyncio.sleep(0.1)
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except Unreachable as exc:  # the broker went away
            summary.problem = exc.message
        summary.stopped_early = limits.stop.is_set() or summary.problem is not None

    record = record_to.open("a", encoding="utf-8", buffering=1) if record_to else None
    try:
        asyncio.run(run(record))
    finally:
        if record is not None:
            record.close()
        publisher.flush()
    summary.seconds = time.monotonic() - started
    summary.products, summary.bad, summary.skipped = dict(counts), dict(bad), sum(bad.values())
    summary.sent, summary.failed, summary.passes = publisher.acked, publisher.failed, 1
    summary.resent = publisher.resent
    return summary


def _send_tick(publisher: Publisher, topic: str, tick: Tick, event_time: str) -> str:
    """Sends the tick; returns the event time it carries."""
    wire: dict[str, Any] = tick.to_wire()
    if event_time == "now":
        wire["recorded_time"] = wire["time"]
        wire["time"] = utc_iso(timespec="microseconds")
    publisher.send(topic, tick.product.encode(), orjson.dumps(wire))
    return wire["time"]

"""Where `volctl ingest` gets its ticks: one `Source` abstraction over a replayed recording, the
seeded synthetic source and the live Coinbase feed. Each publishes through a Publisher until its
end or the limits, and returns the same IngestSummary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from volctl.clients.kafka import Publisher
from volctl.core.operations.ingest import (
    IngestSummary,
    Limits,
    Progress,
    at_rate,
    ingest_live,
    load_replay,
    paced,
    publish,
    replay_stream,
    synthetic_stream,
)
from volctl.domain.recordings import ReadStats
from volctl.domain.settings import Settings
from volctl.domain.ticks import Tick

Note = Callable[[str], None]


class Source(Protocol):
    def publish(self, publisher: Publisher, topic: str, event_time: str, limits: Limits, progress: Progress,
                note: Note) -> IngestSummary: ...


@dataclass
class ReplaySource:
    path: Path
    ticks: list[Tick]
    stats: ReadStats
    loop: bool
    speed: float

    def publish(self, publisher: Publisher, topic: str, event_time: str, limits: Limits, progress: Progress,
                note: Note) -> IngestSummary:
        if self.loop and event_time == "original":
            note("looping with original event times repeats them; --event-time now looks live")
        stream = paced(replay_stream(self.ticks, self.loop), self.speed, sleep=limits.stop.wait)
        summary = publish(stream, publisher, topic, str(self.path), event_time, limits,
                          None if self.loop else len(self.ticks), progress)
        summary.skipped, summary.bad = self.stats.bad_total, dict(self.stats.bad)
        return summary


@dataclass
class SyntheticSource:
    seed: int
    rate: float | None  # exactly this many ticks a second; None: the source's own pace at `speed`
    speed: float

    def publish(self, publisher: Publisher, topic: str, event_time: str, limits: Limits, progress: Progress,
                note: Note) -> IngestSummary:
        wait = limits.stop.wait  # a stop signal ends a long pause at once
        ticks = synthetic_stream(self.seed, None)
        stream = at_rate(ticks, self.rate, sleep=wait) if self.rate else paced(ticks, self.speed, sleep=wait)
        return publish(stream, publisher, topic, "synthetic", event_time, limits, None, progress)


@dataclass
class LiveSource:
    url: str
    products: list[str]
    naive_tz: str
    record_to: Path | None

    def publish(self, publisher: Publisher, topic: str, event_time: str, limits: Limits, progress: Progress,
                note: Note) -> IngestSummary:
        return ingest_live(publisher, topic, self.url, self.products, self.naive_tz, self.record_to, limits,
                           progress, note)


def open_source(settings: Settings, replay: Path | None = None, synthetic: bool = False, live: bool = False,
                record_to: Path | None = None, speed: float = 1.0, loop: bool = False, rate: float | None = None,
                seed: int = 7) -> Source:
    """The one source asked for; a recording is read here, so a bad file fails before Kafka is touched."""
    if live:
        return LiveSource(settings.data.live_url, settings.data.products, settings.data.naive_timezone, record_to)
    if synthetic:
        return SyntheticSource(seed, rate, speed)
    assert replay is not None  # the CLI checks that exactly one source was chosen
    ticks, stats = load_replay(replay, settings.data.naive_timezone)
    return ReplaySource(replay, ticks, stats, loop, speed)

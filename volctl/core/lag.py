"""`volctl lag`: a consumer group's offsets, three time figures, and a Burrow-style status.

Observations (high watermark and committed offset of every partition, and the group's last
commit time) are taken over a sliding window; each partition is then judged the way Burrow
judges a group:

    OK     caught up, or committing and the lag is not growing
    WARN   committing, but the lag grew over the whole window
    ERR    not committing within the window while the lag grew
    STALL  committing, but the committed offset does not advance while there is lag
    STOP   no commit for longer than `stop_after_s` while there is lag

Time figures, side by side, because each answers a different question:
- freshness: now minus the event time of the newest prediction (how old is what we serve?);
- time lag: offset lag divided by the partition's production rate over the window (how far
  behind in time is the consumer? 0 on an idle caught-up partition, never a false alarm);
- time to drain: offset lag divided by the group's consumption rate (when will it catch up?).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from services.streaming import committed_at
from volctl.clients.kafka_reader import KafkaReader

OK, WARN, ERR, STALL, STOP = "OK", "WARN", "ERR", "STALL", "STOP"
SEVERITY = {OK: 0, WARN: 1, ERR: 2, STALL: 3, STOP: 4}
PASSING = {OK, WARN}


@dataclass
class Observation:
    at: float
    high: int
    committed: int | None
    commit_time: float | None


@dataclass
class PartitionLag:
    partition: int
    committed: int | None
    high_watermark: int
    offset_lag: int
    production_rate: float  # messages/s over the window
    consumption_rate: float
    time_lag_s: float | None  # None: lag but nothing produced in the window (cannot estimate)
    status: str
    why: str


@dataclass
class GroupLag:
    group: str
    topic: str
    window_s: float
    observations: int
    partitions: list[PartitionLag] = field(default_factory=list)
    freshness_s: float | None = None
    last_commit_age_s: float | None = None

    @property
    def offset_lag(self) -> int:
        return sum(p.offset_lag for p in self.partitions)

    @property
    def status(self) -> str:
        return max((p.status for p in self.partitions), key=SEVERITY.__getitem__, default=OK)

    @property
    def passing(self) -> bool:
        return self.status in PASSING

    @property
    def time_lag_s(self) -> float | None:
        values = [p.time_lag_s for p in self.partitions]
        return None if any(v is None for v in values) else max(values, default=0.0)

    def as_document(self) -> dict[str, Any]:
        return {"status": self.status, "passing": self.passing, "offset_lag": self.offset_lag,
                "time_lag_s": self.time_lag_s, "drain_s": self.drain_s, **asdict(self)}

    @property
    def drain_s(self) -> float | None:
        """Offset lag over the consumption rate; None when lagging and not consuming at all."""
        if self.offset_lag == 0:
            return 0.0
        rate = sum(p.consumption_rate for p in self.partitions)
        return self.offset_lag / rate if rate > 0 else None


def observe(reader: KafkaReader, group: str, topic: str, commit_clock: Callable[[], float | None]
            ) -> dict[int, Observation]:
    partitions = reader.partitions(topic)
    highs = reader.high_watermarks(partitions)
    committed = reader.committed(group, partitions)
    service_commit = commit_clock()
    now = time.time()
    return {tp.partition: Observation(now, highs[tp], committed[tp].offset,
                                      committed_at(committed[tp].metadata) or service_commit)
            for tp in partitions}


def evaluate(history: list[dict[int, Observation]], stop_after_s: float, now: float | None = None
             ) -> list[PartitionLag]:
    """Judge every partition over the observations (oldest first)."""
    now = now or time.time()
    results = []
    for partition in sorted(history[-1]):
        series = [h[partition] for h in history if partition in h]
        results.append(_judge(partition, series, stop_after_s, now))
    return results


def _judge(partition: int, series: list[Observation], stop_after_s: float, now: float) -> PartitionLag:
    first, last = series[0], series[-1]
    lags = [o.high - (o.committed or 0) for o in series]
    span = max(last.at - first.at, 1e-9)
    produced = (last.high - first.high) / span if len(series) > 1 else 0.0
    consumed = ((last.committed or 0) - (first.committed or 0)) / span if len(series) > 1 else 0.0
    lag = lags[-1]
    time_lag = 0.0 if lag <= 0 else (lag / produced if produced > 0 else None)
    growing = len(lags) > 1 and lags[-1] > lags[0] and all(b >= a for a, b in pairwise(lags))
    advanced = (last.committed or 0) > (first.committed or 0)
    commit_age = None if last.commit_time is None else now - last.commit_time
    committed_in_window = last.commit_time is not None and last.commit_time >= first.at

    if lag <= 0:
        status, why = OK, "caught up"
    elif commit_age is not None and commit_age > stop_after_s and not advanced:
        status, why = STOP, f"no commit for {commit_age:.0f} s (limit {stop_after_s:g} s) with {lag} behind"
    elif advanced:
        status, why = (WARN, "committing, but the lag grew over the whole window") if growing else (
            OK, "committing and keeping up")
    elif committed_in_window:
        status, why = STALL, "committing, but the committed offset does not advance"
    elif growing:
        status, why = ERR, "not committing while the lag grows"
    elif commit_age is None:
        status, why = STOP, f"the group does not advance and its commit time is unknown ({lag} behind)"
    else:
        status, why = WARN, (f"not advancing with {lag} behind; last commit {commit_age:.0f} s ago "
                             f"(STOP after {stop_after_s:g} s)")
    return PartitionLag(partition, last.committed, last.high, lag, produced, consumed, time_lag, status, why)


@dataclass
class LagInputs:
    reader: KafkaReader
    group: str
    topic: str
    commit_clock: Callable[[], float | None]
    freshness: Callable[[], float | None]

    def observe(self) -> dict[int, Observation]:
        return observe(self.reader, self.group, self.topic, self.commit_clock)

    def judge(self, history: list[dict[int, Observation]], stop_after_s: float,
              freshness_s: float | None) -> GroupLag:
        return judge_history(history, self.group, self.topic, stop_after_s, freshness_s)


def measure_lag(inputs: LagInputs, window_s: float, interval_s: float, stop_after_s: float) -> GroupLag:
    """Observe every `interval_s` for `window_s`, then judge."""
    history = [inputs.observe()]
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        time.sleep(min(interval_s, max(deadline - time.monotonic(), 0)))
        history.append(inputs.observe())
    return inputs.judge(history, stop_after_s, inputs.freshness())


def watch_lag(inputs: LagInputs, window_s: float, interval_s: float, stop_after_s: float) -> Iterator[GroupLag]:
    """Observe every `interval_s` until the caller stops; after each observation, judge the newest
    `window_s` of them. The first judgement rests on one observation (no rates yet)."""
    keep = max(2, int(window_s / interval_s) + 1)
    history = [inputs.observe()]
    yield inputs.judge(history, stop_after_s, None)
    while True:
        time.sleep(interval_s)
        history = [*history, inputs.observe()][-keep:]
        yield inputs.judge(history, stop_after_s, inputs.freshness())


def judge_history(history: list[dict[int, Observation]], group: str, topic: str, stop_after_s: float,
                  freshness_s: float | None) -> GroupLag:
    first, last = (next(iter(h.values()), None) for h in (history[0], history[-1]))
    window = last.at - first.at if first and last else 0.0
    result = GroupLag(group, topic, window, len(history), evaluate(history, stop_after_s), freshness_s)
    times = [o.commit_time for o in history[-1].values() if o.commit_time is not None]
    result.last_commit_age_s = time.time() - max(times) if times else None
    return result


def newest_event_age(bootstrap: str, topic: str) -> float | None:
    """Seconds since the event time (`time` field) of the newest message on `topic`."""
    from volctl.core.topics import tail

    times = [t for t in (_event_time(m.value) for m in tail(bootstrap, topic, 5)) if t is not None]
    return max(time.time() - max(times), 0.0) if times else None


def _event_time(value: Any) -> float | None:
    if not isinstance(value, dict) or not isinstance(value.get("time"), str):
        return None
    try:
        return datetime.fromisoformat(value["time"].replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def lag_inputs(settings: Any, group: str | None = None, topic: str | None = None) -> LagInputs:
    """Where to look. For volctl's own group the consume service tells its last commit time (tansu
    drops commit metadata) and its output topic tells freshness."""
    from services.streaming import bootstrap_of
    from volctl.clients.http import get_json

    bootstrap = bootstrap_of(settings.kafka)
    group = group or settings.kafka.group
    topic = topic or settings.kafka.topic_raw
    ours = group == settings.kafka.group

    def commit_clock() -> float | None:
        if not ours:
            return None
        return (get_json("consume", settings.consume.url, "/health", timeout_s=1) or {}).get("last_commit_at")

    def freshness() -> float | None:
        return newest_event_age(bootstrap, settings.kafka.topic_predictions) if ours else None

    return LagInputs(KafkaReader(bootstrap), group, topic, commit_clock, freshness)

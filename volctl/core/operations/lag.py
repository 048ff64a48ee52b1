"""`volctl lag`: a consumer group's offsets, three time figures, and a Burrow-style status.

Observations (high watermark and committed offset of every partition, and the group's last
commit time) are taken over a sliding window; each partition is then judged the way Burrow
judges a group:

    OK       caught up, or committing and the lag is not growing
    WARN     committing, but the lag grew over the whole window
    ERR      not committing within the window while the lag grew
    STALL    committing, but the committed offset does not advance while there is lag
    STOP     no commit for longer than `stop_threshold_s` while there is lag
    UNKNOWN  the partition's end could not be read: its lag is not known (never a number)

Offset lag is never negative: the committed offset is read before the high watermark, and a
high watermark below a committed offset (an under-reporting broker) makes the lag unknown.

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
from itertools import pairwise
from typing import Any

from volctl.clients.http import get_json
from volctl.clients.kafka import KafkaReader, committed_at
from volctl.core.monitoring.freshness import Expectation, Freshness
from volctl.domain.errors import NotEnoughData
from volctl.domain.topology import Member
from volctl.domain.verdict import Verdict

OK, WARN, ERR, STALL, STOP, UNKNOWN = "OK", "WARN", "ERR", "STALL", "STOP", "UNKNOWN"
SEVERITY = {OK: 0, WARN: 1, ERR: 2, STALL: 3, STOP: 4, UNKNOWN: 5}
PASSING = {OK, WARN}
END_REFRESHES = 5  # reads of an end found below the committed offset before that offset stands in


@dataclass
class Observation:
    at: float
    high: int | None  # None: the partition's end could not be read
    committed: int | None
    commit_time: float | None
    owner: str | None = None  # the member of our consume service that owns the partition now
    end_from_commit: bool = False  # the broker's end stayed below the committed offset: that bound stands in

    @property
    def lag(self) -> int | None:
        """Messages behind, never negative; None when it cannot be known."""
        if self.high is None or (self.committed is not None and self.high < self.committed):
            return None
        return self.high - (self.committed or 0)


@dataclass
class PartitionLag:
    partition: int
    committed: int | None
    high_watermark: int | None
    offset_lag: int | None  # None: unknown
    production_rate: float  # messages/s over the window
    consumption_rate: float
    time_lag_s: float | None  # None: lag but nothing produced in the window (cannot estimate)
    status: str
    why: str
    owner: str | None = None  # None: no member of our consume service says it owns it


@dataclass
class GroupLag:
    group: str
    topic: str
    window_s: float
    observations: int
    partitions: list[PartitionLag] = field(default_factory=list)
    freshness_s: float | None = None
    last_commit_age_s: float | None = None
    stream_problem: str = ""  # a stream that should flow does not (core.freshness): never "OK"

    @property
    def offset_lag(self) -> int | None:
        lags = [p.offset_lag for p in self.partitions]
        return None if None in lags else sum(lags)  # type: ignore[arg-type]

    @property
    def never_committed(self) -> bool:
        """No committed offset on any partition: no such group, or it does not read this topic."""
        return bool(self.partitions) and all(p.committed is None for p in self.partitions)

    @property
    def status(self) -> str:
        found = max((p.status for p in self.partitions), key=SEVERITY.__getitem__, default=OK)
        return max(found, ERR, key=SEVERITY.__getitem__) if self.stream_problem else found

    @property
    def passing(self) -> bool:
        return self.status in PASSING

    @property
    def outcome(self) -> Verdict:
        if self.status == UNKNOWN:
            return Verdict.ERROR
        return Verdict.PASS if self.passing else Verdict.FAIL

    @property
    def time_lag_s(self) -> float | None:
        values = [p.time_lag_s for p in self.partitions]
        return None if any(v is None for v in values) else max(values, default=0.0)

    def as_document(self) -> dict[str, Any]:
        return {"verdict": self.outcome.value, "status": self.status, "passing": self.passing,
                "offset_lag": self.offset_lag,
                "time_lag_s": self.time_lag_s, "drain_s": self.drain_s, **asdict(self)}

    @property
    def drain_s(self) -> float | None:
        """Offset lag over the consumption rate; None when unknown, or lagging and not consuming."""
        if self.offset_lag is None:
            return None
        if self.offset_lag == 0:
            return 0.0
        rate = sum(p.consumption_rate for p in self.partitions)
        return self.offset_lag / rate if rate > 0 else None


Owners = Callable[[], "dict[int, tuple[str, float | None]] | None"]


def partition_claims(members: list[Member]) -> list[tuple[int, str, float | None]]:
    """(partition, member, when that member last committed) for each partition a consume member
    says it owns, from its /health (a member that does not answer owns nothing). Right after a
    rebalance two members can claim one partition: `scale` waits until each is claimed once."""
    claims = []
    for member in members:
        health = get_json(member.name, member.url, "/health", timeout_s=1) or {}
        at = health.get("last_commit_at")
        claims += [(partition, member.name, at) for partition in health.get("partitions") or []]
    return claims


def partition_owners(members: list[Member]) -> dict[int, tuple[str, float | None]]:
    """partition -> (its owner, when it last committed), as `lag` names them."""
    return {partition: (name, at) for partition, name, at in partition_claims(members)}


def observe(reader: KafkaReader, group: str, topic: str, owners: Owners) -> dict[int, Observation]:
    """One observation per partition. `owners`: partition -> (member, its last commit time), as our
    consume members say (tansu drops commit metadata; another group has no owners here)."""
    partitions = reader.partitions(topic)
    # Committed first: a commit made between the two reads then cannot pass the high watermark
    # (read the other way round, a fast consumer showed "-118 behind").
    committed = reader.committed(group, partitions)
    owned = owners() or {}
    highs = reader.high_watermarks(partitions)
    for _ in range(END_REFRESHES):  # an end below a committed offset is stale: read it again
        stale = [tp for tp in partitions if _below(highs.get(tp), committed[tp].offset)]
        if not stale:
            break
        time.sleep(0.2)
        highs.update({tp: high for tp, high in reader.high_watermarks(stale).items()
                      if high >= (highs.get(tp) or 0)})
    now = time.time()
    found = {}
    for tp in partitions:
        offset, high = committed[tp].offset, highs.get(tp)
        member, commit_time = owned.get(tp.partition, (None, None))
        clamped = _below(high, offset)  # still below: the committed offset is a lower bound of the end
        found[tp.partition] = Observation(now, offset if clamped else high, offset,
                                          committed_at(committed[tp].metadata) or commit_time, member, clamped)
    return found


def _below(high: int | None, committed: int | None) -> bool:
    return high is not None and committed is not None and high < committed


def evaluate(history: list[dict[int, Observation]], stop_threshold_s: float, now: float | None = None
             ) -> list[PartitionLag]:
    """Judge every partition over the observations (oldest first)."""
    now = now or time.time()
    results = []
    for partition in sorted(history[-1]):
        series = [h[partition] for h in history if partition in h]
        results.append(_judge(partition, series, stop_threshold_s, now))
    return results


def _judge(partition: int, series: list[Observation], stop_threshold_s: float, now: float) -> PartitionLag:
    last = series[-1]
    if last.lag is None:
        why = ("its end could not be read" if last.high is None else
               f"the broker reports its end ({last.high}) below the committed offset ({last.committed})")
        return PartitionLag(partition, last.committed, last.high, None, 0.0, 0.0, None, UNKNOWN,
                            f"lag unknown: {why}", last.owner)
    series = [o for o in series if o.lag is not None]  # rates from the readable observations only
    first = series[0]
    lags = [o.lag for o in series]
    span = max(last.at - first.at, 1e-9)
    produced = max(last.high - first.high, 0) / span if len(series) > 1 else 0.0  # type: ignore[operator]
    consumed = max((last.committed or 0) - (first.committed or 0), 0) / span if len(series) > 1 else 0.0
    lag = lags[-1]
    time_lag = 0.0 if lag == 0 else (lag / produced if produced > 0 else None)
    growing = len(lags) > 1 and lags[-1] > lags[0] and all(b >= a for a, b in pairwise(lags))
    advanced = (last.committed or 0) > (first.committed or 0)
    commit_age = None if last.commit_time is None else now - last.commit_time
    committed_in_window = last.commit_time is not None and last.commit_time >= first.at

    if lag == 0:
        status, why = OK, ("caught up (the broker's end read below the committed offset, which bounds it)"
                           if last.end_from_commit else "caught up")
    elif commit_age is not None and commit_age > stop_threshold_s and not advanced:
        status, why = STOP, f"no commit for {commit_age:.0f} s (limit {stop_threshold_s:g} s) with {lag} behind"
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
                             f"(STOP after {stop_threshold_s:g} s)")
    return PartitionLag(partition, last.committed, last.high, lag, produced, consumed, time_lag, status, why,
                        last.owner)


@dataclass
class LagInputs:
    reader: KafkaReader
    group: str
    topic: str
    owners: Owners
    freshness: Callable[[], float | None]
    expected: Expectation = field(default_factory=Expectation)  # a stream should flow: freshness is judged
    freshness_limit_s: float = 30.0

    def observe(self) -> dict[int, Observation]:
        return observe(self.reader, self.group, self.topic, self.owners)

    def judge(self, history: list[dict[int, Observation]], stop_threshold_s: float,
              freshness_s: float | None, freshness_measured: bool = True) -> GroupLag:
        result = judge_history(history, self.group, self.topic, stop_threshold_s, freshness_s)
        if freshness_measured:
            stale = Freshness(self.freshness_limit_s, self.expected, freshness_s, freshness_s)  # predictions only
            if self.expected.reason and (freshness_s is not None or not stale.starting) and stale.problems:
                result.stream_problem = f"{stale.problems[-1]} while {self.expected.reason}"
        if result.never_committed and result.offset_lag:
            known = self.reader.groups()  # tansu lists a group once it has committed
            if known is not None and self.group not in known:
                raise NotEnoughData(f"no consumer group {self.group!r} on {self.reader.bootstrap} "
                                    f"({result.offset_lag} messages on {self.topic})",
                                    hint=f"groups: {', '.join(known) or 'none'}; see --group")
            raise NotEnoughData(
                f"group {self.group!r} has no committed offset on {self.topic}: no consumer of that group "
                f"reads it yet ({result.offset_lag} messages there)",
                hint="name the topic the group consumes with --topic, or the group that reads this one with --group")
        return result


def measure_lag(inputs: LagInputs, window_s: float, interval_s: float, stop_threshold_s: float) -> GroupLag:
    """Observe every `interval_s` for `window_s`, then judge."""
    history = [inputs.observe()]
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        time.sleep(min(interval_s, max(deadline - time.monotonic(), 0)))
        history.append(inputs.observe())
    return inputs.judge(history, stop_threshold_s, inputs.freshness())


def watch_lag(inputs: LagInputs, window_s: float, interval_s: float, stop_threshold_s: float,
              for_s: float | None = None) -> Iterator[GroupLag]:
    """Observe every `interval_s` until the caller stops (or `for_s` passed); after each observation,
    judge the newest `window_s` of them. The first judgement rests on one observation (no rates yet)."""
    keep = max(2, int(window_s / interval_s) + 1)
    deadline = None if for_s is None else time.monotonic() + for_s
    history = [inputs.observe()]
    yield inputs.judge(history, stop_threshold_s, None, freshness_measured=False)
    while deadline is None or time.monotonic() < deadline:
        time.sleep(interval_s if deadline is None else max(min(interval_s, deadline - time.monotonic()), 0))
        history = [*history, inputs.observe()][-keep:]
        yield inputs.judge(history, stop_threshold_s, inputs.freshness())


def judge_history(history: list[dict[int, Observation]], group: str, topic: str, stop_threshold_s: float,
                  freshness_s: float | None) -> GroupLag:
    first, last = (next(iter(h.values()), None) for h in (history[0], history[-1]))
    window = last.at - first.at if first and last else 0.0
    result = GroupLag(group, topic, window, len(history), evaluate(history, stop_threshold_s), freshness_s)
    times = [o.commit_time for o in history[-1].values() if o.commit_time is not None]
    result.last_commit_age_s = time.time() - max(times) if times else None
    return result


def newest_message_age(reader: KafkaReader, topic: str) -> float | None:
    """Seconds since the newest message on `topic` was produced (its record timestamp: a replay of
    old recordings keeps old event times, but is fresh while it sends)."""
    from volctl.core.operations.topics import tail

    times = [m.timestamp for m in tail(reader, topic, 5) if m.timestamp > 0]
    return max(time.time() - max(times), 0.0) if times else None

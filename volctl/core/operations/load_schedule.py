"""The open-model schedule that `volctl load` keeps: requests due at fixed intended times (a
constant rate, or a ramp) whatever earlier answers do, sent by one asyncio process, with latency
measured from the intended time (corrected) and from the send (uncorrected), and the generator's
own lateness counted."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from volctl.core.operations.histogram import Histogram
from volctl.domain.errors import Unreachable

LATE_AFTER_S = 0.005  # a send more than 5 ms after its intended time counts as late
KEPT_UP_RATE = 0.98  # achieved / asked below this: the generator fell behind, the run is not the one asked
MATERIAL_LATENESS = 0.1  # p95 lateness above this share of the latency objective distorts the answer
TIMELINE = ("asked", "sent", "ok", "failed")
STACK_DOWN_HINT = "is the stack up? `volctl up`, then `volctl health`"
FAIL_FAST_S = 1.0  # nothing answered (not even an error status) this long into a run: the target is down
Progress = Callable[["LoadProgress"], None]
Observer = Callable[[float, int, bytes], None]


@dataclass
class Ramp:
    start_rps: float
    end_rps: float
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Ramp:
        """`10:200:30s`: from 10 to 200 requests/s in one-second steps over 30 s."""
        from volctl.domain.clock import seconds_of

        parts = text.split(":")
        try:
            if len(parts) != 3:
                raise ValueError
            start, end = float(parts[0]), float(parts[1])
        except ValueError:
            raise ValueError(f"--ramp {text!r}: expected FROM:TO:DURATION, e.g. 10:200:30s "
                             "(two rates in requests/s and a duration)") from None
        if start <= 0 or end <= 0:
            raise ValueError(f"--ramp {text!r}: both rates must be above 0 requests/s")
        return cls(start, end, seconds_of(parts[2]))


def intended_times(rps: float, seconds: float, ramp: Ramp | None = None) -> Iterator[float]:
    """Offsets (s from the start) at which requests are due."""
    if ramp is None:
        count = int(rps * seconds)
        for n in range(count):
            yield n / rps
        return
    steps = max(1, int(ramp.seconds))
    carry = 0.0
    for step in range(steps):
        rate = ramp.start_rps + (ramp.end_rps - ramp.start_rps) * step / max(1, steps - 1)
        carry += rate
        count, carry = int(carry), carry - int(carry)
        for n in range(count):
            yield step + n / count


@dataclass
class LoadProgress:
    elapsed_s: float
    sent: int
    ok: int
    errors: int
    p95_s: float | None


UNREACHED = frozenset({"ClientConnectorError", "ConnectionRefusedError"})  # aiohttp's, and the OS's


@dataclass
class LoadResult:
    url: str
    asked_rps: float
    seconds: float
    sent: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    late: int = 0
    max_late_s: float = 0.0
    lateness: Histogram = field(default_factory=Histogram)  # every send, from its intended time
    corrected: Histogram = field(default_factory=Histogram)
    uncorrected: Histogram = field(default_factory=Histogram)
    wall_s: float = 0.0
    send_span_s: float = 0.0  # from the start to the last actual send, plus one interval
    last_send_s: float = 0.0  # from the start
    processes: int = 1  # that shared the schedule
    most_held: int = 0  # request tasks held at once: those in flight, never the whole run
    answered: int = 0  # any HTTP status: the target was there
    # Per second of the run: requests due (asked), actually sent, answered 200, failed.
    timeline: dict[str, Counter[int]] = field(default_factory=lambda: {k: Counter() for k in TIMELINE})
    # Per second the requests were due in: the worst and the summed corrected latency (when did it happen?).
    worst_s: dict[int, float] = field(default_factory=dict)
    latency_sum_s: Counter[int] = field(default_factory=Counter)

    @property
    def achieved_rps(self) -> float:
        """What really left: sends over the time they took (a lagging generator shows here)."""
        return self.sent / self.send_span_s if self.send_span_s else 0.0

    @property
    def kept_up(self) -> bool:
        """The asked rate left (within 2 %); lateness is judged against an objective (`generator_check`)."""
        return self.achieved_rps >= KEPT_UP_RATE * self.asked_rps

    def generator_check(self, latency_objective_s: float) -> tuple[bool, str]:
        """Did the generator's own delay distort the answer? Late sends already count in the
        corrected latency; they fail the run only when the rate was missed or their p95 is a
        material share of the objective (else they are information)."""
        rate = f"achieved {self.achieved_rps:.1f} of {self.asked_rps:.1f} req/s"
        if not self.kept_up:
            return False, f"{rate}: more than {1 - KEPT_UP_RATE:.0%} short of the asked rate"
        if not self.late:
            return True, f"{rate}, 0 late"
        p95 = self.lateness.percentile(95) or 0.0
        late = f"{self.late} late (max {self.max_late_s * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms)"
        share = f"{MATERIAL_LATENESS:.0%} of the {latency_objective_s * 1000:g} ms objective"
        if p95 > MATERIAL_LATENESS * latency_objective_s:
            return False, f"{rate}, {late}: the generator's delay is over {share}"
        return True, f"{rate}, {late}: under {share}, counted in the corrected latency"

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def unreached(self) -> int:
        """Sends that found no service (the connection was refused): nothing answered, so nothing to
        judge; a service stopped during the run is not a release that failed its objectives."""
        return sum(count for kind, count in self.errors.items() if kind in UNREACHED)

    def merge(self, other: LoadResult) -> None:
        """Add the sends of another process that ran its share of the same schedule."""
        self.sent += other.sent
        self.ok += other.ok
        self.answered += other.answered
        self.late += other.late
        self.max_late_s = max(self.max_late_s, other.max_late_s)
        self.errors = dict(Counter(self.errors) + Counter(other.errors))
        for mine, theirs in ((self.lateness, other.lateness), (self.corrected, other.corrected),
                             (self.uncorrected, other.uncorrected)):
            mine.merge(theirs)
        for kind in TIMELINE:
            self.timeline[kind].update(other.timeline[kind])
        for second, worst in other.worst_s.items():
            self.worst_s[second] = max(worst, self.worst_s.get(second, 0.0))
        self.latency_sum_s.update(other.latency_sum_s)
        self.wall_s = max(self.wall_s, other.wall_s)
        self.last_send_s = max(self.last_send_s, other.last_send_s)
        self.most_held += other.most_held


async def send_on_schedule(url: str, bodies: list[bytes] | None, times: list[float], progress: Progress | None,
                           timeout_s: float, result: LoadResult, observe: Observer | None,
                           start: float | None = None) -> None:
    """Send at `start` + each offset (`start` on the perf_counter clock, which is CLOCK_MONOTONIC and
    so shared by the processes of one run; now when None)."""
    import aiohttp

    errors: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:

        async def one(index: int, due: float) -> None:
            sent_at = time.perf_counter()
            result.timeline["sent"][int(sent_at - started)] += 1
            succeeded = False
            try:
                request = (session.post(url, data=bodies[index % len(bodies)], headers=headers) if bodies
                           else session.get(url))
                async with request as response:
                    body = await response.read()
                    status = response.status
                    result.answered += 1
                    if observe is not None:
                        observe(due, status, body)
            except Exception as exc:  # every failure is counted by kind, none stops the run
                errors[type(exc).__name__] += 1
            else:
                if status == 200:
                    result.ok += 1
                    succeeded = True
                else:
                    errors[f"HTTP {status}"] += 1
            done = time.perf_counter()
            result.timeline["ok" if succeeded else "failed"][int(done - started)] += 1
            result.corrected.record(done - due)
            result.uncorrected.record(done - sent_at)
            second = int(due - started)
            result.worst_s[second] = max(done - due, result.worst_s.get(second, 0.0))
            result.latency_sum_s[second] += done - due

        started = start if start is not None else time.perf_counter()
        if started > time.perf_counter():
            await asyncio.sleep(started - time.perf_counter())
        tasks: set[asyncio.Task] = set()  # only those in flight: memory does not grow with the run
        next_report = 0.5
        for index, offset in enumerate(times):
            result.timeline["asked"][int(offset)] += 1
            due = started + offset
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            late = time.perf_counter() - due
            result.lateness.record(max(late, 0.0))
            if late > LATE_AFTER_S:
                result.late += 1
                result.max_late_s = max(result.max_late_s, late)
            if offset >= FAIL_FAST_S and not result.answered and errors:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise Unreachable(f"{url} did not answer any of the first {result.sent} requests "
                                  f"({', '.join(f'{k} x{v}' for k, v in errors.items())})",
                                  hint=STACK_DOWN_HINT)
            task = asyncio.create_task(one(index, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            result.most_held = max(result.most_held, len(tasks))
            result.sent += 1
            if progress and offset >= next_report:
                next_report += 0.5
                result.errors = dict(errors)
                progress(LoadProgress(offset, result.sent, result.ok, sum(errors.values()),
                                      result.corrected.percentile(95)))
        result.last_send_s = time.perf_counter() - started
        await asyncio.gather(*tasks)
        result.wall_s = time.perf_counter() - started
    result.errors = dict(errors)


def run_until_done(coroutine) -> None:
    try:  # uvloop (installed with uvicorn[standard]) keeps the schedule tighter at thousands of req/s
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)

"""`volctl load`: an open-model load generator.

Request n is due at a fixed intended time (constant arrival rate, or a ramp) whatever earlier
answers do. Latency is measured from the intended time (corrected: no coordinated omission) and
from the actual send (uncorrected), into bounded-memory histograms. The generator measures its
own lateness and says so when it could not keep up, rather than silently sending less.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from volctl.clients.prometheus import PrometheusClient
from volctl.core.histogram import Histogram
from volctl.domain.errors import ConfigError, Unreachable
from volctl.domain.settings import Settings, SloSettings
from volctl.domain.verdict import Verdict

LATE_AFTER_S = 0.005  # a send more than 5 ms after its intended time counts as late
KEPT_UP_RATE = 0.98  # achieved / asked below this: the generator fell behind, the run is not the one asked
MATERIAL_LATENESS = 0.1  # p95 lateness above this share of the latency objective distorts the answer
PERCENTILES = (50, 90, 95, 99, 99.9)
TIMELINE = ("asked", "sent", "ok", "failed")
STACK_DOWN_HINT = "is the stack up? `volctl up`, then `volctl health`"
PER_PROCESS_RPS = 1500.0  # one asyncio process keeps its schedule to about here (bench/load_accuracy.py)
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


def run_load(url: str, bodies: list[bytes] | None, rps: float, seconds: float, ramp: Ramp | None = None,
             progress: Progress | None = None, timeout_s: float = 10.0,
             observe: Observer | None = None, processes: int | None = None) -> LoadResult:
    """POSTs the bodies in turn, or GETs the url when there are none. `observe(intended perf_counter
    time, status, body)` sees every answer (the rollback benchmark reads the variant from it).
    Above what one process can keep to, the schedule is dealt over `processes` (default: enough for
    the peak rate, at most one per CPU); an observer needs the answers here, so it keeps one."""
    times = list(intended_times(rps, seconds, ramp))
    duration = ramp.seconds if ramp else seconds
    peak = max(ramp.start_rps, ramp.end_rps) if ramp else rps
    count = 1 if observe is not None else max(1, processes or processes_for(peak))
    if count > 1 and len(times) > count:
        from volctl.core.load_spread import spread

        result = spread(url, bodies, times, count, progress, timeout_s)
        result.processes = count
    else:
        result = LoadResult(url, 0.0, 0.0)
        run_until_done(send_on_schedule(url, bodies, times, progress, timeout_s, result, observe))
    result.asked_rps, result.seconds = (len(times) / duration if duration else 0.0), duration
    if result.sent:
        result.send_span_s = result.last_send_s + duration / result.sent
    return result


MAX_SENDS = 10_000_000  # one run's schedule (a float each): 1e9 req/s for 1 s ran out of memory at 1.48 GB


def unschedulable(peak_rps: float, seconds: float) -> str:
    """Why this machine cannot keep to a schedule ("" when it can): what its processes can send,
    and the schedule's size."""
    most = (os.cpu_count() or 1) * PER_PROCESS_RPS
    if peak_rps > most:
        return (f"{peak_rps:g} req/s is more than this machine can send on schedule ({os.cpu_count() or 1} CPUs x "
                f"{PER_PROCESS_RPS:g} req/s); run it from several machines")
    if peak_rps * seconds > MAX_SENDS:
        return f"{peak_rps * seconds:,.0f} requests is more than one run schedules ({MAX_SENDS:,}); run it in parts"
    return ""


def processes_for(peak_rps: float) -> int:
    return max(1, min(os.cpu_count() or 1, math.ceil(peak_rps / PER_PROCESS_RPS)))


def run_until_done(coroutine) -> None:
    try:  # uvloop (installed with uvicorn[standard]) keeps the schedule tighter at thousands of req/s
        import uvloop
    except ImportError:
        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def ensure_answering(base_url: str, timeout_s: float = 2.0) -> None:
    """Fail before a run (and before loading payload rows) when the service is not there."""
    from volctl.clients.http import answers

    if not answers(base_url, "/health", timeout_s):
        raise Unreachable(f"{base_url} does not answer", hint=STACK_DOWN_HINT)


def real_bodies(features: list[str], data_path: Path | None, count: int = 2000,
                seed: int = 7) -> tuple[list[bytes], str]:
    """`count` single-row /predict bodies from real recordings (synthetic without them), varied."""
    import orjson

    from volctl.core.dataset import load_dataset

    dataset = load_dataset([data_path] if data_path else None, synthetic_seconds=1800)
    frame = dataset.frame[list(features)].dropna()
    picked = frame.sample(n=min(count, len(frame)), random_state=seed)
    rows = picked.to_numpy(dtype=float)
    bodies = [orjson.dumps({"rows": [dict(zip(features, map(float, row), strict=True))]}) for row in rows]
    source = "synthetic source" if dataset.synthetic else f"{len(bodies)} real rows from {data_path}"
    return bodies, source


@dataclass(frozen=True)
class Objective:
    name: str  # "p95 <= 800 ms (corrected)": the objective as people read it
    kind: str  # latency | errors | load: what kind of problem a failure is (the release gate groups by it)
    measured: str
    passed: bool


@dataclass
class LoadReport:
    result: LoadResult
    payload: str
    objectives: list[Objective]
    server_p95_s: float | None = None
    baseline: dict[str, dict[str, float | str]] | None = None

    @property
    def checks(self) -> dict[str, bool]:
        return {o.name: o.passed for o in self.objectives}

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.objectives)

    @property
    def outcome(self) -> Verdict:
        if self.result.unreached:
            return Verdict.ERROR
        return Verdict.PASS if self.passed else Verdict.FAIL

    @property
    def unreached_text(self) -> str:
        """"" when every send reached the service."""
        r = self.result
        return (f"{r.unreached} of {r.sent} requests found no service at {r.url} (connection refused): "
                "it stopped during the run" if r.unreached else "")

    def as_document(self) -> dict:
        r = self.result
        return {
            "url": r.url, "asked_rps": r.asked_rps, "achieved_rps": r.achieved_rps, "seconds": r.seconds,
            "wall_s": r.wall_s, "processes": r.processes, "sent": r.sent, "ok": r.ok, "errors": r.errors,
            "late_sends": r.late,
            "max_late_ms": r.max_late_s * 1000, "kept_up": r.kept_up, "payload": self.payload,
            "latency_ms": {kind: {**{f"p{q:g}": _ms(h.percentile(q)) for q in PERCENTILES}, "max": h.max_s * 1000}
                           for kind, h in (("corrected", r.corrected), ("uncorrected", r.uncorrected))},
            "server_p95_ms": _ms(self.server_p95_s), "checks": self.checks, "passed": self.passed,
            "verdict": self.outcome.value, "unreached": self.unreached_text,
            "baseline": self.baseline,
            "histograms": {"corrected": r.corrected.to_dict(), "uncorrected": r.uncorrected.to_dict()},
            "timeline": {kind: [r.timeline[kind][second] for second in range(_seconds_covered(r))]
                         for kind in TIMELINE},
            # Corrected latency per second the requests were due in (None: nothing due then).
            "latency_timeline_ms": _latency_timeline(r),
        }


def _latency_timeline(r: LoadResult) -> dict[str, list[float | None]]:
    seconds = range(_seconds_covered(r))
    due = r.timeline["asked"]
    return {"worst": [_ms(r.worst_s.get(second)) for second in seconds],
            "mean": [_ms(r.latency_sum_s[second] / due[second]) if due[second] and second in r.worst_s else None
                     for second in seconds]}


def judge(result: LoadResult, payload: str, slo: SloSettings) -> LoadReport:
    p95 = result.corrected.percentile(95)
    generator = result.generator_check(slo.latency_p95_seconds)
    throughput = result.ok / result.seconds if result.seconds else None
    objectives = [
        # Refused connections are instant: with no successful answer there is no latency to judge.
        Objective(f"p95 <= {slo.latency_p95_seconds * 1000:g} ms (corrected)", "latency",
                  "no successful answers" if p95 is None or not result.ok else f"{p95 * 1000:.1f} ms",
                  p95 is not None and result.ok > 0 and p95 <= slo.latency_p95_seconds),
        Objective(f"error rate < {slo.error_rate:.1%}", "errors", f"{result.error_count} of {result.sent}",
                  result.error_count < slo.error_rate * max(1, result.sent)),
        Objective(f"throughput >= {slo.throughput_rps:g} req/s", "load",
                  "-" if throughput is None else f"{throughput:.1f} req/s",
                  throughput is not None and throughput >= slo.throughput_rps),
        Objective("generator kept up", "load", generator[1], generator[0]),
    ]
    return LoadReport(result, payload, objectives)


def compare(report: LoadReport, saved: dict) -> dict[str, dict[str, float | str]]:
    """p50/p95/p99 against a saved run, with 95 % bootstrap intervals and a plain verdict."""
    from volctl.core.histogram import bootstrap_difference

    old = Histogram.from_dict(saved["histograms"]["corrected"])
    verdicts = {}
    for q in (50, 95, 99):
        diff, low, high = bootstrap_difference(report.result.corrected, old, q)
        verdict = "slower" if low > 0 else "faster" if high < 0 else "no significant change"
        verdicts[f"p{q}"] = {"difference_ms": diff * 1000, "ci_low_ms": low * 1000, "ci_high_ms": high * 1000,
                             "verdict": verdict}
    return verdicts


def _seconds_covered(result: LoadResult) -> int:
    return max((max(c, default=-1) for c in result.timeline.values()), default=-1) + 1


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def payload_bodies(settings: Settings, payload: str) -> tuple[list[bytes], str]:
    """Request bodies: real feature rows built from the recordings for the served model's
    features ("real"), or the rows of a JSON file {"rows": [...]}, one row per request."""
    import json

    import orjson

    from volctl.clients.http import get_json

    if payload != "real":
        try:
            rows = json.loads(Path(payload).read_text())["rows"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"--payload {payload}: {exc}", hint='a JSON file {"rows": [{...}, ...]}') from exc
        return [orjson.dumps({"rows": [row]}) for row in rows], f"{len(rows)} rows from {payload}"
    served = get_json("predict", settings.predict.url, "/version", timeout_s=3) or {}
    if "features" in served:
        features = served["features"]
    else:
        from volctl.domain.features import FEATURES

        features = list(FEATURES)  # the service is not answering: the run will count the errors
    return real_bodies(features, settings.data_path())


def server_p95(prometheus: PrometheusClient, wall_s: float) -> float | None:
    """The predict service's own p95 over the run, from Prometheus (None when it is not up)."""
    from volctl.core.queries import latency_quantile

    try:
        return prometheus.value(latency_quantile(0.95, f"{max(int(wall_s) + 5, 30)}s"))
    except Unreachable:
        return None

"""`volctl load`: run an open-model schedule (`load_schedule`) in one process or several
(`load_spread`), then judge what came back against the SLO objectives. The generator measures its
own lateness and says so when it could not keep up, rather than silently sending less."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from volctl.clients.prometheus import PrometheusClient
from volctl.core.operations.histogram import Histogram
from volctl.core.operations.load_schedule import (
    STACK_DOWN_HINT,
    TIMELINE,
    LoadResult,
    Observer,
    Progress,
    Ramp,
    intended_times,
    run_until_done,
    send_on_schedule,
)
from volctl.core.operations.load_spread import spread
from volctl.domain.errors import ConfigError, Unreachable
from volctl.domain.settings import Settings, SloSettings
from volctl.domain.verdict import Verdict


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
        result = spread(url, bodies, times, count, progress, timeout_s)
        result.processes = count
    else:
        result = LoadResult(url, 0.0, 0.0)
        run_until_done(send_on_schedule(url, bodies, times, progress, timeout_s, result, observe))
    result.asked_rps, result.seconds = (len(times) / duration if duration else 0.0), duration
    if result.sent:
        result.send_span_s = result.last_send_s + duration / result.sent
    return result


PERCENTILES = (50, 90, 95, 99, 99.9)
PER_PROCESS_RPS = 1500.0  # one asyncio process keeps its schedule to about here (bench/load_accuracy.py)
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


def ensure_answering(base_url: str, timeout_s: float = 2.0) -> None:
    """Fail before a run (and before loading payload rows) when the service is not there."""
    from volctl.clients.http import answers

    if not answers(base_url, "/health", timeout_s):
        raise Unreachable(f"{base_url} does not answer", hint=STACK_DOWN_HINT)


def real_bodies(features: list[str], data_path: Path | None, count: int = 2000,
                seed: int = 7) -> tuple[list[bytes], str]:
    """`count` single-row /predict bodies from real recordings (synthetic without them), varied."""
    import orjson

    from volctl.core.model.dataset import load_dataset

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
    from volctl.core.operations.histogram import bootstrap_difference  # numpy: only when comparing

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
    """The predict service's own p95 over the run, from Prometheus (None when it is not up, or has
    no request of the run yet: PromQL answers NaN, which was printed as "nan")."""
    from volctl.core.monitoring.queries import latency_quantile

    try:
        value = prometheus.value(latency_quantile(0.95, f"{max(int(wall_s) + 5, 30)}s"))
    except Unreachable:
        return None
    return None if value is None or value != value else value

"""`volctl gate`: one release verdict from a load run, the SLOs over exactly that window, the
consumer lag status now, the drift report over drift.window and the realised quality over
slo.quality_window, with every result kept in an evidence bundle.

Nothing here measures anything itself: it runs the engines of `load`, `slo check`, `lag`, `drift
report` and `quality` and maps their results onto one table of checks, each in a class (latency,
errors, availability, lag, drift, quality, load) so a failed gate says what kind of problem it found.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from volctl.clients.prometheus import PrometheusClient
from volctl.core.model.drift import DriftWriter
from volctl.core.monitoring import objectives
from volctl.core.monitoring.objectives import ELSEWHERE, WAITS
from volctl.core.operations.lag import LagInputs
from volctl.domain.clock import seconds_of, utc_iso, utc_stamp
from volctl.domain.documents import strict_json
from volctl.domain.errors import NotEnoughData, VolctlError
from volctl.domain.settings import Settings
from volctl.domain.verdict import Verdict

PASS, FAIL, INCONCLUSIVE, ERROR = (v.value for v in (Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.ERROR))
Progress = Callable[[str], None]


@dataclass
class GateCheck:
    name: str
    kind: str  # one of classes()
    measured: str
    threshold: str
    verdict: str  # pass | fail | inconclusive | error
    todo: str = ""  # a check that could not measure or judge: what to do about it
    accepted: bool = False  # inconclusive, and the operator accepted it by its class (--accept-inconclusive)

    def __post_init__(self) -> None:
        if self.verdict in (INCONCLUSIVE, ERROR) and not self.todo:
            self.todo = what_to_do(self.kind)


def classes() -> tuple[str, ...]:
    """The checks' classes: the objectives' (from the catalogue), then the gate's own."""
    return tuple(dict.fromkeys((*objectives.kinds(), *_OWN_TODO)))


def what_to_do(kind: str) -> str:
    """What to do when a check of this class could not measure or judge (its `measured` says why)."""
    return _OWN_TODO.get(kind) or next((o.todo for o in objectives.OBJECTIVES if o.kind == kind and o.todo), "")


_OWN_TODO = {
    "drift": "let the stream run: the feature log starts after each stream's 5 min warm-up and needs "
             "drift.min_rows rows in drift.window",
    "quality": "let the stack run (each prediction is labelled 60 s later; a calm hour holds few spikes) and "
               "run the gate again, or ship without a quality judgement: --accept-inconclusive quality",
    "load": "run `volctl health`: is predict running?",
}


@dataclass
class GateReport:
    window: str
    bundle: str
    started_at: str
    checks: list[GateCheck] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    window_note: str = ""  # why the SLO window is longer than the load
    accept_inconclusive: tuple[str, ...] = ()  # classes the operator ships without a judgement of

    def __post_init__(self) -> None:
        self.accept(self.checks)

    def accept(self, checks: list[GateCheck]) -> None:
        for check in checks:
            check.accepted = check.verdict == INCONCLUSIVE and check.kind in self.accept_inconclusive

    def add(self, check: GateCheck) -> None:
        self.accept([check])
        self.checks.append(check)

    @property
    def outcome(self) -> Verdict:
        return Verdict(self.verdict)

    @property
    def verdict(self) -> str:
        """Pass only when every check passed, or was inconclusive and accepted by its class."""
        found = Verdict.combine(Verdict.PASS if c.accepted else Verdict(c.verdict) for c in self.checks)
        return found.value

    @property
    def failed_classes(self) -> list[str]:
        return sorted({c.kind for c in self.checks if c.verdict == FAIL})

    @property
    def unjudged_classes(self) -> list[str]:
        return sorted({c.kind for c in self.checks if c.verdict == INCONCLUSIVE and not c.accepted})

    @property
    def accepted_classes(self) -> list[str]:
        return sorted({c.kind for c in self.checks if c.accepted})

    @property
    def answer(self) -> str:
        if self.verdict == PASS:
            accepted = self.accepted_classes
            return "ship" + (f" (accepted without a judgement: {', '.join(accepted)})" if accepted else "")
        if self.verdict == INCONCLUSIVE:
            unjudged = self.unjudged_classes
            return (f"do not ship: not judged: {', '.join(unjudged)} (wait for more evidence, or ship without it: "
                    f"--accept-inconclusive {' --accept-inconclusive '.join(unjudged)})")
        return {FAIL: "do not ship", ERROR: "do not ship: the gate could not measure"}[self.verdict]

    def as_document(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "answer": self.answer, "failed_classes": self.failed_classes,
                "inconclusive_classes": self.unjudged_classes, "accepted_inconclusive": self.accepted_classes,
                "window": self.window, "window_note": self.window_note, "bundle": self.bundle,
                "started_at": self.started_at, "model": self.model,
                "checks": [asdict(c) for c in self.checks]}


@dataclass(frozen=True)
class GateParts:
    """What the gate is given: how the bundle's pages are written (volctl.reports: the SLO page
    from a report and the history measured for it, the drift files), and how to reach the broker for the
    lag check (a factory: an unreachable broker is a check that could not measure, not a crash)."""

    slo_html: Callable[[Any, Any, Any, Path], None]  # (SloHistory, SloReport, SloSettings, path)
    drift: DriftWriter
    lag_inputs: Callable[[], LagInputs]
    prometheus: Callable[[], PrometheusClient]
    load_html: Callable[[Any, Path], None] | None = None  # (LoadReport, path)
    quality_html: Callable[[Any, Path], None] | None = None  # (QualityReport, path)
    index_html: Callable[[GateReport, Path], None] | None = None  # the page a release ticket links to


def run_gate(settings: Settings, writers: GateParts, rps: float, duration_s: float, skip_load: bool = False,
             progress: Progress = lambda _m: None, accept_inconclusive: tuple[str, ...] = ()) -> GateReport:
    now = time.time()
    bundle = settings.state_path / "gates" / utc_stamp(now)
    bundle.mkdir(parents=True, exist_ok=True)
    report = GateReport(f"{math.ceil(duration_s)}s", str(bundle), utc_iso(now),
                        accept_inconclusive=tuple(accept_inconclusive))
    report.model = _served_models(settings)
    _save(bundle / "model.json", report.model)
    offered: list[tuple[float, float | None]] = []  # the load's own rate, each second: drawn on the SLO page
    if not skip_load:
        progress(f"load: {rps:g} req/s for {report.window}")
        started = time.time()
        answered = _load_checks(settings, rps, duration_s, bundle, report, writers)
        offered = [(started + second + 0.5, float(count)) for second, count in enumerate(answered)]
        time.sleep(_scrape_settle_s(settings))  # the last requests reach Prometheus after a scrape or two
        # The SLO window must hold the whole load run: from one scrape before it started until now.
        scrape_s = seconds_of(settings.prometheus.scrape_interval)
        report.window = f"{math.ceil(time.time() - started + scrape_s)}s"
        report.window_note = (f"the load's {duration_s:g} s, plus the wait for its last scrapes and one scrape "
                              f"interval ({settings.prometheus.scrape_interval}) before it")
    window = report.window
    progress(f"SLOs over the last {window}")
    _slo_checks(settings, window, bundle, report, writers, offered)
    progress("consumer lag")
    _lag_check(writers.lag_inputs, bundle, report)
    # Drift looks at drift.window (1h), not the load window: a minute of features is too few rows
    # (drift.min_rows) for the per-feature tests to mean anything.
    progress(f"drift over the last {settings.drift.window} of the feature log")
    _drift_check(settings, settings.drift.window, bundle, report, writers.drift)
    progress(f"realised quality over the last {settings.slo.quality_window} of outcomes")
    _quality_check(settings, bundle, report, writers)
    _save(bundle / "gate.json", report.as_document())
    if writers.index_html is not None:
        writers.index_html(report, bundle / "index.html")
    return report


def _load_checks(settings: Settings, rps: float, duration_s: float, bundle: Path, report: GateReport,
                 writers: GateParts) -> list[int]:
    """The load run's checks; returns the requests answered in each second of it."""
    from volctl.core.operations import load

    bodies, source = load.payload_bodies(settings, "real")
    result = load.run_load(f"{settings.predict.url}/predict", bodies, rps, duration_s)
    judged = load.judge(result, source, settings.slo)
    document = judged.as_document()
    _save(bundle / "load.json", document)
    if writers.load_html is not None:
        writers.load_html(judged, bundle / "load.html")
    if judged.unreached_text:  # the service went away: could not measure, not a release that failed
        report.add(GateCheck("load", "load", judged.unreached_text, "every request answered", ERROR))
    else:
        for objective in judged.objectives:
            report.add(GateCheck(f"load: {objective.name}", objective.kind, objective.measured, objective.name,
                                 PASS if objective.passed else FAIL))
    return list(document["timeline"]["ok"])


def _slo_checks(settings: Settings, window: str, bundle: Path, report: GateReport,
                writers: GateParts, offered: list[tuple[float, float | None]] | None = None) -> None:
    from volctl.core.monitoring.freshness import expectation
    from volctl.core.monitoring.sli import TOO_FEW_LABELS
    from volctl.core.monitoring.slo import check_slos, slo_history

    client = writers.prometheus()
    try:
        slo = check_slos(client, settings.slo, window, expectation(settings))
        history = slo_history(client, settings.slo, window)
        history.offered = offered or []
        writers.slo_html(history, slo, settings.slo, bundle / "slo.html")
    except VolctlError as exc:
        report.add(GateCheck("SLOs", "availability", exc.message, "Prometheus answers", ERROR))
        return
    finally:
        client.close()
    _save(bundle / "slo.json", slo.as_document())
    for row, judged in [*((r, True) for r in slo.rows), *((r, False) for r in slo.info)]:
        found = objectives.objective(row.key)
        # shown only, another check's (load, quality), or unjudged by an objective the gate does not wait for
        if row.verdict is None or found.gate == ELSEWHERE or not (judged or found.gate == WAITS):
            continue
        kind = found.kind
        todo = row.explain[-1] if row.status == TOO_FEW_LABELS else ""  # too few labelled minutes yet
        measured = f"{row.shown} ({row.reason})" if row.reason else row.shown
        report.add(GateCheck(f"slo: {row.name}", kind, measured, row.objective, row.verdict, todo))


def _lag_check(lag_inputs: Callable[[], LagInputs], bundle: Path, report: GateReport) -> None:
    from volctl.core.operations.lag import measure_lag

    try:
        inputs = lag_inputs()
    except VolctlError as exc:
        report.add(GateCheck("lag status", "lag", exc.message, "OK or WARN", ERROR))
        return
    try:
        lag = measure_lag(inputs, 3.0, 1.0, 30.0)
    except VolctlError as exc:  # no such group, nothing committed: not measured, never a pass
        report.add(GateCheck("lag status", "lag", exc.message, "OK or WARN", ERROR))
        return
    finally:
        inputs.reader.close()
    _save(bundle / "lag.json", lag.as_document())
    worst = next((p for p in lag.partitions if p.status == lag.status), None)
    behind = "unknown" if lag.offset_lag is None else str(lag.offset_lag)
    verdict = lag.outcome.value
    report.add(GateCheck("lag status (Burrow-style)", "lag",
                         f"{lag.status}, {behind} behind" + (f": {worst.why}" if worst else ""), "OK or WARN", verdict))


def _drift_check(settings: Settings, window: str, bundle: Path, report: GateReport, write: DriftWriter) -> None:
    from volctl.core.model.drift import drift_report

    try:
        drift = drift_report(settings, write, window=window, out=bundle / "drift")
    except NotEnoughData as exc:
        report.add(GateCheck("drift share", "drift", exc.message, "enough rows", INCONCLUSIVE))
        return
    except VolctlError as exc:
        report.add(GateCheck("drift share", "drift", exc.message, "a drift report", ERROR))
        return
    # The threshold is the calibration's for this window (or the configured default): say which, so
    # two gates with different thresholds can be told apart.
    measured = f"{drift.share:.0%} of {len(drift.tested)} features"
    span, needed = drift.current_span_s, seconds_of(window) / 2
    # A change found in a few minutes is found (each window's thresholds are calibrated for it), but
    # an hour is not passed on its first minutes: as availability, it can fail early, never pass early.
    if span is not None and span < needed and not drift.drift:
        report.add(GateCheck("drift share", "drift", f"{measured} over {span / 60:.0f} min of {window}",
                             f"at least {needed / 60:.0f} min of {window}", INCONCLUSIVE,
                             f"let the stream run {math.ceil((needed - span) / 60)} min more, then run the gate again"))
        return
    report.add(GateCheck("drift share", "drift", measured, f"<= {drift.threshold:.0%} ({drift.calibration})",
                         FAIL if drift.drift else PASS))


def _quality_check(settings: Settings, bundle: Path, report: GateReport, writers: GateParts) -> None:
    """Is the detector detecting: the served model against its shadow challengers on the same ticks."""
    from volctl.core.model.quality import quality_report

    slo = settings.slo
    quality = quality_report(settings.state_path, slo.quality_window, slo.min_precision, slo.min_recall,
                             registry_root=settings.registry_path)
    _save(bundle / "quality.json", quality.as_document())
    if writers.quality_html is not None:
        writers.quality_html(quality, bundle / "quality.html")
    if quality.problem:  # outcomes, but too few spike episodes (a calm hour): as `slo check`, not judged
        report.add(GateCheck("realised quality", "quality", quality.problem, "enough labelled ticks",
                             INCONCLUSIVE, what_to_do("quality")))
        return
    if quality.floors:
        report.add(GateCheck("quality: floors", "quality", "; ".join(quality.floors),
                             f"precision >= {slo.min_precision:g}, recall >= {slo.min_recall:g}", FAIL))
    for comparison in quality.comparisons:
        low, high = comparison.interval
        report.add(GateCheck(
            f"quality: {quality.served} vs {comparison.challenger}", "quality",
            f"PR-AUC {comparison.difference:+.3f} [{low:+.3f}, {high:+.3f}]: {comparison.verdict}",
            "not worse", FAIL if comparison.verdict == "worse" else PASS))


def _served_models(settings: Settings) -> dict[str, Any]:
    from volctl.clients.http import get_json

    return {service: get_json(service, getattr(settings, service).url, "/version")
            or {"error": "not answering /version"} for service in ("predict", "consume")}


def _scrape_settle_s(settings: Settings) -> float:
    return 2 * seconds_of(settings.prometheus.scrape_interval) + 0.5


def _save(path: Path, document: Any) -> None:
    path.write_text(strict_json(document, indent=2))

"""`volctl gate`: one release verdict from a load run, the SLOs over exactly that window, the
consumer lag status now, the drift report over drift.window and the realised quality over
slo.quality_window, with every result kept in an evidence bundle.

Nothing here measures anything itself: it runs the engines of `load`, `slo check`, `lag`, `drift
report` and `quality` and maps their results onto one table of checks, each in a class (latency,
errors, availability, lag, drift, quality, load) so a failed gate says what kind of problem it found.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from volctl.clients.prometheus import PrometheusClient
from volctl.core.drift import DriftWriter
from volctl.core.lag import LagInputs
from volctl.domain.clock import seconds_of, utc_iso, utc_stamp
from volctl.domain.errors import VolctlError
from volctl.domain.settings import Settings
from volctl.domain.verdict import Verdict

PASS, FAIL, UNKNOWN = "pass", "fail", "cannot measure"
NOT_JUDGED = "not judged"  # measured, but too little evidence in the window to judge: shown, never blocking
Progress = Callable[[str], None]
_SLO_CLASSES = {"latency p95": "latency", "error rate": "errors", "availability": "availability",
                "consumer lag (max)": "lag", "freshness": "freshness"}
_SLO_PREFIX_CLASSES = {"forecast bound exceeded": "quality"}  # rows named with their window


@dataclass
class GateCheck:
    name: str
    kind: str  # latency | errors | availability | lag | freshness | drift | quality | load
    measured: str
    threshold: str
    verdict: str
    todo: str = ""  # a check that could not measure or judge: what to do about it

    def __post_init__(self) -> None:
        if self.verdict in (UNKNOWN, NOT_JUDGED) and not self.todo:
            self.todo = WHAT_TO_DO.get(self.kind, "")


# What to do when a check of this kind could not measure or judge (its `measured` says why).
WHAT_TO_DO = {
    "latency": "run `volctl health` (Prometheus and predict up?), then the gate again; too little traffic: "
               "a longer --duration or a higher --rps",
    "errors": "run `volctl health` (Prometheus and predict up?), then the gate again",
    "availability": "run `volctl health` (Prometheus and predict up?), then the gate again",
    "throughput": "run the gate again with a longer --duration or a higher --rps",
    "lag": "run `volctl lag` (which partition could not be read) and `volctl health` (is consume running?)",
    "freshness": "run `volctl health`: is a source running (`volctl status`), is the broker up?",
    "drift": "let the stream run: the feature log starts after each stream's 5 min warm-up and needs "
             "drift.min_rows rows in drift.window",
    "quality": "let the stack run: each prediction is labelled 60 s later, and slo.min_outcomes labelled "
               "ticks are needed in slo.quality_window",
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

    @property
    def outcome(self) -> Verdict:
        return {PASS: Verdict.OK, FAIL: Verdict.FAILED}.get(self.verdict, Verdict.UNKNOWN)

    @property
    def verdict(self) -> str:
        verdicts = {c.verdict for c in self.checks} - {NOT_JUDGED}
        return FAIL if FAIL in verdicts else PASS if verdicts == {PASS} else UNKNOWN

    @property
    def failed_classes(self) -> list[str]:
        return sorted({c.kind for c in self.checks if c.verdict == FAIL})

    @property
    def answer(self) -> str:
        return {PASS: "ship", FAIL: "do not ship", UNKNOWN: "do not ship: the gate could not measure"}[self.verdict]

    def as_document(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "answer": self.answer, "failed_classes": self.failed_classes,
                "window": self.window, "window_note": self.window_note, "bundle": self.bundle,
                "started_at": self.started_at, "model": self.model,
                "checks": [asdict(c) for c in self.checks]}


@dataclass(frozen=True)
class GateParts:
    """What the gate is given: how the bundle's pages are written (volctl.reports: the SLO page
    from a report and its Prometheus client, the drift files), and how to reach the broker for the
    lag check (a factory: an unreachable broker is a check that could not measure, not a crash)."""

    slo_html: Callable[[Any, Any, Any, Path], None]  # (client, SloReport, SloSettings, path)
    drift: DriftWriter
    lag_inputs: Callable[[], LagInputs]
    prometheus: Callable[[], PrometheusClient]
    load_html: Callable[[Any, Path], None] | None = None  # (LoadReport, path)
    quality_html: Callable[[Any, Path], None] | None = None  # (QualityReport, path)
    index_html: Callable[[GateReport, Path], None] | None = None  # the page a release ticket links to


def run_gate(settings: Settings, writers: GateParts, rps: float, duration_s: float, skip_load: bool = False,
             progress: Progress = lambda _m: None) -> GateReport:
    now = time.time()
    bundle = settings.state_path / "gates" / utc_stamp(now)
    bundle.mkdir(parents=True, exist_ok=True)
    report = GateReport(f"{math.ceil(duration_s)}s", str(bundle), utc_iso(now))
    report.model = _served_models(settings)
    _save(bundle / "model.json", report.model)
    if not skip_load:
        progress(f"load: {rps:g} req/s for {report.window}")
        started = time.time()
        _load_checks(settings, rps, duration_s, bundle, report, writers)
        time.sleep(_scrape_settle_s(settings))  # the last requests reach Prometheus after a scrape or two
        # The SLO window must hold the whole load run: from one scrape before it started until now.
        scrape_s = seconds_of(settings.prometheus.scrape_interval)
        report.window = f"{math.ceil(time.time() - started + scrape_s)}s"
        report.window_note = (f"the load's {duration_s:g} s, plus the wait for its last scrapes and one scrape "
                              f"interval ({settings.prometheus.scrape_interval}) before it")
    window = report.window
    progress(f"SLOs over the last {window}")
    _slo_checks(settings, window, bundle, report, writers)
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
                 writers: GateParts) -> None:
    from volctl.core import load

    bodies, source = load.payload_bodies(settings, "real")
    result = load.run_load(f"{settings.predict.url}/predict", bodies, rps, duration_s)
    judged = load.judge(result, source, settings.slo)
    _save(bundle / "load.json", judged.as_document())
    if writers.load_html is not None:
        writers.load_html(judged, bundle / "load.html")
    for objective in judged.objectives:
        report.checks.append(GateCheck(f"load: {objective.name}", objective.kind, objective.measured, objective.name,
                                       PASS if objective.passed else FAIL))


def _slo_checks(settings: Settings, window: str, bundle: Path, report: GateReport,
                writers: GateParts) -> None:
    from volctl.core.freshness import expectation
    from volctl.core.slo import BREACHED, MET, TOO_FEW_LABELS, check_slos

    client = writers.prometheus()
    try:
        slo = check_slos(client, settings.slo, window, expectation(settings))
        writers.slo_html(client, slo, settings.slo, bundle / "slo.html")
    except VolctlError as exc:
        report.checks.append(GateCheck("SLOs", "availability", exc.message, "Prometheus answers", UNKNOWN))
        return
    finally:
        client.close()
    _save(bundle / "slo.json", slo.as_document())
    for row in [*slo.rows, *(r for r in slo.info if r.name.startswith(tuple(_SLO_PREFIX_CLASSES)))]:
        kind = _SLO_CLASSES.get(row.name) or next(
            (k for prefix, k in _SLO_PREFIX_CLASSES.items() if row.name.startswith(prefix)), None)
        if kind is None:  # throughput: a capacity statement the load checks judge
            continue
        verdict = PASS if row.verdict == MET else FAIL if row.verdict == BREACHED else UNKNOWN
        todo = ""
        if row.verdict == TOO_FEW_LABELS:  # as the quality check: too few labelled minutes yet, not judged
            verdict, todo = NOT_JUDGED, row.explain[-1]
        report.checks.append(GateCheck(f"slo: {row.name}", kind, row.shown, row.objective, verdict, todo))


def _lag_check(lag_inputs: Callable[[], LagInputs], bundle: Path, report: GateReport) -> None:
    from volctl.core.lag import measure_lag

    try:
        inputs = lag_inputs()
    except VolctlError as exc:
        report.checks.append(GateCheck("lag status", "lag", exc.message, "OK or WARN", UNKNOWN))
        return
    try:
        lag = measure_lag(inputs, 3.0, 1.0, 30.0)
    except VolctlError as exc:  # no such group, nothing committed: not measured, never a pass
        report.checks.append(GateCheck("lag status", "lag", exc.message, "OK or WARN", UNKNOWN))
        return
    finally:
        inputs.reader.close()
    _save(bundle / "lag.json", lag.as_document())
    worst = next((p for p in lag.partitions if p.status == lag.status), None)
    behind = "unknown" if lag.offset_lag is None else str(lag.offset_lag)
    verdict = {Verdict.OK: PASS, Verdict.FAILED: FAIL}.get(lag.outcome, UNKNOWN)
    report.checks.append(GateCheck("lag status (Burrow-style)", "lag",
                                   f"{lag.status}, {behind} behind" + (f": {worst.why}" if worst else ""),
                                   "OK or WARN", verdict))


def _drift_check(settings: Settings, window: str, bundle: Path, report: GateReport, write: DriftWriter) -> None:
    from volctl.core.drift import drift_report

    try:
        drift = drift_report(settings, write, window=window, out=bundle / "drift")
    except VolctlError as exc:
        report.checks.append(GateCheck("drift share", "drift", exc.message, "enough rows", UNKNOWN))
        return
    # The threshold is the calibration's for this window (or the configured default): say which, so
    # two gates with different thresholds can be told apart.
    report.checks.append(GateCheck("drift share", "drift", f"{drift.share:.0%} of {len(drift.tested)} features",
                                   f"<= {drift.threshold:.0%} ({drift.calibration})", FAIL if drift.drift else PASS))


def _quality_check(settings: Settings, bundle: Path, report: GateReport, writers: GateParts) -> None:
    """Is the detector detecting: the served model against its shadow challengers on the same ticks."""
    from volctl.core.quality import quality_report

    slo = settings.slo
    quality = quality_report(settings.state_path, slo.quality_window, slo.min_precision, slo.min_recall,
                             registry_root=settings.registry_path)
    _save(bundle / "quality.json", quality.as_document())
    if writers.quality_html is not None:
        writers.quality_html(quality, bundle / "quality.html")
    if quality.problem:  # outcomes, but too few spike episodes (a calm hour): as `slo check`, not judged
        report.checks.append(GateCheck("realised quality", "quality", quality.problem, "enough labelled ticks",
                                       NOT_JUDGED if quality.outcomes else UNKNOWN))
        return
    if quality.floors:
        report.checks.append(GateCheck("quality: floors", "quality", "; ".join(quality.floors),
                                       f"precision >= {slo.min_precision:g}, recall >= {slo.min_recall:g}", FAIL))
    for comparison in quality.comparisons:
        low, high = comparison.interval
        report.checks.append(GateCheck(
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
    path.write_text(json.dumps(document, indent=2, default=str))

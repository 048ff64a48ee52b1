"""`volctl quality`: is the detector detecting? Realised quality per variant over a window of the
outcomes log (every prediction joined with its own label 60 s later), and the served model against
each challenger scored in shadow on the very same ticks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from volctl.domain.clock import seconds_of
from volctl.domain.errors import ConfigError
from volctl.domain.outcomes import outcomes_folder, unique_outcomes
from volctl.domain.variants import rollback_target
from volctl.domain.verdict import Verdict

if TYPE_CHECKING:
    from volctl.core.model.evaluation import Rows
    from volctl.domain.settings import Settings

MIN_LABELLED = 200
MIN_EPISODES = 3  # spike episodes: below this no PR-AUC interval means anything


@dataclass
class VariantQuality:
    variant: str
    served: bool
    labelled: int
    spikes: int
    episodes: int
    base_rate: float
    precision: float
    recall: float
    f1: float
    pr_auc: float
    pr_auc_interval: list[float]
    brier: float
    alert_lift: dict[str, Any] = field(default_factory=dict)  # next-60 s volatility when alerting vs silent
    skill: dict[str, Any] = field(default_factory=dict)  # against chance (evaluation.chance_skill)


@dataclass
class Comparison:
    challenger: str
    difference: float  # served - challenger PR-AUC
    interval: list[float]
    verdict: str  # better | no evidence of a difference | worse


@dataclass
class QualityReport:
    window: str
    start: str = ""
    end: str = ""
    outcomes: int = 0
    duplicates: int = 0  # the same tick delivered twice (at-least-once): dropped
    served: str = ""
    version: str = ""
    variants: list[VariantQuality] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    problem: str = ""  # why the verdict is inconclusive: what it lacked, in numbers
    next_step: str = ""  # with a problem: the one thing a person can do about it
    better: str = ""  # the challenger to serve instead, when the served model is worse
    rollback: str = ""  # the command that would serve it
    pending: float | None = None  # predictions waiting for their label now (the consume service's gauge)
    floors: list[str] = field(default_factory=list)  # objectives the served model falls below
    answer: str = ""  # the comparative line the report opens with
    lifts: dict[str, dict[str, Any]] = field(default_factory=dict)  # per variant; needs no label: known when
    # too few spike episodes leave PR-AUC unjudged
    forecast: dict[str, Any] = field(default_factory=dict)  # the served forecast against what happened
    inside_training: str = ""  # the window overlaps the served version's train or validation period: why

    @property
    def outcome(self) -> Verdict:
        if self.problem:
            return Verdict.INCONCLUSIVE
        worse = any(c.verdict == "worse" for c in self.comparisons)
        return Verdict.FAIL if worse or self.floors else Verdict.PASS

    def as_document(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome.value}


def pending_outcomes(settings: Settings) -> float | None:
    """Predictions waiting for their label, summed over the consume members (None: none answered)."""
    from volctl.clients.http import metric_sample
    from volctl.domain.metrics import OUTCOMES_PENDING
    from volctl.domain.topology import consume_members

    counts = [metric_sample(m.name, m.url, OUTCOMES_PENDING) for m in consume_members(settings)]
    known = [count for count in counts if count is not None]
    return sum(known) if known else None


def quality_report(state_dir: Path, window: str, min_precision: float = 0.0, min_recall: float = 0.0,
                   pending: float | None = None, registry_root: Path | None = None) -> QualityReport:
    """Outcomes of the newest `window` (event time, back from the newest outcome), deduplicated by
    their tick's source; per variant metrics; the served variant against each challenger and
    against the precision and recall floors; the served forecast against persistence. A window
    that reaches into the served version's training period (`seen_periods`: split -> (start,
    end)) is judged but recommends nothing: those ticks taught the model."""
    from volctl.domain.clock import utc_iso

    try:
        span = seconds_of(window)
    except ValueError as exc:
        raise ConfigError(f"--window: {exc}") from None
    report = QualityReport(window, pending=pending)
    documents, report.duplicates = unique_outcomes(state_dir)
    if not documents:
        report.problem = (f"0 of {MIN_LABELLED:,} labelled ticks: no outcomes yet in {outcomes_folder(state_dir)} "
                          "(predictions get their label 60 s after their tick, once their product's 5 min "
                          "warm-up is over)")
        report.next_step = "let the stream run a few minutes (`volctl lag` shows it moving), then ask again"
        return report
    newest = max(d["ts"] for d in documents)
    documents = sorted((d for d in documents if d["ts"] >= newest - span), key=lambda d: d["ts"])
    report.outcomes = len(documents)
    report.start, report.end = utc_iso(documents[0]["ts"]), utc_iso(newest)
    report.served, report.version = documents[-1]["served"], documents[-1]["version"]
    documents = [d for d in documents if d["served"] == report.served and d["version"] == report.version]
    y = np.array([d["label"] for d in documents], dtype=int)
    ts = np.array([d["ts"] for d in documents], dtype=float)
    products = np.array([d["product_id"] for d in documents], dtype=object)
    variants = [report.served, *sorted({v for d in documents for v in d["scores"]} - {report.served})]
    scores = {v: np.array([d["scores"].get(v, np.nan) for d in documents], dtype=float) for v in variants}
    labels = {v: np.array([d["labels"].get(v, 0) for d in documents], dtype=int) for v in variants}
    from volctl.core.model.evaluation import Rows, episodes

    rows = Rows(y, ts, products, np.array([d.get("future_vol", np.nan) for d in documents], dtype=float))
    report.lifts = {v: _lift(labels[v], rows) for v in variants}
    report.forecast = forecast_quality(documents, report.served, rows.units)
    report.inside_training = _inside(ts, _training_periods(registry_root, report.version))
    spikes, found = int(y.sum()), episodes(y, ts, products)
    if len(y) < MIN_LABELLED or found < MIN_EPISODES or spikes == len(y):
        lacking = [f"{len(y):,} of {MIN_LABELLED:,} labelled ticks"] if len(y) < MIN_LABELLED else []
        lacking += [f"{found} of {MIN_EPISODES} spike episodes"] if found < MIN_EPISODES else []
        lacking += ["no calm tick: every labelled tick is a spike"] if spikes == len(y) else []
        report.problem = f"too little evidence in {window}: " + "; ".join(lacking)
        report.next_step = ("let the stream run (a calm hour holds few spikes), or judge a longer stretch: "
                            "`volctl quality --window 6h`")
        return report
    report.variants = [_quality(v, v == report.served, scores[v], labels[v], rows, report.lifts[v])
                       for v in variants]
    from volctl.core.model.evaluation import pr_auc_difference

    for challenger in variants[1:]:
        known = ~np.isnan(scores[challenger])
        value, low, high = pr_auc_difference(y[known], scores[report.served][known], scores[challenger][known],
                                             rows.units[known])
        verdict = "worse" if high < 0 else "better" if low > 0 else "no evidence of a difference"
        report.comparisons.append(Comparison(challenger, value, [low, high], verdict))
    served = report.variants[0]
    report.answer = _answer(report, served)
    report.floors = [f"{name} {value:.3f} < {floor:g}" for name, value, floor in
                     (("precision", served.precision, min_precision), ("recall", served.recall, min_recall))
                     if value < floor]
    worse = [c for c in report.comparisons if c.verdict == "worse"]
    if worse and not report.inside_training:
        best = min(worse, key=lambda c: c.difference)
        report.better = best.challenger
        report.rollback = (f'volctl rollback --to {rollback_target(best.challenger)} --reason "quality: '
                           f'{report.served} worse than {best.challenger} over {window}"')
    return report


def _quality(variant: str, served: bool, scores: np.ndarray, labels: np.ndarray, rows: Rows,
             lift: dict[str, Any]) -> VariantQuality:
    from volctl.core.model.evaluation import block_bootstrap, pr_auc_by_weight

    y = rows.y
    found_precision, found_recall = precision_recall(y, labels)
    precision, recall = found_precision or 0.0, found_recall or 0.0
    spikes = int(y.sum())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    value, low, high = block_bootstrap(pr_auc_by_weight(y, scores), y, rows.units)
    brier = float(np.mean((np.clip(scores, 0, 1) - y) ** 2))
    from volctl.core.model.evaluation import chance_skill

    return VariantQuality(variant, served, len(y), spikes, rows.episodes, float(y.mean()), precision, recall, f1, value,
                          [low, high], brier, lift, chance_skill(y, scores, labels, rows))


MIN_FORECASTS = 200  # outcomes with a forecast: fewer say too little about its loss or its bound


def forecast_quality(documents: list[dict[str, Any]], served: str, units: np.ndarray) -> dict[str, Any]:
    """The served forecast met by the realised next-60 s volatility: QLIKE against persistence on
    the same outcomes (gain > 0: the forecast loses less) and the 95 % bound's exceedance rate,
    each with its interval; its shadow challengers' forecasts beside it."""
    from volctl.core.model.evaluation import block_bootstrap
    from volctl.domain.forecast import BPS, qlike

    rows = [i for i, d in enumerate(documents) if (d.get("forecasts") or {}).get(served) is not None]
    if len(rows) < MIN_FORECASTS:
        return {"outcomes": len(rows), "problem": f"{len(rows):,} of {MIN_FORECASTS:,} outcomes carry a forecast"}
    chosen = [documents[i] for i in rows]
    realised = np.array([d["future_vol"] for d in chosen], dtype=float)
    forecast = np.array([d["forecasts"][served] for d in chosen], dtype=float)
    persistence = np.array([np.nan if d.get("persistence") is None else d["persistence"] for d in chosen])
    exceeded = np.array([d.get("exceeded") or 0 for d in chosen], dtype=float)
    units = units[rows]
    zeros = np.zeros(len(rows), dtype=int)
    found: dict[str, Any] = {"outcomes": len(rows), "forecast_median_bps": float(np.median(forecast) * BPS),
                             "realised_median_bps": float(np.median(realised) * BPS)}
    rate, low, high = block_bootstrap(lambda w: float(exceeded @ w / w.sum()), zeros, units, both_classes=False)
    found["exceedance"], found["exceedance_interval"] = rate, [low, high]
    known = ~np.isnan(persistence)
    model_loss, persistence_loss = qlike(realised[known], forecast[known]), qlike(realised[known], persistence[known])
    gain = persistence_loss - model_loss
    value, low, high = block_bootstrap(lambda w: float(gain @ w / w.sum()), zeros[known], units[known],
                                       both_classes=False)
    found["qlike"] = {"forecast": float(model_loss.mean()), "persistence": float(persistence_loss.mean())}
    found["qlike_gain_vs_persistence"] = {"value": value, "interval": [low, high], "verdict": (
        "better" if low > 0 else "worse" if high < 0 else "no evidence of a difference")}
    shadow = sorted({name for d in chosen for name in d["forecasts"]} - {served})
    found["shadow"] = {name: float(np.mean(qlike(realised, np.array([d["forecasts"].get(name, np.nan)
                                                                     for d in chosen], dtype=float))))
                       for name in shadow}
    return found


def _training_periods(registry_root: Path | None, version: str) -> dict[str, tuple[float, float]]:
    """The (start, end) epochs of a version's train and validation splits ({} when unknown)."""
    from datetime import datetime

    from volctl.domain.registry import Registry

    if registry_root is None:
        return {}
    try:
        splits = Registry(registry_root).manifest(version).get("data", {}).get("splits", {})
        return {name: (datetime.fromisoformat(splits[name]["start"]).timestamp(),
                       datetime.fromisoformat(splits[name]["end"]).timestamp())
                for name in ("train", "validation") if name in splits}
    except (ConfigError, KeyError, TypeError, ValueError):
        return {}


def live_forecast_line(forecast: dict[str, Any]) -> str:
    """One line for people: the served forecast against persistence, and its bound, on the stream."""
    if forecast.get("problem"):
        return f"forecast: not judged ({forecast['problem']})"
    gain = forecast["qlike_gain_vs_persistence"]
    low, high = gain["interval"]
    e_low, e_high = forecast["exceedance_interval"]
    return (f"forecast (median {forecast['forecast_median_bps']:.2f} bps, realised "
            f"{forecast['realised_median_bps']:.2f} bps): QLIKE {forecast['qlike']['forecast']:.2f} against "
            "persistence's "
            f"{forecast['qlike']['persistence']:.2f}, gain {gain['value']:+.2f}"
            + (f" [{low:+.2f}, {high:+.2f}]" if low == low else "") + f": {gain['verdict']}; 95 % bound exceeded on "
            f"{forecast['exceedance']:.1%}" + (f" [{e_low:.1%}, {e_high:.1%}]" if e_low == e_low else "")
            + f" of {forecast['outcomes']:,} forecasts (objective 5 % +/- 3 %)")


def _inside(ts: np.ndarray, seen: dict[str, tuple[float, float]]) -> str:
    """Why a window's ticks are not new to the served version ("" when they all are)."""
    from volctl.domain.clock import utc_iso

    for split, (start, end) in seen.items():
        inside = int(((ts >= start) & (ts <= end)).sum())
        if inside:
            return (f"{inside:,} of {len(ts):,} outcomes lie in the served version's {split} split "
                    f"({utc_iso(start)} to {utc_iso(end)}): judged, but no recommendation from ticks it learnt from")
    return ""


def _lift(labels: np.ndarray, rows: Rows) -> dict[str, Any]:
    """The alert lift of one variant's labels (unknown while some outcome lacks its volatility)."""
    from volctl.core.model.evaluation import NAN, alert_lift

    known = ~np.isnan(rows.fwd_vol)  # outcomes written before they carried their volatility: unknown
    if len(labels) and known.all():
        return alert_lift(labels.astype(bool), rows)
    return {"median_ratio": NAN, "decile_lift": NAN, "median_ratio_interval": [NAN, NAN],
            "decile_lift_interval": [NAN, NAN], "alerts": int(labels.sum()),
            "alert_rate": float(labels.mean()) if len(labels) else NAN,
            "note": f"{int((~known).sum()):,} outcomes carry no next-60 s volatility (older consume service)"}


def _answer(report: QualityReport, served: VariantQuality) -> str:
    from volctl.core.model.evaluation import answer_line

    if not report.comparisons:
        return answer_line(report.served, "", "", None, None, "no challenger scored in shadow", served.alert_lift)
    first = report.comparisons[0]
    verdict = {"better": f"{report.served} is better", "worse": f"{report.served} is worse"}.get(
        first.verdict, "no evidence of a difference")
    return answer_line(report.served, "", f"{report.served} - {first.challenger}", first.difference, first.interval,
                       verdict, served.alert_lift)


def precision_recall(y: np.ndarray, predicted: np.ndarray) -> tuple[float | None, float | None]:
    """Realised precision and recall of predicted labels; None where nothing was flagged or no spike came."""
    hits = int(((y == 1) & (predicted == 1)).sum())
    flagged, spikes = int(predicted.sum()), int(y.sum())
    return (hits / flagged if flagged else None), (hits / spikes if spikes else None)


def realised_between(state_dir: Path, start: float, end: float) -> dict[str, Any] | None:
    """The served variant's realised precision and recall on the outcomes of ticks in [start, end]
    (None when there are none): what a drift report shows beside its verdict."""
    documents, _ = unique_outcomes(state_dir)
    inside = [d for d in documents if start <= d.get("ts", -1) <= end]
    if not inside:
        return None
    served = inside[-1]["served"]
    rows = [d for d in inside if d["served"] == served]
    y = np.array([d["label"] for d in rows], dtype=int)
    precision, recall = precision_recall(y, np.array([d["labels"][served] for d in rows], dtype=int))
    return {"variant": served, "version": rows[-1]["version"], "labelled": len(rows), "spikes": int(y.sum()),
            "precision": precision, "recall": recall}

"""`volctl model evaluate`: score recordings a version never saw with every variant, per file and
pooled, with the same metrics and intervals as training."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from volctl.core.model.dataset import Progress, load_dataset
from volctl.domain.errors import ConfigError
from volctl.domain.registry import Registry
from volctl.domain.variants import CANDIDATES, LEAD, REFERENCE
from volctl.domain.verdict import Verdict


@dataclass
class Part:
    """One recording (or all of them pooled): its rows and, when it can be scored, the metrics."""

    name: str
    ticks: int
    labelled: int
    spikes: int
    start: str
    end: str
    overlaps_training: bool  # some rows fall inside the version's train or validation period
    episodes: int = 0
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # per variant; empty: not scored
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)
    lifts: dict[str, dict[str, Any]] = field(default_factory=dict)  # per variant: alert lift (needs no label)
    recommendation: dict[str, Any] | None = None
    note: str = ""  # why a part was not scored
    forecast: dict[str, Any] = field(default_factory=dict)  # the version's forecast against its baselines


@dataclass
class ModelEvaluation:
    version: str
    recommended_variant: str  # what the version recommended when it was trained (on validation)
    label_threshold: float
    parts: list[Part]
    pooled: Part
    unlabelled_by_rule: dict[str, int]
    bad_lines: dict[str, int]
    empty_sources: dict[str, str] = field(default_factory=dict)  # files that gave no tick: why
    label_properties: dict[str, Any] = field(default_factory=dict)  # pooled: is the label decided by the future?
    answer: str = ""  # the line the report opens with
    left_out_test: int = 0  # rows inside the version's own test split: `model show` reports them, not this

    @property
    def outcome(self) -> Verdict:
        return Verdict.PASS if self.pooled.metrics else Verdict.INCONCLUSIVE

    def as_document(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "outcome": self.outcome.value}


def evaluate_version(registry_root: Path, version: str | None, paths: list[Path], naive_tz: str = "UTC",
                     progress: Progress | None = None) -> ModelEvaluation:
    from volctl.core.model.evaluation import Rows, alert_lift, evaluate_variants
    from volctl.core.model.training import label_properties
    from volctl.domain.level import seeds_from_document
    from volctl.domain.model import labels_of

    if not paths:
        raise ConfigError("no recordings to evaluate", hint="give one or more with --data PATH")
    registry = Registry(registry_root)
    version = version or registry.latest()
    manifest = registry.manifest(version)
    scorers = [registry.load(version, variant) for variant in (*CANDIDATES, REFERENCE)]
    label = manifest["label"]
    seeds = seeds_from_document((label.get("level") or {}).get("seeds"))
    dataset = load_dataset(paths, naive_tz, progress=progress, seeds=seeds)
    frame = dataset.frame
    missing = [f for f in manifest["features"] if f not in frame.columns]
    if missing:
        raise ConfigError(f"model {version} needs features this build does not compute: {', '.join(missing)}",
                          hint="evaluate it with the volctl version that trained it")
    threshold = float(label["threshold"])
    seen = _seen_periods(manifest)
    test_period = _seen_periods(manifest, ("test",))
    inside_test = np.zeros(len(frame), dtype=bool)
    for start, end in test_period:
        inside_test |= ((frame["ts"] >= start) & (frame["ts"] <= end)).to_numpy()
    frame = frame[~inside_test]
    forecaster = scorers[0].forecaster
    from volctl.core.model.forecasting import Baselines, forecast_skill

    baselines = None
    if forecaster is not None:
        document = manifest["forecast"]["baselines"]
        baselines = Baselines((document["training_mean_bps"] / 1e4) ** 2, document["training_mean_log_volatility"])

    def part(name: str, rows: pd.DataFrame) -> Part:
        labelled = rows[rows["target"].notna()]
        y = (labelled["target"] > threshold).to_numpy().astype(int)
        judged = Rows(y, labelled["ts"].to_numpy(dtype=float), labelled["product"].to_numpy(),
                      labelled["fwd_vol"].to_numpy(dtype=float), labelled["session"].to_numpy())
        result = Part(name, len(rows), len(labelled), int(y.sum()), _iso(rows["ts"].min()), _iso(rows["ts"].max()),
                      any(((rows["ts"] >= a) & (rows["ts"] <= b)).any() for a, b in seen), judged.episodes)
        x = labelled[manifest["features"]].to_numpy(dtype=float)
        if len(labelled):
            result.lifts = {s.variant: alert_lift(labels_of(s.score(x), s.decision_threshold), judged)
                            for s in scorers}
            if forecaster is not None and baselines is not None:
                result.forecast = forecast_skill(forecaster, x, labelled["fwd_vol"].to_numpy(dtype=float),
                                                 baselines, judged.units, ts=judged.ts)
        if not len(labelled):
            result.note = "no labelled rows (see the rules that left ticks unlabelled)"
        elif 0 in (y.sum(), len(y) - y.sum()):
            result.note = f"all {len(y):,} labelled rows are {'spikes' if y.sum() else 'calm'}: PR-AUC needs both"
        else:
            if progress:
                progress(f"scoring {name}: {len(labelled):,} labelled rows, {int(y.sum()):,} spikes")
            evaluated = evaluate_variants(scorers, x, judged)
            result.metrics, result.curves = evaluated.metrics, evaluated.curves
            result.recommendation = evaluated.recommendation
        return result

    parts = [part(source, rows) for source, rows in frame.groupby("source", sort=False)]
    pooled = part("pooled", frame)
    labelled = frame[frame["target"].notna()]
    properties = {}
    if pooled.metrics:
        properties = label_properties(labelled, (labelled["target"] > threshold).to_numpy().astype(int))
    from volctl.core.model.models import version_answer

    answer = version_answer(manifest, {v: {"alert_lift": lift, "skill": (pooled.metrics.get(v) or {}).get("skill")}
                                       for v, lift in pooled.lifts.items()},
                            pooled.recommendation or {}, pooled.forecast or {})
    evaluation = ModelEvaluation(version, manifest.get("recommended_variant", LEAD), threshold, parts, pooled,
                                 dataset.label_drops, dict(dataset.stats.bad), dataset.empty_sources, properties,
                                 f"scored out of time, {answer}")
    evaluation.left_out_test = int(inside_test.sum())
    return evaluation


def _seen_periods(manifest: dict[str, Any], names: tuple[str, ...] = ("train", "validation")
                  ) -> list[tuple[float, float]]:
    """The (start, end) epochs of the named splits (by default train and validation: evaluation
    there is not out of time; the test split is left out of evaluate altogether)."""
    splits = manifest.get("data", {}).get("splits", {})
    def epoch(text: str) -> float:
        return datetime.fromisoformat(text).timestamp()

    return [(epoch(splits[n]["start"]), epoch(splits[n]["end"])) for n in names if n in splits]


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds") if np.isfinite(ts) else "unknown"

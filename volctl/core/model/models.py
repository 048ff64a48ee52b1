"""What the model registry holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from volctl.domain.registry import Registry
from volctl.domain.variants import LEAD, VARIANTS, compared


@dataclass
class VariantSummary:
    variant: str
    pr_auc: float | None
    f1: float | None
    precision: float | None
    recall: float | None
    sha256: str
    served: bool | None = None  # the predict service serves it now (None: it did not answer: unknown)


@dataclass
class ModelSummary:
    version: str
    created_at: str
    synthetic: bool
    data_start: str
    data_end: str
    test_rows: int
    positive_rate: float | None
    variants: list[VariantSummary]
    path: str
    recommended_variant: str | None  # what model.variant = auto serves; None: trained before recommendations
    recommendation: str  # why, in words


def list_models(registry_root: Path, served: tuple[str, str] | None = None) -> list[ModelSummary]:
    """Every version; `served` (version, variant) is what the predict service answers it serves,
    None when it does not answer (then whether a variant is served is unknown, not no)."""
    registry = Registry(registry_root)
    models = [_summary(registry, v) for v in registry.versions()]
    if served is not None:
        for model in models:
            for variant in model.variants:
                variant.served = (model.version, variant.variant) == served
    return models


def _summary(registry: Registry, version: str) -> ModelSummary:
    manifest = registry.manifest(version)
    data: dict[str, Any] = manifest.get("data", {})
    variants = []
    for name in VARIANTS:
        entry = manifest.get("variants", {}).get(name, {})
        metrics = entry.get("metrics", {})
        variants.append(VariantSummary(
            name, metrics.get("pr_auc"), metrics.get("f1"), metrics.get("precision"),
            metrics.get("recall"), entry.get("sha256", ""),
        ))
    test = data.get("splits", {}).get("test", {})
    lead_metrics = manifest.get("variants", {}).get(LEAD, {}).get("metrics", {})
    return ModelSummary(
        version=version,
        created_at=manifest.get("created_at", ""),
        synthetic=bool(data.get("synthetic")),
        data_start=data.get("range", {}).get("start", ""),
        data_end=data.get("range", {}).get("end", ""),
        test_rows=int(test.get("rows", 0)),
        positive_rate=lead_metrics.get("positive_rate"),
        variants=variants,
        path=str(registry.root / version),
        recommended_variant=manifest.get("recommended_variant"),
        recommendation=(manifest.get("recommendation") or {}).get("reason", ""),
    )


def show_model(registry_root: Path, version: str | None = None) -> dict[str, Any]:
    """Everything a person needs to judge a version: label, splits, thresholds, metrics with
    intervals, the recommendation and the reliability table of each variant."""
    registry = Registry(registry_root)
    version = version or registry.latest()
    manifest = registry.manifest(version)
    keep = ("version", "created_at", "label", "features", "recommended_variant", "recommendation", "forecast",
            "test_comparison", "alert_definitions")
    document = {key: manifest.get(key) for key in keep}
    document["data"] = {key: value for key, value in manifest.get("data", {}).items() if key != "bad_lines"}
    shown = ("rule", "estimator", "candidates", "calibration", "decision_threshold", "metrics", "curves", "sha256")
    document["variants"] = {name: {key: entry.get(key) for key in shown if key in entry}
                            for name, entry in manifest.get("variants", {}).items()}
    document["path"] = str(registry.folder(version))
    document["answer"] = version_answer(manifest)
    return document


def version_answer(manifest: dict[str, Any], metrics_of: dict[str, dict[str, Any]] | None = None,
                   recommendation: dict[str, Any] | None = None, forecast: dict[str, Any] | None = None) -> str:
    """The line a version's report opens with: the forecast against persistence first (what the
    data supports), then what `auto` serves for spike alerts, ml against baseline, their skill
    against chance and alert lift. `metrics_of`, `recommendation` and `forecast` replace the test
    split's (model evaluate: the scored files)."""
    from volctl.core.model.evaluation import answer_line

    variants = manifest.get("variants", {})
    served = manifest.get("recommended_variant") or LEAD
    entry = variants.get(served, {})
    about = entry.get("rule") or entry.get("candidate") or ""
    recommendation = recommendation if recommendation is not None else manifest.get("recommendation") or {}
    metrics = (metrics_of or {}).get(served) if metrics_of is not None else entry.get("metrics")
    verdict = recommendation.get("verdict") or recommendation.get("reason", "")
    spikes = answer_line(served, about, compared(recommendation), recommendation.get("pr_auc_difference"),
                         recommendation.get("pr_auc_difference_interval"), verdict, (metrics or {}).get("alert_lift"))
    skill = (metrics or {}).get("skill")
    if skill:
        spikes += f"; against chance: {skill['verdict']}"
    forecast = forecast if forecast is not None else (manifest.get("forecast") or {}).get("test")
    gain = (forecast or {}).get("qlike_gain_vs_persistence")
    if not gain:
        return spikes
    low, high = gain["interval"]
    return (f"forecast: QLIKE {gain['value']:+.2f} better than persistence"
            + (f" [{low:+.2f}, {high:+.2f}]" if low == low else "") + f" ({gain['verdict']}); spike alerts: {spikes}")

"""Outcomes: every prediction joined with its own label once the 60 s horizon has passed.

The consume service keeps each labelable tick (windows covered, quoted) waiting in
`labels.ForwardLabels` with the scores of the served model and of its challengers (scored in
shadow: never written to ticks.predictions). When a later tick closes the horizon, the realised
target and label are computed with the training label's own rule and one outcome is written to
the `ticks.outcomes` topic and to the outcomes log beside the feature log. Delivery is
at-least-once, so readers drop duplicates by the tick's source (partition, offset, index).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from volctl.domain.clock import utc_iso
from volctl.domain.variants import challengers

if TYPE_CHECKING:
    from volctl.domain.labels import LabelRule
    from volctl.domain.model import Scorer
    from volctl.domain.registry import Registry

OUTCOMES_FOLDER = "outcomes"
OUTCOMES_PREFIX = "outcomes"
KINDS = ("tp", "fp", "fn", "tn")


@dataclass(slots=True)  # one per labelable tick, on the consume hot path: no frozen-dataclass setattr cost
class Waiting:
    """A prediction waiting for its label."""

    source: tuple[str, int, int, int]  # topic, partition, offset, index of the tick in its message
    product: str
    ts: float
    level: float  # the product's volatility level at the tick: the label's denominator
    scores: dict[str, float]  # per variant: the served one first
    labels: dict[str, int]
    forecasts: dict[str, float] | None = None  # per variant whose version forecasts: next-60 s volatility
    upper: float | None = None  # the served forecast's 95 % upper bound when it was made
    persistence: float | None = None  # the trailing 60 s realised volatility: persistence's forecast


def kind_of(predicted: int, actual: int) -> str:
    return ("tn", "fp", "fn", "tp")[2 * actual + predicted]


def outcome_document(waiting: Waiting, future_vol: float, target: float, label: int, served: str, version: str,
                     resolved_at: str) -> dict[str, Any]:
    topic, partition, offset, index = waiting.source
    document = {"product_id": waiting.product, "time": utc_iso(waiting.ts, "microseconds"), "ts": waiting.ts,
                "source": {"topic": topic, "partition": partition, "offset": offset, "index": index},
                "future_vol": future_vol, "level": waiting.level, "target": target, "label": label,
                "served": served, "version": version,
                "warming_up": False,  # a tick in its product's warm-up gets no label (training's rule): never here
                "scores": waiting.scores, "labels": waiting.labels, "resolved_at": resolved_at}
    if waiting.forecasts:  # the forecast met by what happened, in the label's unit (a fraction; x 1e4: bps)
        document |= {"forecasts": waiting.forecasts, "upper": waiting.upper, "persistence": waiting.persistence,
                     "exceeded": None if waiting.upper is None else int(future_vol > waiting.upper)}
    return document


def challengers_of(registry: Registry, model: Scorer, shadow: bool = True) -> tuple[list[Scorer], LabelRule | None]:
    """The challengers scored in shadow beside `model` (the other variants of its version, unless
    `shadow` is off) and the version's label rule (None: the manifest has none, so no outcomes)."""
    from volctl.domain.labels import label_rule_of

    manifest = registry.manifest(model.version)
    others = challengers(model.variant, manifest.get("variants", {})) if shadow else []
    found = [registry.load(model.version, other) for other in others]
    return found, label_rule_of(manifest)


def outcomes_folder(state_dir: Path) -> Path:
    return state_dir / OUTCOMES_FOLDER


def unique_outcomes(state_dir: Path) -> tuple[list[dict[str, Any]], int]:
    """(the outcomes log's documents, each tick once, oldest first; how many were duplicate
    deliveries): at-least-once delivery repeats a tick's outcome with the same source."""
    from volctl.domain.feature_log import read_documents

    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    duplicates = 0
    for document in read_documents(outcomes_folder(state_dir), OUTCOMES_PREFIX):
        source = document.get("source") or {}
        key = (source.get("topic"), source.get("partition"), source.get("offset"), source.get("index"))
        if key in seen:
            duplicates += 1
        else:
            seen[key] = document
    return list(seen.values()), duplicates

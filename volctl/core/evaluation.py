"""How good a variant is on held-out rows, with intervals that respect time: the rows of one spike
episode are not independent, so intervals come from a block bootstrap over 5-minute blocks.

PR-AUC differences smaller than their interval are noise (a test split holds a few dozen spike
episodes); `recommend` serves ml only when its lead over the baseline rule is clear of zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from volctl.domain.labels import HORIZON_S
from volctl.domain.model import labels_of
from volctl.domain.variants import BASELINE, ML

if TYPE_CHECKING:
    from volctl.domain.model import Scorer

BLOCK_S = 300.0
RESAMPLES = 400
LEVEL = 0.9
Metric = Callable[[np.ndarray, np.ndarray], float]


def block_ids(ts: np.ndarray, block_s: float = BLOCK_S) -> np.ndarray:
    return np.floor(np.asarray(ts, dtype=float) / block_s).astype(np.int64)


def block_bootstrap(metric: Metric, y: np.ndarray, scores: np.ndarray, blocks: np.ndarray,
                    resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 7) -> tuple[float, float, float]:
    """(point value, low, high): the metric on all rows, and the central `level` interval of the
    metric over resamples of whole blocks (drawn with replacement)."""
    point = metric(y, scores)
    unique, inverse = np.unique(blocks, return_inverse=True)
    members = [np.flatnonzero(inverse == b) for b in range(len(unique))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        rows = np.concatenate([members[b] for b in rng.integers(0, len(members), len(members))])
        if 0 < y[rows].sum() < len(rows):  # a metric needs both classes
            values.append(metric(y[rows], scores[rows]))
    if not values:
        return point, float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return point, float(low), float(high)


def pr_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Average precision, as scikit-learn's average_precision_score computes it (ties form one
    threshold), in plain numpy: the bootstrap calls it thousands of times and sklearn's input
    checks cost more than the arithmetic (a test keeps the two equal)."""
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    ranked, hits = np.asarray(scores)[order], np.asarray(y)[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # the last row of each distinct score
    true_positives = np.cumsum(hits)[last]
    if not len(true_positives) or true_positives[-1] == 0:
        return 0.0
    precision = true_positives / (last + 1)
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def episodes(y: np.ndarray, ts: np.ndarray, products: np.ndarray) -> int:
    """Spike episodes: positive ticks of a product closer than the label horizon are one episode."""
    count = 0
    for name in np.unique(products):
        times = np.sort(np.asarray(ts)[(products == name) & (y == 1)])
        count += int(len(times) > 0) + int((np.diff(times) > HORIZON_S).sum())
    return count


def variant_metrics(y: np.ndarray, scores: np.ndarray, threshold: float, ts: np.ndarray,
                    products: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score

    predicted = labels_of(scores, threshold)
    value, low, high = block_bootstrap(pr_auc, y, scores, block_ids(ts))
    base = float(y.mean())
    return {
        "pr_auc": value, "pr_auc_interval": [low, high], "interval_level": LEVEL,
        "roc_auc": float(roc_auc_score(y, scores)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "brier": float(brier_score_loss(y, np.clip(scores, 0, 1))), "brier_constant": base * (1 - base),
        "positive_rate": base, "episodes": episodes(y, ts, products), "rows": len(y),
        "reliability": reliability(y, scores),
    }


@dataclass
class Evaluated:
    metrics: dict[str, dict[str, Any]]  # per variant
    curves: dict[str, dict[str, Any]]  # per variant: the precision-recall curve, for plots
    recommendation: dict[str, Any] | None  # None unless both ml and baseline were scored


def evaluate_variants(scorers: Sequence[Scorer], x: np.ndarray, y: np.ndarray, ts: np.ndarray,
                      products: np.ndarray) -> Evaluated:
    """Every variant on the same labelled rows, and the recommendation between ml and baseline."""
    scores = {s.variant: s.score(x) for s in scorers}
    metrics = {s.variant: variant_metrics(y, scores[s.variant], s.decision_threshold, ts, products) for s in scorers}
    curves = {variant: {"precision_recall": pr_curve(y, values)} for variant, values in scores.items()}
    both = ML in scores and BASELINE in scores
    return Evaluated(metrics, curves, recommend(y, scores[ML], scores[BASELINE], ts) if both else None)


def pr_curve(y: np.ndarray, scores: np.ndarray, points: int = 60) -> list[list[float]]:
    """[recall, precision] pairs along the precision-recall curve, thinned to about `points`."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, scores)
    keep = np.unique(np.linspace(0, len(recall) - 1, min(points, len(recall))).astype(int))
    return [[round(float(recall[i]), 4), round(float(precision[i]), 4)] for i in keep]


def reliability(y: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Mean score against the observed spike rate per score decile: a calibrated score sits on the
    diagonal (issue 14 asks for it beside every variant)."""
    order = np.argsort(scores, kind="stable")
    rows = []
    for part in np.array_split(order, bins):
        if len(part):
            rows.append({"rows": len(part), "mean_score": float(scores[part].mean()),
                         "observed_rate": float(y[part].mean())})
    return rows


def pr_auc_difference(y: np.ndarray, first: np.ndarray, second: np.ndarray, ts: np.ndarray
                      ) -> tuple[float, float, float]:
    """first - second PR-AUC on the same rows, with its paired block-bootstrap interval."""
    stacked = np.column_stack([first, second])
    return block_bootstrap(lambda yy, s: pr_auc(yy, s[:, 0]) - pr_auc(yy, s[:, 1]), y, stacked, block_ids(ts))


def recommend(y: np.ndarray, ml_scores: np.ndarray, baseline_scores: np.ndarray, ts: np.ndarray
              ) -> dict[str, Any]:
    """ml - baseline PR-AUC with its paired block-bootstrap interval; ml only when it is clear of 0."""
    value, low, high = pr_auc_difference(y, ml_scores, baseline_scores, ts)
    if low > 0:
        variant, reason = ML, f"ml leads the baseline rule by {value:.3f} PR-AUC, interval [{low:.3f}, {high:.3f}]"
    else:
        variant, reason = BASELINE, (f"ml does not clearly beat the baseline rule: PR-AUC difference {value:+.3f}, "
                                     f"{LEVEL:.0%} interval [{low:+.3f}, {high:+.3f}] includes or lies below 0")
    return {"variant": variant, "reason": reason, "pr_auc_difference": value,
            "pr_auc_difference_interval": [low, high]}

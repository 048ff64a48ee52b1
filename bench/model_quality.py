"""Is the detector detecting? Measured side by side in one run on the same rows, each with its 90 %
interval (sessions resampled when there are five or more, else 5-minute blocks):

1. the trained version's test split: is the label decided by the future (a scorer that knows the
   next 60 s volatility against the level alone), then ml, the baseline rule, persistence and the
   best single feature *chosen on the test split itself* (a ceiling no honest rule can claim):
   PR-AUC, alert lift (median next-60 s volatility after an alert / after silence, and the
   top-decile lift), Brier against the constant's;
2. out of time: a version trained only on the 2025 recordings, scored on the 2026 ones
   (`volctl model evaluate`'s core), the same columns.

    python bench/model_quality.py
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from _common import SHARED_DATA

from volctl.core.model.dataset import load_dataset
from volctl.core.model.evaluation import pr_auc, variant_metrics
from volctl.core.model.out_of_time import evaluate_version
from volctl.core.model.rules import PERSISTENCE_FEATURES
from volctl.core.model.selection import decision_threshold
from volctl.core.model.training import rows_of, seeded, split_by_time, train_model
from volctl.domain.features import FEATURES
from volctl.domain.figures import interval_text, lift_text
from volctl.domain.registry import Registry
from volctl.domain.variants import AUTO, BASELINE, ML


def best_single_feature(test, y: np.ndarray, features: tuple[str, ...] = FEATURES) -> tuple[str, np.ndarray]:
    """Of these features and both directions, the best PR-AUC on these very rows (NaN never fires)."""
    best = ("", -1.0, np.zeros(len(y)))
    for feature in features:
        values = test[feature].to_numpy(dtype=float)
        for name, sign in (("high", 1.0), ("low", -1.0)):
            scores = np.where(np.isnan(values), -1e300, sign * np.nan_to_num(values))
            value = pr_auc(y, scores)
            if value > best[1]:
                best = (f"{feature} {name}", value, scores)
    return best[0], best[2]


def line(name: str, metrics: Mapping[str, Any], about: str = "") -> str:
    brier = (f"Brier {metrics['brier']:.3f} vs {metrics['brier_constant']:.3f}"
             + (" (worse than constant)" if metrics.get("brier_worse_than_constant") else ""))
    return (f"  {name:<22} PR-AUC {interval_text(metrics['pr_auc'], metrics['pr_auc_interval'])}  "
            f"lift {lift_text(metrics.get('alert_lift'))}  {brier}" + (f"\n  {'':<22} {about}" if about else ""))


def main() -> None:
    if not SHARED_DATA.is_dir():
        raise SystemExit(f"model_quality needs the real recordings in {SHARED_DATA}")
    registry = Registry(Path(tempfile.mkdtemp(prefix="volctl-bench-quality-")))
    dataset, cuts = seeded(load_dataset([SHARED_DATA]))
    result = train_model(dataset, registry)
    manifest = result.manifest
    labelled = dataset.frame[dataset.frame["target"].notna()]
    test = split_by_time(labelled, cuts).test
    y = (test["target"] > manifest["label"]["threshold"]).to_numpy().astype(int)
    rows = rows_of(test, y)
    props = manifest["label"]["test_properties"]
    print(f"1. test split of {result.version}: {len(y):,} rows, {rows.episodes} spike episodes, base rate "
          f"{y.mean():.3f}; intervals resample {rows.resampling}")
    print(f"  label: a scorer that knows the next 60 s volatility PR-AUC {props['future_pr_auc']:.3f}; "
          f"the level alone {props['level_pr_auc']:.3f} ({props['level_direction']})")
    for variant in (ML, BASELINE):
        about = (registry.load(result.version, BASELINE).describe() if variant == BASELINE
                 else manifest["variants"][ML]["candidate"])
        print(line(variant, manifest["variants"][variant]["metrics"], about))
    # Persistence and the ceiling, each at the threshold the same alert-rate rule picks on these rows.
    for name, features in (("persistence (on test)", PERSISTENCE_FEATURES), ("best feature (on test)", FEATURES)):
        feature, scores = best_single_feature(test, y, tuple(features))
        threshold = decision_threshold(y, scores)
        print(line(name, variant_metrics(y, scores, threshold, rows), f"{feature}, chosen on the test rows themselves"))
    ml_metrics, base_metrics = (manifest["variants"][v]["metrics"] for v in (ML, BASELINE))
    print(f"  ratio ml / baseline PR-AUC {ml_metrics['pr_auc'] / base_metrics['pr_auc']:.2f}; alert lift "
          f"{ml_metrics['alert_lift']['median_ratio'] / base_metrics['alert_lift']['median_ratio']:.2f}")
    print(f"  model.variant = auto serves: {registry.load(result.version, AUTO).variant} "
          f"({manifest['recommendation']['reason']})")

    early = sorted(p for p in SHARED_DATA.iterdir() if "2025" in p.name and not p.name.endswith(".md"))
    late = sorted(p for p in SHARED_DATA.iterdir() if "2026" in p.name)
    past = Registry(Path(tempfile.mkdtemp(prefix="volctl-bench-past-")))
    trained = train_model(load_dataset(early), past)
    evaluation = evaluate_version(past.root, trained.version, late)
    pooled = evaluation.pooled
    props = evaluation.label_properties
    print(f"\n2. out of time: trained on {len(early)} recordings of 2025, scored on {len(late)} of 2026: "
          f"{pooled.labelled:,} labelled rows, {pooled.spikes:,} spikes, {pooled.episodes} episodes")
    if props:
        print(f"  label: future PR-AUC {props['future_pr_auc']:.3f}; level alone {props['level_pr_auc']:.3f}; "
              f"base rate {props['base_rate']:.3f}")
    print(f"  {evaluation.answer}")
    for variant, metrics in pooled.metrics.items():
        print(line(variant, metrics))
    if pooled.recommendation:
        low, high = pooled.recommendation["pr_auc_difference_interval"]
        print(f"  ml - baseline {pooled.recommendation['pr_auc_difference']:+.3f} [{low:+.3f}, {high:+.3f}]: "
              f"{pooled.recommendation['variant']}")
    elif not pooled.metrics:
        lifts = ", ".join(f"{variant} {lift_text(lift)}" for variant, lift in pooled.lifts.items())
        print(f"  not scored: {pooled.note}; alert lift {lifts}")


if __name__ == "__main__":
    main()

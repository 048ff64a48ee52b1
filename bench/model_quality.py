"""Is the detector detecting? PR-AUC with 90 % block-bootstrap intervals, measured side by side in one
run on the same rows:

1. the trained version's test split: ml, the baseline rule, and the best single feature *chosen on
   the test split itself* (a ceiling no honest rule can claim, for scale);
2. out of time: a version trained only on the 2025 recordings, scored on the 2026 ones
   (`volctl model evaluate`'s core).

Prints the ratios ml / baseline and ml / best single feature, and the variant `auto` serves.

    python bench/model_quality.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from _common import SHARED_DATA

from volctl.core.dataset import load_dataset
from volctl.core.evaluation import block_bootstrap, block_ids, pr_auc
from volctl.core.out_of_time import evaluate_version
from volctl.core.training import LABEL_QUANTILE, split_by_time, train_model
from volctl.domain.features import FEATURES
from volctl.domain.registry import Registry
from volctl.domain.variants import AUTO, BASELINE, ML


def interval(y: np.ndarray, scores: np.ndarray, ts: np.ndarray) -> tuple[float, float, float]:
    return block_bootstrap(pr_auc, y, scores, block_ids(ts))


def best_single_feature(test, y: np.ndarray) -> tuple[str, np.ndarray]:
    """Of every feature and both directions, the best PR-AUC on these very rows (NaN never fires)."""
    best = ("", -1.0, np.zeros(len(y)))
    for feature in FEATURES:
        values = test[feature].to_numpy(dtype=float)
        for name, sign in (("high", 1.0), ("low", -1.0)):
            scores = np.where(np.isnan(values), -1e300, sign * np.nan_to_num(values))
            value = pr_auc(y, scores)
            if value > best[1]:
                best = (f"{name} {feature}", value, scores)
    return best[0], best[2]


def line(name: str, point: float, low: float, high: float, about: str = "") -> str:
    return f"  {name:<20} PR-AUC {point:.3f}  [{low:.3f}, {high:.3f}]" + (f"  {about}" if about else "")


def main() -> None:
    if not SHARED_DATA.is_dir():
        raise SystemExit(f"model_quality needs the real recordings in {SHARED_DATA}")
    dataset = load_dataset([SHARED_DATA])
    registry = Registry(Path(tempfile.mkdtemp(prefix="volctl-bench-quality-")))
    result = train_model(dataset, registry)
    labelled = dataset.frame[dataset.frame["target"].notna()]
    split = split_by_time(labelled)
    threshold = float(np.quantile(split.train["target"], LABEL_QUANTILE))
    assert threshold == result.manifest["label"]["threshold"]
    y = (split.test["target"] > threshold).to_numpy().astype(int)
    ts, x = split.test["ts"].to_numpy(), split.test[list(FEATURES)].to_numpy()
    print(f"1. test split of {result.version}: {len(y):,} rows, base rate {y.mean():.3f}, "
          f"90 % intervals over 5-minute blocks")
    found = {}
    for variant in (ML, BASELINE):
        model = registry.load(result.version, variant)
        found[variant] = interval(y, model.score(x), ts)
        described = model.describe() if variant == BASELINE else result.manifest["variants"][ML]["candidate"]
        print(line(variant, *found[variant], described))
    feature, scores = best_single_feature(split.test, y)
    found["feature"] = interval(y, scores, ts)
    print(line("best single feature", *found["feature"], f"{feature}, chosen on the test rows themselves"))
    print(f"  ratio ml / baseline PR-AUC {found[ML][0] / found[BASELINE][0]:.2f}; "
          f"ml / best single feature {found[ML][0] / found['feature'][0]:.2f}")
    print(f"  ml calibrated: Brier {result.manifest['variants'][ML]['metrics']['brier']:.3f} vs constant "
          f"{result.manifest['variants'][ML]['metrics']['brier_constant']:.3f}")
    print(f"  model.variant = auto serves: {registry.load(result.version, AUTO).variant} "
          f"({result.manifest['recommendation']['reason']})")

    early = sorted(p for p in SHARED_DATA.iterdir() if "2025" in p.name and not p.name.endswith(".md"))
    late = sorted(p for p in SHARED_DATA.iterdir() if "2026" in p.name)
    past = Registry(Path(tempfile.mkdtemp(prefix="volctl-bench-past-")))
    trained = train_model(load_dataset(early), past)
    evaluation = evaluate_version(past.root, trained.version, late)
    pooled = evaluation.pooled
    print(f"\n2. out of time: trained on {len(early)} recordings of 2025, scored on {len(late)} of 2026: "
          f"{pooled.labelled:,} labelled rows, {pooled.spikes:,} spikes")
    for variant, metrics in pooled.metrics.items():
        print(line(variant, metrics["pr_auc"], *metrics["pr_auc_interval"]))
    if pooled.recommendation:
        low, high = pooled.recommendation["pr_auc_difference_interval"]
        print(f"  ml - baseline {pooled.recommendation['pr_auc_difference']:+.3f} [{low:+.3f}, {high:+.3f}]: "
              f"{pooled.recommendation['variant']}")
    else:
        print(f"  not scored: {pooled.note}")


if __name__ == "__main__":
    main()

"""Train every declared variant (domain/variants.py) on the same time splits, evaluate them, recommend
one and write a registry version."""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from volctl import __version__
from volctl.core.model.dataset import Dataset, Progress, measure_seeds
from volctl.core.model.drift_calibration import TEST_SCORES_FILE, TEST_SCORES_KEY, calibrate_version
from volctl.core.model.evaluation import Rows, evaluate_variants, pr_auc, skill_line
from volctl.core.model.fitting import Fitting
from volctl.core.model.forecasting import (
    alert_definitions,
    baselines_of,
    choose_forecaster,
    forecast_line,
    forecast_skill,
)
from volctl.domain import variants
from volctl.domain.errors import NotEnoughData
from volctl.domain.features import FEATURES
from volctl.domain.labels import HORIZON_S, LEVEL_FEATURE
from volctl.domain.level import LEVEL_HALF_LIFE_S, SEED_WEIGHT_S
from volctl.domain.registry import Registry

SPLIT_FRACTIONS = (0.6, 0.2, 0.2)  # train, validation, test: by time, never shuffled
LABEL_QUANTILE = 0.9
MIN_SPLIT_ROWS = 200
REFERENCE_ROWS = 20_000


@dataclass
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    boundaries: tuple[float, float]


@dataclass
class TrainResult:
    version: str
    path: Path
    manifest: dict[str, Any]
    identical_to: str | None = None  # an existing version trained on the same rows, seed and code


def time_cuts(labelled: pd.DataFrame, fractions: tuple[float, float, float] = SPLIT_FRACTIONS) -> tuple[float, float]:
    """The two cut times between train, validation and test: time quantiles of the labelled rows."""
    if len(labelled) < 3 * MIN_SPLIT_ROWS:
        raise NotEnoughData(
            f"only {len(labelled)} labelled rows; training needs at least {3 * MIN_SPLIT_ROWS}",
            hint="give more recordings with --data (a row needs a quote and 60 s of data after it)",
        )
    times = np.sort(labelled["ts"].to_numpy())
    return float(times[int(len(times) * fractions[0])]), float(times[int(len(times) * (fractions[0] + fractions[1]))])


def split_by_time(labelled: pd.DataFrame, cuts: tuple[float, float] | None = None) -> Split:
    """Cut at time quantiles; drop rows whose label horizon reaches into the next split (embargo)."""
    first, second = cuts or time_cuts(labelled)
    ts = labelled["ts"]
    train = labelled[ts + HORIZON_S < first]
    validation = labelled[(ts >= first) & (ts + HORIZON_S < second)]
    test = labelled[ts >= second]
    for name, part in (("train", train), ("validation", validation), ("test", test)):
        if len(part) < MIN_SPLIT_ROWS:
            raise NotEnoughData(
                f"the {name} split has {len(part)} labelled rows, fewer than {MIN_SPLIT_ROWS}",
                hint="give more recordings with --data (each needs > 60 s of continuous ticks)",
            )
    return Split(train, validation, test, (first, second))


def seeded(dataset: Dataset) -> tuple[Dataset, tuple[float, float]]:
    """The dataset with its level features seeded from its own training period, and the cuts.
    Which rows can be labelled does not depend on the level, so the cuts come first."""
    frame = dataset.frame
    labelable = frame[frame["covered"] & frame["quoted"] & frame["fwd_vol"].notna()]
    cuts = time_cuts(labelable)
    return dataset.with_seeds(measure_seeds(frame[frame["ts"] + HORIZON_S < cuts[0]])), cuts


def rows_of(part: pd.DataFrame, y: np.ndarray) -> Rows:
    """What the intervals and the alert lift of a split are computed from."""
    return Rows(y, part["ts"].to_numpy(dtype=float), part["product"].to_numpy(), part["fwd_vol"].to_numpy(dtype=float),
                part["session"].to_numpy())


def label_properties(test: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    """Is the label decided by the future? On the test split: the PR-AUC of a scorer that knows the
    next 60 s volatility (high: the future decides), and of the level alone (near the base rate: the
    regime does not), in its better direction."""
    level = test[LEVEL_FEATURE].to_numpy(dtype=float)
    high, low = pr_auc(y, level), pr_auc(y, -level)
    return {"future_pr_auc": pr_auc(y, test["fwd_vol"].to_numpy(dtype=float)),
            "level_pr_auc": max(high, low), "level_direction": "high" if high >= low else "low",
            "base_rate": float(y.mean()), "rows": len(y)}


def train_model(dataset: Dataset, registry: Registry, seed: int = 7, progress: Progress | None = None,
                force: bool = False) -> TrainResult:
    """Train, evaluate and save a version; when a version was trained on the same rows with the
    same seed and code, return it (`identical_to`) instead of adding a twin, unless `force`."""
    say = progress or (lambda _message: None)
    fingerprint = training_fingerprint(dataset, seed)
    twin = None if force else registry.find(lambda manifest: manifest.get("training_fingerprint") == fingerprint)
    if twin is not None:
        say(f"identical to {twin}: same rows, seed and code; no new version (--force adds one)")
        return TrainResult(twin, registry.folder(twin), registry.manifest(twin), identical_to=twin)
    dataset, cuts = seeded(dataset)
    say("levels seeded from the training split: " + (", ".join(
        f"{p} {math.sqrt(s.variance_rate * 60) * 1e4:.2f} bps/min" for p, s in sorted(dataset.seeds.items()))
        or "none (no product observed for 30 min): each stream's own level"))
    labelled = dataset.frame[dataset.frame["target"].notna()]
    split = split_by_time(labelled, cuts)
    threshold = float(np.quantile(split.train["target"], LABEL_QUANTILE))
    y = {name: (getattr(split, name)["target"] > threshold).to_numpy().astype(int)
         for name in ("train", "validation", "test")}
    if y["train"].sum() == 0 or y["test"].sum() == 0 or y["validation"].sum() == 0:
        raise NotEnoughData("a split has no volatility spikes to learn or score", hint="give more recordings")
    x = {name: getattr(split, name)[list(FEATURES)].to_numpy() for name in y}

    fitting = Fitting(split, x, y, rows_of(split.validation, y["validation"]), seed, say)
    names = (*variants.CANDIDATES, variants.REFERENCE)  # every variant, each by its own trainer
    fitted = {name: variants.variant(name).fitter()(fitting) for name in names}
    for name, found in fitted.items():
        found.scorer.variant = name  # a trainer may serve several variants (two rules): each scorer named as its own
    scorers = [found.scorer for found in fitted.values()]

    say("forecaster: HAR-RV candidates fitted on train, chosen on validation by QLIKE")
    forecaster, forecast_selection = choose_forecaster(x["train"], split.train["fwd_vol"].to_numpy(dtype=float),
                                                       x["validation"],
                                                       split.validation["fwd_vol"].to_numpy(dtype=float))
    baselines = baselines_of(split.train["fwd_vol"].to_numpy(dtype=float))

    # The recommendation is made on validation; the test split only reports (it stays untouched).
    chosen_on = evaluate_variants(scorers, x["validation"], fitting.validation)
    recommendation = {**chosen_on.recommendation, "decided_on": "validation"}
    say(f"recommended variant (on validation): {recommendation['variant']} ({recommendation['reason']})")
    say(f"reporting {', '.join(names)} and the forecast on the test split")
    test_rows = rows_of(split.test, y["test"])
    evaluated = evaluate_variants(scorers, x["test"], test_rows)
    forecast = forecast_skill(forecaster, x["test"], split.test["fwd_vol"].to_numpy(dtype=float), baselines,
                              test_rows.units, ts=test_rows.ts)
    say(forecast_line(forecast))
    for variant in names:
        say(f"{variant} spike alerts, {skill_line(evaluated.metrics[variant]['skill'])}")
    definitions = alert_definitions(forecaster, x["validation"], x["test"], y["test"], test_rows)
    created = datetime.now(UTC)
    version = registry.free_version(f"{created:%Y%m%d-%H%M%S}-{'synthetic' if dataset.synthetic else 'real'}")
    manifest = {
        "schema": 2,
        "version": version,
        "created_at": created.isoformat(timespec="seconds"),
        "volctl_version": __version__,
        "training_fingerprint": fingerprint,
        "seed": seed,
        "features": list(FEATURES),
        "label": {
            "definition": (
                f"realised volatility of mid-price log returns over the next {HORIZON_S:g} s divided by the "
                f"product's slow volatility level ({LEVEL_HALF_LIFE_S / 60:g} min half-life, seeded from the "
                "training split), above threshold"
            ),
            "horizon_s": HORIZON_S,
            "normaliser": LEVEL_FEATURE,
            "quantile": LABEL_QUANTILE,
            "threshold": threshold,
            "level": {"half_life_s": LEVEL_HALF_LIFE_S, "seed_weight_s": SEED_WEIGHT_S,
                      "seeds": {p: s.as_document() for p, s in sorted(dataset.seeds.items())}},
            "test_properties": label_properties(split.test, y["test"]),
        },
        "data": _data_section(dataset, split, labelled),
        "recommended_variant": recommendation["variant"],
        "recommendation": recommendation,
        "test_comparison": evaluated.recommendation,  # the same comparison on the test split: reported only
        "forecast": {**forecaster.as_document(), "selection": forecast_selection, "baselines": baselines.as_document(),
                     "test": forecast},
        "alert_definitions": definitions,
        "variants": {name: {**found.entry, "metrics": evaluated.metrics[name], "curves": evaluated.curves[name]}
                     for name, found in fitted.items()},
    }
    reference = split.train[[*FEATURES, "product", "ts", "price"]]
    if len(reference) > REFERENCE_ROWS:  # evenly spaced in time: keeps the whole period
        reference = reference.iloc[np.linspace(0, len(reference) - 1, REFERENCE_ROWS).astype(int)]
    complete = split.test[list(FEATURES)].dropna()
    manifest["sample_rows"] = complete.iloc[:: max(1, len(complete) // 5)].head(5).to_dict("records")
    say(f"writing model {version}")
    pipelines = {name: found.pipeline for name, found in fitted.items() if found.pipeline is not None}
    path = registry.save(manifest, pipelines, reference)
    scored = {name: found.scorer.score(x["test"]) for name, found in fitted.items()}
    test_scores = pd.DataFrame({"ts": split.test["ts"].to_numpy(), **scored})
    buffer = io.BytesIO()
    test_scores.to_parquet(buffer, index=False)
    registry.attach(version, TEST_SCORES_KEY, TEST_SCORES_FILE, buffer.getvalue())
    calibrate_version(registry, version, progress=say)  # drift thresholds from the reference's own chunks
    return TrainResult(version, path, registry.manifest(version))


def training_fingerprint(dataset: Dataset, seed: int) -> str:
    """What decides the model: the rows (features, labels, sources), the seed and this build."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(dataset.frame, index=False).to_numpy().tobytes())
    digest.update(json.dumps({"seed": seed, "volctl": __version__, "features": FEATURES,
                              "quantile": LABEL_QUANTILE, "splits": SPLIT_FRACTIONS,
                              "level": [LEVEL_HALF_LIFE_S, SEED_WEIGHT_S]}).encode())
    return digest.hexdigest()


def _data_section(dataset: Dataset, split: Split, labelled: pd.DataFrame) -> dict[str, Any]:
    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")

    def span(part: pd.DataFrame) -> dict[str, Any]:
        return {"start": iso(part["ts"].min()), "end": iso(part["ts"].max()), "rows": len(part)}

    frame = dataset.frame
    return {
        "synthetic": dataset.synthetic,
        "sessions": {"train": int(split.train["session"].nunique()),
                     "validation": int(split.validation["session"].nunique()),
                     "test": int(split.test["session"].nunique())},
        "sources": dataset.sources,
        "products": sorted(frame["product"].unique().tolist()),
        "range": {"start": iso(frame["ts"].min()), "end": iso(frame["ts"].max())},
        "ticks": len(frame),
        "labelled": len(labelled),
        "unlabelled_by_rule": dataset.label_drops,
        "bad_lines": dict(dataset.stats.bad),
        "splits": {"train": span(split.train), "validation": span(split.validation), "test": span(split.test)},
    }

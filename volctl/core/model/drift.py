"""`volctl drift report`: Evidently's DataDriftPreset on the model features, reference vs current.

Reference and current rows come from `drift_inputs`; the thresholds from the served version's
calibration (`drift_calibration`).

Evidently is imported here only (it takes seconds), with its telemetry off.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from volctl.core.model.drift_inputs import (
    Rows,
    feature_log_rows,
    model_reference,
    rows_from_file,
    seeds_of,
    served_model,
    span_of,
)
from volctl.domain.clock import utc_iso, utc_stamp
from volctl.domain.errors import NotEnoughData, VolctlError
from volctl.domain.features import FEATURES
from volctl.domain.settings import Settings
from volctl.domain.verdict import Verdict

if TYPE_CHECKING:
    import pandas as pd

    from volctl.domain.perturb import Perturbation

Progress = Callable[[str], None]


@dataclass
class FeatureDrift:
    name: str
    method: str = ""
    score: float | None = None
    threshold: float | None = None
    drifted: bool = False
    note: str = ""  # why a feature was not tested, or how its score sits against its calibration
    false_alarm_rate: float | None = None  # of the calibrated threshold, on the reference's own chunks


def by_severity(features: list[FeatureDrift]) -> list[FeatureDrift]:
    """Drifted first, then each by how far its score stands over (or below) its threshold, the ones
    not tested last: read from the top, the table answers "what moved most" (it was alphabetical)."""
    def key(feature: FeatureDrift) -> tuple[bool, bool, float, str]:
        ratio = feature.score / feature.threshold if feature.score is not None and feature.threshold else 0.0
        return feature.score is None, not feature.drifted, -ratio, feature.name

    return sorted(features, key=key)

@dataclass
class DriftReport:
    reference: str
    current: str
    reference_rows: int
    current_rows: int
    threshold: float  # drift when more than this share of the tested features drifted
    features: list[FeatureDrift] = field(default_factory=list)
    at: str = ""
    at_epoch: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    calibrated: bool = False  # thresholds from the reference's own chunks, else Evidently's defaults
    calibration: str = ""  # which calibration, or why none applies
    share_false_alarm_rate: float | None = None
    predictions: list[FeatureDrift] = field(default_factory=list)  # prediction and label drift: shown, not voted
    quality: dict[str, Any] | None = None  # the served model's realised precision/recall in the window
    live: bool = False  # the current rows are the live feature log (quality can be known)
    current_span_s: float | None = None  # event time the current rows cover (None: no timestamps)

    @property
    def tested(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.score is not None]

    @property
    def features_ranked(self) -> list[FeatureDrift]:
        """The features as tables show them (`by_severity`); the JSON keeps the features' own order."""
        return by_severity(self.features)

    @property
    def predictions_ranked(self) -> list[FeatureDrift]:
        return by_severity(self.predictions)

    @property
    def share(self) -> float:
        tested = self.tested
        return sum(f.drifted for f in tested) / len(tested) if tested else 0.0

    @property
    def drift(self) -> bool:
        return self.share > self.threshold

    @property
    def outcome(self) -> Verdict:
        return Verdict.FAIL if self.drift else Verdict.PASS

    def as_document(self) -> dict[str, Any]:
        return {"verdict": self.outcome.value,
                "at": self.at, "at_epoch": self.at_epoch, "reference": self.reference, "current": self.current,
                "reference_rows": self.reference_rows, "current_rows": self.current_rows,
                "threshold": self.threshold, "share": self.share, "drift": self.drift,
                "current_span_s": self.current_span_s,
                "calibrated": self.calibrated, "calibration": self.calibration,
                "share_false_alarm_rate": self.share_false_alarm_rate,
                "drifted": [f.name for f in self.features if f.drifted],
                "features": [vars(f) for f in self.features], "predictions": [vars(f) for f in self.predictions],
                "quality": self.quality, "outputs": self.outputs}


# (report, Evidently's evaluation, folder, settings): writes HTML + JSON + Markdown and the summary
# the consume service exports as metrics; volctl.reports.drift_files.write_drift_outputs
DriftWriter = Callable[["DriftReport", Any, Path, Settings], None]


def drift_report(settings: Settings, write: DriftWriter, reference: Path | None = None,
                 current: Path | None = None, window: str | None = None, out: Path | None = None,
                 progress: Progress = lambda _m: None, synthetic_seed: int | None = None,
                 perturbation: Perturbation | None = None) -> DriftReport:
    """Load both sides, judge each feature against its threshold calibrated on the reference's own
    chunks (Evidently computes the scores), add prediction and label drift, and hand the result
    to `write` (the files beside it). `synthetic_seed` and `perturbation` make the current stream on
    purpose (see drift_streams): it is written into the report's folder first."""
    from volctl.core.model.drift_streams import prepared_current

    window = window or settings.drift.window
    out = out or _default_out(settings, time.time())  # made before the rows: a made stream is written there
    if synthetic_seed is not None or perturbation is not None:
        progress("writing the current stream")
    current, made = prepared_current(current, synthetic_seed, perturbation, out, settings.data.naive_timezone)
    progress("reading the reference rows")
    model = None if reference else served_model(settings)
    ref = rows_from_file(reference, settings) if reference else model_reference(settings, model)
    progress("reading the current rows")
    cur = (rows_from_file(current, settings, seeds_of(settings, model)) if current
           else feature_log_rows(settings, window))
    if made:
        cur = Rows(cur.frame, f"{made} ({current})")
    hints = {  # what to do depends on where the rows came from
        "current": (f"pass a --current file with at least {settings.drift.min_rows} rows, or lower --min-rows"
                    if current else "let the stream run longer, widen --window, or pass --current FILE"),
        "reference": (f"pass a --reference file with at least {settings.drift.min_rows} rows" if reference
                      else "retrain on more data (`volctl model train`), or pass --reference FILE"),
    }
    for side, rows in (("current", cur), ("reference", ref)):
        if len(rows.frame) < settings.drift.min_rows:
            raise NotEnoughData(
                f"not enough {side} data: {len(rows.frame)} rows in {rows.source}, "
                f"need {settings.drift.min_rows} (drift.min_rows)", hint=hints[side])
    covered = span_of(cur)
    calibration, why = _calibration(settings, model, window, current is not None, covered)
    now = time.time()
    report = DriftReport(ref.source, cur.source, len(ref.frame), len(cur.frame), settings.drift.share_threshold,
                         at=utc_iso(now), at_epoch=now, calibrated=calibration is not None, calibration=why,
                         current_span_s=covered)
    if calibration is not None:
        report.threshold = float(calibration["share"]["threshold"])
        report.share_false_alarm_rate = calibration["share"]["false_alarm_rate"]
    columns = [name for name in FEATURES if name in ref.frame and name in cur.frame]
    comparable = []
    for name in columns:
        empty = [side for side, rows in (("reference", ref), ("current", cur)) if rows.frame[name].notna().sum() == 0]
        if empty:  # e.g. spread on trades-only recordings: missing, not zero; Evidently cannot test it
            report.features.append(FeatureDrift(name, note=f"no values in {' and '.join(empty)}"))
        else:
            comparable.append(name)
    if not comparable:
        raise NotEnoughData("no feature has values on both sides", hint="check the two inputs")
    progress(f"running Evidently on {len(comparable)} features "
             f"({len(ref.frame)} reference rows, {len(cur.frame)} current rows)")
    thresholds = None if calibration is None else {
        name: float(calibration["features"][name]["threshold"]) for name in comparable
        if name in calibration["features"]}
    evaluation = _evidently(ref.frame[comparable], cur.frame[comparable], report.threshold, thresholds)
    report.features = _results(evaluation.dict(), comparable, calibration) + report.features
    if model is not None and calibration is not None and "score" in cur.frame:
        report.predictions = _prediction_drift(settings, model, cur.frame, calibration)
    if not current and len(cur.frame):  # the live window: did quality move with the features?
        report.live = True
        report.quality = _quality_beside(settings, cur.frame)
    progress("writing the reports")
    write(report, evaluation, out, settings)
    return report


def _calibration(settings: Settings, model: dict[str, Any] | None, window: str, from_file: bool,
                 covered: float | None) -> tuple[dict[str, Any] | None, str]:
    """The calibration that fits the current rows, and what it is (or why Evidently's defaults)."""
    from volctl.core.model.drift_calibration import choose_window, load_calibration
    from volctl.domain.clock import seconds_of
    from volctl.domain.registry import Registry

    fallback = "; Evidently's default thresholds, which flag normal session-to-session variation"
    if model is None:
        return None, "a --reference file has no calibration" + fallback
    nominal = covered if from_file and covered is not None else seconds_of(window)
    document = load_calibration(Registry(settings.registry_path), model["version"])
    calibration, why = choose_window(document, nominal, covered)
    return calibration, why if calibration is not None else why + fallback



def _prediction_drift(settings: Settings, model: dict[str, Any], current: pd.DataFrame,
                      calibration: dict[str, Any]) -> list[FeatureDrift]:
    """The served variant's scores, and its share of positive labels, in the window against the
    test split's, each against its calibrated threshold."""
    import numpy as np
    import pandas as pd

    from volctl.core.model.drift_calibration import METHOD, TEST_SCORES_KEY, share_difference, wasserstein_norm
    from volctl.domain.registry import Registry

    variant, cut = model["variant"], model.get("decision_threshold")
    calibrated = (calibration.get("outputs") or {}).get(variant)
    path = Registry(settings.registry_path).attached(model["version"], TEST_SCORES_KEY)
    scores = current["score"].dropna().to_numpy(dtype=float)
    name = f"{variant} scores"
    if calibrated is None or path is None or cut is None:
        return [FeatureDrift(name, note="the model version stores no test-split scores for this variant")]
    if not len(scores):
        return [FeatureDrift(name, note="the current rows carry no scores")]
    test = pd.read_parquet(path)[variant].to_numpy(dtype=float)
    rows = []
    for label, method, value, key in (
            (name, METHOD, wasserstein_norm(test, scores), "score"),
            (f"{variant} share of spikes", "share difference",
             share_difference((test >= cut).astype(float), (scores >= cut).astype(float)), "label_share")):
        threshold = float(calibrated[key]["threshold"])
        drifted = bool(np.isfinite(threshold) and value > threshold)
        rows.append(FeatureDrift(label, method, value, threshold, drifted, _against(value, threshold),
                                 calibrated[key]["false_alarm_rate"]))
    if not model.get("served"):
        rows = [replace(row, note=row.note + f" (predict unreachable: compared with {variant}, "
                                                  "the configured variant)") for row in rows]
    return rows


def _quality_beside(settings: Settings, current: pd.DataFrame
                    ) -> dict[str, Any] | None:
    """Realised precision and recall of the served model on the window's ticks, beside what its
    version measured on the test split: "drifted, quality unchanged" reads differently from
    "drifted and quality fell"."""
    from volctl.core.model.quality import realised_between
    from volctl.domain.registry import Registry

    realised = realised_between(settings.state_path, float(current["ts"].min()), float(current["ts"].max()))
    if realised is None:
        return None
    try:
        manifest = Registry(settings.registry_path).manifest(realised["version"])
        tested = manifest["variants"][realised["variant"]]["metrics"]
        realised["test_precision"], realised["test_recall"] = tested["precision"], tested["recall"]
    except (KeyError, VolctlError):
        pass
    return realised


def _against(score: float, threshold: float) -> str:
    if math.isnan(threshold):
        return "no calibrated threshold"
    if score > threshold:
        return f"{score:.3g} vs calibrated {threshold:.3g}: beyond the reference's own variation"
    return f"{score:.3g} vs calibrated {threshold:.3g}: within normal session-to-session variation"


# -- Evidently -----------------------------------------------------------------------------------


def _evidently(reference: pd.DataFrame, current: pd.DataFrame, threshold: float,
               thresholds: dict[str, float] | None) -> Any:
    """Evidently's DataDriftPreset; with calibrated `thresholds` the method is forced to the one
    the calibration used (normed Wasserstein) whatever the row count, with each feature's own
    threshold, so Evidently's HTML shows the same thresholds as the table."""
    os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry switch (and the general one)
    os.environ.setdefault("EVIDENTLY_DISABLE_TELEMETRY", "1")
    import numpy as np
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from volctl.core.model.drift_calibration import METHOD

    definition = DataDefinition(numerical_columns=list(reference.columns))

    def dataset(frame: pd.DataFrame) -> Any:
        return Dataset.from_pandas(frame.replace([np.inf, -np.inf], np.nan).astype(float),
                                   data_definition=definition)

    if thresholds:
        preset = DataDriftPreset(drift_share=threshold, num_method=METHOD, per_column_threshold=thresholds)
    else:
        preset = DataDriftPreset(drift_share=threshold)
    return Report([preset], include_tests=True).run(dataset(current), dataset(reference))


def _results(document: dict[str, Any], columns: list[str], calibration: dict[str, Any] | None
             ) -> list[FeatureDrift]:
    """Per-column method, score and threshold from the metrics; drifted from Evidently's own tests;
    with a calibration, each feature's false-alarm rate and where its score sits."""
    failed = {test["metric_config"]["metric_id"] for test in document.get("tests", [])
              if test.get("status") == "FAIL"}
    calibrated = (calibration or {}).get("features", {})
    found: dict[str, FeatureDrift] = {}
    for metric in document.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        score = metric.get("value")
        name = config["column"]
        result = FeatureDrift(
            name, str(config.get("method", "")),
            None if score is None or (isinstance(score, float) and math.isnan(score)) else float(score),
            config.get("threshold"), metric.get("id") in failed)
        if name in calibrated and result.score is not None and result.threshold is not None:
            result.false_alarm_rate = calibrated[name]["false_alarm_rate"]
            result.note = _against(result.score, float(result.threshold))
        found[name] = result
    return [found.get(name, FeatureDrift(name, note="no result from Evidently")) for name in columns]


# -- outputs -------------------------------------------------------------------------------------


def _default_out(settings: Settings, now: float) -> Path:
    return settings.state_path / "drift" / utc_stamp(now)



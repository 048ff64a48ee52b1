"""Drift thresholds calibrated on the reference itself, as NannyML does: cut the reference into
time-contiguous chunks as long as the drift window, score each chunk against the rest with the
statistic the report uses, and alarm only outside the spread of those scores.

A fixed threshold (Evidently's Wasserstein 0.1) flags any short window of a market against a
multi-session reference: tick rate, range and spread differ from session to session. Thresholds
from the reference's own chunks say what "normal session-to-session variation" is.

The statistic is Evidently's "wasserstein" stat test, W1(reference, current) / max(std(reference),
0.001); the report forces that method so both sides compute the same number (a test checks it
against Evidently's own function). It is computed here with scipy, so training does not import
Evidently (seconds).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from volctl.domain.errors import ModelIntegrityError

if TYPE_CHECKING:
    from volctl.domain.registry import Registry

METHOD = "wasserstein"
QUANTILE = 0.99  # the threshold: this quantile of the chunk scores, or their maximum with fewer chunks
MIN_CHUNKS_FOR_QUANTILE = 100
MIN_CHUNK_ROWS = 30  # a shorter chunk's score is mostly noise
MAX_CHUNKS = 240  # evenly spread over the reference: bounds the training time
REST_ROWS = 5000  # "the rest of the reference", thinned evenly in time
WINDOWS_S = (30.0, 300.0, 3600.0)  # calibrated at training time; `volctl drift calibrate` adds others
SESSION_GAP_S = 600.0  # a chunk is scored against the *other* sessions of the reference

Statistic = Callable[[np.ndarray, np.ndarray], float]


def wasserstein_norm(reference: np.ndarray, current: np.ndarray) -> float:
    """Evidently's normed Wasserstein distance (its `wasserstein` stat test's score):
    W1(reference, current) / max(std(reference), 0.001), W1 computed as scipy computes it (the area
    between the two empirical CDFs) without importing scipy.stats (seconds)."""
    u, v = np.sort(reference), np.sort(current)
    values = np.sort(np.concatenate([u, v]))
    deltas = np.diff(values)
    u_cdf = np.searchsorted(u, values[:-1], side="right") / len(u)
    v_cdf = np.searchsorted(v, values[:-1], side="right") / len(v)
    return float(np.sum(np.abs(u_cdf - v_cdf) * deltas) / max(float(np.std(reference)), 0.001))


def share_difference(reference: np.ndarray, current: np.ndarray) -> float:
    """How far the share of positive labels moved: |mean(current) - mean(reference)|."""
    return abs(float(np.mean(current)) - float(np.mean(reference)))


def chunks_of(ts: np.ndarray, window_s: float) -> list[np.ndarray]:
    """Row indices per time bucket of `window_s` seconds (buckets with too few rows are dropped),
    thinned evenly to MAX_CHUNKS."""
    ts = np.asarray(ts, dtype=float)
    if not len(ts):
        return []
    bucket = np.floor((ts - np.nanmin(ts)) / window_s).astype(np.int64)
    order = np.argsort(bucket, kind="stable")
    _, starts = np.unique(bucket[order], return_index=True)
    found = [part for part in np.split(order, starts[1:]) if len(part) >= MIN_CHUNK_ROWS]
    if len(found) > MAX_CHUNKS:
        found = [found[i] for i in np.linspace(0, len(found) - 1, MAX_CHUNKS).astype(int)]
    return found


def sessions_of(ts: np.ndarray, gap_s: float = SESSION_GAP_S) -> np.ndarray:
    """A session number per row: rows further apart in time than `gap_s` are different sessions
    (recordings, reconnects), whose market and feed can differ for ordinary reasons."""
    ts = np.asarray(ts, dtype=float)
    order = np.argsort(ts, kind="stable")
    breaks = np.r_[0, np.cumsum(np.diff(ts[order]) > gap_s)]
    session = np.empty(len(ts), dtype=np.int64)
    session[order] = breaks
    return session


def threshold_of(scores: np.ndarray, quantile: float = QUANTILE) -> float:
    """The alarm threshold of a null distribution: its quantile, or its maximum with few values."""
    scores = scores[~np.isnan(scores)]
    if not len(scores):
        return float("nan")
    if len(scores) < MIN_CHUNKS_FOR_QUANTILE:
        return float(scores.max())
    return float(np.quantile(scores, quantile))


def chunk_scores(frame: pd.DataFrame, columns: Iterable[str], window_s: float,
                 statistic: Statistic = wasserstein_norm) -> tuple[list[str], np.ndarray]:
    """(columns, scores[chunk, column]): each chunk against the rest of the frame (NaN: a side empty)."""
    columns = list(columns)
    chunks = chunks_of(frame["ts"].to_numpy(), window_s)
    values = frame[columns].to_numpy(dtype=float)
    scores = np.full((len(chunks), len(columns)), np.nan)
    everyone = np.arange(len(frame))
    session = sessions_of(frame["ts"].to_numpy())
    for i, rows in enumerate(chunks):
        rest = everyone[~np.isin(session, session[rows])]  # other sessions: how a new session compares
        if len(rest) < MIN_CHUNK_ROWS:  # one session only: the rest of it
            rest = np.setdiff1d(everyone, rows, assume_unique=True)
        if len(rest) > REST_ROWS:
            rest = rest[np.linspace(0, len(rest) - 1, REST_ROWS).astype(int)]
        for j in range(len(columns)):
            current, reference = values[rows, j], values[rest, j]
            current, reference = current[~np.isnan(current)], reference[~np.isnan(reference)]
            if len(current) >= MIN_CHUNK_ROWS and len(reference) >= MIN_CHUNK_ROWS:
                scores[i, j] = statistic(reference, current)
    return columns, scores


def leave_one_out_alarms(scores: np.ndarray, quantile: float = QUANTILE) -> np.ndarray:
    """alarms[chunk, column]: would this chunk alarm against the threshold of all *other* chunks?
    That is the false-alarm rate a new normal window meets."""
    alarms = np.zeros(scores.shape, dtype=bool)
    for i in range(scores.shape[0]):
        others = np.delete(scores, i, axis=0)
        for j in range(scores.shape[1]):
            if not np.isnan(scores[i, j]):
                alarms[i, j] = scores[i, j] > threshold_of(others[:, j], quantile)
    return alarms


def calibrate_features(frame: pd.DataFrame, columns: Iterable[str], window_s: float,
                       quantile: float = QUANTILE) -> dict[str, Any]:
    """Per feature: the chunk scores, the threshold and its empirical false-alarm rate (each chunk
    against the threshold of the others); and the same for the share of features alarming together.
    The share threshold is never below one feature's worth: a single feature alone is not drift (a
    real change moves several: the three windows of a feature move together)."""
    columns, scores = chunk_scores(frame, columns, window_s)
    tested = ~np.isnan(scores)
    thresholds = np.array([threshold_of(scores[:, j], quantile) for j in range(len(columns))])
    with np.errstate(invalid="ignore"):
        above = scores > thresholds  # the chunks as the report would judge them
    loo = leave_one_out_alarms(scores, quantile)
    count = np.maximum(tested.sum(axis=1), 1)
    known = tested.any(axis=1)
    floor = 1 / max(len(columns), 1)
    share_threshold = max(threshold_of(np.where(known, above.sum(axis=1) / count, np.nan), quantile), floor)
    loo_shares = loo.sum(axis=1) / count
    features = {}
    for j, name in enumerate(columns):
        if tested[:, j].any():
            features[name] = {"threshold": float(thresholds[j]), "chunks": int(tested[:, j].sum()),
                              "false_alarm_rate": float(loo[tested[:, j], j].mean()),
                              "null_scores": [round(float(v), 6) for v in scores[tested[:, j], j]]}
    return {"window_s": window_s, "method": METHOD, "quantile": quantile, "chunks": len(scores),
            "features": features,
            "share": {"threshold": share_threshold,
                      "false_alarm_rate": float((loo_shares[known] > share_threshold).mean()) if known.any()
                      else float("nan")}}


def calibrate_outputs(test: pd.DataFrame, decision_thresholds: dict[str, float], window_s: float,
                      quantile: float = QUANTILE) -> dict[str, Any]:
    """Prediction drift and label drift of each variant, calibrated on the test split's chunks:
    the score distribution (normed Wasserstein) and the share of positive labels."""
    outputs: dict[str, Any] = {}
    for variant, cut in decision_thresholds.items():
        frame = pd.DataFrame({"ts": test["ts"], "score": test[variant],
                              "label": (test[variant] >= cut).astype(float)})
        _, scores = chunk_scores(frame, ["score"], window_s)
        _, labels = chunk_scores(frame, ["label"], window_s, statistic=share_difference)
        outputs[variant] = {
            "score": {"threshold": threshold_of(scores[:, 0], quantile), "chunks": int((~np.isnan(scores)).sum()),
                      "false_alarm_rate": _rate(leave_one_out_alarms(scores, quantile))},
            "label_share": {"threshold": threshold_of(labels[:, 0], quantile),
                            "false_alarm_rate": _rate(leave_one_out_alarms(labels, quantile))},
        }
    return outputs


def _rate(alarms: np.ndarray) -> float:
    return float(alarms.mean()) if alarms.size else float("nan")


# -- stored beside the model version -------------------------------------------------------------

CALIBRATION_KEY, CALIBRATION_FILE = "drift_calibration", "drift_calibration.json"
TEST_SCORES_KEY, TEST_SCORES_FILE = "test_scores", "test_scores.parquet"


def calibrate_window(reference: pd.DataFrame, test_scores: pd.DataFrame | None,
                     decision_thresholds: dict[str, float], window_s: float,
                     quantile: float = QUANTILE) -> dict[str, Any]:
    """One window length: the features on the reference (training split), and each variant's
    scores and label share on the test split."""
    from volctl.domain.features import FEATURES

    calibration = calibrate_features(reference, [f for f in FEATURES if f in reference], window_s, quantile)
    if test_scores is not None:
        calibration["outputs"] = calibrate_outputs(test_scores, decision_thresholds, window_s, quantile)
    return calibration


def calibrate_version(registry: Registry, version: str, windows_s: Iterable[float] = WINDOWS_S,
                      quantile: float = QUANTILE, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """(Re)compute the calibration of `windows_s` for a saved version, keeping its other windows."""
    from volctl.domain.registry import REFERENCE_KEY

    manifest = registry.manifest(version)
    reference_path = registry.attached(version, REFERENCE_KEY)  # sha256-checked
    if reference_path is None:
        raise ModelIntegrityError(f"model {version} has no reference rows in its manifest",
                                  hint="retrain with `volctl model train`")
    reference = pd.read_parquet(reference_path)
    scores_path = registry.attached(version, TEST_SCORES_KEY)
    test_scores = pd.read_parquet(scores_path) if scores_path else None
    cuts = {name: float(entry["decision_threshold"]) for name, entry in manifest["variants"].items()
            if test_scores is not None and name in test_scores}
    document = load_calibration(registry, version) or {"schema": 1, "windows": {}}
    for window_s in windows_s:
        if progress:
            progress(f"calibrating drift for {_span(window_s)} windows on {len(reference):,} reference rows")
        document["windows"][str(int(window_s))] = calibrate_window(reference, test_scores, cuts, window_s, quantile)
    registry.attach(version, CALIBRATION_KEY, CALIBRATION_FILE, json.dumps(document).encode())
    return document


def load_calibration(registry: Registry, version: str) -> dict[str, Any] | None:
    path = registry.attached(version, CALIBRATION_KEY)
    return json.loads(path.read_text()) if path else None


def choose_window(document: dict[str, Any] | None, window_s: float, covered_s: float | None
                  ) -> tuple[dict[str, Any] | None, str]:
    """The calibration for a report: the longest calibrated window no longer than what the current
    rows cover (a shorter window's thresholds are wider, so the choice errs towards quiet). None,
    and why, when nothing fits."""
    if not document or not document.get("windows"):
        return None, "the model version has no drift calibration (run `volctl drift calibrate`)"
    span = window_s if covered_s is None else min(window_s, covered_s)
    fitting = sorted((float(w), c) for w, c in document["windows"].items() if float(w) <= span * 1.05)
    if not fitting:
        shortest = min(float(w) for w in document["windows"])
        return None, (f"the current rows cover {_span(span)}, less than the shortest calibrated window "
                      f"({_span(shortest)}): let the stream run longer, or `volctl drift calibrate --window`")
    chosen_s, calibration = fitting[-1]
    why = f"calibrated on {calibration['chunks']} reference chunks of {_span(chosen_s)}"
    if chosen_s < window_s * 0.95:
        why += f" (the current rows cover {_span(span)} of the {_span(window_s)} window)"
    return calibration, why


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

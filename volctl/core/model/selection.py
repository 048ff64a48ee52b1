"""Choose the ml model on the validation split, calibrate its scores there, pick its threshold there.

The test split is never looked at: it stays the honest out-of-sample estimate that `evaluation`
compares with the baseline rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from volctl.core.model.fitting import DRAFT, Fitted, Fitting
from volctl.domain.features import FEATURES
from volctl.domain.model import log_columns

# Non-negative, heavy-tailed features: their logarithm is closer to what a linear model can use.
LOG_FEATURES = tuple(f for f in FEATURES if f.startswith(("ret_std_", "tick_rate_", "range_bps_", "spread_bps",
                                                           "vol_ratio_", "rate_ratio_", "vol_level_")))
# An alert on most minutes tells nobody anything: a decision threshold alerts on at most this share of
# the validation ticks (twice the label's base rate on the training split).
MAX_ALERT_RATE = 0.2


@dataclass
class Chosen:
    estimator: Any  # the calibrated model: predict_proba gives calibrated scores
    name: str
    description: str
    candidates: list[dict[str, Any]]  # every candidate with its validation PR-AUC, best first
    calibration: dict[str, Any]
    decision_threshold: float


def candidates(seed: int) -> dict[str, tuple[str, Any]]:
    """A small, fixed set: {name: (description, unfitted estimator)}. Every candidate scores a row
    in microseconds (the linear path of domain.model): gradient boosting won validation once and
    then served 24x slower (427 against 10,289 req/s), so it is no candidate."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    def linear(log: bool) -> Any:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
        if log:
            columns = [FEATURES.index(f) for f in LOG_FEATURES]
            steps.append(("log", FunctionTransformer(log_columns, kw_args={"columns": columns})))
        steps += [("scale", StandardScaler()),
                  ("classify", LogisticRegression(class_weight="balanced", max_iter=3000, random_state=seed))]
        return Pipeline(steps)

    return {
        "logistic": ("SimpleImputer(median) -> StandardScaler -> LogisticRegression(balanced)", linear(False)),
        "logistic-log": ("SimpleImputer(median) -> log of volatility, rate, range and spread features -> "
                         "StandardScaler -> LogisticRegression(balanced)", linear(True)),
    }


def choose_ml(x_train: np.ndarray, y_train: np.ndarray, x_validation: np.ndarray, y_validation: np.ndarray,
              seed: int = 7) -> Chosen:
    """Fit every candidate on train; keep the best validation PR-AUC; calibrate it on validation
    (sigmoid: monotone, so the ranking and PR-AUC stay); threshold at the best validation F1."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.metrics import average_precision_score

    scored = []
    for name, (description, estimator) in candidates(seed).items():
        estimator.fit(x_train, y_train)
        pr_auc = float(average_precision_score(y_validation, estimator.predict_proba(x_validation)[:, 1]))
        scored.append((pr_auc, name, description, estimator))
    scored.sort(key=lambda item: -item[0])
    _, name, description, best = scored[0]
    calibrated = CalibratedClassifierCV(FrozenEstimator(best), method="sigmoid").fit(x_validation, y_validation)
    scores = calibrated.predict_proba(x_validation)[:, 1]
    calibration = {"method": "sigmoid (CalibratedClassifierCV over the frozen fit)", "fitted_on": "validation",
                   "validation_mean_score": float(scores.mean()), "validation_base_rate": float(y_validation.mean())}
    return Chosen(calibrated, name, description,
                  [{"name": n, "description": d, "validation_pr_auc": v} for v, n, d, _ in scored],
                  calibration, decision_threshold(y_validation, scores))


def decision_threshold(y_true: np.ndarray, scores: np.ndarray, max_alert_rate: float = MAX_ALERT_RATE) -> float:
    """The score threshold with the best F1 on validation data among those that alert on at most
    `max_alert_rate` of the rows (with a weak signal the unconstrained best F1 alerts on nearly
    every tick: here 80-95 % of them)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(precision), where=total > 0)[:-1]
    ranked = np.sort(np.asarray(scores, dtype=float))
    alert_rate = 1.0 - np.searchsorted(ranked, thresholds, side="left") / len(ranked)
    allowed = np.flatnonzero(alert_rate <= max_alert_rate)
    if not len(allowed):  # even the highest score alerts too often (ties): alert on it alone
        return float(thresholds[-1])
    return float(thresholds[allowed[int(np.argmax(f1[allowed]))]])


def fit_ml(given: Fitting) -> Fitted:
    """The ml variant's trainer: candidates fitted on train, the best on validation, calibrated there."""
    from volctl.domain.model import MlScorer

    x, y = given.x, given.y
    given.say(f"fitting the ml candidates on {len(x['train']):,} rows ({int(y['train'].sum()):,} spikes)")
    chosen = choose_ml(x["train"], y["train"], x["validation"], y["validation"], given.seed)
    given.say(f"ml: {chosen.name} (best validation PR-AUC), calibrated on validation")
    ml = MlScorer.of_estimator(chosen.estimator, DRAFT, FEATURES, chosen.decision_threshold)
    return Fitted(ml, {"estimator": chosen.description, "candidate": chosen.name, "candidates": chosen.candidates,
                       "calibration": chosen.calibration, "decision_threshold": ml.decision_threshold,
                       "params": ml.params()}, chosen.estimator)

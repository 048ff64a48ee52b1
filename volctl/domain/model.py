"""Model variants behind one interface: `baseline` (a transparent rule) and `ml` (scikit-learn).

Both take a float matrix whose columns are the manifest's features (NaN allowed: missing values
are imputed with the training medians) and return scores in [0, 1]; a score at or above
`decision_threshold` is a predicted spike (label 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from volctl.domain.variants import BASELINE, ML


class Scorer(Protocol):
    variant: str
    version: str
    sha256: str
    features: tuple[str, ...]
    decision_threshold: float
    forecaster: Any  # the version's next-minute volatility forecast (domain.forecast.Forecaster), or None

    def score(self, matrix: np.ndarray, complete: bool = False) -> np.ndarray:
        """Scores of the rows; `complete=True` promises no NaN (skips imputation)."""
        ...

    def score_row(self, row: list[float]) -> float:
        """The score of one complete row, without numpy's per-call overhead."""
        ...


@dataclass
class BaselineScorer:
    """A transparent single-feature rule: spike when `feature` is at or above `threshold`
    (direction "high") or at or below it ("low"). Score = logistic(signed distance / scale), so a
    score >= 0.5 is exactly the rule firing; a missing value is no evidence of a spike (score 0).
    Needs numpy only: a rollback to baseline works without scikit-learn."""

    version: str
    features: tuple[str, ...]
    feature: str
    threshold: float
    sha256: str = ""
    variant: str = BASELINE
    decision_threshold: float = 0.5
    direction: str = "high"
    scale: float = 1.0
    kind: str = "rule"  # "persistence": the feature is a trailing volatility, the rule says it is high
    forecaster: Any = field(default=None, repr=False)  # the version's volatility forecast (domain.forecast)
    _column: int = field(init=False, repr=False)
    _sign: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.direction not in ("high", "low"):
            raise ValueError(f"rule direction must be high or low, got {self.direction!r}")
        self._column = self.features.index(self.feature)
        self._sign = 1.0 if self.direction == "high" else -1.0
        self.scale = self.scale if self.scale > 0 else 1.0

    def score(self, matrix: np.ndarray, complete: bool = False) -> np.ndarray:
        x = matrix[:, self._column]
        with np.errstate(over="ignore", invalid="ignore"):
            scores = 1.0 / (1.0 + np.exp(-self._sign * (x - self.threshold) / self.scale))
        return np.where(np.isnan(x), 0.0, scores)

    def score_row(self, row: list[float]) -> float:
        value = row[self._column]
        return 0.0 if value != value else logistic(self._sign * (value - self.threshold) / self.scale)

    def params(self) -> dict[str, Any]:
        return {"feature": self.feature, "direction": self.direction, "threshold": self.threshold,
                "scale": self.scale, "kind": self.kind}

    def describe(self) -> str:
        rule = f"spike when {self.feature} {'>=' if self.direction == 'high' else '<='} {self.threshold:.3g}"
        if self.kind == "persistence":
            return f"persistence: {rule} (the recent minutes were volatile)"
        return rule

    @classmethod
    def from_entry(cls, variant: str, entry: dict[str, Any], version: str, features: tuple[str, ...], sha256: str,
                   unpickle: Any = None) -> BaselineScorer:
        """From its manifest entry (variants.Variant.loader); any rule variant loads this way."""
        scorer = cls.from_params(version, features, entry["params"], sha256)
        scorer.variant = variant
        return scorer

    @classmethod
    def from_params(cls, version: str, features: tuple[str, ...], params: dict[str, Any], sha256: str
                    ) -> BaselineScorer:
        if "z_feature" in params:  # versions trained before the rule was chosen on validation
            return cls(version, features, params["z_feature"], float(params["z_threshold"]), sha256)
        return cls(version, features, params["feature"], float(params["threshold"]), sha256,
                   direction=params["direction"], scale=float(params.get("scale", 1.0)),
                   kind=str(params.get("kind", "rule")))


class MlScorer:
    """A calibrated linear model ([log ->] imputer -> scaler -> logistic regression, a sigmoid over
    its log-odds fitted on validation), scored with the numpy operations scikit-learn uses and
    without its per-call input validation; one row in plain Python. New versions store its numbers
    in the manifest (`params`): the services load it without scikit-learn and without unpickling
    anything. Versions trained before keep their joblib file; a non-linear one of those goes
    through `predict_proba`."""

    variant = ML

    def __init__(self, linear: _LinearParts | None, platt: tuple[float, float] | None, version: str,
                 features: tuple[str, ...], decision_threshold: float, sha256: str = "", estimator: Any = None) -> None:
        self.estimator = estimator  # only for versions without params: what predict_proba is asked
        self.version = version
        self.features = features
        self.decision_threshold = decision_threshold
        self.sha256 = sha256
        self._linear, self._platt = linear, platt
        self.forecaster: Any = None  # the version's next-minute volatility forecast (domain.forecast)
        if linear is None and estimator is None:
            raise ValueError("an ml model needs its linear parameters or a fitted estimator")

    @classmethod
    def from_entry(cls, variant: str, entry: dict[str, Any], version: str, features: tuple[str, ...], sha256: str,
                   unpickle: Any = None) -> MlScorer:
        """From its manifest entry (variants.Variant.loader): its params, or for a version trained
        before it had them, its pickle (`unpickle()`, verified by the registry)."""
        threshold = float(entry["decision_threshold"])
        if entry.get("params"):
            scorer = cls.from_params(entry["params"], version, features, threshold, sha256)
        else:
            scorer = cls.of_estimator(unpickle(), version, features, threshold, sha256)
        scorer.variant = variant
        return scorer

    @classmethod
    def of_estimator(cls, estimator: Any, version: str, features: tuple[str, ...], decision_threshold: float,
                     sha256: str = "") -> MlScorer:
        """From a fitted (usually calibrated) scikit-learn model."""
        pipeline, platt = _uncalibrated(estimator)
        return cls(_LinearParts.of(pipeline, len(features)), platt, version, features, decision_threshold, sha256,
                   estimator)

    @classmethod
    def from_params(cls, params: dict[str, Any], version: str, features: tuple[str, ...], decision_threshold: float,
                    sha256: str = "") -> MlScorer:
        """From the numbers `params` gives (the manifest's), checked against the features."""
        try:
            linear = _LinearParts([int(c) for c in params["log_columns"]], *(
                np.asarray(params[key], dtype=float) for key in ("medians", "mean", "scale")),
                np.asarray(params["coef"], dtype=float).reshape(-1, 1), np.asarray([float(params["intercept"])]))
            platt = None if params.get("platt") is None else (float(params["platt"][0]), float(params["platt"][1]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"ml parameters are incomplete: {exc}") from exc
        if not all(len(v) == len(features) for v in (linear.medians, linear.mean, linear.scale, linear.coef_column)):
            raise ValueError(f"ml parameters have {len(linear.coef_column)} coefficients for {len(features)} features")
        return cls(linear, platt, version, features, decision_threshold, sha256)

    def params(self) -> dict[str, Any] | None:
        """The numbers that score it (None: not linear), for the manifest."""
        if self._linear is None:
            return None
        parts = self._linear
        return {"kind": "logistic regression on [log ->] median-imputed, standardised features",
                "log_columns": list(parts.log_columns), "medians": parts.medians.tolist(), "mean": parts.mean.tolist(),
                "scale": parts.scale.tolist(), "coef": parts.coef_column.ravel().tolist(),
                "intercept": float(parts.intercept[0]), "platt": list(self._platt) if self._platt else None}

    def score_row(self, row: list[float]) -> float:
        """One complete row; on the linear path in plain Python (a few numpy calls cost more than
        the arithmetic), equal to `score` within a few ulp (summation order differs from BLAS)."""
        if self._linear is None:
            return float(self.estimator.predict_proba(np.asarray([row], dtype=float))[0, 1])
        return logistic(self._calibrated(self._linear.logit_of_row(row)))

    def score(self, matrix: np.ndarray, complete: bool = False) -> np.ndarray:
        if self._linear is None:
            return self.estimator.predict_proba(matrix)[:, 1]
        from scipy.special import expit

        return expit(self._calibrated(self._linear.logits(matrix, complete)))

    def _calibrated(self, logit: Any) -> Any:
        """The calibrated log-odds: scikit-learn's sigmoid calibration is expit(-(a * f + b))."""
        if self._platt is None:
            return logit
        a, b = self._platt
        return -(a * logit + b)


def _uncalibrated(estimator: Any) -> tuple[Any, tuple[float, float] | None]:
    """(the fitted model inside, the sigmoid calibration's (a, b) or None). Versions trained before
    calibration stored the pipeline itself."""
    calibrated = getattr(estimator, "calibrated_classifiers_", None)
    if not calibrated:
        return estimator, None
    if len(calibrated) != 1 or getattr(calibrated[0], "method", "sigmoid") != "sigmoid":
        return estimator, None  # not the shape the linear path knows: predict_proba handles it
    inner = calibrated[0].estimator
    calibrator = calibrated[0].calibrators[0]
    return getattr(inner, "estimator", inner), (float(calibrator.a_), float(calibrator.b_))


class _LinearParts:
    """The numbers of a [log ->] imputer -> scaler -> logistic-regression pipeline."""

    def __init__(self, log_columns: list[int], medians: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                 coef: np.ndarray, intercept: np.ndarray) -> None:
        self.log_columns = log_columns
        self._logged = [index in log_columns for index in range(len(mean))]
        self.medians, self.mean, self.scale = medians, mean, scale
        self.coef_column, self.intercept = coef, intercept
        self._terms = list(zip(mean.tolist(), scale.tolist(), coef.ravel().tolist(), self._logged, strict=True))
        self._bias = float(intercept[0])

    @classmethod
    def of(cls, pipeline: Any, width: int) -> _LinearParts | None:
        steps = dict(getattr(pipeline, "steps", []))
        if set(steps) - {"log"} != {"impute", "scale", "classify"} or not hasattr(steps["classify"], "coef_"):
            return None
        log = steps.get("log")
        columns = list((log.kw_args or {}).get("columns", [])) if log is not None else []
        if log is not None and getattr(log, "func", None) is not log_columns:
            return None
        coef = np.asarray(steps["classify"].coef_, dtype=float).T
        if coef.shape != (width, 1):
            raise ValueError(f"model has {coef.shape[0]} coefficients for {width} features")
        return cls(columns, np.asarray(steps["impute"].statistics_, dtype=float),
                   np.asarray(steps["scale"].mean_, dtype=float), np.asarray(steps["scale"].scale_, dtype=float),
                   coef, np.asarray(steps["classify"].intercept_, dtype=float))

    def logits(self, matrix: np.ndarray, complete: bool) -> np.ndarray:
        filled = matrix if complete else np.where(np.isnan(matrix), self.medians, matrix)
        if self.log_columns:
            filled = log_columns(filled, self.log_columns)
        return ((filled - self.mean) / self.scale @ self.coef_column + self.intercept).ravel()

    def logit_of_row(self, row: list[float]) -> float:
        logit = 0.0
        for value, (mean, scale, coef, logged) in zip(row, self._terms, strict=True):
            if logged:  # max(value, 0.0) without a call (a complete row holds no NaN)
                value = math.log((value if value > 0.0 else 0.0) + LOG_FLOOR)
            logit += (value - mean) / scale * coef
        return logit + self._bias


LOG_FLOOR = 1e-9  # below any non-zero volatility, rate or spread the features reach


def log_columns(matrix: np.ndarray, columns: list[int]) -> np.ndarray:
    """log(max(x, 0) + LOG_FLOOR) of the given columns (heavy-tailed, non-negative features); a
    model step, so it lives where the services can unpickle it."""
    logged = np.array(matrix, dtype=float, copy=True)
    logged[:, columns] = np.log(np.maximum(logged[:, columns], 0.0) + LOG_FLOOR)
    return logged


def logistic(x: float) -> float:
    """1 / (1 + e^-x) without OverflowError for large |x|."""
    if x < -700.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def labels_of(scores: np.ndarray, decision_threshold: float) -> np.ndarray:
    return (scores >= decision_threshold).astype(int)


def version_document(model: Scorer, service: str) -> dict[str, Any]:
    """What /version answers in both services: the model served, its artifact, and this build."""
    from volctl import __version__

    return {"model": model.variant, "version": model.version, "sha": model.sha256,
            "features": list(model.features), "decision_threshold": model.decision_threshold,
            "service": service, "volctl": __version__}

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

from volctl.domain.variants import BASELINE, ML, VARIANTS  # noqa: F401 - re-exported for the model's users


class Scorer(Protocol):
    variant: str
    version: str
    sha256: str
    features: tuple[str, ...]
    decision_threshold: float

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
                "scale": self.scale}

    def describe(self) -> str:
        return f"spike when {self.feature} {'>=' if self.direction == 'high' else '<='} {self.threshold:.3g}"

    @classmethod
    def from_params(cls, version: str, features: tuple[str, ...], params: dict[str, Any], sha256: str
                    ) -> BaselineScorer:
        if "z_feature" in params:  # versions trained before the rule was chosen on validation
            return cls(version, features, params["z_feature"], float(params["z_threshold"]), sha256)
        return cls(version, features, params["feature"], float(params["threshold"]), sha256,
                   direction=params["direction"], scale=float(params.get("scale", 1.0)))


class MlScorer:
    """A fitted SimpleImputer -> StandardScaler -> LogisticRegression pipeline, scored with the
    same numpy operations sklearn uses but without its per-call input validation."""

    variant = ML

    def __init__(
        self, pipeline: Any, version: str, features: tuple[str, ...], decision_threshold: float, sha256: str = ""
    ) -> None:
        imputer, scaler, classifier = (step for _, step in pipeline.steps)
        self.pipeline = pipeline
        self.version = version
        self.features = features
        self.decision_threshold = decision_threshold
        self.sha256 = sha256
        self._medians = np.asarray(imputer.statistics_, dtype=float)
        self._mean = np.asarray(scaler.mean_, dtype=float)
        self._scale = np.asarray(scaler.scale_, dtype=float)
        self._coef_column = np.asarray(classifier.coef_, dtype=float).T
        self._intercept = np.asarray(classifier.intercept_, dtype=float)
        if self._coef_column.shape != (len(features), 1):
            raise ValueError(f"model has {self._coef_column.shape[0]} coefficients for {len(features)} features")
        self._terms = list(zip(self._mean.tolist(), self._scale.tolist(), self._coef_column.ravel().tolist(),
                               strict=True))
        self._bias = float(self._intercept[0])

    def score_row(self, row: list[float]) -> float:
        """One complete row in plain Python: a few numpy calls cost more than the arithmetic.
        Equal to `score` within a few ulp (summation order differs from BLAS)."""
        logit = 0.0
        for value, (mean, scale, coef) in zip(row, self._terms, strict=True):
            logit += (value - mean) / scale * coef
        return logistic(logit + self._bias)

    def score(self, matrix: np.ndarray, complete: bool = False) -> np.ndarray:
        from scipy.special import expit

        filled = matrix if complete else np.where(np.isnan(matrix), self._medians, matrix)
        scaled = (filled - self._mean) / self._scale
        return expit(scaled @ self._coef_column + self._intercept).ravel()


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

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
from scipy.special import expit

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
    """Spike when the z-score of the 60 s realised volatility against its trailing history
    exceeds `z_threshold`; score = logistic(z - z_threshold), so score >= 0.5 exactly then."""

    version: str
    features: tuple[str, ...]
    z_feature: str
    z_threshold: float
    sha256: str = ""
    variant: str = BASELINE
    decision_threshold: float = 0.5
    _column: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._column = self.features.index(self.z_feature)

    def score(self, matrix: np.ndarray, complete: bool = False) -> np.ndarray:
        z = matrix[:, self._column]
        z = np.where(np.isnan(z), 0.0, z)  # no history yet: no evidence of a spike
        return 1.0 / (1.0 + np.exp(-(z - self.z_threshold)))

    def score_row(self, row: list[float]) -> float:
        return logistic(row[self._column] - self.z_threshold)

    def params(self) -> dict[str, Any]:
        return {"z_feature": self.z_feature, "z_threshold": self.z_threshold}


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

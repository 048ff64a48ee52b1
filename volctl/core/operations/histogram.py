"""A latency histogram in bounded memory (HDR-style): log buckets 1 % wide from 1 µs to 1000 s.

Any number of samples fits in at most ~2,100 counters; a percentile read from it is within 1 %
of the exact one. Histograms merge and survive JSON (`--save`), and a bootstrap over their
buckets compares two runs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

_GROWTH = 1.01
_LOG_GROWTH = math.log(_GROWTH)
_MIN_S = 1e-6


def _bucket(seconds: float) -> int:
    return max(0, int(math.log(max(seconds, _MIN_S) / _MIN_S) / _LOG_GROWTH))


def _upper(bucket: int) -> float:
    return _MIN_S * _GROWTH ** (bucket + 1)


@dataclass
class Histogram:
    counts: Counter[int] = field(default_factory=Counter)
    total: int = 0
    max_s: float = 0.0

    def record(self, seconds: float) -> None:
        self.counts[_bucket(seconds)] += 1
        self.total += 1
        self.max_s = max(self.max_s, seconds)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0..100) in seconds; None when empty."""
        if not self.total:
            return None
        rank = math.ceil(q / 100 * self.total)
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return min(_upper(bucket), self.max_s)
        return self.max_s

    def merge(self, other: Histogram) -> None:
        """Add another histogram's samples (one run measured by several processes)."""
        self.counts.update(other.counts)
        self.total += other.total
        self.max_s = max(self.max_s, other.max_s)

    def to_dict(self) -> dict:
        return {"counts": {str(k): v for k, v in sorted(self.counts.items())}, "total": self.total,
                "max_s": self.max_s}

    @classmethod
    def from_dict(cls, document: dict) -> Histogram:
        return cls(Counter({int(k): v for k, v in document["counts"].items()}), document["total"],
                   document["max_s"])


def percentile_distribution(histogram: Histogram, step: float = 0.05) -> list[tuple[float, float]]:
    """(percentile, seconds) from p0 to the highest percentile the sample can tell apart from the
    maximum (1 - 1/n), evenly spaced on a nines axis (90, 99, 99.9 ... equally far apart), ending on
    the maximum there (a nines axis has no place for p100 itself)."""
    if not histogram.total:
        return []
    top = math.log10(max(histogram.total, 1))
    points = []
    for i in range(int(top / step) + 1):
        q = 100 * (1 - 10 ** -(i * step))
        points.append((q, histogram.percentile(q) or 0.0))
    points.append((100 * (1 - 10 ** -top), histogram.max_s))  # the maximum, where the sample's resolution ends
    return points


def bootstrap_difference(new: Histogram, old: Histogram, q: float, rounds: int = 1000,
                         seed: int = 7) -> tuple[float, float, float]:
    """(difference, 95 % CI low, high) of the q-th percentile, new minus old, in seconds, by
    resampling each run's buckets (multinomial bootstrap)."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def resampled(hist: Histogram) -> np.ndarray:
        buckets = np.array(sorted(hist.counts))
        weights = np.array([hist.counts[b] for b in buckets], dtype=float)
        draws = rng.multinomial(hist.total, weights / weights.sum(), size=rounds)
        cumulative = np.cumsum(draws, axis=1)
        rank = math.ceil(q / 100 * hist.total)
        index = (cumulative >= rank).argmax(axis=1)
        return _MIN_S * _GROWTH ** (buckets[index] + 1)

    differences = resampled(new) - resampled(old)
    low, high = np.percentile(differences, [2.5, 97.5])
    return (new.percentile(q) or 0.0) - (old.percentile(q) or 0.0), float(low), float(high)

"""The prevailing regime of a product: slow levels of its realised volatility and tick rate.

A spike is a minute that is volatile *for the product's regime*; the regime is this level, never
the 300 s feature window (a label divided by the trailing 5 minutes made "the last 5 minutes were
calm" its best predictor). The level is an exponentially weighted average with a half-life of
LEVEL_HALF_LIFE_S over the time a product was observed: its realised variance per second and its
ticks per second. It runs across recording gaps (a gap adds no observed time, and decays what was
seen before it) and is blended, in log space, with the product's level on the training split (its
seed), which counts as SEED_WEIGHT_S seconds of observation: a stream is usable after the 5-minute
warm-up, and a stream in another regime (the 2026 recordings are 2-5x calmer than December 2025)
moves away from the seed within minutes. The blend is geometric so that a seed 9x off pulls the
level by 9^w, not by w x 9. README "Data, label and models" gives the measurements behind the
numbers.

One class, `ProductLevel`, serves both paths: the batch computation runs it tick by tick, so the
streaming and the batch levels are the same floats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LEVEL_HALF_LIFE_S = 1800.0
SEED_WEIGHT_S = 180.0  # the training level counts as this much observed time (README: why 180)
MIN_SEED_S = 1800.0  # a product observed less than this on the training split gets no seed
HORIZON_S = 60.0  # levels are stated per 60 s, the label's horizon
VARIANCE_FLOOR = 1e-14  # per second: a level never reaches zero (a minute without a quote change)
_TAU = LEVEL_HALF_LIFE_S / math.log(2)


@dataclass(frozen=True)
class Seed:
    """A product's level on the training split."""

    variance_rate: float  # realised variance of log returns per second
    tick_rate: float  # ticks per second
    observed_s: float  # the observed time it was measured on

    def as_document(self) -> dict[str, float]:
        return {"variance_rate": self.variance_rate, "tick_rate": self.tick_rate, "observed_s": self.observed_s}


Seeds = Mapping[str, Seed]


def seeds_from_document(document: Mapping[str, Any] | None) -> dict[str, Seed]:
    """The seeds a manifest stores (`label.level.seeds`); {} for versions trained before them."""
    seeds = {}
    for product, values in (document or {}).items():
        try:
            seeds[str(product)] = Seed(float(values["variance_rate"]), float(values["tick_rate"]),
                                       float(values.get("observed_s", 0.0)))
        except (KeyError, TypeError, ValueError):
            continue
    return seeds


class ProductLevel:
    """One product's levels, updated tick by tick with the tick's effective time and log return
    (None at a segment's first tick: the gap before it is not observed time)."""

    __slots__ = ("last_ts", "observed", "seed", "sum_r2", "ticks")

    def __init__(self, seed: Seed | None = None) -> None:
        self.seed = seed
        self.last_ts: float | None = None
        self.sum_r2 = 0.0  # decayed sum of squared returns
        self.ticks = 0.0  # decayed count of ticks with a return
        self.observed = 0.0  # decayed observed seconds

    def update(self, ts: float, ret: float | None) -> None:
        if self.last_ts is not None and ts > self.last_ts:
            decay = math.exp((self.last_ts - ts) / _TAU)
            self.sum_r2 *= decay
            self.ticks *= decay
            self.observed *= decay
            if ret is not None:
                self.observed += _TAU * (1.0 - decay)
        self.last_ts = ts
        if ret is not None:
            self.sum_r2 += ret * ret
            self.ticks += 1.0

    def volatility(self) -> float:
        """The level of realised volatility over HORIZON_S seconds; NaN when nothing is known."""
        data = self.sum_r2 / self.observed if self.observed > 0 else None
        rate = _blend(self.seed.variance_rate if self.seed else None, data, self.observed)
        return math.sqrt(HORIZON_S * rate) if rate == rate else rate

    def tick_rate(self) -> float:
        """The level of ticks per second; NaN when nothing is known."""
        data = self.ticks / self.observed if self.observed > 0 else None
        return _blend(self.seed.tick_rate if self.seed else None, data, self.observed)


def _blend(seed: float | None, data: float | None, observed: float) -> float:
    if data is not None:
        data = max(data, VARIANCE_FLOOR)
    if seed is None or seed <= 0:
        return data if data is not None and observed > 0 else math.nan
    if data is None:
        return seed
    weight = SEED_WEIGHT_S / (SEED_WEIGHT_S + observed)
    return math.exp(weight * math.log(seed) + (1.0 - weight) * math.log(data))


def measure_seed(observed_s: float, sum_r2: float, ticks: int) -> Seed | None:
    """A product's training-split level from its totals; None when it was observed too briefly."""
    if observed_s < MIN_SEED_S or sum_r2 <= 0:
        return None
    return Seed(sum_r2 / observed_s, ticks / observed_s, observed_s)

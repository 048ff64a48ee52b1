"""The training label: a volatility spike in the next 60 s.

The forward volatility of a tick is the realised volatility of mid-price log returns over the next
HORIZON_S seconds, sqrt(sum of squared returns) (the textbook realised volatility: a minute of
many trades at one quote is calm, however many ticks it holds). Its target is that volatility
divided by the product's prevailing level at the tick (LEVEL_FEATURE, `level.py`: a slow,
30-minute half-life level seeded from the training split); a spike is a target above a threshold
chosen on the training split (its 90th percentile). The label is decided by the future: on the
test split a scorer that knows the forward volatility ranks the spikes almost perfectly, while the
level alone stays near the base rate (`model train` prints both). A tick is labelled only when it
has a quote (mid-price), a level, a segment that continues for the whole horizon (never across a
recording gap), and HISTORY_S of history inside its segment (before that the trailing windows rest
on less than they claim: the warm-up). Live, the same warm-up rule marks predictions `warming_up`
(features.ProductFeatures.warming_up). Features never see these future returns.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from volctl.domain.features import HISTORY_S, prefix_sums, product_returns, segment_starts
from volctl.domain.level import Seed, seeds_from_document

HORIZON_S = 60.0
LEVEL_FEATURE = "vol_level_60s"  # the label's denominator, known at the tick
__all__ = ["HISTORY_S", "HORIZON_S", "LEVEL_FEATURE", "ForwardLabels", "LabelRule", "forward_volatility",
           "history_covered", "label_rule_of", "spike_target", "target_of"]


@dataclass(frozen=True)
class LabelRule:
    """A version's label, as the live outcome join needs it: its threshold and the level seeds the
    features and the label's denominator are computed with."""

    threshold: float
    seeds: dict[str, Seed] = field(default_factory=dict)


def label_rule_of(manifest: dict[str, Any]) -> LabelRule | None:
    """The label rule of a manifest; None when it has no threshold (no outcomes can be labelled)."""
    label = manifest.get("label") or {}
    if label.get("threshold") is None:
        return None
    return LabelRule(float(label["threshold"]), seeds_from_document((label.get("level") or {}).get("seeds")))


def history_covered(product: Iterable[str], ts: np.ndarray, price: np.ndarray, bid: np.ndarray,
                    ask: np.ndarray) -> np.ndarray:
    """Per tick: does its segment hold HISTORY_S seconds before it (the trailing windows covered)?"""
    products = np.asarray(list(product), dtype=object)
    out = np.zeros(len(products), dtype=bool)
    for name in dict.fromkeys(products):
        rows = np.flatnonzero(products == name)
        t, segment, _, _, _ = product_returns(ts[rows], price[rows], bid[rows], ask[rows])
        out[rows] = t - t[segment_starts(segment)] >= HISTORY_S
    return out


def forward_volatility(
    product: Iterable[str], ts: np.ndarray, price: np.ndarray, bid: np.ndarray, ask: np.ndarray
) -> np.ndarray:
    """Realised volatility of the log returns in (t, t + HORIZON_S] per tick, NaN where the horizon
    is not covered (0 when the mid-price did not move)."""
    products = np.asarray(list(product), dtype=object)
    out = np.full(len(products), np.nan)
    for name in dict.fromkeys(products):
        rows = np.flatnonzero(products == name)
        out[rows] = _product_forward(ts[rows], price[rows], bid[rows], ask[rows])
    return out


def _product_forward(ts: np.ndarray, price: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    t, segment, _, ret, _ = product_returns(ts, price, bid, ask)
    index = np.arange(len(t))
    last_in_segment = np.r_[np.flatnonzero(segment[1:] != segment[:-1]), len(t) - 1][segment]
    covered = t[last_in_segment] >= t + HORIZON_S
    right = np.minimum(np.searchsorted(t, t + HORIZON_S, side="right") - 1, last_in_segment)
    moves = ret != 0.0
    c_moves, c_r2 = prefix_sums(moves.astype(float)), prefix_sums(ret * ret)
    k = c_moves[right + 1] - c_moves[index + 1]
    realised = np.sqrt(np.maximum(c_r2[right + 1] - c_r2[index + 1], 0.0))
    return np.where(covered, np.where(k >= 1, realised, 0.0), np.nan)


def spike_target(fwd_vol: np.ndarray, level: np.ndarray, quoted: np.ndarray) -> np.ndarray:
    """Forward volatility relative to the product's level; NaN where a tick gets no label."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = fwd_vol / level
    return np.where(quoted & (level > 0) & np.isfinite(ratio), ratio, np.nan)


def target_of(fwd_vol: float, level: float, quoted: bool) -> float | None:
    """`spike_target` for one tick: None where the tick gets no label."""
    if not quoted or not level > 0:
        return None
    ratio = fwd_vol / level
    return ratio if math.isfinite(ratio) else None


class _Horizon:
    """One product's segment: cumulative sums per tick, and the ticks waiting for their horizon."""

    __slots__ = ("base", "c_moves", "c_r2", "pending", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.c_moves: list[float] = []  # returns that moved the mid (0 when none did: exactly calm)
        self.c_r2: list[float] = []
        self.base = 0  # the global index of times[0]
        self.pending: deque[tuple[float, int, Any]] = deque()  # (time, global index, item)

    def push(self, ts: float, ret: float | None) -> int:
        times = self.times
        if times:
            m0, r20 = self.c_moves[-1], self.c_r2[-1]
        else:
            m0 = r20 = 0.0
        times.append(ts)
        if ret is None:
            self.c_moves.append(m0)
            self.c_r2.append(r20)
        else:
            self.c_moves.append(m0 + (ret != 0.0))
            self.c_r2.append(r20 + ret * ret)
        return self.base + len(times) - 1

    def forward(self, ts: float, index: int) -> float:
        """Realised volatility of the returns in (ts, ts + HORIZON_S], as `_product_forward` computes it."""
        right = bisect.bisect_right(self.times, ts + HORIZON_S) - 1
        i = index - self.base
        if self.c_moves[right] - self.c_moves[i] < 1:
            return 0.0
        return math.sqrt(max(self.c_r2[right] - self.c_r2[i], 0.0))

    def trim(self) -> None:
        """Forget ticks before the oldest pending one (its own sums are the base of its window)."""
        keep_from = (self.pending[0][1] if self.pending else self.base + len(self.times) - 1) - self.base
        if keep_from > 1024 and keep_from * 2 > len(self.times):
            for values in (self.times, self.c_moves, self.c_r2):
                del values[:keep_from]
            self.base += keep_from


class ForwardLabels:
    """The streaming form of `forward_volatility`: per product, ticks wait until their horizon is
    closed by a later tick of the same segment, then their forward volatility is known. Equal to the
    batch computation tick for tick (the same returns, the same window (t, t + HORIZON_S], never
    across a segment gap). Memory is bounded: at most `max_pending` ticks wait per product (the
    oldest are given up, counted in `overflow`)."""

    def __init__(self, max_pending: int = 100_000) -> None:
        self.products: dict[str, _Horizon] = {}
        self.max_pending = max_pending
        self.overflow = 0

    @property
    def pending(self) -> int:
        return sum(len(state.pending) for state in self.products.values())

    def observe(self, product: str, ts: float, ret: float | None, item: Any = None
                ) -> list[tuple[Any, float | None]]:
        """Add a product's newest tick: `ts` its effective (monotonic) time, `ret` its log return
        (None at a segment's first tick), `item` what waits for its label (None: nothing waits).
        Returns (item, forward volatility) of the ticks this one closed; None for ticks whose segment
        ended before their horizon did."""
        state = self.products.get(product)
        closed: list[tuple[Any, float | None]] = []
        if state is None or (ret is None and state.times):  # a new segment: the old one is over
            if state is not None:
                closed += self._close_segment(state)
            state = self.products[product] = _Horizon()
        while state.pending and state.pending[0][0] + HORIZON_S < ts:
            waited, index, waiting = state.pending.popleft()
            closed.append((waiting, state.forward(waited, index)))
        index = state.push(ts, ret)
        if item is not None:
            state.pending.append((ts, index, item))
            if len(state.pending) > self.max_pending:
                self.overflow += 1
                closed.append((state.pending.popleft()[2], None))
        if len(state.times) > 2048:  # trimming is a slice copy: only now and then
            state.trim()
        return closed

    @staticmethod
    def _close_segment(state: _Horizon) -> list[tuple[Any, float | None]]:
        """The segment's last tick is its end: ticks whose horizon it covers get their label."""
        last = state.times[-1]
        return [(waiting, state.forward(waited, index) if waited + HORIZON_S <= last else None)
                for waited, index, waiting in state.pending]

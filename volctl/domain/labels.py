"""The training label: a volatility spike in the next 60 s.

The target of a tick is the realised volatility (std of mid-price log returns) over the next
HORIZON_S seconds divided by the trailing volatility known at the tick (TRAILING_FEATURE); a
spike is a target above a threshold chosen on the training split (its 90th percentile).
Normalising by the current level is what makes "spike" mean the same thing in a quiet April
night and on a crash day: with an absolute threshold the real recordings' later periods hold no
spike at all. A tick is labelled only when it has a quote (mid-price), a trailing volatility
above zero, a segment that continues for the whole horizon (never across a recording gap), and
HISTORY_S of history inside its segment (before that the trailing windows, the label's
denominator among them, rest on less than they claim: the warm-up). Live, the same warm-up rule
marks predictions `warming_up` (features.ProductFeatures.warming_up). Features never see these
future returns.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from volctl.domain.features import HISTORY_S, prefix_sums, product_returns, segment_starts

HORIZON_S = 60.0
TRAILING_FEATURE = "ret_std_300s"
__all__ = ["HISTORY_S", "HORIZON_S", "TRAILING_FEATURE", "forward_volatility", "history_covered", "spike_target"]


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
    """Std of the log returns in (t, t + HORIZON_S] per tick, NaN where the horizon is not covered."""
    products = np.asarray(list(product), dtype=object)
    out = np.full(len(products), np.nan)
    for name in dict.fromkeys(products):
        rows = np.flatnonzero(products == name)
        out[rows] = _product_forward(ts[rows], price[rows], bid[rows], ask[rows])
    return out


def _product_forward(ts: np.ndarray, price: np.ndarray, bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    t, segment, _, ret, has_ret = product_returns(ts, price, bid, ask)
    index = np.arange(len(t))
    last_in_segment = np.r_[np.flatnonzero(segment[1:] != segment[:-1]), len(t) - 1][segment]
    covered = t[last_in_segment] >= t + HORIZON_S
    right = np.minimum(np.searchsorted(t, t + HORIZON_S, side="right") - 1, last_in_segment)
    c_n, c_r, c_r2 = (prefix_sums(a) for a in (has_ret.astype(float), ret, ret * ret))
    k = c_n[right + 1] - c_n[index + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c_r[right + 1] - c_r[index + 1]) / k
        std = np.sqrt(np.maximum((c_r2[right + 1] - c_r2[index + 1]) / k - mean * mean, 0.0))
    return np.where(covered, np.where(k >= 2, std, 0.0), np.nan)


def spike_target(fwd_vol: np.ndarray, trailing_vol: np.ndarray, quoted: np.ndarray) -> np.ndarray:
    """Forward volatility relative to the trailing level; NaN where a tick gets no label."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = fwd_vol / trailing_vol
    return np.where(quoted & (trailing_vol > 0) & np.isfinite(ratio), ratio, np.nan)

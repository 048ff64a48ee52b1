"""THE feature definitions: streaming (per tick, O(1) amortised) and batch (vectorised, training).

Every feature is computed per product over trailing windows of ticks, from the tick's reference
price: the mid-price when both best bid and best ask are present, else the trade price (trade-only
recordings). A window of w seconds ending at a tick at time t holds the ticks with time in
(t - w, t] of the same segment: a segment ends where a product has no tick for more than
SEGMENT_GAP_S seconds (recordings are never bridged). Event times are made monotonic per product
(a late tick takes the time of the latest tick before it). Features are scale-free (returns,
basis points, rates) so that a model trained at one price level still means something at another.
The regime-relative features divide the realised volatility of each window (scaled to 60 s) and the
60 s tick rate by the product's slow levels (`level.py`, seeded per product from the model's
training split): "this minute is busy for this product's regime" means the same thing in a quiet
April night and on a crash day. A feature that cannot be computed is NaN (missing), never zero.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import numpy as np

from volctl.domain.level import HORIZON_S as LEVEL_HORIZON_S
from volctl.domain.level import ProductLevel, Seed, Seeds

WINDOWS_S = (30, 60, 300)
SEGMENT_GAP_S = 15.0
VOL_FEATURE = "ret_std_60s"  # the realised-volatility feature the baseline rule watches
Z_WINDOW_S = 900.0  # trailing history of VOL_FEATURE that its z-score is measured against
Z_MIN_SAMPLES = 30
_BPS = 1e4
_NAN = float("nan")

FEATURES: tuple[str, ...] = (
    *(
        name
        for w in WINDOWS_S
        for name in (f"ret_std_{w}s", f"ret_mean_{w}s", f"tick_rate_{w}s", f"range_bps_{w}s")
    ),
    "spread_bps",
    "vol_z_60s",
    *(f"vol_ratio_{w}s" for w in WINDOWS_S),
    "rate_ratio_60s",
    "vol_level_60s",
)
LEVEL_FEATURES = FEATURES[FEATURES.index("vol_ratio_30s"):]  # those that depend on the seeded level
# Each feature's valid range: volatilities, rates, ranges, spreads and their ratios are never negative;
# mean returns and z-scores take either sign. Larger than MAX_FEATURE_VALUE is not a feature value.
MAX_FEATURE_VALUE = 1e9
SIGNED_FEATURES = frozenset(name for name in FEATURES if name.startswith(("ret_mean_", "vol_z_")))
FEATURE_RANGES: dict[str, tuple[float, float]] = {
    name: (-MAX_FEATURE_VALUE if name in SIGNED_FEATURES else 0.0, MAX_FEATURE_VALUE) for name in FEATURES}
_VOL_INDEX = FEATURES.index(VOL_FEATURE)
_RATE_60 = FEATURES.index("tick_rate_60s")


def reference_price(price: float, bid: float, ask: float) -> float:
    """Mid-price when the quote is present (not NaN), else the trade price."""
    return (bid + ask) / 2 if bid == bid and ask == ask else price


class _Window:
    """Ticks of one trailing window with running sums and monotonic min/max queues."""

    __slots__ = ("count", "maxq", "minq", "n_moves", "n_ret", "span", "sum_r", "sum_r2", "ticks")

    def __init__(self, span: float) -> None:
        self.span = span
        self.ticks: deque[tuple[float, float | None, int]] = deque()
        self.maxq: deque[tuple[int, float]] = deque()
        self.minq: deque[tuple[int, float]] = deque()
        self.n_ret = 0
        self.n_moves = 0  # returns that are not zero (most ticks of a calm book do not move the mid)
        self.sum_r = 0.0
        self.sum_r2 = 0.0

    def push(self, ts: float, ret: float | None, ref: float, seq: int) -> None:
        self.ticks.append((ts, ret, seq))
        if ret is not None:
            self.n_ret += 1
            self.n_moves += ret != 0.0
            self.sum_r += ret
            self.sum_r2 += ret * ret
        while self.maxq and self.maxq[-1][1] <= ref:
            self.maxq.pop()
        self.maxq.append((seq, ref))
        while self.minq and self.minq[-1][1] >= ref:
            self.minq.pop()
        self.minq.append((seq, ref))
        cutoff = ts - self.span
        ticks = self.ticks
        while ticks[0][0] <= cutoff:
            _, old, _ = ticks.popleft()
            if old is not None:
                self.n_ret -= 1
                self.n_moves -= old != 0.0
                self.sum_r -= old
                self.sum_r2 -= old * old
        if self.n_moves == 0:  # drop float residue: a window without a move sums to exactly zero
            self.sum_r = self.sum_r2 = 0.0
        first = ticks[0][2]
        while self.maxq[0][0] < first:
            self.maxq.popleft()
        while self.minq[0][0] < first:
            self.minq.popleft()

    def features(self, ref: float) -> tuple[float, float, float, float]:
        n = self.n_ret
        mean = self.sum_r / n if n else _NAN
        std = math.sqrt(max(self.sum_r2 / n - mean * mean, 0.0)) if n >= 2 else _NAN
        spread = (self.maxq[0][1] - self.minq[0][1]) / ref * _BPS
        return std, mean, len(self.ticks) / self.span, spread

    def realised_volatility(self) -> float:
        """sqrt(sum of squared returns) in the window, scaled to 60 s; NaN without a return."""
        return math.sqrt(max(self.sum_r2, 0.0) * LEVEL_HORIZON_S / self.span) if self.n_ret else _NAN


class ProductFeatures:
    """Streaming state of one product."""

    __slots__ = ("last_ref", "last_ret", "last_ts", "level", "segment_start", "seq", "windows", "z_history", "z_n",
                 "z_sum", "z_sum2")

    def __init__(self, seed: Seed | None = None) -> None:
        self.level = ProductLevel(seed)  # runs across segments: a gap is not a new regime
        self.reset()

    def reset(self) -> None:
        self.windows = [_Window(w) for w in WINDOWS_S]
        self.z_history: deque[tuple[float, float]] = deque()
        self.z_n, self.z_sum, self.z_sum2 = 0, 0.0, 0.0
        self.last_ts: float | None = None
        self.last_ref: float | None = None
        self.last_ret: float | None = None  # the newest tick's log return; None at a segment's first tick
        self.segment_start: float | None = None
        self.seq = 0

    @property
    def warming_up(self) -> bool:
        """The newest tick has less than HISTORY_S of history in its segment: its trailing windows
        are not covered yet (labels.history_covered is the same rule in batch)."""
        return self.segment_start is None or self.last_ts - self.segment_start < HISTORY_S  # type: ignore[operator]

    def update(self, ts: float, price: float, bid: float = _NAN, ask: float = _NAN) -> list[float]:
        """Add one tick (NaN bid/ask when absent) and return its features in FEATURES order."""
        if self.last_ts is not None and ts > self.last_ts + SEGMENT_GAP_S:
            self.reset()
        if self.last_ts is not None and ts < self.last_ts:
            ts = self.last_ts
        ref = reference_price(price, bid, ask)
        ret = math.log(ref / self.last_ref) if self.last_ref is not None else None
        if self.segment_start is None:
            self.segment_start = ts
        self.last_ts, self.last_ref, self.last_ret = ts, ref, ret
        self.seq += 1
        self.level.update(ts, ret)
        row: list[float] = []
        for window in self.windows:
            window.push(ts, ret, ref, self.seq)
            row.extend(window.features(ref))
        row.append((ask - bid) / ((bid + ask) / 2) * _BPS if bid == bid and ask == ask else _NAN)
        row.append(self._vol_z(ts, row[_VOL_INDEX]))
        level = self.level.volatility()
        row.extend(window.realised_volatility() / level for window in self.windows)
        row.append(row[_RATE_60] / self.level.tick_rate())
        row.append(level)
        return row

    def _vol_z(self, ts: float, vol: float) -> float:
        history, cutoff = self.z_history, ts - Z_WINDOW_S
        while history and history[0][0] <= cutoff:
            _, old = history.popleft()
            self.z_n -= 1
            self.z_sum -= old
            self.z_sum2 -= old * old
        z = _NAN
        if vol == vol and self.z_n >= Z_MIN_SAMPLES:
            mean = self.z_sum / self.z_n
            std = math.sqrt(max(self.z_sum2 / self.z_n - mean * mean, 0.0))
            if std > 1e-12:
                z = (vol - mean) / std
        if vol == vol:
            history.append((ts, vol))
            self.z_n += 1
            self.z_sum += vol
            self.z_sum2 += vol * vol
        return z


# The history a tick's windows need; a tick older than this behind its product's newest has no window to join.
HISTORY_S = float(max(WINDOWS_S))


class FeatureEngine:
    """Streaming features for any number of products; `seeds` are the served model's training levels."""

    def __init__(self, seeds: Seeds | None = None) -> None:
        self.products: dict[str, ProductFeatures] = {}
        self.seeds: Seeds = dict(seeds or {})

    def set_seeds(self, seeds: Seeds) -> None:
        """Blend with another model's training levels from the next tick on (a model switch)."""
        self.seeds = dict(seeds)
        for product, state in self.products.items():
            state.level.seed = self.seeds.get(product)

    def staleness(self, product: str, ts: float) -> float:
        """How far (s) a tick lies behind its product's window horizon; > 0 means it cannot be
        placed in any window (its features would be computed as if it happened now)."""
        state = self.products.get(product)
        if state is None or state.last_ts is None:
            return 0.0
        return state.last_ts - HISTORY_S - ts

    def warming_up(self, product: str) -> bool:
        state = self.products.get(product)
        return state is None or state.warming_up

    def warm_up_left(self) -> dict[str, float]:
        """Seconds of stream time each warming product still needs before its rows are complete."""
        return {product: round(HISTORY_S - (state.last_ts - state.segment_start), 1)
                for product, state in self.products.items()
                if state.warming_up and state.segment_start is not None and state.last_ts is not None}

    def update(self, product: str, ts: float, price: float, bid: float = _NAN, ask: float = _NAN) -> list[float]:
        state = self.products.get(product)
        if state is None:
            state = self.products[product] = ProductFeatures(self.seeds.get(product))
        return state.update(ts, price, bid, ask)


# ----------------------------------------------------------------------------- batch


def batch_features(
    product: Iterable[str], ts: np.ndarray, price: np.ndarray, bid: np.ndarray, ask: np.ndarray,
    seeds: Seeds | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of a whole series in arrival order, as the streaming path would compute them.

    Returns (features [n, len(FEATURES)], effective times, segment ids); segment ids are unique
    across products, so (segment, time) orders each product's ticks.
    """
    seeds = seeds or {}
    products = np.asarray(list(product), dtype=object)
    n = len(products)
    out = np.full((n, len(FEATURES)), np.nan)
    times = np.empty(n)
    segments = np.empty(n, dtype=np.int64)
    next_segment = 0
    for name in dict.fromkeys(products):
        rows = np.flatnonzero(products == name)
        f, t, seg = _product_batch(ts[rows], price[rows], bid[rows], ask[rows], seeds.get(name))
        out[rows], times[rows], segments[rows] = f, t, seg + next_segment
        next_segment += int(seg.max()) + 1
    return out, times, segments


def _product_batch(
    ts: np.ndarray, price: np.ndarray, bid: np.ndarray, ask: np.ndarray, seed: Seed | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(ts)
    t, segment, ref, ret, has_ret = product_returns(ts, price, bid, ask)
    seg_start = segment_starts(segment)
    quoted = ~np.isnan(bid) & ~np.isnan(ask)
    c_n, c_r, c_r2 = (prefix_sums(a) for a in (has_ret.astype(float), ret, ret * ret))
    index = np.arange(n)
    table = _SparseTable(ref)
    columns = []
    for w in WINDOWS_S:
        left = np.maximum(np.searchsorted(t, t - w, side="right"), seg_start)
        k = c_n[index + 1] - c_n[left]
        s = c_r[index + 1] - c_r[left]
        s2 = c_r2[index + 1] - c_r2[left]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(k >= 1, s / k, np.nan)
            std = np.where(k >= 2, np.sqrt(np.maximum(s2 / k - mean * mean, 0.0)), np.nan)
        hi, lo = table.query(left, index)
        columns += [std, mean, (index - left + 1) / w, (hi - lo) / ref * _BPS]
    spread = np.where(quoted, (ask - bid) / ((bid + ask) / 2) * _BPS, np.nan)
    columns += [spread, _batch_vol_z(t, seg_start, columns[FEATURES.index(VOL_FEATURE)])]
    levels = level_features(t, ret, has_ret, realised_volatility(t, segment, ret, has_ret), columns[_RATE_60], seed)
    return np.column_stack([*columns, levels]), t, segment


def realised_volatility(t: np.ndarray, segment: np.ndarray, ret: np.ndarray, has_ret: np.ndarray) -> np.ndarray:
    """Per tick and window (columns in WINDOWS_S order): sqrt(sum of squared returns) scaled to 60 s,
    NaN without a return in the window; the numerators of the vol_ratio features."""
    index = np.arange(len(t))
    seg_start = segment_starts(segment)
    c_n, c_r2 = prefix_sums(has_ret.astype(float)), prefix_sums(ret * ret)
    out = []
    for w in WINDOWS_S:
        left = np.maximum(np.searchsorted(t, t - w, side="right"), seg_start)
        k = c_n[index + 1] - c_n[left]
        s2 = c_r2[index + 1] - c_r2[left]
        out.append(np.where(k >= 1, np.sqrt(np.maximum(s2, 0.0) * LEVEL_HORIZON_S / w), np.nan))
    return np.column_stack(out)


def level_features(t: np.ndarray, ret: np.ndarray, has_ret: np.ndarray, realised: np.ndarray,
                   rate_60: np.ndarray, seed: Seed | None) -> np.ndarray:
    """The LEVEL_FEATURES columns of one product's ticks: `ProductLevel` run tick by tick, as the
    streaming path runs it (the level is a recursion; a loop is the honest way to share it)."""
    level = ProductLevel(seed)
    n = len(t)
    vol, rate = np.empty(n), np.empty(n)
    update = level.update
    for i, (when, value, known) in enumerate(zip(t.tolist(), ret.tolist(), has_ret.tolist(), strict=True)):
        update(when, value if known else None)
        vol[i] = level.volatility()
        rate[i] = level.tick_rate()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.column_stack([realised / vol[:, None], rate_60 / rate, vol])


def product_returns(
    ts: np.ndarray, price: np.ndarray, bid: np.ndarray, ask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For one product's ticks in arrival order: effective (monotonic) times, segment ids,
    reference prices, log returns (0 at a segment's first tick) and whether a tick has a return."""
    t = np.maximum.accumulate(ts)
    segment = np.cumsum(np.r_[False, ts[1:] > t[:-1] + SEGMENT_GAP_S])
    quoted = ~np.isnan(bid) & ~np.isnan(ask)
    ref = np.where(quoted, (bid + ask) / 2, price)
    has_ret = np.r_[False, segment[1:] == segment[:-1]]
    ret = np.zeros(len(ts))
    ret[1:] = np.log(ref[1:] / ref[:-1])
    ret[~has_ret] = 0.0
    return t, segment, ref, ret, has_ret


def segment_starts(segment: np.ndarray) -> np.ndarray:
    """For each tick, the index of the first tick of its segment."""
    change = np.r_[True, segment[1:] != segment[:-1]]
    return np.flatnonzero(change)[np.cumsum(change) - 1]


def _batch_vol_z(t: np.ndarray, seg_start: np.ndarray, vol: np.ndarray) -> np.ndarray:
    index = np.arange(len(t))
    valid = ~np.isnan(vol)
    v = np.where(valid, vol, 0.0)
    c_n, c_v, c_v2 = prefix_sums(valid.astype(float)), prefix_sums(v), prefix_sums(v * v)
    left = np.maximum(np.searchsorted(t, t - Z_WINDOW_S, side="right"), seg_start)
    k = c_n[index] - c_n[left]  # history excludes the tick itself
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c_v[index] - c_v[left]) / k
        std = np.sqrt(np.maximum((c_v2[index] - c_v2[left]) / k - mean * mean, 0.0))
        z = (vol - mean) / std
    return np.where(valid & (k >= Z_MIN_SAMPLES) & (std > 1e-12), z, np.nan)


def prefix_sums(values: np.ndarray) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(values)))


class _SparseTable:
    """Range max/min in O(1) per query after O(n log n) build."""

    def __init__(self, values: np.ndarray) -> None:
        self.hi, self.lo = [values], [values]
        span = 1
        while 2 * span <= len(values):
            self.hi.append(np.maximum(self.hi[-1][:-span], self.hi[-1][span:]))
            self.lo.append(np.minimum(self.lo[-1][:-span], self.lo[-1][span:]))
            span *= 2

    def query(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        length = right - left + 1
        level = np.floor(np.log2(length)).astype(int)
        hi, lo = np.empty(len(left)), np.empty(len(left))
        for k in np.unique(level):
            rows = level == k
            a, b = left[rows], right[rows] - (1 << k) + 1
            hi[rows] = np.maximum(self.hi[k][a], self.hi[k][b])
            lo[rows] = np.minimum(self.lo[k][a], self.lo[k][b])
        return hi, lo

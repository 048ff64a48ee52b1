"""Seeded synthetic ticks, used only when no real recordings are available.

Several products, bid/ask spreads that widen with volatility, Markov regime switching between
calm and volatile states with occasional short bursts, and Poisson tick arrivals whose intensity
rises with volatility, so that there are spikes to detect. Everything built from it is labelled
synthetic (SOURCE_NAME) in manifests and reports.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from volctl.domain.ticks import Tick

SOURCE_NAME = "synthetic"


@dataclass(frozen=True)
class ProductSpec:
    product: str
    start_price: float
    tick_size: float
    ticks_per_second: float
    spread_bps: float


PRODUCTS = (
    ProductSpec("BTC-USD", 90_000.0, 0.01, 4.0, 0.2),
    ProductSpec("ETH-USD", 3_000.0, 0.01, 2.5, 0.5),
    ProductSpec("SOL-USD", 140.0, 0.01, 1.5, 1.5),
)
# Per-second return volatility by regime, and the chance per second of leaving each regime.
_REGIMES = {"calm": (0.00004, 1 / 600), "volatile": (0.00020, 1 / 120), "burst": (0.00080, 1 / 15)}
_BURST_CHANCE_PER_SECOND = 1 / 900


def synthetic_ticks(
    seed: int = 7,
    duration_s: float = 3600.0,
    start_ts: float = 1_764_547_200.0,  # 2025-12-01T00:00:00Z
    products: tuple[ProductSpec, ...] = PRODUCTS,
) -> Iterator[Tick]:
    """Ticks of all products merged in time order; the same seed gives the same ticks."""
    streams = [_product_ticks(random.Random(f"{seed}:{spec.product}"), spec, start_ts) for spec in products]
    heads = [next(s) for s in streams]
    end = start_ts + duration_s
    while True:
        index = min(range(len(heads)), key=lambda i: heads[i].ts)
        tick = heads[index]
        if tick.ts >= end:
            return
        yield tick
        heads[index] = next(streams[index])


def _product_ticks(rng: random.Random, spec: ProductSpec, start_ts: float) -> Iterator[Tick]:
    mid, now, regime = spec.start_price, start_ts, "calm"
    volume = 10_000.0 * 90_000.0 / spec.start_price
    while True:
        vol, leave = _REGIMES[regime]
        intensity = spec.ticks_per_second * (1 + 4 * (vol / _REGIMES["calm"][0] - 1) ** 0.5)
        dt = rng.expovariate(intensity)
        now += dt
        regime = _next_regime(rng, regime, leave, dt)
        mid *= math.exp(rng.gauss(0.0, vol * math.sqrt(dt)))
        half_spread = max(spec.tick_size / 2, mid * spec.spread_bps * 1e-4 * (vol / _REGIMES["calm"][0]) ** 0.5 / 2)
        bid = _round(mid - half_spread, spec.tick_size)
        ask = max(_round(mid + half_spread, spec.tick_size), bid + spec.tick_size)
        size = rng.lognormvariate(-4.0, 1.5)
        volume += size
        yield Tick(
            product=spec.product,
            ts=round(now, 6),
            price=f"{ask if rng.random() < 0.5 else bid:.2f}",
            best_bid=f"{bid:.2f}",
            best_ask=f"{ask:.2f}",
            bid_size=f"{rng.lognormvariate(-2.0, 1.0):.8f}",
            ask_size=f"{rng.lognormvariate(-2.0, 1.0):.8f}",
            volume_24h=f"{volume:.8f}",
        )


def _next_regime(rng: random.Random, regime: str, leave_per_second: float, dt: float) -> str:
    if regime != "burst" and rng.random() < 1 - math.exp(-_BURST_CHANCE_PER_SECOND * dt):
        return "burst"
    if rng.random() < 1 - math.exp(-leave_per_second * dt):
        return "calm" if regime != "calm" else "volatile"
    return regime


def _round(value: float, step: float) -> float:
    return round(round(value / step) * step, 2)

"""Streams whose microstructure really changed, made from a real recording: what a drift alarm must
catch (tests and `bench/drift_calibration.py` replay them beside the untouched recording)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from volctl.domain.ticks import Tick


def wider_and_thinner(ticks: Iterable[Tick], spread_factor: float = 5.0, keep_every: int = 4) -> Iterator[Tick]:
    """Spreads `spread_factor` times wider around the mid, and only every `keep_every`-th tick of
    each product (a venue that quotes wider and updates less often)."""
    seen: dict[str, int] = {}
    for tick in ticks:
        count = seen[tick.product] = seen.get(tick.product, 0) + 1
        if (count - 1) % keep_every:
            continue
        if tick.best_bid is None or tick.best_ask is None:
            yield tick
            continue
        bid, ask = float(tick.best_bid), float(tick.best_ask)
        mid, half = (bid + ask) / 2, (ask - bid) / 2 * spread_factor
        yield replace(tick, best_bid=f"{mid - half:.8f}", best_ask=f"{mid + half:.8f}", price=f"{mid:.8f}")


def wilder_walk(ticks: Iterable[Tick], volatility_factor: float = 5.0, seed: int = 7) -> Iterator[Tick]:
    """Mid-prices replaced by a random walk whose tick-to-tick log-return std is `volatility_factor`
    times the recording's own (per product, relative spread kept), at the recording's tick times."""
    rows = list(ticks)
    rng = random.Random(seed)
    last: dict[str, float] = {}
    returns: dict[str, list[float]] = {}
    for tick in rows:
        mid = _mid(tick)
        if tick.product in last and mid > 0 and last[tick.product] > 0:
            returns.setdefault(tick.product, []).append(math.log(mid / last[tick.product]))
        last[tick.product] = mid
    sigma = {p: volatility_factor * _std(r) for p, r in returns.items()}
    walk: dict[str, float] = {}
    for tick in rows:
        mid = _mid(tick)
        level = walk[tick.product] = (walk[tick.product] * math.exp(rng.gauss(0.0, sigma.get(tick.product, 0.0)))
                                      if tick.product in walk else mid)
        scale = level / mid if mid > 0 else 1.0
        moved = {name: f"{float(value) * scale:.8f}" for name in ("price", "best_bid", "best_ask")
                 if (value := getattr(tick, name)) is not None}
        yield replace(tick, **moved)


def _mid(tick: Tick) -> float:
    if tick.best_bid is not None and tick.best_ask is not None:
        return (float(tick.best_bid) + float(tick.best_ask)) / 2
    return float(tick.price)


def _std(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def shifted(ticks: Iterable[Tick], seconds: float) -> Iterator[Tick]:
    """The same ticks `seconds` later (a replay after the original must not look like old data)."""
    for tick in ticks:
        yield replace(tick, ts=tick.ts + seconds)


def write_recording(path: Path, ticks: Iterable[Tick]) -> int:
    """Flat JSON lines (the wire format `volctl ingest --replay` and `model train` read)."""
    count = 0
    with path.open("w") as handle:
        for tick in ticks:
            handle.write(json.dumps(tick.to_wire()) + "\n")
            count += 1
    return count

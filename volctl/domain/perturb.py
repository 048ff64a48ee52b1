"""Streams whose microstructure really changed, made from a real recording: what a drift alarm must
catch (tests and `bench/drift_calibration.py` replay them beside the untouched recording)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class Perturbation:
    """A change of microstructure asked for by name, as `spread=5,thin=4,vol=3`: spreads 5x wider,
    every 4th tick of each product kept, a mid-price walk 3x as volatile."""

    spread: float = 1.0
    thin: int = 1
    vol: float = 1.0

    @classmethod
    def parse(cls, text: str) -> Perturbation:
        """Raises ValueError saying what is wrong with `text`."""
        values: dict[str, float] = {}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            name, _, value = part.partition("=")
            if name not in PERTURBATIONS:
                raise ValueError(f"unknown perturbation {name!r} (known: {', '.join(PERTURBATIONS)})")
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not a number") from None
            if not math.isfinite(number) or number < 1 or (name == "thin" and number != int(number)):
                raise ValueError(f"{name} must be {'a whole number' if name == 'thin' else 'a factor'} >= 1, "
                                 f"got {value}")
            values[name] = number
        if not values:
            raise ValueError("no perturbation given (e.g. spread=5,thin=4)")
        return cls(values.get("spread", 1.0), int(values.get("thin", 1)), values.get("vol", 1.0))

    def apply(self, ticks: Iterable[Tick]) -> Iterator[Tick]:
        changed: Iterable[Tick] = ticks
        if self.vol != 1:
            changed = wilder_walk(changed, self.vol)
        if self.spread != 1 or self.thin != 1:
            changed = wider_and_thinner(changed, self.spread, self.thin)
        return iter(changed)

    def __str__(self) -> str:
        parts = ([f"spreads {self.spread:g}x wider"] if self.spread != 1 else []) + (
            [f"every {_ordinal(self.thin)} tick kept"] if self.thin != 1 else []) + (
            [f"a walk {self.vol:g}x as volatile"] if self.vol != 1 else [])
        return ", ".join(parts)


PERTURBATIONS = {"spread": "spreads this many times wider around the mid",
                 "thin": "keep every N-th tick of each product",
                 "vol": "mid-prices on a walk this many times as volatile"}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


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

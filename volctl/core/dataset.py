"""Recordings (or the synthetic source) -> one time-ordered frame of features and labels."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from volctl.domain.errors import ConfigError
from volctl.domain.features import FEATURES, batch_features
from volctl.domain.labels import HISTORY_S, TRAILING_FEATURE, forward_volatility, history_covered, spike_target
from volctl.domain.recordings import RECORDING_HINT, ReadStats, RecordingError, discover_series, iter_series
from volctl.domain.synthetic import SOURCE_NAME, synthetic_ticks
from volctl.domain.ticks import Tick

Progress = Callable[[str], None]


@dataclass
class Dataset:
    frame: pd.DataFrame  # FEATURES + product, ts, price, source, fwd_vol, target (NaN: no label), comparable
    sources: list[str]
    synthetic: bool
    stats: ReadStats = field(default_factory=ReadStats)
    label_drops: dict[str, int] = field(default_factory=dict)  # ticks each labelling rule left out


def load_dataset(
    paths: list[Path] | None,
    naive_tz: str = "UTC",
    synthetic_seconds: float = 4 * 3600,
    seed: int = 7,
    progress: Progress | None = None,
) -> Dataset:
    """Features and forward-volatility labels for every series under `paths`.

    With no paths the seeded synthetic source is used, and the dataset says so.
    """
    say = progress or (lambda _message: None)
    stats = ReadStats()
    frames = []
    if not paths:
        say(f"no recordings configured: using the seeded synthetic source ({synthetic_seconds / 3600:g} h)")
        frames.append(series_frame(SOURCE_NAME, synthetic_ticks(seed=seed, duration_s=synthetic_seconds)))
        return Dataset(pd.concat(frames, ignore_index=True), [SOURCE_NAME], True, stats, _drops(frames))
    try:
        series = [s for path in paths for s in discover_series(path)]
    except RecordingError as exc:
        raise ConfigError(str(exc), hint=RECORDING_HINT) from exc
    for path in series:
        say(f"reading {path.name}")
        try:
            frames.append(series_frame(path.name, iter_series(path, naive_tz, stats=stats)))
        except RecordingError as exc:
            raise ConfigError(str(exc), hint=RECORDING_HINT) from exc
    frame = pd.concat([f for f in frames if len(f)], ignore_index=True) if frames else pd.DataFrame()
    if frame.empty:
        raise ConfigError(stats.no_ticks(", ".join(map(str, paths))),
                          hint=RECORDING_HINT)
    return Dataset(frame, [p.name for p in series], False, stats, _drops(frames))


def _drops(frames: list[pd.DataFrame]) -> dict[str, int]:
    drops: dict[str, int] = {}
    for part in frames:
        for rule, count in part.attrs.get("label_drops", {}).items():
            drops[rule] = drops.get(rule, 0) + count
    return drops


def series_frame(source: str, ticks: Iterable[Tick]) -> pd.DataFrame:
    """Features and labels of one series; series are never joined, so no window spans two."""
    rows = list(ticks)
    nan = float("nan")
    product = [t.product for t in rows]
    ts = np.array([t.ts for t in rows], dtype=float)
    price = np.array([float(t.price) for t in rows])
    bid = np.array([float(t.best_bid) if t.best_bid is not None else nan for t in rows])
    ask = np.array([float(t.best_ask) if t.best_ask is not None else nan for t in rows])
    if not rows:
        return pd.DataFrame(columns=[*FEATURES, "product", "ts", "price", "source", "fwd_vol", "target", "comparable"])
    features, times, _ = batch_features(product, ts, price, bid, ask)
    frame = pd.DataFrame(features, columns=list(FEATURES))
    frame["product"] = product
    frame["ts"] = times
    frame["price"] = price
    frame["source"] = source
    frame["fwd_vol"] = forward_volatility(product, ts, price, bid, ask)
    quoted = ~np.isnan(bid) & ~np.isnan(ask)
    covered = history_covered(product, ts, price, bid, ask)
    target = spike_target(frame["fwd_vol"].to_numpy(), frame[TRAILING_FEATURE].to_numpy(), quoted)
    frame["target"] = np.where(covered, target, np.nan)
    frame["comparable"] = covered & quoted  # rows a training reference can hold (the drift report's rule)
    frame.attrs["label_drops"] = label_drops(quoted, covered, frame["fwd_vol"].to_numpy(), target)
    return frame


def label_drops(quoted: np.ndarray, covered: np.ndarray, fwd_vol: np.ndarray, target: np.ndarray) -> dict[str, int]:
    """How many ticks each labelling rule left unlabelled (a tick counts under the first rule it fails)."""
    no_quote = ~quoted
    warm_up = quoted & ~covered
    no_horizon = quoted & covered & np.isnan(fwd_vol)
    no_trailing = quoted & covered & ~np.isnan(fwd_vol) & np.isnan(target)
    return {"no quote (trades only)": int(no_quote.sum()),
            f"warm-up (< {HISTORY_S:g} s of history in the segment)": int(warm_up.sum()),
            "horizon not covered (a gap or the end)": int(no_horizon.sum()),
            "no trailing volatility": int(no_trailing.sum())}

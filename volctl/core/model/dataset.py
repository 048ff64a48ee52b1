"""Recordings (or the synthetic source) -> one time-ordered frame of features and labels."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from volctl.domain.errors import ConfigError
from volctl.domain.features import (
    FEATURES,
    LEVEL_FEATURES,
    SEGMENT_GAP_S,
    batch_features,
    level_features,
    product_returns,
    realised_volatility,
)
from volctl.domain.labels import HISTORY_S, LEVEL_FEATURE, forward_volatility, history_covered, spike_target
from volctl.domain.level import Seed, Seeds, measure_seed
from volctl.domain.recordings import RECORDING_HINT, ReadStats, RecordingError, discover_series, iter_series
from volctl.domain.synthetic import SOURCE_NAME, synthetic_ticks
from volctl.domain.ticks import Tick

Progress = Callable[[str], None]
# Beside FEATURES: what the labels, the levels, the splits and the intervals are computed from.
COLUMNS = (*FEATURES, "product", "ts", "price", "source", "session", "segment", "ret", "has_ret", "dt", "quoted",
           "covered", "fwd_vol", "target", "comparable")


@dataclass
class Dataset:
    frame: pd.DataFrame  # COLUMNS; target NaN: no label
    sources: list[str]
    synthetic: bool
    stats: ReadStats = field(default_factory=ReadStats)
    seeds: dict[str, Seed] = field(default_factory=dict)  # the levels the frame's level features are seeded with
    empty_sources: dict[str, str] = field(default_factory=dict)  # series that gave no tick: why

    @property
    def label_drops(self) -> dict[str, int]:
        """Ticks each labelling rule left unlabelled (a tick counts under the first rule it fails)."""
        return label_drops(self.frame)

    def with_seeds(self, seeds: Seeds) -> Dataset:
        """The same ticks with the level features and targets of other seeds (a version's own)."""
        return Dataset(apply_level(self.frame, seeds), self.sources, self.synthetic, self.stats, dict(seeds),
                       self.empty_sources)


def load_dataset(
    paths: list[Path] | None,
    naive_tz: str = "UTC",
    synthetic_seconds: float = 4 * 3600,
    seed: int = 7,
    progress: Progress | None = None,
    seeds: Seeds | None = None,
    since: float | None = None,
) -> Dataset:
    """Features and forward-volatility labels for every series under `paths` (its ticks from
    `since` on, when given), the level features seeded with `seeds` (none: each stream's own level).

    With no paths the seeded synthetic source is used, and the dataset says so. A series that gives
    no tick is named in `empty_sources` with the counts per reason; when none gives a tick, the
    error says so (a bad input, exit 3).
    """
    say = progress or (lambda _message: None)
    seeds = dict(seeds or {})
    if not paths:
        say(f"no recordings configured: using the seeded synthetic source ({synthetic_seconds / 3600:g} h)")
        frame = series_frame(SOURCE_NAME, synthetic_ticks(seed=seed, duration_s=synthetic_seconds), seeds)
        return Dataset(frame, [SOURCE_NAME], True, ReadStats(), seeds)
    try:
        series = [s for path in paths for s in discover_series(path)]
    except RecordingError as exc:
        raise ConfigError(str(exc), hint=RECORDING_HINT) from exc
    stats = ReadStats()
    frames, empty = [], {}
    for path in series:
        say(f"reading {path.name}")
        own = ReadStats()
        ticks = iter_series(path, naive_tz, stats=own)
        if since is not None:  # the newest stretch only (`model train --from-live --window`)
            ticks = (tick for tick in ticks if tick.ts >= since)
        try:
            frame = series_frame(path.name, ticks, seeds)
        except RecordingError as exc:
            raise ConfigError(str(exc), hint=RECORDING_HINT) from exc
        stats.merge(own)
        if len(frame):
            frames.append(frame)
        else:
            empty[path.name] = own.no_ticks(path.name)
    if not frames:
        raise ConfigError("; ".join(empty.values()) or stats.no_ticks(", ".join(map(str, paths))), hint=RECORDING_HINT)
    return Dataset(pd.concat(frames, ignore_index=True), [p.name for p in series], False, stats, seeds, empty)


def live_recording(folder: Path, window: str | None) -> tuple[list[Path], float | None]:
    """The consume members' recordings of what they consumed, and where a `window` of them starts:
    back from the newest tick's event time (a replay keeps its ticks' own times), None for all.
    ConfigError when nothing was recorded yet."""
    from volctl.domain.clock import seconds_of
    from volctl.domain.recordings import iter_file

    files = sorted(folder.glob("*/ticks-*.jsonl")) if folder.is_dir() else []  # a folder a member
    if not files:
        raise ConfigError(f"no live recording in {folder} yet: the consume service records the ticks it consumes",
                          hint="run the stack with a source (`volctl up --demo`, or `volctl ingest`), then retrain")
    members = sorted({f.parent for f in files})
    if window is None:
        return members, None
    try:
        span = seconds_of(window)
    except ValueError as exc:
        raise ConfigError(f"--window: {exc}") from None
    newest = max((t.ts for member in members for t in _last_ticks(iter_file, max(member.glob("ticks-*.jsonl")))),
                 default=None)
    return members, None if newest is None else newest - span


def _last_ticks(read: Callable[..., Iterable[Tick]], path: Path, tail_bytes: int = 64_000) -> list[Tick]:
    """The ticks of a recording file's last few kB (its newest: a member appends in consume order)."""
    import tempfile

    with path.open("rb") as handle:
        handle.seek(max(path.stat().st_size - tail_bytes, 0))
        tail = handle.read().split(b"\n", 1)[-1] if path.stat().st_size > tail_bytes else handle.read()
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "tail.jsonl"
        copy.write_bytes(tail)
        return list(read(copy))


def series_frame(source: str, ticks: Iterable[Tick], seeds: Seeds | None = None) -> pd.DataFrame:
    """Features and labels of one series; series are never joined, so no window spans two."""
    rows = list(ticks)
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS))
    nan = float("nan")
    product = [t.product for t in rows]
    ts = np.array([t.ts for t in rows], dtype=float)
    price = np.array([float(t.price) for t in rows])
    bid = np.array([float(t.best_bid) if t.best_bid is not None else nan for t in rows])
    ask = np.array([float(t.best_ask) if t.best_ask is not None else nan for t in rows])
    features, times, segments = batch_features(product, ts, price, bid, ask, seeds)
    frame = pd.DataFrame(features, columns=list(FEATURES))
    frame["product"] = product
    frame["ts"] = times
    frame["price"] = price
    frame["source"] = source
    frame["session"] = _sessions(source, times)
    frame["segment"] = segments
    products = np.asarray(product, dtype=object)
    ret, has_ret, dt = np.zeros(len(rows)), np.zeros(len(rows), dtype=bool), np.zeros(len(rows))
    for name in dict.fromkeys(product):
        where = np.flatnonzero(products == name)
        t, _, _, ret[where], has_ret[where] = product_returns(ts[where], price[where], bid[where], ask[where])
        dt[where] = np.where(has_ret[where], np.diff(t, prepend=t[0]), 0.0)
    frame["ret"], frame["has_ret"], frame["dt"] = ret, has_ret, dt
    frame["quoted"] = ~np.isnan(bid) & ~np.isnan(ask)
    frame["covered"] = history_covered(product, ts, price, bid, ask)
    frame["fwd_vol"] = forward_volatility(product, ts, price, bid, ask)
    frame["comparable"] = frame["covered"] & frame["quoted"]  # rows a training reference can hold (drift's rule)
    frame["target"] = _targets(frame)
    return frame[list(COLUMNS)]


def _sessions(source: str, times: np.ndarray) -> np.ndarray:
    """Contiguous stretches of a recording (any product): what the bootstrap resamples when there
    are enough of them. A silence longer than SEGMENT_GAP_S ends a session."""
    order = np.argsort(times, kind="stable")
    gaps = np.r_[False, np.diff(times[order]) > SEGMENT_GAP_S]
    ids = np.empty(len(times), dtype=np.int64)
    ids[order] = np.cumsum(gaps)
    return np.array([f"{source}#{i}" for i in ids], dtype=object)


def _targets(frame: pd.DataFrame) -> np.ndarray:
    target = spike_target(frame["fwd_vol"].to_numpy(dtype=float), frame[LEVEL_FEATURE].to_numpy(dtype=float),
                          frame["quoted"].to_numpy(dtype=bool))
    return np.where(frame["covered"].to_numpy(dtype=bool), target, np.nan)


def apply_level(frame: pd.DataFrame, seeds: Seeds) -> pd.DataFrame:
    """A copy of `frame` with its level features and targets recomputed with `seeds`."""
    out = frame.copy()
    levels = np.empty((len(out), len(LEVEL_FEATURES)))
    t_all, ret_all = out["ts"].to_numpy(dtype=float), out["ret"].to_numpy(dtype=float)
    known_all, segment_all = out["has_ret"].to_numpy(dtype=bool), out["segment"].to_numpy()
    rate_all = out["tick_rate_60s"].to_numpy(dtype=float)
    for (_, product), rows in out.groupby(["source", "product"], sort=False).indices.items():
        t, ret, known = t_all[rows], ret_all[rows], known_all[rows]
        realised = realised_volatility(t, segment_all[rows], ret, known)
        levels[rows] = level_features(t, ret, known, realised, rate_all[rows], seeds.get(product))
    out[list(LEVEL_FEATURES)] = levels
    out["target"] = _targets(out)
    return out


def measure_seeds(frame: pd.DataFrame) -> dict[str, Seed]:
    """Each product's level over `frame` (the training split's period): realised variance and ticks
    per observed second; products observed too briefly get none."""
    seeds = {}
    for product, rows in frame.groupby("product"):
        seed = measure_seed(float(rows["dt"].sum()), float(np.square(rows["ret"].to_numpy(dtype=float)).sum()),
                            int(rows["has_ret"].sum()))
        if seed is not None:
            seeds[str(product)] = seed
    return seeds


def label_drops(frame: pd.DataFrame) -> dict[str, int]:
    """How many ticks each labelling rule left unlabelled (a tick counts under the first rule it fails)."""
    quoted = frame["quoted"].to_numpy(dtype=bool)
    covered = frame["covered"].to_numpy(dtype=bool)
    fwd_vol, target = frame["fwd_vol"].to_numpy(dtype=float), frame["target"].to_numpy(dtype=float)
    return {"no quote (trades only)": int((~quoted).sum()),
            f"warm-up (< {HISTORY_S:g} s of history in the segment)": int((quoted & ~covered).sum()),
            "horizon not covered (a gap or the end)": int((quoted & covered & np.isnan(fwd_vol)).sum()),
            "no volatility level": int((quoted & covered & ~np.isnan(fwd_vol) & np.isnan(target)).sum())}

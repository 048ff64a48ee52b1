"""Read recorded ticks from files and folders in every format of shared/data PROVENANCE.md.

A folder of recorder runs is one series read in file-name order; gzip-compressed files
(`*.gz`) are read transparently. Bad lines are counted by reason, never fatal.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from services.ticks import BadTick, Tick, normalise

DATA_SUFFIXES = (".ndjson", ".jsonl", ".json", ".csv", ".parquet")
_PRODUCT_IN_NAME = re.compile(r"(?<![a-z])(btc|eth|sol|ltc|doge|xrp|ada)[-_]?(usd|usdt|usdc|eur|gbp)", re.I)
# Columns the parquet recordings add from mixed products: ignored (PROVENANCE).
_PARQUET_COLUMNS = (
    "type", "product_id", "price", "best_bid", "best_bid_size", "best_ask", "best_ask_size",
    "volume_24h", "time",
)


class RecordingError(ValueError):
    """A recording that cannot be read at all (missing, unknown format, unknown product)."""


@dataclass
class ReadStats:
    lines: int = 0
    ticks: int = 0
    skipped: int = 0  # valid messages that are not ticks (subscriptions, heartbeats)
    bad: Counter[str] = field(default_factory=Counter)

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())


def is_data_file(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return path.is_file() and name.endswith(DATA_SUFFIXES)


def discover_series(root: Path) -> list[Path]:
    """The series under `root`: a file is one series; in a folder, each data file or sub-folder is one."""
    if not root.exists():
        raise RecordingError(f"{root} does not exist")
    if root.is_file():
        return [root]
    series = [p for p in sorted(root.iterdir()) if is_data_file(p) or (p.is_dir() and _files_of(p))]
    if not series:
        raise RecordingError(f"{root} holds no recordings ({', '.join(DATA_SUFFIXES)}, optionally .gz)")
    return series


def iter_series(
    path: Path, naive_tz: str = "UTC", product: str | None = None, stats: ReadStats | None = None
) -> Iterator[Tick]:
    """Ticks of one series (a file, or a folder read in file-name order)."""
    stats = stats if stats is not None else ReadStats()
    for file in _files_of(path) if path.is_dir() else [path]:
        yield from iter_file(file, naive_tz, product, stats)


def iter_file(
    path: Path, naive_tz: str = "UTC", product: str | None = None, stats: ReadStats | None = None
) -> Iterator[Tick]:
    stats = stats if stats is not None else ReadStats()
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        records: Iterator[Any] = _parquet_records(path)
    elif name.endswith(".csv"):
        records = _csv_records(path, product or product_from_name(path))
    elif name.endswith(DATA_SUFFIXES):
        records = _json_lines(path, stats)
    else:
        raise RecordingError(f"{path}: unknown format (expected {', '.join(DATA_SUFFIXES)})")
    for record in records:
        stats.lines += 1
        if record is None:
            continue  # undecodable line, already counted
        try:
            ticks = normalise(record, naive_tz, product)
        except BadTick as exc:
            stats.bad[exc.reason] += 1
            continue
        if not ticks:
            stats.skipped += 1
        stats.ticks += len(ticks)
        yield from ticks


def product_from_name(path: Path) -> str:
    match = _PRODUCT_IN_NAME.search(path.name)
    if not match:
        raise RecordingError(
            f"{path}: trade CSV rows carry no product and none is in the file name",
            )
    return f"{match.group(1)}-{match.group(2)}".upper()


def _files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if is_data_file(p))


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def _json_lines(path: Path, stats: ReadStats) -> Iterator[Any]:
    with _open_text(path) as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                stats.bad["bad_json"] += 1
                yield None


def _csv_records(path: Path, product: str) -> Iterator[dict[str, Any]]:
    with _open_text(path) as handle:
        for row in csv.DictReader(handle):
            yield {**row, "product_id": product}


def _parquet_records(path: Path) -> Iterator[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_parquet(path)
    columns = [c for c in _PARQUET_COLUMNS if c in frame.columns]
    yield from frame[columns].to_dict("records")

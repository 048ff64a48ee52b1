"""Read recorded ticks from files and folders in every format of shared/data PROVENANCE.md.

A folder of recorder runs is one series read in file-name order; gzip-compressed files
(`*.gz`) are read transparently. Bad lines are counted by reason, never fatal.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from volctl.domain.ticks import BadTick, Tick, normalise

DATA_SUFFIXES = (".ndjson", ".jsonl", ".json", ".csv", ".parquet")
_PRODUCT_IN_NAME = re.compile(r"(?<![a-z])(btc|eth|sol|ltc|doge|xrp|ada)[-_]?(usd|usdt|usdc|eur|gbp)", re.I)
# Columns the parquet recordings add from mixed products: ignored (PROVENANCE).
_PARQUET_COLUMNS = (
    "type", "product_id", "price", "best_bid", "best_bid_size", "best_ask", "best_ask_size",
    "volume_24h", "time",
)


RECORDING_HINT = ("a recording is a file, or a folder of files, of ticker messages (ndjson) or ticks (csv, "
                  "parquet), optionally .gz; a trade csv names its product in the file name; see 'Data, label "
                  "and models' in the README")


class RecordingError(ValueError):
    """A recording that cannot be read at all (missing, unknown format, unknown product)."""


@dataclass
class ReadStats:
    lines: int = 0
    ticks: int = 0
    skipped: int = 0  # valid messages that are not ticks (subscriptions, heartbeats)
    bad: Counter[str] = field(default_factory=Counter)
    first_bad: str | None = None  # "file:line: reason: text", to show what a file holds

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())

    def count_bad(self, reason: str, where: str, text: object) -> None:
        self.bad[reason] += 1
        if self.first_bad is None:
            self.first_bad = f"{where}: {reason}: {str(text)[:160]}"

    def merge(self, other: ReadStats) -> None:
        """Add another file's counts (one ReadStats per series, one for the whole read)."""
        self.lines += other.lines
        self.ticks += other.ticks
        self.skipped += other.skipped
        self.bad.update(other.bad)
        self.first_bad = self.first_bad or other.first_bad

    def no_ticks(self, source: object) -> str:
        """Why `source` gave no tick: an empty file, or the counts per reason and the first bad line."""
        if not self.lines:
            return f"{source} holds no records (an empty file?)"
        reasons = ", ".join(f"{reason} x{count}" for reason, count in self.bad.most_common()) or "none"
        text = f"no tick could be read from {source}: {self.lines} records, {self.skipped} not ticks, bad: {reasons}"
        return text + (f"; first bad record: {self.first_bad}" if self.first_bad else "")


MAX_LINE_CHARS = 1_000_000  # a tick is about 300; longer is not a tick, and is not read into memory
# What a file that is not what its name claims raises while it is read (gzip, parquet, csv, text).
_UNREADABLE = (OSError, EOFError, zlib.error, csv.Error, UnicodeDecodeError)


def is_data_file(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return path.is_file() and name.endswith(DATA_SUFFIXES)


def discover_series(root: Path) -> list[Path]:
    """The series under `root`: a file is one series; in a folder, each data file or sub-folder is one."""
    if not root.exists():
        raise RecordingError(f"{root} does not exist")
    if root.is_file():
        return [root]
    if not root.is_dir():  # /dev/zero, a FIFO: read for ever, or not a folder to list
        raise RecordingError(f"{root} is neither a regular file nor a folder (a device, a pipe or a socket)")
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
    try:
        for record in records:
            stats.lines += 1
            if record is None:
                continue  # undecodable line, already counted
            try:
                ticks = normalise(record, naive_tz, product)
            except BadTick as exc:
                stats.count_bad(exc.reason, f"{path.name}:{stats.lines}", record)
                continue
            if not ticks:
                stats.skipped += 1
            stats.ticks += len(ticks)
            yield from ticks
    except _UNREADABLE as exc:
        raise RecordingError(f"{path} is not a readable {_kind(path)} file "
                             f"({type(exc).__name__}: {str(exc)[:120]})") from exc
    except ValueError as exc:  # pyarrow's ArrowInvalid on a file that is not parquet
        if isinstance(exc, BadTick | RecordingError):
            raise
        raise RecordingError(f"{path} is not a readable {_kind(path)} file "
                             f"({type(exc).__name__}: {str(exc)[:120]})") from exc


def _kind(path: Path) -> str:
    name = path.name.lower()
    suffix = name.removesuffix(".gz").rsplit(".", 1)[-1]
    return f"gzip-compressed {suffix}" if name.endswith(".gz") else suffix


def product_from_name(path: Path) -> str:
    match = _PRODUCT_IN_NAME.search(path.name)
    if not match:
        raise RecordingError(
            f"{path}: trade CSV rows carry no product and none is in the file name (e.g. btcusd_...csv)")
    return f"{match.group(1)}-{match.group(2)}".upper()


def _files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if is_data_file(p))


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def _json_lines(path: Path, stats: ReadStats) -> Iterator[Any]:
    with _open_text(path) as handle:
        for line in _bounded_lines(handle, MAX_LINE_CHARS):
            if line is None:
                stats.count_bad("line_too_long", f"{path.name}:{stats.lines + 1}", f"a line over {MAX_LINE_CHARS:,} "
                                "characters, skipped unread")
                yield None
                continue
            if not line.strip():
                continue
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                stats.count_bad("bad_json", f"{path.name}:{stats.lines + 1}", line.strip())
                yield None


def _bounded_lines(handle: IO[str], limit: int) -> Iterator[str | None]:
    """Lines of at most `limit` characters; None for a longer one, which is skipped without being
    held (a 900 MB line in a 3.9 MB gzip took 2.75 GB)."""
    while True:
        line = handle.readline(limit)
        if not line:
            return
        if len(line) < limit or line.endswith("\n"):
            yield line
            continue
        while (rest := handle.readline(limit)) and not rest.endswith("\n"):
            pass  # the rest of the long line, a bounded piece at a time
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

"""The feature log: recent feature rows of the live stream, bounded and rotating, for drift reports.

JSON-lines files `features-<n>.jsonl` in one folder; each line is one array in COLUMNS order
(missing values are null). JSON because orjson writes a row in ~1 µs where the csv module needs
~20 µs, which matters on the consume hot path. A file is closed after `rows_per_file` rows or
`bytes_per_file` bytes, whichever comes first, and only the newest `keep_files` are kept, so the
log never grows past keep_files files of either size. Readers take every file in name order and
skip a line a writer is still writing.

Each member of the consumer group writes its own files: member 1 in the folder itself, member i
in its subfolder `consume-i/` (member_folder); readers take every member's files, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from volctl.domain.features import FEATURES
from volctl.domain.topology import CONSUME

COLUMNS = ("ts", "product", *FEATURES, "score")


class JsonLinesLog:
    """A bounded, rotating log of JSON documents, one per line, in `<prefix>-<n>.jsonl` files."""

    def __init__(self, folder: Path, prefix: str, rows_per_file: int = 20_000, keep_files: int = 5,
                 bytes_per_file: int = 4_000_000) -> None:
        self.folder = folder
        self.prefix = prefix
        self.rows_per_file = rows_per_file
        self.bytes_per_file = bytes_per_file
        self.keep_files = keep_files
        self._handle: IO[bytes] | None = None
        self._rows = 0
        self._bytes = 0

    def write(self, documents: Iterable[Any]) -> None:
        for document in documents:
            line = orjson.dumps(document) + b"\n"
            if (self._handle is None or self._rows >= self.rows_per_file
                    or (self._rows and self._bytes + len(line) > self.bytes_per_file)):
                self._rotate()
            self._handle.write(line)  # type: ignore[union-attr]
            self._rows += 1
            self._bytes += len(line)
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _rotate(self) -> None:
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = log_files(self.folder, self.prefix)
        number = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
        for old in existing[: max(0, len(existing) - self.keep_files + 1)]:
            old.unlink(missing_ok=True)
        self._handle = (self.folder / f"{self.prefix}-{number:08d}.jsonl").open("wb")
        self._rows = self._bytes = 0


class TickRecording(JsonLinesLog):
    """The ticks a consume member consumed, as a recording (the wire format a replay reads back):
    at most `max_bytes` in ten files, the oldest dropped first."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        super().__init__(folder, "ticks", rows_per_file=10_000_000, keep_files=10,
                         bytes_per_file=max(max_bytes // 10, 1))


class FeatureLog(JsonLinesLog):
    def __init__(self, folder: Path, rows_per_file: int = 20_000, keep_files: int = 5) -> None:
        super().__init__(folder, "features", rows_per_file, keep_files)

    def append(self, rows: Iterable[tuple[float, str, list[float], float]]) -> None:
        self.write([ts, product, *features, score] for ts, product, features, score in rows)


def member_folder(folder: Path, member: str) -> Path:
    """Where a member of the consumer group writes its log (member 1, `consume`: the folder itself)."""
    return folder if member == CONSUME else folder / member


def log_files(folder: Path, prefix: str = "features") -> list[Path]:
    """One writer's files, in name order."""
    return sorted(folder.glob(f"{prefix}-*.jsonl"))


def all_log_files(folder: Path, prefix: str = "features") -> list[Path]:
    """Every member's files, oldest first by modification time (members write side by side)."""
    found = [*folder.glob(f"{prefix}-*.jsonl"), *folder.glob(f"{CONSUME}-*/{prefix}-*.jsonl")]
    return sorted(found, key=_modified)


def _row(line: bytes) -> list[Any] | None:
    """A feature row, or None for a line its writer is still writing (or any line not a row)."""
    try:
        values = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(values, list) or len(values) != len(COLUMNS):
        return None
    return [float("nan") if v is None else v for v in values]


def _modified(path: Path) -> tuple[float, str]:
    try:
        return path.stat().st_mtime, str(path)
    except OSError:  # rotated away while we looked
        return 0.0, str(path)


def read_documents(folder: Path, prefix: str) -> Iterator[Any]:
    """Every document of a log, oldest first (a torn last line is skipped)."""
    for path in all_log_files(folder, prefix):
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:  # rotated away by its writer
            continue
        for line in lines:
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                continue


def read_rows(folder: Path, limit: int | None = None) -> list[list[Any]]:
    """The newest `limit` rows (all when None), oldest first; NaN for missing values."""
    rows: list[list[Any]] = []
    for path in reversed(all_log_files(folder)):
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:  # rotated away by its writer
            continue
        rows[:0] = [row for row in map(_row, lines) if row is not None]
        if limit is not None and len(rows) >= limit:
            return rows[-limit:]
    return rows

"""The feature log: recent feature rows of the live stream, bounded and rotating, for drift reports.

CSV files `features-<n>.csv` in one folder, each with a header; a file is closed after
`rows_per_file` rows and only the newest `keep_files` are kept, so the log never grows past
rows_per_file × keep_files rows. Readers take every file in name order.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from services.features import FEATURES

COLUMNS = ("ts", "product", *FEATURES, "score")


class FeatureLog:
    def __init__(self, folder: Path, rows_per_file: int = 20_000, keep_files: int = 5) -> None:
        self.folder = folder
        self.rows_per_file = rows_per_file
        self.keep_files = keep_files
        self._handle: IO[str] | None = None
        self._writer: csv.writer | None = None  # type: ignore[valid-type]
        self._rows = 0

    def append(self, rows: Iterable[tuple[float, str, list[float], float]]) -> None:
        for ts, product, features, score in rows:
            if self._writer is None or self._rows >= self.rows_per_file:
                self._rotate()
            self._writer.writerow((repr(ts), product, *(repr(v) for v in features), repr(score)))  # type: ignore[union-attr]
            self._rows += 1
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = self._writer = None

    def _rotate(self) -> None:
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = log_files(self.folder)
        number = int(existing[-1].stem.split("-")[1]) + 1 if existing else 1
        for old in existing[: max(0, len(existing) - self.keep_files + 1)]:
            old.unlink(missing_ok=True)
        self._handle = (self.folder / f"features-{number:08d}.csv").open("w", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(COLUMNS)
        self._rows = 0


def log_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("features-*.csv"))

"""UTC times as the project writes them: ISO 8601 ending in Z, and compact stamps for file names."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utc_iso(epoch: float | None = None, timespec: str = "seconds") -> str:
    """`epoch` (default: now) as 2026-11-23T08:15:00Z, to the given `timespec` of isoformat."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_stamp(epoch: float | None = None) -> str:
    """`epoch` (default: now) as 20261123T081500Z: sorts by time and is safe in a file name."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def seconds_of(duration: str) -> float:
    """`30s`, `5m`, `1h`, `30d`, `2w` in seconds; ValueError for anything else."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw])", duration.strip())
    if not match:
        raise ValueError(f"{duration!r} is not a duration like 30s, 5m, 1h, 30d")
    return float(match.group(1)) * _UNITS[match.group(2)]

"""UTC times as the project writes them: ISO 8601 ending in Z, and compact stamps for file names."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(epoch: float | None = None, timespec: str = "seconds") -> str:
    """`epoch` (default: now) as 2026-11-23T08:15:00Z, to the given `timespec` of isoformat."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_stamp(epoch: float | None = None) -> str:
    """`epoch` (default: now) as 20261123T081500Z: sorts by time and is safe in a file name."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")

"""UTC times as the project writes them: ISO 8601 ending in Z, and compact stamps for file names."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Prometheus's units (y is 365 d there too): a config value or window goes into PromQL as written.
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
LONGEST_S = 100 * 31536000
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")


def utc_iso(epoch: float | None = None, timespec: str = "seconds") -> str:
    """`epoch` (default: now) as 2026-11-23T08:15:00Z, to the given `timespec` of isoformat."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_stamp(epoch: float | None = None) -> str:
    """`epoch` (default: now) as 20261123T081500Z: sorts by time and is safe in a file name."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def seconds_of(duration: str, whole: bool = False) -> float:
    """`500ms`, `30s`, `5m`, `1h`, `30d`, `2w`, `1y` in seconds, above 0; ValueError for anything else.
    `whole`: a whole number of units, as PromQL writes a range (a window or config value that goes
    into a query). The one duration parser: config validation and every command use it."""
    match = _DURATION.fullmatch(duration.strip()) if isinstance(duration, str) else None
    if not match or (whole and "." in match.group(1)):
        kind = "a whole number and a unit" if whole else "a number and a unit"
        raise ValueError(f"{duration!r} is not a duration like 30s, 5m, 1h or 30d ({kind}: ms, s, m, h, d, w, y)")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{duration!r}: a duration must be longer than 0")
    if seconds > LONGEST_S:  # Prometheus's durations are int64 nanoseconds: 292 years
        raise ValueError(f"{duration!r}: longer than 100y, longer than any window, hold or retention can be")
    return seconds


def is_duration(value: object, whole: bool = False) -> bool:
    try:
        seconds_of(value, whole)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def epoch_of_rfc3339(stamp: str) -> float | None:
    """Prometheus's and Alertmanager's stamps (nanoseconds, Z or an offset) as epoch seconds; None
    when `stamp` is not one (a zone-less stamp is UTC)."""
    match = _RFC3339.fullmatch(stamp.strip())
    if match is None:
        return None
    zone = "+00:00" if match.group(3) in (None, "Z") else match.group(3)
    try:
        whole = datetime.fromisoformat(match.group(1) + zone).timestamp()
    except ValueError:
        return None
    return whole + float("0" + (match.group(2) or ".0")[:10])

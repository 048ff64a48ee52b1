"""How a figure with its interval reads, the same in a terminal table and on an HTML page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def known(value: Any) -> bool:
    return isinstance(value, int | float) and value == value


def interval_text(value: Any, interval: Sequence[Any] | None, digits: int = 3, unit: str = "") -> str:
    """"0.245 [0.046, 0.386]"; "0.245" without an interval; "unknown" without a value."""
    if not known(value):
        return "unknown"
    text = f"{value:.{digits}f}{unit}"
    low, high = [*interval, None, None][:2] if interval else (None, None)
    if known(low) and known(high):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def lift_text(lift: Mapping[str, Any] | None) -> str:
    """The alert lift of one variant: "1.54x [1.05, 2.21], top decile 2.2x [1.1, 5.1]"."""
    lift = lift or {}
    ratio = interval_text(lift.get("median_ratio"), lift.get("median_ratio_interval"), 2, "x")
    decile = interval_text(lift.get("decile_lift"), lift.get("decile_lift_interval"), 1, "x")
    note = f" ({lift['interval_note']})" if lift.get("interval_note") else ""
    return f"{ratio}, top decile {decile}{note}"

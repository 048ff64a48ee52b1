"""Text that came from a caller, made safe to print, log and serialise."""

from __future__ import annotations

from typing import Any


def printable(text: str, limit: int | None = None) -> str:
    """`text` as valid UTF-8: a lone surrogate (legal in JSON, not in UTF-8) becomes its `\\udXXX`
    escape, so that no encoder downstream (orjson, a terminal, a log file) fails on it."""
    text = text if limit is None else text[:limit]
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def printable_document(value: Any) -> Any:
    """Every string inside a JSON document (keys too) made `printable`."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)): printable_document(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable_document(v) for v in value]
    return value

"""Text that came from a caller, made safe to print, log and serialise."""

from __future__ import annotations

import unicodedata
from typing import Any

_SHOWN_AS_IS = {"\t"}


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


def visible(text: str) -> str:
    """`text` with every control and format character (ESC, newline, DEL, C1, bidi overrides, line
    separators) written as its escape (`\\x1b`, `\\n`, `\\u202e`), so that what a caller sent can
    neither start a line of its own in a log nor drive a terminal. Tabs stay."""
    if text.isprintable():
        return printable(text)
    out = []
    for char in text:
        if char in _SHOWN_AS_IS or char.isprintable() or unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp"):
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return printable("".join(out))

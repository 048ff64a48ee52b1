"""JSON documents every parser reads: what `--json` prints and what the evidence files hold."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from typing import Any


def strict_json(document: Any, indent: int | None = None) -> str:
    """A value that cannot be known (NaN, an infinity) is null, never the `NaN` Python writes by
    default, which jq and most parsers refuse with the whole document; the document says why beside
    it (an interval's note, a row's problem)."""
    return json.dumps(as_plain(document), indent=indent, default=str, allow_nan=False)


def as_plain(value: Any) -> Any:
    """Dataclasses as dicts, tuples as lists, numbers that cannot be known as None."""
    if getattr(value, "dtype", None) is not None and value.dtype.kind == "b" and not value.shape:
        return bool(value)  # numpy's bool, which json would write as the string "True"
    if isinstance(value, numbers.Integral):  # numpy's integers too (bool stays bool)
        return value if isinstance(value, int) else int(value)
    if isinstance(value, numbers.Real):  # float and numpy's floats
        number = float(value)
        return number if math.isfinite(number) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): as_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_plain(v) for v in value]
    return value

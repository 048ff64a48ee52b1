"""Parse and validate a /predict body without pandas or pydantic on the hot path."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from typing import Any

import orjson

from volctl.domain.features import FEATURE_RANGES, MAX_FEATURE_VALUE
from volctl.domain.text import visible

MAX_ROWS = 1000
MAX_BODY_BYTES = 4 * 1024 * 1024

_ANY = (-MAX_FEATURE_VALUE, MAX_FEATURE_VALUE)  # a feature this code does not know (an older model's)


class InputError(ValueError):
    """A bad request body; `error_type` labels volatility_api_errors_total."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def parse_rows(body: bytes, features: tuple[str, ...], feature_set: frozenset[str]) -> list[list[float]]:
    """Rows as lists of floats in `features` order; raises InputError naming the row and field."""
    if len(body) > MAX_BODY_BYTES:
        raise InputError("too_large", f"body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = _lenient_json(body)  # NaN/Infinity literals: decode to say which field holds one
    if not isinstance(document, dict) or "rows" not in document:
        raise InputError("bad_body", 'body must be a JSON object {"rows": [{feature: number, ...}, ...]}')
    if len(document) != 1:
        raise InputError("bad_body", f"unknown top-level field(s): {_some(k for k in document if k != 'rows')}")
    rows = document["rows"]
    if not isinstance(rows, list) or not rows:
        raise InputError("bad_body", "'rows' must be a non-empty list of objects")
    if len(rows) > MAX_ROWS:
        raise InputError("too_many_rows", f"{len(rows)} rows; at most {MAX_ROWS} per request")
    bounds = _bounds_of(features)
    matrix = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError("bad_row", f"rows[{index}] must be an object of feature values")
        if row.keys() != feature_set:
            raise InputError("bad_features", _key_mismatch(index, row, feature_set))
        values = [row[name] for name in features]
        for value, (low, high) in zip(values, bounds, strict=True):
            kind = type(value)
            if kind is not float and kind is not int:
                raise InputError("bad_value", _bad_value(index, row, features))
            if not low <= value <= high:  # also false for NaN
                error_type = "not_finite" if kind is float and value - value != 0.0 else "out_of_range"
                raise InputError(error_type, _bad_value(index, row, features))
        matrix.append(values)
    return matrix


@functools.lru_cache(maxsize=8)
def _bounds_of(features: tuple[str, ...]) -> tuple[tuple[float, float], ...]:
    """Each feature's accepted range, in order (once per model, not once per request)."""
    return tuple(FEATURE_RANGES.get(name, _ANY) for name in features)


def _lenient_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InputError("bad_json", f"body is not valid JSON: {str(exc)[:120]}") from exc


def _key_mismatch(index: int, row: dict[str, Any], feature_set: frozenset[str]) -> str:
    missing = feature_set - row.keys()
    extra = row.keys() - feature_set
    parts = []
    if missing:
        parts.append(f"missing feature(s) {_some(missing)}")
    if extra:
        parts.append(f"unknown field(s) {_some(extra)}")
    return f"rows[{index}]: {'; '.join(parts)}"


def _some(names: Iterable[object], shown: int = 5, chars: int = 60) -> str:
    """The first `shown` names, sorted, each cut to `chars`, and how many more: a body of 100,000
    unknown names was echoed whole (a 3 MB answer to a 3 MB request)."""
    every = sorted(str(name) for name in names)
    named = ", ".join(visible(name[:chars]) + ("…" if len(name) > chars else "") for name in every[:shown])
    return named + (f" and {len(every) - shown:,} more" if len(every) > shown else "")


def _bad_value(index: int, row: dict[str, Any], features: tuple[str, ...]) -> str:
    for name in features:
        value = row[name]
        if type(value) not in (float, int):
            return f"rows[{index}].{name}: expected a number, got {type(value).__name__} {str(value)[:30]!r}"
        if type(value) is float and not math.isfinite(value):
            return f"rows[{index}].{name}: {value} is not a finite number"
        low, high = FEATURE_RANGES.get(name, _ANY)
        if not low <= value <= high:
            valid = (f"|value| <= {high:g}" if low < 0 else
                     f"0 <= value <= {high:g}: a volatility, rate, range or spread is never negative")
            return f"rows[{index}].{name}: {str(value)[:30]} is out of range ({valid})"
    return f"rows[{index}]: invalid value"

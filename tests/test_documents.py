"""Every `--json` is strict JSON (issue 38): what cannot be known is null, never NaN or Infinity."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from volctl.domain.documents import strict_json

pytestmark = pytest.mark.unit


@dataclass
class _Row:
    value: float
    interval: tuple[float, float]


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def test_values_that_cannot_be_known_are_null_and_the_rest_is_kept() -> None:
    numpy = [np.float64("nan"), np.float32(1.5), np.int64(3), np.bool_(True)]
    document = {"row": _Row(math.nan, (-math.inf, 0.5)), "numpy": numpy, "count": 7, "flag": True,
                "note": "too few episodes: 0 of 3", "inf": math.inf}
    found = json.loads(strict_json(document, indent=2), parse_constant=_refuse)
    assert found == {"row": {"value": None, "interval": [None, 0.5]}, "numpy": [None, 1.5, 3, True], "count": 7,
                     "flag": True, "note": "too few episodes: 0 of 3", "inf": None}


def test_python_by_default_writes_what_parsers_refuse() -> None:
    """Why: the default json.dumps writes NaN, which a strict parser rejects with the document."""
    with pytest.raises(AssertionError, match="NaN is not JSON"):
        json.loads(json.dumps({"low": math.nan}), parse_constant=_refuse)

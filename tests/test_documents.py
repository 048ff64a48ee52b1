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


def test_every_json_option_prints_through_the_strict_writer() -> None:
    """By construction: every command with --json prints through console.emit_json or finish (both
    strict_json); nothing in the CLI or its renderers writes JSON on its own. The suite also parses
    strictly every --json it runs (tests/conftest.py)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "volctl"
    for module in sorted((root / "cli").glob("*.py")):
        text = module.read_text()
        if "JsonOption" in text and "as_json" in text.split("def ", 1)[-1]:
            assert "emit_json" in text or "finish(" in text, module.name
    for folder in ("cli", "render"):
        for module in sorted((root / folder).glob("*.py")):
            lines = [line for line in module.read_text().splitlines() if "json.dumps(" in line]
            allowed = module.name == "kafka.py" and all("message.value" in line for line in lines)  # a body shown
            assert not lines or allowed, (module.name, lines)

"""One line per guard evaluation."""

from __future__ import annotations

from rich.markup import escape

from volctl.core.operations.guard import Evaluation
from volctl.render.console import out

STYLE = {"pass": "green", "fail": "red"}


def evaluation_line(evaluation: Evaluation) -> None:
    style = STYLE.get(evaluation.verdict, "yellow")
    line = (f"{evaluation.at} [{style}]{evaluation.verdict}[/] served {evaluation.served or '?'}: "
            f"{escape(evaluation.why)} (failures in a row: {evaluation.failures}) -> {evaluation.action}")
    if evaluation.detail:
        line += f": {escape(evaluation.detail)}"
    out.print(line, soft_wrap=True)

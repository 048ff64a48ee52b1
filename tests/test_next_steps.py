"""Every next step a report suggests names only commands and options that exist (issue 38: the
gate asked to "widen --window", an option `gate` does not have)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer

from volctl.cli.app import app

pytestmark = pytest.mark.unit


def _command(words: list[str]) -> tuple[Any, list[str]]:
    """The CLI command the words name, and the words after it (typer's click is its own: duck-typed)."""
    command = typer.main.get_command(app)
    while words and _is_group(command):
        found = command.get_command(type(command).context_class(command), words[0])
        if found is None:
            break
        command, words = found, words[1:]
    return command, words


def _is_group(command: Any) -> bool:
    return hasattr(command, "get_command")


def _options(command: Any) -> set[str]:
    return {name for param in command.params for name in param.opts if name.startswith("--")}


def unknown_in(text: str, default: list[str]) -> list[str]:
    """What `text` suggests that the CLI lacks: every `volctl ...` in backticks must name a command
    and its options; a bare --option belongs to the `default` command (the one that printed it)."""
    problems = []
    for quoted in re.findall(r"`volctl ([^`]+)`", text):
        command, rest = _command(quoted.split())
        if _is_group(command):
            problems.append(f"`volctl {quoted}`: no such command")
        problems += [f"`volctl {quoted}`: no {o}" for o in re.findall(r"--[a-z][a-z-]*", " ".join(rest))
                     if o not in _options(command)]
    bare = re.sub(r"`[^`]*`", "", text)
    command, _ = _command(default)
    problems += [f"{' '.join(default)}: no {o}" for o in re.findall(r"(?<![\w-])--[a-z][a-z-]*", bare)
                 if o not in _options(command)]
    return problems


def test_the_check_finds_what_does_not_exist() -> None:
    assert unknown_in("widen --window", ["gate"]) == ["gate: no --window"]
    assert unknown_in("run `volctl quality --window 6h`", ["gate"]) == []
    assert unknown_in("run `volctl qualty`", ["gate"]) == ["`volctl qualty`: no such command"]


def test_every_next_step_of_the_gate_and_of_quality_exists() -> None:
    from volctl.core.model.quality import quality_report
    from volctl.core.operations.gate import INCONCLUSIVE, GateCheck, GateReport, classes, what_to_do

    texts = [(what_to_do(kind), ["gate"]) for kind in classes()]
    assert all(text for text, _ in texts), texts  # every class says what to do
    calm = GateReport("60s", "b", "t", [GateCheck("q", "quality", "m", "t", INCONCLUSIVE),
                                        GateCheck("d", "drift", "m", "t", INCONCLUSIVE)])
    texts.append((calm.answer, ["gate"]))
    texts += [(quality_report(__import__("pathlib").Path("/nonexistent"), "1h").next_step, ["quality"])]
    problems = [p for text, command in texts for p in unknown_in(text, command)]
    assert not problems, problems

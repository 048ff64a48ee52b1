"""The README's commands exist: every `volctl ...` it shows resolves to a real command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import SHARED_DATA
from volctl.cli.app import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> list[list[str]]:
    found = set()
    for line in re.findall(r"`(volctl [^`]+)`", README.read_text()):
        words = [w for w in line.split()[1:] if re.fullmatch(r"[a-z][a-z-]*", w)]
        found.add(tuple(words[:2]))
    return [list(c) for c in sorted(found)]


@pytest.mark.parametrize("words", _commands(), ids=lambda w: " ".join(w))
def test_readme_command_resolves(words: list[str]) -> None:
    runner = CliRunner()
    top = runner.invoke(app, [words[0], "--help"], env={"NO_COLOR": "1", "COLUMNS": "120"})
    assert top.exit_code == 0, f"`volctl {words[0]}` from the README is not a command"
    if "Commands" in top.output:  # a group: its sub-command must exist too (unless it runs alone)
        import typer

        group = typer.main.get_command(app).get_command(None, words[0])  # type: ignore[attr-defined]
        if len(words) == 1 and group.invoke_without_command:
            return
        assert len(words) > 1, f"`volctl {words[0]}` needs a sub-command"
        sub = runner.invoke(app, [*words[:2], "--help"], env={"NO_COLOR": "1"})
        assert sub.exit_code == 0, f"`volctl {' '.join(words[:2])}` from the README is not a command"


def test_readme_quick_start_is_two_commands() -> None:
    quick = README.read_text().split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert [line for line in quick.strip().splitlines()] == ["make demo", "make test"]


def _full_command_lines() -> list[str]:
    """Whole command lines: the README's sh blocks and the Makefile's volctl calls (make demo)."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        lines += [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("volctl ")]
    for data in ("", str(SHARED_DATA)):  # the demo without and with recordings
        lines += _demo_lines(data)
    return lines


def _demo_lines(data: str) -> list[str]:
    """The demo's volctl calls as make expands them (`make -n`: printed, not run)."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        return []
    dry = subprocess.run(["make", "-n", "--no-print-directory", "demo", f"DATA={data}"], cwd=README.parent,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    return sorted({"volctl " + m.split(";")[0].strip() for m in re.findall(r"\.venv/bin/volctl ([^\n]+)", dry.stdout)})


@pytest.mark.parametrize("line", _full_command_lines())
def test_documented_command_lines_parse_with_every_option(line: str) -> None:
    import shlex

    assert _check_command(shlex.split(line)[1:]) is None, line


def _check_command(argv: list[str]) -> str | None:
    """The CLI's own command check against the real root command."""
    import typer

    from volctl.cli.app import app
    from volctl.cli.runbook import command_problem

    return command_problem(argv, typer.main.get_command(app))

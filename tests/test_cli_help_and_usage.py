"""What the operator reads: help without misleading metavars, usage errors that say
what is expected, and a --watch that prints frames when stdout is not a terminal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import ports_env
from volctl.cli.app import app

ENV = {"NO_COLOR": "1", "COLUMNS": "100"}


def test_flags_show_no_bool_metavar() -> None:
    for command in (["health", "--help"], ["lag", "--help"], ["slo", "check", "--help"], ["rollback", "--help"]):
        result = CliRunner().invoke(app, command, env=ENV)
        lines = [line for line in result.output.splitlines() if "--json" in line or "--watch" in line
                 or "--dry-run" in line]
        assert lines and not any("<bool>" in line for line in lines), result.output


def test_a_bad_ramp_says_what_it_expects() -> None:
    result = CliRunner().invoke(app, ["load", "--ramp", "10:x", "--duration", "1s"], env=ENV)
    assert result.exit_code == 2 and "FROM:TO:DURATION" in " ".join(result.output.split())
    assert "unpack" not in result.output


def _ctrl_c_interrupts() -> None:
    """A suite run in the background of a script (`make test &`) ignores SIGINT, and so would the
    watch it starts: Python only turns SIGINT into KeyboardInterrupt when it was not ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_health_watch_prints_frames_off_a_terminal(tmp_path: Path) -> None:
    env = {**os.environ, **ENV, "VOLCTL_STATE_DIR": str(tmp_path), **ports_env()}
    watch = subprocess.Popen([str(Path(sys.executable).parent / "volctl"), "health", "--watch", "--interval", "0.5"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=_ctrl_c_interrupts)
    seen = []  # frames as they come: Ctrl-C after the second, however slow a busy machine starts it
    while sum("predict /health" in line for line in seen) < 2:
        line = watch.stdout.readline()  # type: ignore[union-attr]
        assert line, (seen, watch.wait(5), watch.stderr.read())  # type: ignore[union-attr]
        seen.append(line)
    watch.send_signal(signal.SIGINT)
    _stdout, stderr = watch.communicate(timeout=60)
    assert watch.returncode == 0, stderr
    assert "".join(seen).count("predict /health") >= 2  # one plain frame per interval, not nothing


def test_every_command_teaches_by_examples_that_parse_and_states_its_exit_codes() -> None:
    """Each command's --help ends with two or three examples and its exit codes (volctl/cli/usage.py),
    and every example is a real command line: parsed by the app's own commands, as `runbook check`
    parses a runbook's steps."""
    import shlex

    import typer

    from volctl.cli.runbook import command_problem
    from volctl.cli.usage import USAGE

    root = typer.main.get_command(app)
    commands: list[str] = []

    def walk(command: object, path: list[str]) -> None:
        subs = getattr(command, "commands", None)
        if subs is None or getattr(command, "invoke_without_command", False):
            commands.append(" ".join(path))
        for name, sub in (subs or {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    assert sorted(commands) == sorted(USAGE), "every command has its entry in volctl/cli/usage.py, no more"
    for path, (examples, exits) in USAGE.items():
        assert 2 <= len(examples) <= 3 and exits.startswith("0 "), path
        for example in examples:
            assert len(example) <= 74, f"{example!r} does not fit an 80-column help on one line"
            words = shlex.split(example)
            assert words[:1 + path.count(" ") + 1] == ["volctl", *path.split()], example
            assert command_problem(words[1:], root) is None, (example, command_problem(words[1:], root))
        shown = CliRunner().invoke(app, [*path.split(), "--help"], env={"NO_COLOR": "1", "COLUMNS": "80"})
        assert "Examples" in shown.output and "Exit codes" in shown.output and examples[0] in shown.output, path
        assert "<path>" not in shown.output, path  # one placeholder style: FILE, DIR or PATH (either)

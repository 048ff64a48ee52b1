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

"""How a service ended is written down (issue 38: `status` showed "consume down, pid -" with no
exit code, signal or time of death): each service keeps a reaper as its parent."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from volctl.clients.processes import Supervisor

pytestmark = pytest.mark.integration


def _until_ended(supervisor: Supervisor, name: str) -> dict:
    deadline = time.monotonic() + 10
    while (ended := supervisor.ended(name)) is None:
        assert time.monotonic() < deadline, f"{name} has no exit record"
        time.sleep(0.05)
    return ended


def test_the_recorded_pid_is_the_service_and_its_end_is_written_down(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path)
    record = supervisor.start("sleeper", ["sleep", "60"])
    assert record.alive() and Path(f"/proc/{record.pid}/cmdline").read_bytes().startswith(b"sleep")
    assert supervisor.ended("sleeper") is None
    os.kill(record.pid, signal.SIGKILL)  # what an operator's kill -9 does to the recorded pid
    ended = _until_ended(supervisor, "sleeper")
    assert ended["pid"] == record.pid and ended["signal"] == "SIGKILL" and ended["how"] == "killed by SIGKILL"
    assert abs(ended["at"] - time.time()) < 10
    assert "ended (pid" in supervisor.log_path("sleeper").read_text().splitlines()[-1]
    assert supervisor.exited_early(record) == -signal.SIGKILL

    failing = supervisor.start("failing", ["sh", "-c", "echo bad config >&2; exit 3"])
    assert _until_ended(supervisor, "failing")["how"] == "exit 3"
    assert supervisor.exited_early(failing) == 3
    assert "bad config" in supervisor.log_path("failing").read_text()

    supervisor.start("stopped", ["sleep", "60"])
    assert supervisor.stop("stopped", 5).how == "stopped"
    assert _until_ended(supervisor, "stopped")["how"] == "killed by SIGTERM"  # its stop signal

    missing = supervisor.start("missing", ["no-such-program-here"])
    assert _until_ended(supervisor, "missing")["how"] == "exit 127" and missing.pid > 0
    assert "cannot start no-such-program-here" in supervisor.log_path("missing").read_text()

"""Detached processes with pid files and logs in the state directory.

A pid file is JSON (pid, argv, port, start time, and the kernel's start time of the process). A
process counts as running only while its pid is alive, not a zombie, still runs the recorded
program and started when recorded: a stale pid reused by something else (even another python3)
is never signalled. A process with a port gets its pid file only once it listens (`track`);
one that never does is stopped (`abandon`), so no untracked process keeps a port. `exclusive`
serialises whole operations (`up`, `down`) on one state directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from volctl.domain.errors import Unreachable

REAPER = Path(__file__).with_name("reaper.py")  # run as a script: it imports nothing of volctl


@dataclass
class ProcessRecord:
    name: str
    pid: int
    argv: list[str]
    started_at: float
    port: int | None = None
    kernel_start: int | None = None  # /proc/<pid>/stat's starttime (clock ticks after boot): a pid's identity
    stop_signal: str = "SIGTERM"  # what asks it to stop (SIGKILL follows after the stop's timeout)

    def alive(self) -> bool:
        return is_running(self.pid, self.argv[0], self.kernel_start)

    @property
    def uptime_s(self) -> float:
        return time.time() - self.started_at


@dataclass
class StopOutcome:
    name: str
    pid: int | None
    how: str  # "stopped" (exited on its stop signal), "killed" (needed SIGKILL), "not running"
    seconds: float = 0.0


class Supervisor:
    def __init__(self, state_dir: Path) -> None:
        self.run_dir = state_dir / "run"
        self.log_dir = state_dir / "logs"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def exit_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.exit"

    def log_tail(self, name: str, count: int, service_only: bool = False) -> list[str]:
        """The log's last `count` lines ([] without a log); `service_only`: without the lines the
        supervisor and the reaper write ("--- ... start", "--- ... ended")."""
        try:
            lines = self.log_path(name).read_text(errors="replace").strip().splitlines()
        except OSError:
            return []
        return [line for line in lines if not (service_only and line.startswith("--- "))][-count:]

    def ended(self, name: str) -> dict[str, object] | None:
        """How the last process of this name ended (its reaper's record), or None (running, never
        started here, or started before reapers)."""
        try:
            found = json.loads(self.exit_path(name).read_text())
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def record(self, name: str) -> ProcessRecord | None:
        """The running process of this name, or None (a stale pid file is removed)."""
        path = self.pid_file(name)
        try:
            record = ProcessRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if record.alive():
            return record
        path.unlink(missing_ok=True)
        return None

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              port: int | None = None, stop_signal: signal.Signals = signal.SIGTERM) -> ProcessRecord:
        """Start `argv` detached from this terminal, appending its output to the log."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.exit_path(name).unlink(missing_ok=True)
        read_pid, write_pid = os.pipe()
        with self.log_path(name).open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} start {' '.join(argv)}\n".encode())
            log.flush()
            try:  # the reaper stays the service's parent: how it ends is written down (`status`)
                subprocess.Popen([sys.executable, str(REAPER), str(self.exit_path(name)), str(write_pid), "--",
                                  *argv], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {}),
                                      "VOLCTL_LOG_FILE": str(self.log_path(name))},  # services rotate it
                                 start_new_session=True, pass_fds=(write_pid,))
            finally:
                os.close(write_pid)
        with os.fdopen(read_pid, "rb") as answer:
            pid = int(answer.read() or b"0")  # the service's pid: the reaper writes it, then closes
        if not pid:
            raise Unreachable(f"could not start {name}: {' | '.join(self.log_tail(name, 3)) or 'no log'}")
        record = ProcessRecord(name, pid, argv, time.time(), port, kernel_start(pid), stop_signal.name)
        if port is None:  # nothing to wait for: tracked at once
            self.track(record)
        return record

    def track(self, record: ProcessRecord) -> None:
        """Write the pid file: call it once a process with a port is ready."""
        self.pid_file(record.name).write_text(json.dumps(asdict(record)))

    def abandon(self, record: ProcessRecord, timeout_s: float = 5.0) -> None:
        """Stop a process started here that never became ready (it has no pid file to find it by)."""
        _terminate(record, timeout_s)
        self.pid_file(record.name).unlink(missing_ok=True)

    @contextlib.contextmanager
    def exclusive(self, action: str, wait_s: float = 120.0,
                  on_wait: Callable[[str], None] = lambda _m: None) -> Iterator[None]:
        """Hold the state directory's lock for `action`; a second caller waits (saying for whom)
        up to `wait_s`, then gives up naming the holder."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "stack.lock"
        with path.open("a+") as handle:
            deadline = time.monotonic() + wait_s
            told = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = _holder(path)
                    if time.monotonic() > deadline:
                        raise Unreachable(f"{self.run_dir.parent} is busy: {holder}",
                                          hint="wait for it to finish, or stop that process") from None
                    if not told:
                        on_wait(f"waiting for {holder} to finish")
                        told = True
                    time.sleep(0.2)
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps({"pid": os.getpid(), "action": action, "since": time.time()}))
                handle.flush()
                yield
            finally:
                handle.seek(0)
                handle.truncate()
                fcntl.flock(handle, fcntl.LOCK_UN)

    def exited_early(self, record: ProcessRecord) -> int | None:
        """The exit code if the process has already died (negative: the signal), else None."""
        if record.alive():
            return None
        deadline = time.monotonic() + 2.0  # its reaper writes the record as the service ends
        while (ended := self.ended(record.name)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return -1 if ended is None else int(ended["code"])  # type: ignore[call-overload]

    def stop(self, name: str, timeout_s: float = 10.0) -> StopOutcome:
        """Its stop signal (SIGTERM), wait up to `timeout_s`, then SIGKILL."""
        record = self.record(name)
        if record is None:
            return StopOutcome(name, None, "not running")
        started = time.monotonic()
        how = _terminate(record, timeout_s)
        self.pid_file(name).unlink(missing_ok=True)
        return StopOutcome(name, record.pid, how, time.monotonic() - started)


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces): field 3 (state) onwards."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def kernel_start(pid: int) -> int | None:
    """When the kernel started `pid` (clock ticks after boot), or None without /proc."""
    try:
        return int(_stat_fields(pid)[19])
    except (OSError, IndexError, ValueError):
        return None


def is_running(pid: int, program: str, started: int | None = None) -> bool:
    """Alive, not a zombie, running `program` and, when `started` is known, the same process that
    started then (checked through /proc where it exists)."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc (macOS): the signal probe is all we have
    try:
        fields = _stat_fields(pid)
        state, start = fields[0], int(fields[19])
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError, ValueError):
        return False
    return (state != "Z" and bool(cmdline) and Path(os.fsdecode(cmdline[0])).name == Path(program).name
            and started in (None, start))


def _terminate(record: ProcessRecord, timeout_s: float) -> str:
    """Its stop signal (SIGTERM), wait up to `timeout_s`, then SIGKILL; "stopped" or "killed"."""
    started = time.monotonic()
    how = "stopped"
    _signal(record.pid, getattr(signal, record.stop_signal, signal.SIGTERM))
    while record.alive():
        if time.monotonic() - started > timeout_s:
            _signal(record.pid, signal.SIGKILL)
            how = "killed"
        time.sleep(0.05)
    return how


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _holder(lock: Path) -> str:
    try:
        holder = json.loads(lock.read_text())
        return (f"`volctl {holder['action']}` (pid {holder['pid']}, "
                f"{time.time() - holder['since']:.0f} s ago)")
    except (OSError, ValueError, KeyError, TypeError):
        return "another volctl"

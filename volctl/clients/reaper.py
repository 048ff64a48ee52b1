"""The parent a detached service keeps: `volctl up` exits, so without one nobody learns how a
service ended. Started by Supervisor.start as `python reaper.py EXIT_FILE PID_FD -- ARGV...`: it
forks, the child becomes the service (the pid the supervisor records and signals), and when it
ends the reaper writes how (exit code or signal) and when to EXIT_FILE and to the log.

Standard library only, run as a script (not through the volctl package): it costs a few
milliseconds and a few MB beside each service.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time


def signal_name(code: int) -> str | None:
    """The signal that ended it, from `os.waitstatus_to_exitcode`'s code (negative), else None."""
    if code >= 0:
        return None
    try:
        return signal.Signals(-code).name
    except ValueError:
        return None


def describe(code: int) -> str:
    """That code in words: "exit 0", "killed by SIGKILL"."""
    if code >= 0:
        return f"exit {code}"
    return f"killed by {signal_name(code) or f'signal {-code}'}"


def main(argv: list[str]) -> int:
    exit_file, pid_fd, command = argv[1], int(argv[2]), argv[4:]
    execed, on_exec = os.pipe()  # close-on-exec: EOF once the child runs the service (or died trying)
    child = os.fork()
    if child == 0:
        os.close(pid_fd)
        os.close(execed)
        # Started from a shell's background job, SIGINT and SIGQUIT arrive ignored, and an ignored
        # signal stays ignored across exec: a service stopped by SIGINT (the broker) waited to be killed.
        for sig in (signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            sys.stderr.write(f"cannot start {command[0]}: {exc}\n")
            os._exit(127)
    os.close(on_exec)
    os.read(execed, 1)  # the supervisor checks the pid's program: answer only once it is the service's
    os.close(execed)
    os.write(pid_fd, str(child).encode())
    os.close(pid_fd)

    def forward(number: int, _frame: object) -> None:  # a stop sent here is the service's
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, number)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    _, status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(status)
    ended = time.time()
    record = {"pid": child, "code": code, "exit_code": code if code >= 0 else None,
              "signal": signal_name(code),
              "how": describe(code), "at": ended}
    partial = exit_file + ".partial"
    with open(partial, "w") as handle:
        json.dump(record, handle)
    os.replace(partial, exit_file)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ended))
    sys.stdout.write(f"--- {stamp} ended (pid {child}): {record['how']}\n")
    sys.stdout.flush()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""How the services log: one line a record, caller text made visible, a file bounded in bytes, and a
burst of the same line summarised instead of written line by line.

10,000 unauthenticated admin calls wrote 10,000 lines (1 MB in 2.4 s) into a log that never rotated,
and a caller's reason holding ESC and a newline forged a line of its own. Here a record's message
has its control characters escaped (tracebacks, which are ours, keep their lines); the same message
again within SUMMARY_WINDOW_S is counted, not written, and said once as "… x N in the last 10 s";
with VOLCTL_LOG_FILE (set by `volctl up`) the log rotates by size, and the process's own stdout and
stderr follow the current file, so a stray print or a crash lands there too.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import signal
import sys
import threading
import time

from volctl.domain.text import visible

MAX_LOG_BYTES = 5_000_000
KEEP_LOGS = 3  # rotated files kept beside the current one: at most (1 + 3) x 5 MB a service
SUMMARY_WINDOW_S = 10.0
MAX_TRACKED = 1000  # distinct messages followed at once; memory is bounded whatever callers send
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class VisibleFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = visible(record.message)
        return super().formatMessage(record)


class RepeatSummary(logging.Filter):
    """Lets the first of a burst of identical messages through, counts the rest for
    SUMMARY_WINDOW_S, then says how many there were: when the next record passes, from a timer
    (`start`), or at exit. Summaries are written straight to the handler, never filtered again.
    (uvicorn re-raises SIGTERM after its shutdown, so atexit alone would lose the last burst.)"""

    def __init__(self, window_s: float = SUMMARY_WINDOW_S, clock=time.monotonic) -> None:
        super().__init__()
        self.window_s, self.clock = window_s, clock
        self.bursts: dict[tuple, list] = {}  # key -> [window start, suppressed count, a record]
        self.handler: logging.Handler | None = None
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        key = (record.name, record.levelno, record.getMessage())
        with self._lock:
            over = self._take_over(now)
            burst = self.bursts.get(key)
            if burst is not None:
                burst[1] += 1
            else:
                if len(self.bursts) >= MAX_TRACKED:
                    over += self._take_over(float("inf"))
                self.bursts[key] = [now, 0, record]
        self._say(over, now)
        return burst is None

    def flush_due(self) -> None:
        now = self.clock()
        with self._lock:
            over = self._take_over(now)
        self._say(over, now)

    def flush_all(self) -> None:
        with self._lock:
            over = self._take_over(float("inf"))
        self._say(over, self.clock())

    def start(self, every_s: float = 1.0) -> None:
        def run() -> None:
            while True:
                time.sleep(every_s)
                self.flush_due()

        threading.Thread(target=run, name="log-repeat-summary", daemon=True).start()

    def _take_over(self, now: float) -> list[list]:
        over = [burst for burst in self.bursts.values() if now - burst[0] >= self.window_s]
        for key in [key for key, burst in self.bursts.items() if now - burst[0] >= self.window_s]:
            del self.bursts[key]
        return over

    def _say(self, over: list[list], now: float) -> None:
        for started, count, record in over:
            if not count or self.handler is None:
                continue
            summary = logging.makeLogRecord({**record.__dict__, "args": None, "exc_info": None, "exc_text": None,
                                             "msg": f"{record.getMessage()} [x {count:,} more in the last "
                                                    f"{min(now - started, self.window_s):.0f} s]"})
            self.handler.acquire()
            try:
                self.handler.emit(summary)
            finally:
                self.handler.release()


class FollowingRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Rotates by size, and points this process's stdout and stderr at the current file."""

    def __init__(self, path: str) -> None:
        super().__init__(path, maxBytes=MAX_LOG_BYTES, backupCount=KEEP_LOGS, encoding="utf-8")
        self._follow()

    def doRollover(self) -> None:
        super().doRollover()
        self._follow()

    def _follow(self) -> None:
        if self.stream is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(self.stream.fileno(), 1)
            os.dup2(self.stream.fileno(), 2)


def configure_service_logging(level: int = logging.INFO) -> None:
    path = os.environ.get("VOLCTL_LOG_FILE")
    handler: logging.Handler = FollowingRotatingFileHandler(path) if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(VisibleFormatter(FORMAT))
    repeats = RepeatSummary()
    repeats.handler = handler
    handler.addFilter(repeats)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    repeats.start()
    atexit.register(repeats.flush_all)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and threading.current_thread() is threading.main_thread():
        # uvicorn hands SIGTERM back after its graceful shutdown: the last burst is said before exiting.
        def stop(signum: int, _frame: object) -> None:
            repeats.flush_all()
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, stop)

"""One load run dealt over several processes, when one event loop cannot keep the schedule.

Process k of n sends requests k, k + n, k + 2n ... at their intended times from one shared start,
so together they send the schedule one process would; their counts, histograms and timelines add
up to the run's. Processes are spawned (never forked from a CLI that may hold threads), wait until
every one is ready, then start together.
"""

from __future__ import annotations

import multiprocessing
import queue as queues
import time
from typing import Any

from volctl.core.operations.load_schedule import LoadProgress, LoadResult, Progress, run_until_done, send_on_schedule
from volctl.domain.errors import Unreachable

READY_TIMEOUT_S = 30.0
START_MARGIN_S = 0.05  # the start is set this far ahead, so every process is waiting for it


def spread(url: str, bodies: list[bytes] | None, times: list[float], count: int, progress: Progress | None,
           timeout_s: float) -> LoadResult:
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    go, start = context.Event(), context.Value("d", 0.0)
    workers = [context.Process(target=_worker, daemon=True, name=f"volctl-load-{index}",
                               args=(index, url, bodies, times[index::count], timeout_s, go, start, messages))
               for index in range(count)]
    for worker in workers:
        worker.start()
    try:
        _wait(messages, workers, "ready", READY_TIMEOUT_S)
        start.value = time.perf_counter() + START_MARGIN_S
        go.set()
        return _collect(messages, workers, url, progress, timeout_s + (times[-1] if times else 0) + READY_TIMEOUT_S)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join(5)


def _wait(messages: Any, workers: list, kind: str, timeout_s: float) -> None:
    waiting = set(range(len(workers)))
    deadline = time.monotonic() + timeout_s
    while waiting:
        got, index, _ = _next(messages, workers, deadline)
        if got == kind:
            waiting.discard(index)


def _collect(messages: Any, workers: list, url: str, progress: Progress | None, timeout_s: float) -> LoadResult:
    merged = LoadResult(url, 0.0, 0.0)
    latest: dict[int, LoadProgress] = {}
    done: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while len(done) < len(workers):
        kind, index, payload = _next(messages, workers, deadline, done)
        if kind == "progress" and progress is not None:
            latest[index] = payload
            progress(LoadProgress(max(p.elapsed_s for p in latest.values()), sum(p.sent for p in latest.values()),
                                  sum(p.ok for p in latest.values()), sum(p.errors for p in latest.values()),
                                  max((p.p95_s for p in latest.values() if p.p95_s is not None), default=None)))
        elif kind == "unreachable":
            message, hint = payload
            raise Unreachable(message, hint=hint)
        elif kind == "done":
            merged.merge(payload)
            done.add(index)
    return merged


def _next(messages: Any, workers: list, deadline: float, done: set[int] = frozenset()) -> tuple[str, int, Any]:
    """The next message; a process that died without a word, or a silent deadline, is an error."""
    while True:
        try:
            kind, index, payload = messages.get(timeout=0.5)
        except queues.Empty:
            dead = [w for i, w in enumerate(workers) if i not in done and w.exitcode is not None]
            if dead:
                raise RuntimeError(f"load process {dead[0].name} exited with {dead[0].exitcode} before its "
                                   "share of the run was done") from None
            if time.monotonic() > deadline:
                raise RuntimeError("the load processes did not finish in time") from None
            continue
        if kind == "failed":
            raise RuntimeError(f"load process {index} failed: {payload}")
        return kind, index, payload


def _worker(index: int, url: str, bodies: list[bytes] | None, times: list[float], timeout_s: float, go: Any,
            start: Any, messages: Any) -> None:
    import aiohttp  # noqa: F401  (imported before saying ready: the start must not wait on it)

    result = LoadResult(url, 0.0, 0.0)
    messages.put(("ready", index, None))
    go.wait()
    try:
        report = lambda p: messages.put(("progress", index, p))  # noqa: E731
        run_until_done(send_on_schedule(url, bodies, times, report, timeout_s, result, None, start=start.value))
    except Unreachable as exc:
        messages.put(("unreachable", index, (str(exc), exc.hint)))
        return
    except Exception as exc:  # said to the parent, which raises it: never a silent share of the run
        messages.put(("failed", index, f"{type(exc).__name__}: {exc}"))
        return
    messages.put(("done", index, result))

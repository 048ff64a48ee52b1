"""`volctl ingest`: publish ticks to the raw topic from a recording, the synthetic source or the live feed."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from volctl.cli.options import JsonOption, settings_of
from volctl.domain.documents import as_plain
from volctl.domain.errors import EXIT_CANNOT_CHECK, EXIT_INTERRUPTED
from volctl.render import console


def ingest(
    ctx: typer.Context,
    replay: Annotated[Path | None, typer.Option(
        "--replay", help="Recording file or folder to publish (ndjson, csv, parquet, .gz).", metavar="PATH")] = None,
    synthetic: Annotated[bool, typer.Option("--synthetic", help="Publish the seeded synthetic source.",
            metavar="")] = False,
    live: Annotated[bool, typer.Option("--live", help="Publish the Coinbase Advanced Trade ticker feed.",
            metavar="")] = False,
    record: Annotated[Path | None, typer.Option(
        "--record", help="With --live: also append every ticker frame to this file (replayable, trainable).",
                metavar="FILE")] = None,
    speed: Annotated[float, typer.Option(
        min=0, help="Replay pace: 1 = real time, 10 = ten times faster, 0 = as fast as possible.")] = 1.0,
    loop: Annotated[bool, typer.Option("--loop", help="Start the replay again after its last tick.",
            metavar="")] = False,
    rate: Annotated[float | None, typer.Option(
        min=0.01, help="With --synthetic: exactly this many ticks a second (default: its own ~8/s).")] = None,
    event_time: Annotated[str, typer.Option(
        help="original: keep each tick's time; now: stamp the send time (keeps the recorded one as "
        "recorded_time). Default: original, except now for --synthetic.")] = "",
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many ticks.")] = None,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Stop after this many seconds.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic source.")] = 7,
    outage: Annotated[float, typer.Option(
        min=1.0, help="Seconds the broker may be away (or refuse every send) before giving up; meanwhile "
        "sending pauses and what was refused is sent again.")] = 30.0,
    as_json: JsonOption = False,
) -> None:
    """Publish ticks to ticks.raw, keyed by product. Ctrl-C or SIGTERM stops cleanly with a summary."""
    from volctl.clients import built
    from volctl.clients.kafka import BROKER_GONE_HINT
    from volctl.core.operations import ingest as core
    from volctl.core.operations.sources import open_source
    from volctl.render.ingest import ingest_progress, ingest_summary

    if [bool(replay), synthetic, live].count(True) != 1:
        raise typer.BadParameter("choose exactly one source: --replay FILE, --synthetic or --live")
    if record and not live:
        raise typer.BadParameter("--record works with --live (replay files are already recordings)")
    event_time = event_time or ("now" if synthetic else "original")
    if event_time not in core.EVENT_TIMES:
        raise typer.BadParameter(f"--event-time must be one of {', '.join(core.EVENT_TIMES)}")
    settings = settings_of(ctx)
    source = open_source(settings, replay, synthetic, live, record, speed, loop, rate, seed)
    limits = core.Limits(limit, duration)
    interrupted = _stop_on_signals(limits.stop)
    publisher = built.publisher(settings, outage_s=outage)
    try:
        with ingest_progress(f"→ {settings.kafka.topic_raw}", enabled=not as_json) as progress:
            summary = source.publish(publisher, settings.kafka.topic_raw, event_time, limits, progress, console.note)
    finally:
        publisher.close()
    if as_json:
        console.emit_json({**as_plain(summary), "rate": summary.rate})
    else:
        ingest_summary(summary)
    if interrupted.is_set():
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.problem:
        console.error(summary.problem, BROKER_GONE_HINT)
        raise typer.Exit(EXIT_CANNOT_CHECK)
    if summary.failed:
        console.error(f"{summary.failed} ticks were not delivered: {publisher.last_error}",
                      "check the broker with `volctl health`, then replay again")
        raise typer.Exit(EXIT_CANNOT_CHECK)


def _stop_on_signals(stop: threading.Event) -> threading.Event:
    """SIGTERM asks for a clean stop (exit 0); Ctrl-C too, but exits 130 after the summary."""
    interrupted = threading.Event()

    def on_term(*_: object) -> None:
        stop.set()

    def on_int(*_: object) -> None:
        interrupted.set()
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_int)
    return interrupted

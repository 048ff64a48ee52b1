"""`volctl topics`, `volctl tail` and `volctl lag`: the broker as an operator needs to see it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from volctl.cli.options import JsonOption, WideOption, finish, settings_of, wide_tables
from volctl.render import console

if TYPE_CHECKING:
    from volctl.core.operations.lag import GroupLag, LagInputs


def topics(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Topics with partitions, high watermarks and message counts (embedded broker or your cluster)."""
    from volctl.clients.built import kafka_reader
    from volctl.clients.kafka import bootstrap_of
    from volctl.core.operations.topics import describe_topics
    from volctl.render.kafka import topics_table

    settings = settings_of(ctx)
    bootstrap = bootstrap_of(settings.kafka)
    reader = kafka_reader(settings)
    try:
        found = describe_topics(reader)
    finally:
        reader.close()
    if as_json:
        console.emit_json([{"name": t.name, "messages": t.messages, "partitions": t.partitions} for t in found])
    else:
        topics_table(found, bootstrap)


def tail(
    ctx: typer.Context,
    topic: Annotated[str, typer.Argument(help="Topic, e.g. ticks.raw, ticks.predictions, ticks.dlq.")],
    count: Annotated[int, typer.Option("-n", min=1, help="How many messages.")] = 10,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Then print new messages (Ctrl-C stops).",
            metavar="")] = False,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="The first messages, not the newest."
                                                 , metavar="")] = False,
    compact: Annotated[bool, typer.Option("--compact", "-c", help="One line a message (as kcat prints), "
                                          "the value as compact JSON.", metavar="")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document (JSON lines with --follow).",
            metavar="")] = False,
) -> None:
    """The newest messages of a topic, in time order: partition, offset, timestamp, key, value."""
    from volctl.clients.built import kafka_reader
    from volctl.core.operations.topics import tail as core_tail
    from volctl.render.kafka import tailed_message

    reader = kafka_reader(settings_of(ctx))
    try:
        messages = core_tail(reader, topic, count, from_beginning, follow)
        if as_json and not follow:
            console.emit_json(list(messages))
            return
        for message in messages:
            if as_json:
                console.emit_json_line(message)
            else:
                tailed_message(message, compact)
    except KeyboardInterrupt:
        return
    finally:
        reader.close()


def lag(
    ctx: typer.Context,
    group: Annotated[str | None, typer.Option(help="Consumer group (default kafka.group).")] = None,
    topic: Annotated[str | None, typer.Option(help="Topic the group reads (default kafka.topic_raw).")] = None,
    window: Annotated[float, typer.Option(min=1.0, help="Seconds of observations to judge.")] = 5.0,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between observations.")] = 1.0,
    stop_threshold: Annotated[float, typer.Option(min=1.0, help="Judge STOP when the group has not committed "
                                                  "for this many seconds while it has lag.")] = 30.0,
    watch: Annotated[bool, typer.Option("--watch", help="Keep observing and refreshing (Ctrl-C stops).",
            metavar="")] = False,
    watch_for: Annotated[float | None, typer.Option("--for", min=1.0, help="With --watch: stop after this "
                                                    "many seconds.")] = None,
    as_json: JsonOption = False,
    wide: WideOption = False,
) -> None:
    """Per-partition offsets and lag, freshness, time lag and time to drain, with a Burrow-style status.
    """
    wide_tables(wide)
    from volctl.cli.wiring import lag_inputs
    from volctl.core.operations.lag import measure_lag
    from volctl.render.kafka import lag_report

    settings = settings_of(ctx)
    inputs = lag_inputs(settings, group, topic)
    try:
        if watch:
            result = _watch(inputs, window, interval, stop_threshold, watch_for)
        else:
            result = measure_lag(inputs, window, interval, stop_threshold)
    finally:
        inputs.reader.close()
    finish(result, as_json, (lambda _r: None) if watch else lag_report)  # a watch showed it already


def _watch(inputs: LagInputs, window: float, interval: float, stop_threshold: float,
           watch_for: float | None) -> GroupLag:
    """Refresh the view after every observation until Ctrl-C or --for; returns the last judgement."""
    from volctl.core.operations.lag import watch_lag
    from volctl.render.kafka import lag_view
    from volctl.render.live import show_live

    judgements = watch_lag(inputs, window, interval, stop_threshold, watch_for)
    last = [next(judgements)]  # one observation, no rates yet: kept for an early Ctrl-C, not shown

    def frames() -> Iterator[Any]:
        for result in judgements:
            last[0] = result
            yield lag_view(result)

    show_live(frames())
    return last[0]

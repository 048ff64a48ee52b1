"""Tables for `volctl topics`, `volctl tail` and `volctl lag`."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

from volctl.core.operations.lag import GroupLag
from volctl.core.operations.topics import TailedMessage, TopicInfo
from volctl.domain.clock import utc_iso
from volctl.render.console import fit, out

STATUS_COLOUR = {"OK": "green", "WARN": "yellow", "ERR": "red", "STALL": "red", "STOP": "bold red",
                 "UNKNOWN": "magenta"}


def topics_table(topics: list[TopicInfo], bootstrap: str) -> None:
    table = Table(title=f"topics on {bootstrap}", title_justify="left")
    for column in ("topic", "partitions", "high watermarks", "messages"):
        table.add_column(column, justify="right" if column in ("partitions", "messages") else "left",
                         overflow="fold" if column == "high watermarks" else "ellipsis")
    for topic in topics:
        table.add_row(topic.name, str(len(topic.partitions)),
                      " ".join(f"{p.partition}:{p.high_watermark}" for p in topic.partitions), f"{topic.messages:,}")
    out.print(fit(table, out))


def tailed_message(message: TailedMessage, compact: bool = False) -> None:
    when = utc_iso(message.timestamp, "milliseconds")
    head = f"[bold]p{message.partition}@{message.offset}[/] {when} key={escape(str(message.key))}"
    # ensure_ascii: a control character inside a JSON string is written as its escape, never raw
    if isinstance(message.value, str):
        body = message.value
    else:
        body = json.dumps(message.value, separators=(",", ":")) if compact else json.dumps(message.value, indent=2)
    if compact:  # the terminal wraps it, nothing is cut
        out.print(f"{head} {escape(body)}", soft_wrap=True)
    else:
        out.print(head)
        out.print(escape(body), soft_wrap=True)


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _count(value: int | None) -> str:
    return "unknown" if value is None else str(value)


def lag_table(lag: GroupLag) -> RenderableType:
    table = Table(title=f"group {lag.group} on {lag.topic} ({lag.observations} observations over "
                        f"{lag.window_s:.0f} s)", title_justify="left")
    for column in ("part", "owner", "committed", "high", "lag", "in/s", "out/s", "time lag", "status", "why"):
        table.add_column(column, justify="left" if column in ("owner", "status", "why") else "right",
                         overflow="fold" if column in ("owner", "why") else "ellipsis")
    for p in lag.partitions:
        colour = STATUS_COLOUR[p.status]
        table.add_row(str(p.partition), p.owner or "-", "-" if p.committed is None else str(p.committed),
                      _count(p.high_watermark), _count(p.offset_lag), f"{p.production_rate:.1f}",
                      f"{p.consumption_rate:.1f}", _seconds(p.time_lag_s), f"[{colour}]{p.status}[/]", escape(p.why))
    # What a narrow terminal leaves out first: the rates, then the offsets (the lag and its verdict stay).
    return fit(table, out, optional={"in/s": 110, "out/s": 110, "committed": 96, "high": 96})


def lag_summary(lag: GroupLag) -> str:
    colour = STATUS_COLOUR[lag.status]
    return (f"[{colour}]{lag.outcome.value}: {lag.status}[/]  offset lag {_count(lag.offset_lag)}  "
            f"freshness {_seconds(lag.freshness_s)}  "
            f"time lag {_seconds(lag.time_lag_s)}  time to drain "
            f"{_drain(lag)}  last commit "
            f"{_seconds(lag.last_commit_age_s)} ago"
            + (f"\n[red]stream stalled[/]: {escape(lag.stream_problem)}" if lag.stream_problem else ""))


def _drain(lag: GroupLag) -> str:
    if lag.drain_s is not None:
        return _seconds(lag.drain_s)
    return "unknown" if lag.offset_lag is None else "never (not consuming)"


def lag_view(lag: GroupLag) -> Group:
    return Group(lag_table(lag), lag_summary(lag))


def lag_report(lag: GroupLag) -> None:
    out.print(lag_table(lag))
    out.print(lag_summary(lag))

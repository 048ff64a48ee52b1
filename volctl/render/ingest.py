"""Progress and summary of `volctl ingest`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from volctl.render.console import err, fit, out

if TYPE_CHECKING:
    from volctl.core.operations.ingest import IngestSummary


@contextmanager
def ingest_progress(description: str, enabled: bool = True) -> Iterator:
    """Yields a `(done, total)` callback drawing a bar on stderr (a counter when total is unknown)."""
    if not enabled:
        yield lambda _done, _total: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done if total is None else min(done, total), total=total)

        yield update


def ingest_summary(summary: IngestSummary) -> None:
    table = Table(title=f"Ingest from {summary.source} into {summary.topic}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("sent (acknowledged)", f"{summary.sent:,}")
    if summary.failed:
        table.add_row("[red]not delivered[/]", f"[red]{summary.failed:,}[/]")
    if summary.resent:
        table.add_row("resent", f"{summary.resent:,} (refused by a restarting broker, then sent again)")
    skipped = ", ".join(f"{reason} {count}" for reason, count in sorted(summary.bad.items()))
    table.add_row("skipped bad lines", f"{summary.skipped:,}" + (f" ({skipped})" if skipped else ""))
    table.add_row("rate", f"{summary.rate:,.0f} ticks/s over {summary.seconds:.1f} s")
    table.add_row("products", ", ".join(f"{p} {n:,}" for p, n in sorted(summary.products.items())) or "-")
    table.add_row("event time", f"{summary.first_event or '-'} → {summary.last_event or '-'}"
                  + (" (stamped now)" if summary.recorded_span else ""))
    if summary.recorded_span:
        table.add_row("recorded time", " → ".join(summary.recorded_span))
    if summary.passes > 1:
        table.add_row("passes", str(summary.passes))
    if summary.record_path:
        table.add_row("recorded frames", f"{summary.recorded:,} → {summary.record_path}")
    if summary.stopped_early:
        table.add_row("stopped", "before the end of the source (limit or signal)")
    out.print(fit(table, out))

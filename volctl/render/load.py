"""Progress and report of `volctl load`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.live import Live
from rich.markup import escape
from rich.table import Table

from volctl.render.console import err, fit, out

if TYPE_CHECKING:
    from volctl.core.operations.load import LoadReport
    from volctl.core.operations.load_schedule import LoadProgress


@contextmanager
def load_progress(enabled: bool = True) -> Iterator:
    if not enabled:
        yield None
        return
    with Live(console=err, auto_refresh=False, transient=True) as live:
        def update(p: LoadProgress) -> None:
            p95 = "-" if p.p95_s is None else f"{p.p95_s * 1000:.1f} ms"
            live.update(f"{p.elapsed_s:5.1f} s  sent {p.sent:,}  ok {p.ok:,}  errors {p.errors:,}  p95 {p95}",
                        refresh=True)

        yield update


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def load_report(report: LoadReport) -> None:
    doc = report.as_document()
    head = Table(title=f"volctl load → {doc['url']}", title_justify="left", show_header=False)
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    spread = f", from {doc['processes']} processes" if doc["processes"] > 1 else ""
    head.add_row("rate", f"asked {doc['asked_rps']:.1f}/s, achieved {doc['achieved_rps']:.1f}/s "
                 f"over {doc['seconds']:g} s{spread}")
    head.add_row("sent / ok", f"{doc['sent']:,} / {doc['ok']:,}")
    head.add_row("errors", ", ".join(f"{k} {v}" for k, v in doc["errors"].items()) or "none")
    head.add_row("late sends", f"{doc['late_sends']:,} (max {doc['max_late_ms']:.1f} ms late)")
    head.add_row("payload", doc["payload"])
    generator = next(o for o in report.objectives if o.name == "generator kept up")
    head.add_row("[red]generator[/]" if not generator.passed else "generator",
                 f"[red]{escape(generator.measured)}[/]" if not generator.passed else escape(generator.measured))
    out.print(fit(head, out))
    latency = Table(title="latency (ms): corrected = from the intended send time", title_justify="left")
    latency.add_column("")
    for name in (*doc["latency_ms"]["corrected"], "server p95"):
        latency.add_column(name, justify="right")
    for kind in ("corrected", "uncorrected"):
        values = [_ms(v) for v in doc["latency_ms"][kind].values()]
        server = doc["server_p95_ms"]
        latency.add_row(kind, *values, ("unknown" if server is None else _ms(server)) if kind == "corrected" else "")
    out.print(fit(latency, out))
    if doc["baseline"]:
        base = Table(title="against the baseline run (95 % bootstrap interval)", title_justify="left")
        for column in ("", "difference ms", "interval", "verdict"):
            base.add_column(column)
        for name, row in doc["baseline"].items():
            base.add_row(name, f"{row['difference_ms']:+.2f}", f"[{row['ci_low_ms']:+.2f}, {row['ci_high_ms']:+.2f}]",
                         str(row["verdict"]))
        out.print(fit(base, out))
    if report.unreached_text:  # nothing to judge: the objectives below are not a verdict
        out.print(f"[bold red]error: could not measure: {escape(report.unreached_text)}[/]", soft_wrap=True)
        return
    for check, passed in doc["checks"].items():
        out.print(f"{'[green]pass[/]' if passed else '[bold red]FAIL[/]'}  {check}")

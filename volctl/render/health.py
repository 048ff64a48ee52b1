"""The health table."""

from __future__ import annotations

from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from volctl.core.operations.health import HealthReport
from volctl.render.console import fit, out


def checks_table(report: HealthReport) -> RenderableType:
    table = Table(title="volctl health", title_justify="left")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("latency", justify="right")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        verdict = "[green]pass[/]" if check.ok else "[red]FAIL[/]"
        latency = "-" if check.latency_ms is None else f"{check.latency_ms:.1f} ms"
        table.add_row(check.name, verdict, latency, check.detail)
    return fit(table, out)


def health_table(report: HealthReport) -> None:
    out.print(checks_table(report))
    if report.healthy:
        out.print("[bold green]pass: healthy[/]")
    elif report.nothing_answered:
        out.print(f"[bold red]error: cannot reach {escape(', '.join(report.unreachable))}[/]")
    else:
        failed = [c.name for c in report.checks if not c.ok]
        out.print(f"[bold red]fail: unhealthy: {escape(', '.join(failed))}[/]")
    if report.next_step:
        out.print(f"next: {escape(report.next_step)}")

"""The health table."""

from __future__ import annotations

from rich.table import Table

from volctl.core.health import HealthReport
from volctl.render.console import out


def health_table(report: HealthReport) -> None:
    table = Table(title="volctl health", title_justify="left")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("latency", justify="right")
    table.add_column("detail")
    for check in report.checks:
        verdict = "[green]ok[/]" if check.ok else "[red]FAIL[/]"
        latency = "-" if check.latency_ms is None else f"{check.latency_ms:.1f} ms"
        table.add_row(check.name, verdict, latency, check.detail)
    out.print(table)
    if report.healthy:
        out.print("[bold green]healthy[/]")
    elif report.unreachable:
        out.print(f"[bold red]cannot reach: {', '.join(report.unreachable)}[/]")
    else:
        out.print(f"[bold red]unhealthy: {', '.join(c.name for c in report.checks if not c.ok)}[/]")

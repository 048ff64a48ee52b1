"""The health table."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table

from volctl.core.health import HealthReport
from volctl.render.console import fit, out


def checks_table(report: HealthReport) -> RenderableType:
    table = Table(title="volctl health", title_justify="left")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("latency", justify="right")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        verdict = "[green]ok[/]" if check.ok else "[red]FAIL[/]"
        latency = "-" if check.latency_ms is None else f"{check.latency_ms:.1f} ms"
        table.add_row(check.name, verdict, latency, check.detail)
    return fit(table, out)


def health_table(report: HealthReport) -> None:
    out.print(checks_table(report))
    if report.healthy:
        out.print("[bold green]healthy[/]")
    elif report.nothing_answered:
        out.print(f"[bold red]cannot reach: {', '.join(report.unreachable)}[/] (is the stack up? `volctl up`)")
    else:
        failed = [c.name for c in report.checks if not c.ok]
        out.print(f"[bold red]unhealthy: {', '.join(failed)}[/]")

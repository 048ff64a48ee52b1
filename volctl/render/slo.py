"""The `volctl slo check` report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from volctl.render.console import fit, out

if TYPE_CHECKING:
    from volctl.core.slo import SloReport, SloRow

_VERDICT = {"met": "[green]met[/]", "breached": "[bold red]BREACHED[/]", "too little traffic": "[yellow]too little "
            "traffic[/]", "no data": "[yellow]no data[/]", "info": "[dim]-[/]",
            "not judged (no offered load)": "[dim]not judged (no offered load)[/]",
            "not judged (too few labels)": "[dim]not judged (too few labels)[/]"}


def _budget(row: SloRow) -> str:
    if row.budget is None:
        return "-"
    b = row.budget
    text = f"{b.remaining:.1%} ({b.requests_left:,.0f} req, {b.minutes_left:,.0f} min)"
    if b.exhausted_in_hours is not None:
        text += f", gone in {b.exhausted_in_hours:,.1f} h"
    return text


def slo_table(report: SloReport, explain: bool = False) -> None:
    table = Table(title=f"volctl slo check: window {report.window}, budgets over {report.period} "
                  f"(≈{report.requests:,.0f} requests in the window)", title_justify="left")
    for column in ("SLO", "objective", "measured", "verdict", "error budget left", "burn 1h/6h/1d/3d"):
        table.add_column(column, justify="right" if column == "measured" else "left",
                         overflow="fold" if column == "error budget left" else "ellipsis")
    for row in [*report.rows, *report.info]:
        burns = "/".join(f"{row.burn_rates[w]:.2f}" if w in row.burn_rates else "-" for w in ("1h", "6h", "1d", "3d"))
        table.add_row(row.name, row.objective, row.shown, _VERDICT.get(row.verdict, row.verdict), _budget(row),
                      burns if row.burn_rates else "-")
    out.print(fit(table, out))
    if explain:
        for row in [*report.rows, *report.info]:
            out.print(f"[bold]{row.name}[/]")
            for line in row.explain:
                out.print(f"  {line}", markup=False, soft_wrap=True)
    breached = [r.name for r in report.rows if r.verdict == "breached"]
    unmeasured = [f"{r.name} ({r.verdict})" for r in report.rows if r.verdict in ("too little traffic", "no data")]
    if breached:
        out.print(f"[bold red]SLO breached: {', '.join(breached)}[/]")
    elif unmeasured:
        out.print(f"[bold yellow]cannot judge: {', '.join(unmeasured)}[/]: drive traffic with "
                  "`volctl load --rps 20 --duration 60s`, then check again")
    else:
        out.print("[bold green]all SLOs met[/]")

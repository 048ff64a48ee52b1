"""The `volctl slo check` report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from volctl.render.console import fit, out

if TYPE_CHECKING:
    from volctl.core.monitoring.sli import SloRow
    from volctl.core.monitoring.slo import SloReport

NEXT_STEP = "drive traffic with `volctl load --rps 20 --duration 60s`, then `volctl slo check` again"

_STYLE = {"pass": "green", "fail": "bold red", "inconclusive": "yellow"}


def _verdict(row: SloRow) -> str:
    """"pass", "FAIL", "inconclusive: too little traffic: 9 of 100 requests in 5m", "-" (info)."""
    if row.verdict is None:  # shown, never judged
        return "[dim]-[/]"
    word = "FAIL" if row.verdict == "fail" else row.verdict
    reason = f": {row.reason}" if row.reason else ""
    return f"[{_STYLE.get(row.verdict, 'yellow')}]{escape(word + reason)}[/]"


def _budget(row: SloRow) -> str:
    if row.budget is None:
        return "-"
    b = row.budget
    if b.requests_left == 0 and b.remaining >= 1:  # no request yet in the period: nothing spent, nothing counted
        return f"{b.remaining:.0%} (no request yet; {b.minutes_left:,.0f} min)"
    text = f"{b.remaining:.1%} ({b.requests_left:,.0f} req, {b.minutes_left:,.0f} min)"
    if b.exhausted_in_hours is not None:
        text += f", gone in {b.exhausted_in_hours:,.1f} h"
    return text


def _span(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 2 * 3600 else f"{seconds / 3600:.1f} h"


def slo_table(report: SloReport, explain: bool = False) -> None:
    table = Table(title=f"volctl slo check: window {report.window}, budgets over {report.period} "
                  f"(≈{report.requests:,.0f} requests in the window)", title_justify="left")
    for column in ("SLO", "objective", "measured", "verdict", "error budget left", "burn 1h/6h/1d/3d"):
        # Every column but the burn rates wraps at spaces when it must: no word is broken ("inconclusive:" whole).
        table.add_column(column, justify="right" if column == "measured" else "left",
                         overflow="ellipsis" if column == "burn 1h/6h/1d/3d" else "fold",
                         min_width=len("inconclusive:") if column == "verdict" else None)
    beyond = report.burn_windows_beyond_data
    for row in [*report.rows, *report.info]:
        burns = "/".join(f"{row.burn_rates[w]:.2f}" if w in row.burn_rates and w not in beyond else "-"
                         for w in ("1h", "6h", "1d", "3d"))
        table.add_row(row.name, row.objective, row.shown, _verdict(row), _budget(row),
                      burns if row.burn_rates else "-")
    out.print(fit(table, out, optional={"burn 1h/6h/1d/3d": 130, "error budget left": 100}))
    if beyond and any(row.burn_rates for row in report.rows):
        held = "no predict data" if report.data_span_s is None else f"{_span(report.data_span_s)} of predict data"
        out.print(f"burn over {', '.join(beyond)}: not shown: Prometheus holds {held}, "
                  "less than the window", style="yellow", soft_wrap=True)
    if explain:
        for row in [*report.rows, *report.info]:
            out.print(f"[bold]{row.name}[/]")
            for line in row.explain:
                out.print(f"  {line}", markup=False, soft_wrap=True)
    failed = [r.name for r in report.rows if r.verdict == "fail"]
    inconclusive = [f"{r.name} ({r.reason})" for r in report.rows if r.verdict == "inconclusive"]
    if failed:
        out.print(f"[bold red]fail: SLO breached: {escape(', '.join(failed))}[/]")
    elif inconclusive:
        out.print(f"[bold yellow]inconclusive: {escape('; '.join(inconclusive))}[/]")
        out.print(f"next: {NEXT_STEP}")
    else:
        out.print("[bold green]pass: every SLO met[/]")

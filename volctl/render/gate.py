"""The release gate's verdict table."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from volctl.core.operations.gate import FAIL, PASS, GateReport
from volctl.render.console import fit, out


def gate_table(report: GateReport) -> None:
    table = Table(title=f"release gate over {report.window} ({report.started_at})", title_justify="left")
    for column in ("check", "class", "measured", "threshold", "verdict"):
        table.add_column(column, overflow="fold" if column in ("check", "measured", "threshold") else "ellipsis")
    for check in report.checks:
        colour = {PASS: "green", FAIL: "red"}.get(check.verdict, "yellow")
        accepted = " (accepted)" if check.accepted else ""
        table.add_row(escape(check.name), check.kind, escape(check.measured), escape(check.threshold),
                      f"[{colour}]{check.verdict}{accepted}[/]")
    out.print(fit(table, out, optional={"class": 100}))  # the answer line names the failed classes
    for check in report.checks:
        if check.todo:
            out.print(f"[yellow]{escape(check.name)}[/]: {escape(check.todo)}")
    if report.window_note:
        out.print(f"SLO window {report.window}: {escape(report.window_note)}")
    models = ", ".join(f"{name} {m.get('model', '?')} {m.get('version', '?')}" for name, m in report.model.items())
    out.print(f"model: {models}")
    colour = "green" if report.verdict == PASS else "red"
    failed = f" (failed: {', '.join(report.failed_classes)})" if report.failed_classes else ""
    out.print(f"[bold {colour}]{report.answer}[/]{failed}")
    out.print(f"evidence: {report.bundle}/index.html")

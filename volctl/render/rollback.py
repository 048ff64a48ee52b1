"""Rollback plan, result and history tables."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from volctl.core.operations.rollback import RollbackPlan, RollbackReport
from volctl.domain.text import visible
from volctl.render.console import fit, out


def _model(described: dict[str, Any], with_sha: bool = True) -> str:
    if "shadow" in described:  # `volctl shadow add/remove`: the models scored in shadow
        return "shadow: " + (", ".join(_model(m, False) for m in described["shadow"]) or "none")
    if not described:
        return "-"
    sha = described.get("sha") or "" if with_sha else ""
    return f"{described.get('variant')} {described.get('version')}" + (f" ({sha[:10]})" if sha else "")


def plan_table(plan: RollbackPlan, dry_run: bool) -> None:
    table = Table(title=f"rollback plan (change {plan.change_id})", title_justify="left")
    for column in ("service", "serving now", "will serve"):  # a model wraps at its spaces, never inside a name
        table.add_column(column, overflow="ellipsis" if column == "service" else "fold")
    target = _model(vars(plan.target))
    for switch in plan.switches:
        table.add_row(switch.service, _model(switch.before), target)
    out.print(fit(table, out))
    if not plan.target.sha:
        out.print("[yellow]the registry is not readable here: each service verifies the sha256 itself[/]")
    if dry_run:
        out.print("[dim]dry run: the services loaded and verified the target; nothing was switched[/]")


def rollback_result(report: RollbackReport) -> None:
    if report.dry_run:
        if not report.ok:
            out.print(f"[bold red]dry run failed:[/] {escape(report.problem)}")
        return
    table = Table(title="rollback", title_justify="left")
    for column in ("service", "before", "after", "time", "verified", "note"):
        table.add_column(column, justify="right" if column == "time" else "left",
                         overflow="fold" if column in ("before", "after", "note") else "ellipsis")
    for switch in report.plan.switches:
        verified = {True: "[green]yes[/]", False: "[red]NO[/]", None: "-"}[switch.verified]
        # a service the change stopped before was never asked: "already serving" there read as done
        unasked = "already serving" if switch.after else "not switched"
        note = switch.error or ("switched back" if switch.reverted else "" if switch.changed else unasked)
        table.add_row(switch.service, _model(switch.before), _model(switch.after) if switch.after else "-",
                      f"{switch.seconds * 1000:.0f} ms", verified, escape(note))
    out.print(fit(table, out, optional={"time": 100}))
    if report.ok:
        out.print(f"[bold green]every service serves {report.plan.target.describe()}[/] "
                  f"({report.seconds * 1000:.0f} ms; no restart)")
    else:
        out.print(f"[bold red]rollback failed:[/] {escape(report.problem)}")
        reverted = [s.service for s in report.plan.switches if s.reverted]
        if reverted:
            out.print(f"switched back: {', '.join(reverted)}, so every service still serves the same model")


def history_table(entries: list[dict[str, Any]]) -> None:
    if not entries:
        out.print("no model switches recorded yet")
        return
    table = Table(title="model switches (audit log)", title_justify="left")
    for column in ("UTC", "who", "service", "from → to", "outcome", "reason", "change"):
        table.add_column(column, overflow="fold" if column == "from → to" else "ellipsis")
    for entry in entries:
        outcome = entry.get("outcome", "")
        colour = "green" if outcome in ("switched", "shadow_added", "shadow_removed") else "red"
        when = str(entry.get("at", "?"))[5:19].replace("T", " ")  # 12-01 22:46:10: compact, whole
        # from and to in one cell, a model a line: both versions fit 80 columns beside who and when
        switch = f"{_model(entry.get('from') or {}, False)} →\n{_model(entry.get('to') or {}, False)}"
        table.add_row(when, _caller(entry.get("actor")), _caller(entry.get("service")), switch,
                      f"[{colour}]{outcome}[/]",
                      _caller(entry.get("reason") or entry.get("detail")), _caller(entry.get("change_id")))
    # who and why are what a caller sent: they wrap at their width whatever their length
    out.print(fit(table, out, optional={"change": 120, "reason": 110, "service": 100}, free={"who": 12, "reason": 12}))


def _caller(value: object) -> str:
    """A string a caller sent (audit log), shown as sent: no markup read, no control character acted on."""
    return escape(visible(str(value or "")))

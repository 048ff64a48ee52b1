"""Tables for `volctl up`, `down`, `status`, and the live view of `health --watch`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

from volctl.render.console import fit, out
from volctl.render.health import checks_table

if TYPE_CHECKING:
    from volctl.clients.processes import StopOutcome
    from volctl.core.operations.health import HealthReport
    from volctl.core.operations.stack import UpReport
    from volctl.core.operations.stack_processes import ComponentState
    from volctl.core.operations.watch import Snapshot

_STYLE = {"started": "green", "running": "green", "external": "cyan", "down": "red", "stopped": "yellow",
          "killed": "red", "not running": "dim", "would stop": "yellow",
          "would start": "yellow", "not installed": "yellow"}


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.0f} min" if value < 7200 else f"{value / 3600:.1f} h"


def components_table(title: str, components: list[ComponentState], timing: str) -> RenderableType:
    table = Table(title=title, title_justify="left")
    for column in ("component", "state", "pid", "port", timing, "detail"):
        table.add_column(column, justify="right" if column in ("pid", "port", timing) else "left",
                         overflow="fold" if column == "detail" else "ellipsis")
    for c in components:
        style = _STYLE.get(c.action, "white")
        value = c.ready_s if timing == "ready in" else c.uptime_s
        table.add_row(c.name, f"[{style}]{c.action}[/]", str(c.pid or "-"), str(c.port or "-"), _seconds(value),
                      c.detail)
    return fit(table, out)


def up_summary(report: UpReport) -> None:
    if report.trained:
        out.print(f"trained model {report.trained} (the registry was empty)")
    out.print(components_table("volctl up", report.components, "ready in"))
    if report.aligned:
        colour = "yellow" if report.aligned_ok else "bold red"
        out.print(f"[{colour}]one served model: {escape(report.aligned)}[/]", soft_wrap=True)
    out.print(f"[bold green]stack ready in {report.seconds:.1f} s[/]  next: `volctl health`, `volctl status`, "
              "`volctl logs consume -f`; stop with `volctl down`")


def status_table(components: list[ComponentState]) -> None:
    out.print(components_table("volctl status", components, "uptime"))
    for state in components:
        if state.action == "down" and state.ended:
            out.print(f"[red]{escape(state.name)}[/] {escape(state.detail)}; its log ends:")
            for line in state.ended.get("log") or []:  # type: ignore[union-attr]
                out.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if any(state.action == "down" and state.ended for state in components):
        out.print("next: `volctl up` starts what is down; `volctl logs NAME` shows more of a log")


def scale_summary(states: list[ComponentState], count: int, dry_run: bool = False) -> None:
    out.print(components_table(f"volctl scale consumers {count}" + (" --dry-run (nothing changed)" if dry_run else ""),
                               states, "ready in"))
    if dry_run:
        return
    out.print(f"[bold green]{count} consume member(s) wanted[/]; the group rebalances in a few seconds: "
              "`volctl lag` shows who owns each partition, `volctl health` checks every member")


def down_table(outcomes: list[StopOutcome], dry_run: bool) -> None:
    table = Table(title="volctl down" + (" --dry-run (nothing stopped)" if dry_run else ""), title_justify="left")
    for column in ("component", "result", "pid", "took"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(o.name, f"[{_STYLE.get(o.how, 'white')}]{o.how}[/]", str(o.pid or "-"),
                      "-" if o.how in ("not running", "would stop") else f"{o.seconds:.1f} s")
    out.print(fit(table, out))


def watch_view(report: HealthReport, snapshot: Snapshot) -> Group:
    metrics = Table(title=f"live metrics from Prometheus ({snapshot.taken_at})", title_justify="left")
    metrics.add_column("measure")
    metrics.add_column("value", justify="right")
    metrics.add_column("objective", justify="right")
    for row in snapshot.rows:
        value = "no data" if row.value is None else row.format.format(row.value)
        style = "red" if row.breached else "green" if row.value is not None else "dim"
        metrics.add_row(row.label, f"[{style}]{value}[/]", row.objective)
    if snapshot.error:
        metrics.caption = f"[red]{snapshot.error}[/]"
    return Group(checks_table(report), metrics)

"""`volctl alerts`: what fires (with the command to run), silences, and the recent incidents."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from volctl.core.monitoring.alerts import AlertsReport
from volctl.domain.clock import utc_iso
from volctl.domain.incidents import Incident
from volctl.render.console import fit, out

_STATE = {"firing": "bold red", "pending": "yellow", "silenced": "dim", "inhibited": "dim"}


def alerts_view(report: AlertsReport) -> RenderableType:
    parts: list[RenderableType] = [_headline(report)]
    if report.alerts:
        parts.append(_alerts_table(report))
    if report.silences:
        parts.append(_silences_table(report))
    parts.append(_incidents_table(report.incidents) if report.incidents
                 else Text("no incident recorded yet (volctl's receiver keeps them as Alertmanager sends them)",
                           style="dim"))
    for action in report.actions[-3:]:
        parts.append(Text(f"{action.get('at')} {action.get('actor')} {action.get('action')} "
                          f"{action.get('alertname') or action.get('matchers') or ''} ({action.get('silence_id')})"
                          + (f": {action.get('reason')}" if action.get("reason") else ""), style="dim"))
    parts += [Text(f"note: {note}", style="yellow") for note in report.notes]
    return Group(*parts)


def _headline(report: AlertsReport) -> Text:
    if not report.reached:
        return Text(f"cannot reach Alertmanager: {report.problem}", style="bold red")
    counts = {state: sum(1 for a in report.alerts if a.state == state) for state in _STATE}
    if not counts["firing"] and not report.evaluated:
        return Text(f"error: cannot tell whether an alert fires: {report.problem}", style="bold red")
    if not report.alerts:
        return Text(f"no alert fires or is pending ({report.alertmanager})", style="bold green")
    said = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    return Text(f"{said} ({report.alertmanager})", style="bold red" if counts["firing"] else "bold yellow")


def _alerts_table(report: AlertsReport) -> RenderableType:
    table = Table(title="alerts", title_justify="left")
    for column in ("alert", "since (UTC)", "value", "summary", "run"):
        table.add_column(column, overflow="ellipsis" if column in ("alert", "since (UTC)") else "fold")
    for alert in report.alerts:
        where = alert.labels.get("member") or alert.labels.get("instance")
        # the name whole on its line, its state and severity under it: the table keeps 80 columns
        table.add_row(alert.name + (f" ({escape(where)})" if where else "")
                      + f"\n[{_STATE[alert.state]}]{alert.state}[/] {alert.severity}", _compact(alert.since),
                      escape(_value(alert.shown, alert.value)), escape(alert.summary), escape(alert.runbook))
    return fit(table, out, optional={"summary": 140, "since (UTC)": 100}, free={"summary": 20})


def _silences_table(report: AlertsReport) -> RenderableType:
    table = Table(title="silences (`volctl alerts unsilence ID` ends one)", title_justify="left")
    for column in ("id", "matches", "state", "until (UTC)", "by", "reason"):
        table.add_column(column, overflow="fold" if column == "reason" else "ellipsis")
    for silence in report.silences:
        table.add_row(silence.id, escape(silence.matchers), silence.state, _compact(silence.ends_at),
                      escape(silence.created_by), escape(silence.comment))
    return fit(table, out)


def _incidents_table(incidents: list[Incident]) -> RenderableType:
    table = Table(title="recent incidents (since: its condition first held, one `for` before it fired)",
                  title_justify="left")
    for column in ("alert", "since (UTC)", "resolved", "lasted", "value"):
        table.add_column(column, justify="right" if column == "lasted" else "left",
                         overflow="fold" if column == "value" else "ellipsis")
    for incident in incidents:
        where = incident.labels.get("member") or incident.labels.get("instance")
        # the name, then what to run, each whole on its line: the table keeps 80 columns
        table.add_row(f"{incident.alertname} ({incident.severity}" + (f", {escape(where)})" if where else ")")
                      + f"\n[dim]{escape(incident.runbook)}[/]", _since(incident),
                      _resolved(incident) if incident.resolved_at else "[red]firing[/]",
                      _lasted(incident), escape(_value(incident.shown, incident.value)))
    return fit(table, out, optional={"since (UTC)": 100})


def _value(shown: str, value: float | None) -> str:
    """The rule's own words for its value ("0 of 1 consume members up"), else the bare number."""
    return shown or ("unknown" if value is None else f"{value:.4g}")


def _compact(stamp: str | None) -> str:
    """2026-12-06T07:30:01.123Z -> 2026-12-06 07:30:01 (whole; the zone is in the header)."""
    return (stamp or "-")[:19].replace("T", " ")


def _resolved(incident: Incident) -> str:
    """The resolution's time, its date too when that is not the day it fired."""
    resolved = _compact(incident.resolved_at)
    return resolved[11:] if resolved[:10] == _since(incident)[:10] else resolved


def _since(incident: Incident) -> str:
    since = incident.since_epoch
    return _compact(incident.started_at if since is None else utc_iso(since, timespec="seconds"))


def _lasted(incident: Incident) -> str:
    seconds = incident.lasted_s
    if seconds is None:
        return "-" if incident.resolved_at is None else "unknown"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"

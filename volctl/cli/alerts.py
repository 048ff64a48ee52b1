"""`volctl alerts [silence|unsilence]`: what fires, what is about to, silences, the incident timeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from volctl.cli.options import JsonOption, finish, settings_of
from volctl.render import console

if TYPE_CHECKING:
    from volctl.clients.alertmanager import AlertmanagerClient
    from volctl.clients.prometheus import PrometheusClient
    from volctl.domain.settings import Settings

app = typer.Typer(help="Alerts: what fires and what is pending, silences, the incident timeline.",
                  invoke_without_command=True)


@app.callback()
def alerts(
    ctx: typer.Context,
    watch: Annotated[bool, typer.Option("--watch", help="Keep refreshing (Ctrl-C stops).", metavar="")] = False,
    interval: Annotated[float, typer.Option(min=1.0, help="Seconds between refreshes with --watch.")] = 5.0,
    recent: Annotated[int, typer.Option(min=1, help="Incidents and silence actions shown.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Firing and pending alerts with since-when, severity, summary, value and the runbook to run;
    active silences; the recent incidents (each firing and its resolution, from volctl's receiver).
    """
    if ctx.invoked_subcommand is not None:
        return
    from volctl.core.monitoring.alert_rules import rendered_alerts
    from volctl.core.monitoring.alerts import alerts_report
    from volctl.domain.incidents import incidents_folder
    from volctl.render.alerts import alerts_view

    settings = settings_of(ctx)
    with _clients(settings) as (alertmanager, prometheus):
        def report():  # type: ignore[no-untyped-def]
            return alerts_report(alertmanager, prometheus, rendered_alerts(settings), incidents_folder(settings),
                                 recent)

        if watch:
            from volctl.core.monitoring.alerts import watch_alerts
            from volctl.render.live import show_live

            show_live(alerts_view(r) for r in watch_alerts(report, interval))
            raise typer.Exit(0)
        finish(report(), as_json, lambda r: console.out.print(alerts_view(r)))


@app.command("silence")
def silence_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Alert name, e.g. ServiceDown (`volctl alerts` shows them).")],
    duration: Annotated[str, typer.Option("--for", help="How long: 30m, 1h, 2d.")] = "1h",
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit, shown with the silence).")] = "",
    force: Annotated[bool, typer.Option("--force", help="Allow a silence longer than alertmanager.max_silence "
                                        "(default 7d); the audit records it.", metavar="")] = False,
    as_json: JsonOption = False,
) -> None:
    """Silence every alert of that name for a while (an admin action: needs the admin token; audited)."""
    from volctl.core.monitoring.alert_rules import alerts as catalogue
    from volctl.core.monitoring.alerts import silence
    from volctl.core.operations.rollback import local_actor
    from volctl.domain.clock import seconds_of
    from volctl.domain.incidents import incidents_folder
    from volctl.domain.model_admin import read_admin_token

    try:
        seconds = seconds_of(duration, whole=True)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--for") from None
    settings = settings_of(ctx)
    with _clients(settings) as (alertmanager, _prometheus):
        result = silence(alertmanager, catalogue(settings.slo), read_admin_token(settings), name, seconds, reason,
                         local_actor(), incidents_folder(settings), settings.alertmanager.max_silence, force)
    if as_json:
        console.emit_json(result)
        return
    console.out.print(f"[green]silenced[/] {result.alertname} until {result.ends_at} (silence {result.silence_id}; "
                      f"{result.silenced_now} alert(s) of that name held now). Undo: "
                      f"`volctl alerts unsilence {result.silence_id}`")


@app.command()
def unsilence(
    ctx: typer.Context,
    silence_id: Annotated[str, typer.Argument(help="Silence id (`volctl alerts` lists them).")],
    as_json: JsonOption = False,
) -> None:
    """End a silence now (an admin action: needs the admin token; audited)."""
    from volctl.core.monitoring.alerts import unsilence as core_unsilence
    from volctl.core.operations.rollback import local_actor
    from volctl.domain.incidents import incidents_folder
    from volctl.domain.model_admin import read_admin_token

    settings = settings_of(ctx)
    with _clients(settings) as (alertmanager, _prometheus):
        matched = core_unsilence(alertmanager, read_admin_token(settings), silence_id, local_actor(),
                                 incidents_folder(settings))
    if as_json:
        console.emit_json({"unsilenced": silence_id, "matchers": matched})
    else:
        from rich.markup import escape

        console.out.print(f"[green]unsilenced[/] {escape(silence_id)} ({escape(matched)}): its alerts notify again")


@contextmanager
def _clients(settings: Settings) -> Iterator[tuple[AlertmanagerClient, PrometheusClient]]:
    from volctl.clients import built

    alertmanager, prometheus = built.alertmanager(settings), built.prometheus(settings)
    try:
        yield alertmanager, prometheus
    finally:
        alertmanager.close()
        prometheus.close()

"""`volctl rollback`: switch the served model of both services without a restart, audited."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from volctl.cli.options import JsonOption, WideOption, finish, settings_of, wide_tables
from volctl.domain.errors import EXIT_USAGE, ConfigError
from volctl.render import console

if TYPE_CHECKING:
    from volctl.clients.http import ServiceClient
    from volctl.domain.registry import Registry
    from volctl.domain.settings import Settings


def rollback(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option(help="baseline, ml (variants of the served version) or a model "
                                           "version (keeps the served variant).")] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.", metavar="")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Have every service (each worker and member) load "
                                          "and verify the target, switch nothing.", metavar="")] = False,
    history: Annotated[bool, typer.Option("--history", help="Show the audit log of model switches.",
            metavar="")] = False,
    limit: Annotated[int, typer.Option("-n", min=1, help="How many audit entries --history shows.")] = 20,
    as_json: JsonOption = False,
    wide: WideOption = False,
) -> None:
    """Switch predict and consume to another model together, with no restart (and back on failure).
    """
    wide_tables(wide)
    from volctl.clients.built import admin_clients
    from volctl.core.operations import rollback as core
    from volctl.domain.registry import Registry
    from volctl.render import rollback as render

    settings = settings_of(ctx)
    if history:
        entries = core.rollback_history(settings, limit)
        console.emit_json(entries) if as_json else render.history_table(entries)
        return
    if not to:
        raise typer.BadParameter("say what to serve: --to baseline, --to ml or --to <version> (or --history)",
                                 param_hint="--to")
    services = admin_clients(settings)
    registry = Registry(settings.registry_path) if settings.registry_path.is_dir() else None
    try:
        _switch(services, registry, settings, to, reason, yes, dry_run, as_json)
    finally:
        for client in services.values():
            client.close()


def _switch(services: dict[str, ServiceClient], registry: Registry | None, settings: Settings, to: str, reason: str,
            yes: bool, dry_run: bool, as_json: bool) -> None:
    from volctl.core.operations import rollback as core
    from volctl.domain.model_admin import read_admin_token
    from volctl.render import rollback as render

    plan = core.plan_rollback(services, registry, to)
    if not as_json:
        render.plan_table(plan, dry_run)
    if plan.nothing_to_do and not dry_run:
        if as_json:
            console.emit_json({"ok": True, "changed": False, "plan": plan})
        else:
            console.out.print(f"[green]every service already serves {plan.target.describe()}[/]: nothing to do")
        return
    if not (yes or dry_run):
        if not sys.stdin.isatty():
            console.error("refusing to switch models without confirmation", hint="pass --yes (or --dry-run)")
            raise typer.Exit(EXIT_USAGE)
        typer.confirm(f"Switch every service ({len(plan.switches)} processes) to {plan.target.describe()}?", abort=True)
    token = read_admin_token(settings)
    if not token:
        raise ConfigError(f"no admin token in {settings.state_path / 'admin_token'} and none configured",
                          hint="`volctl up` generates one; or set admin_token (VOLCTL_ADMIN_TOKEN)")
    report = core.execute_rollback(services, plan, token, reason, dry_run)
    finish(report, as_json, render.rollback_result)

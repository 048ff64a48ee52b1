"""`volctl guard`: watch the served model and roll back on evidence."""

from __future__ import annotations

from typing import Annotated

import typer

from volctl.cli.options import JsonOption, settings_of
from volctl.render import console


def guard(
    ctx: typer.Context,
    interval: Annotated[str, typer.Option(help="Time between evaluations.")] = "1m",
    failure_limit: Annotated[int, typer.Option(min=1, help="Consecutive failing evaluations before a rollback.")
                             ] = 3,
    dwell: Annotated[str, typer.Option(help="After a switch, wait this long before switching again.")] = "10m",
    window: Annotated[str, typer.Option(help="Outcomes window of the quality verdict.")] = "1h",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what it would do; switch nothing.", metavar="")
                       ] = False,
    count: Annotated[int, typer.Option(min=0, help="Stop after this many evaluations (0: until Ctrl-C).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Every interval: the served model's realised quality against its shadow challengers and the fast
    burn of the error and latency budgets; after --failure-limit failing evaluations in a row, roll
    both services back to the better variant (audited: `guard: WHY`), then keep watching.

    One line per evaluation on stdout (JSON with --json).
    """
    import time

    from volctl.clients import built
    from volctl.clients.built import admin_clients
    from volctl.core.operations.guard import GuardPolicy, GuardState, evaluate
    from volctl.domain.clock import seconds_of
    from volctl.domain.errors import ConfigError
    from volctl.domain.model_admin import read_admin_token
    from volctl.domain.registry import Registry
    from volctl.render.guard import evaluation_line

    settings = settings_of(ctx)
    try:
        every, dwell_s = seconds_of(interval), seconds_of(dwell)
        seconds_of(window)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    token = read_admin_token(settings)
    if not token and not dry_run:
        raise ConfigError("no admin token: the guard could not switch models",
                          hint="`volctl up` generates one; or set admin_token, or run with --dry-run")
    policy = GuardPolicy(window, failure_limit, dwell_s, dry_run)
    state = GuardState()
    registry = Registry(settings.registry_path) if settings.registry_path.is_dir() else None
    prometheus = built.prometheus(settings)
    done = 0
    try:
        while True:
            services = admin_clients(settings)  # afresh each time: `volctl scale` may have changed the members
            try:
                evaluation = evaluate(settings, state, policy, services, registry, prometheus, token)
            finally:
                for client in services.values():
                    client.close()
            if as_json:
                console.emit_json_line(evaluation.as_document())
            else:
                evaluation_line(evaluation)
            done += 1
            if count and done >= count:
                return
            time.sleep(every)
    except KeyboardInterrupt:
        return
    finally:
        prometheus.close()

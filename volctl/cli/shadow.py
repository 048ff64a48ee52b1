"""`volctl shadow add|list|remove`: challengers the consume service scores beside the served model."""

from __future__ import annotations

from typing import Annotated

import typer

from volctl.cli.options import JsonOption, settings_of
from volctl.render import console

app = typer.Typer(help="Challenger models scored in shadow (never written to ticks.predictions).",
                  no_args_is_help=True)
TargetArgument = Annotated[str, typer.Argument(help="VERSION[:VARIANT] (default variant: ml).",
                                               metavar="VERSION[:VARIANT]")]


@app.command()
def add(ctx: typer.Context, target: TargetArgument, reason: Annotated[str, typer.Option(help="For the audit log.")]
        = "", as_json: JsonOption = False) -> None:
    """Score another model in shadow: loaded and sha256-verified by the consume service, audited,
    kept across restarts. `volctl quality` then judges the served model against it."""
    _change(ctx, "shadow_add", target, reason, as_json)


@app.command()
def remove(ctx: typer.Context, target: TargetArgument, reason: Annotated[str, typer.Option(help="For the audit log.")]
           = "", as_json: JsonOption = False) -> None:
    """Stop scoring a model added with `volctl shadow add`."""
    _change(ctx, "shadow_remove", target, reason, as_json)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The models the consume service scores in shadow beside the served one."""
    from volctl.clients import built
    from volctl.render.shadow import shadow_table

    settings = settings_of(ctx)
    with built.consume(settings, timeout_s=5) as client:
        answer = client.get("/version")
    document = answer.body if isinstance(answer.body, dict) else {}
    if as_json:
        console.emit_json({"served": {k: document.get(k) for k in ("model", "version", "sha")},
                           "shadow": document.get("shadow", [])})
    else:
        shadow_table(document)


def _change(ctx: typer.Context, action: str, target: str, reason: str, as_json: bool) -> None:
    from volctl.core.operations.shadow import change_shadow
    from volctl.domain.errors import EXIT_CANNOT_CHECK, EXIT_CHECK_FAILED

    change = change_shadow(settings_of(ctx), action, target, reason)
    answers, failed = change.answers, change.failed
    status, body = next(iter(answers.values()))
    if as_json:
        console.emit_json({"status": status, **body, "members": {name: {"status": s, **b}
                                                                for name, (s, b) in answers.items()}})
    elif not failed:
        names = ", ".join(f"{m['variant']} {m['version']}" for m in body["after"]["shadow"]) or "none"
        console.out.print(f"shadow models added by hand now: {names}"
                          + (f" (on each of {len(answers)} consume members)" if len(answers) > 1 else ""))
    for name, failure in failed.items():
        console.error(f"{name}: {failure.get('detail')}", failure.get("hint"))
    if failed:
        raise typer.Exit(EXIT_CANNOT_CHECK if change.unreachable else EXIT_CHECK_FAILED)

"""`volctl runbook list|show|run|check`: runbooks whose steps are volctl commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from volctl.cli.options import JsonOption, WideOption, config_file_of, settings_of, wide_tables
from volctl.domain.errors import EXIT_CHECK_FAILED, EXIT_INTERRUPTED
from volctl.render import console

app = typer.Typer(help="Runbooks: list, read, run (steps are volctl commands) and check them.",
                  no_args_is_help=True)
NameArgument = Annotated[str, typer.Argument(help="Runbook name (see `volctl runbook list`) or a .md path.")]
RunNameArgument = Annotated[str, typer.Argument(
    help="Runbook name (see `volctl runbook list`), a .md path, or the name of a firing alert (see `volctl alerts`).")]


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False, wide: WideOption = False) -> None:
    """The shipped runbooks: name, the alerts that point to each, steps, when to use."""
    wide_tables(wide)
    from volctl.core.monitoring.alert_rules import rendered_alerts
    from volctl.core.monitoring.runbooks import list_runbooks
    from volctl.render.runbook import runbook_list

    runbooks = list_runbooks()
    alerts: dict[str, list[str]] = {}
    for alert in rendered_alerts(settings_of(ctx)):
        alerts.setdefault(alert.runbook, []).append(alert.name)
    if as_json:
        console.emit_json([{"name": r.name, "title": r.title, "alerts": alerts.get(r.name, []), "steps": len(r.steps),
                            "when": r.summary, "path": str(r.path)} for r in runbooks])
    else:
        runbook_list(runbooks, alerts)


@app.command()
def show(name: NameArgument, as_json: JsonOption = False) -> None:
    """Print a runbook, rendered (with --json: its steps, commands and decisions)."""
    from volctl.core.monitoring.runbooks import find_runbook
    from volctl.render.runbook import runbook_markdown

    runbook = find_runbook(name)
    if as_json:
        console.emit_json(runbook.as_document())
    else:
        runbook_markdown(runbook)


@app.command()
def run(
    ctx: typer.Context,
    name: RunNameArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y",
                                      help="Run steps that change state (rollback, down, silence, ...) without asking.",
            metavar="")
                   ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the steps in order, following the decisions by exit code; writes an incident record.
    """
    from volctl.core.monitoring.alert_rules import rendered_alerts
    from volctl.core.monitoring.alerts import timeline_incidents
    from volctl.core.monitoring.runbook_run import answered_alerts, run_runbook
    from volctl.core.monitoring.runbooks import check_runbook, find_runbook
    from volctl.domain.incidents import incidents_folder
    from volctl.render.runbook import LiveSteps, QuietSteps, run_summary
    from volctl.reports.incident import write_incident

    settings = settings_of(ctx)
    catalogue = rendered_alerts(settings)
    runbook = find_runbook(name, by_alert={a.name: a.runbook for a in catalogue})
    problems = check_runbook(runbook, _command_checker(ctx))
    if problems:
        from volctl.domain.errors import ConfigError

        raise ConfigError(f"runbook {runbook.name} is broken: {'; '.join(problems)}",
                          hint=f"fix {runbook.path}; `volctl runbook check {runbook.name}` lists the problems")
    hooks = QuietSteps(ask=False) if as_json else LiveSteps(ask=True)
    timeline = timeline_incidents(incidents_folder(settings), catalogue)
    result = run_runbook(runbook, hooks, settings.state_path, write_incident, config_file_of(ctx), yes,
                         answered_alerts(name, runbook, timeline))
    if as_json:
        console.emit_json(result)
    else:
        run_summary(result)
    if result.outcome == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    if not result.resolved:
        raise typer.Exit(EXIT_CHECK_FAILED)


@app.command()
def check(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(help="Runbook names or .md paths (default: all shipped).")
                     ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check runbooks without running them: every step a real volctl command with valid options,
    every decision pointing at a step that exists."""
    from volctl.core.monitoring.runbooks import check_runbook, find_runbook, list_runbooks
    from volctl.render.runbook import check_results

    runbooks = [find_runbook(n) for n in names] if names else list_runbooks()
    checker = _command_checker(ctx)
    results = [(runbook, check_runbook(runbook, checker)) for runbook in runbooks]
    if as_json:
        console.emit_json([runbook.as_document(problems) for runbook, problems in results])
    else:
        check_results(results)
    if any(problems for _, problems in results):
        raise typer.Exit(EXIT_CHECK_FAILED)


def command_problem(argv: list[str], root: Any) -> str | None:
    """Why `volctl <argv>` is not a valid command line (unknown command or option, bad value), or None.
    Parsed by the real CLI's own command objects (`root`: the click command of the `volctl` app), so a
    runbook cannot name what volctl does not have."""
    command = root
    context = command.make_context("volctl", [], resilient_parsing=True)
    words, path = list(argv), ["volctl"]
    while hasattr(command, "get_command") and words and not words[0].startswith("-"):
        sub = command.get_command(context, words[0])
        if sub is None:
            return f"volctl has no command `{' '.join([*path, words[0]])}`"
        path.append(words.pop(0))
        command = sub
    if hasattr(command, "get_command") and not getattr(command, "invoke_without_command", False):
        return f"`{' '.join(path)}` needs a subcommand"
    try:
        command.make_context(" ".join(path), words)
    except typer.TyperException as exc:  # typer's usage errors (its vendored click's) all derive from it
        return exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return None


def _command_checker(ctx: typer.Context) -> Callable[[list[str]], str | None]:
    """command_problem against the root command this process runs (no import of the app: it imports us)."""
    root = ctx.find_root().command
    return lambda argv: command_problem(argv, root)

"""The root `volctl` command: the only place that adds command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volctl import __version__
from volctl.cli import (
    _boundary,
    alerts,
    drift,
    gate,
    guard,
    health,
    ingest,
    kafka,
    load,
    model,
    quality,
    rollback,
    runbook,
    shadow,
    slo,
    stack,
    usage,
)
from volctl.render import console


def _flags_take_no_value() -> None:
    """Typer's help shows every flag with a value type (`--help <bool>`): a flag takes none, so
    its type column stays empty, for --help and every --json, --yes and --dry-run alike."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: typer.Context) -> str | None:
        return None if self.is_flag and not self.metavar else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()
app = typer.Typer(
    name="volctl",
    help="Operate the crypto volatility spike detector: train, serve, check, roll back.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",  # a docstring's paragraphs reflow to the terminal (rich mode kept its line breaks)
)
app.add_typer(model.app, name="model")
app.add_typer(slo.app, name="slo")
app.add_typer(drift.app, name="drift")
app.add_typer(runbook.app, name="runbook")
app.add_typer(shadow.app, name="shadow")
app.add_typer(alerts.app, name="alerts")
for command in (stack.up, stack.down, stack.status, health.health, stack.logs, ingest.ingest, load.load,
                rollback.rollback, kafka.topics, kafka.tail, kafka.lag, gate.gate, quality.quality, guard.guard,
                stack.render, stack.scale):
    app.command()(command)
usage.attach(app)
_boundary.cover(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"volctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="VOLCTL_CONFIG", help="Config file (default ./volctl.toml).", metavar="FILE")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.", metavar="")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.", metavar="")] = False,
) -> None:
    _boundary.debug_enabled = debug
    console.measure_width()


def main() -> None:
    app()

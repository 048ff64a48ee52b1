"""`volctl slo check`: the service objectives, measured from Prometheus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand

from volctl.cli.options import JsonOption, WideOption, finish, settings_of, wide_tables
from volctl.render import console

app = typer.Typer(help="Service level objectives: measure them, with error budgets and burn rates.",
                  no_args_is_help=True)


class _ObjectivesHelp(TyperCommand):
    """`slo check --help` names the catalogue's objectives, read only when help is shown (the
    catalogue imports the PromQL and metric modules, which every other command would pay for)."""

    @property  # type: ignore[override]
    def help(self) -> str:
        from volctl.core.monitoring.objectives import OBJECTIVES

        return f"Every objective against its target: {', '.join(o.key for o in OBJECTIVES)}."

    @help.setter
    def help(self, _docstring: str | None) -> None:  # click sets it from the docstring: the catalogue's wins
        pass


@app.command(cls=_ObjectivesHelp)
def check(
    ctx: typer.Context,
    window: Annotated[str, typer.Option(help="Measurement window (Prometheus duration: 5m, 1h, ...).")] = "5m",
    explain: Annotated[bool, typer.Option("--explain", help="Show the PromQL and arithmetic of every row.",
            metavar="")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML report here.",
            metavar="FILE")] = None,
    as_json: JsonOption = False,
    wide: WideOption = False,
) -> None:
    """Every objective of the catalogue against its target (the help lists them)."""
    wide_tables(wide)
    from volctl.clients import built
    from volctl.core.monitoring.slo import check_slos
    from volctl.domain.clock import seconds_of
    from volctl.render.slo import slo_table

    try:
        seconds_of(window, whole=True)  # it goes into PromQL as written
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--window") from None
    settings = settings_of(ctx)
    client = built.prometheus(settings)
    try:
        from volctl.core.monitoring.freshness import expectation

        report = check_slos(client, settings.slo, window, expectation(settings))
        if html:
            from volctl.core.monitoring.slo import slo_history
            from volctl.reports.slo_html import write_slo_html

            write_slo_html(slo_history(client, settings.slo, report.window), report, settings.slo, html)
            console.note(f"HTML report written to {html}")
    finally:
        client.close()
    finish(report, as_json, lambda r: slo_table(r, explain), report.as_document(explain))

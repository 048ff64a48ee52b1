"""`volctl gate`: one verdict before a release."""

from __future__ import annotations

from typing import Annotated

import typer

from volctl.cli.options import JsonOption, finish, settings_of
from volctl.render import console


def gate(
    ctx: typer.Context,
    rps: Annotated[float, typer.Option(min=0.1, help="Load rate (the `volctl load` engine).")] = 50.0,
    duration: Annotated[str, typer.Option(help="Load duration; the SLOs are judged over it (drift over "
                                          "drift.window, quality over slo.quality_window).")] = "60s",
    skip_load: Annotated[bool, typer.Option("--skip-load", help="Judge the last --duration of real traffic "
                                            "without adding load.", metavar="")] = False,
    accept_inconclusive: Annotated[list[str] | None, typer.Option(
        "--accept-inconclusive", metavar="CLASS",
        help="Ship although this class of checks was inconclusive (too little evidence), e.g. quality; "
             "repeatable; the verdict, page and JSON record it.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Load, then SLOs, consumer lag status, drift and quality: ship or do not ship.

    Pass only when every check passed; an inconclusive class (too little evidence) ships only with
    --accept-inconclusive CLASS. Every result is kept in an evidence folder under `STATE_DIR/gates`.
    """
    from volctl.cli.wiring import lag_inputs
    from volctl.clients import built
    from volctl.core.operations.gate import GateParts, classes, run_gate
    from volctl.domain.clock import seconds_of
    from volctl.render.gate import gate_table
    from volctl.reports.drift_files import write_drift_outputs
    from volctl.reports.gate_html import write_gate_index
    from volctl.reports.load_html import load_page
    from volctl.reports.quality_html import quality_page
    from volctl.reports.slo_html import write_slo_html

    try:
        seconds = seconds_of(duration)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--duration") from None
    from volctl.core.operations.load import unschedulable

    problem = "" if skip_load else unschedulable(rps, seconds)
    if problem:
        raise typer.BadParameter(problem, param_hint="--rps")
    unknown = sorted(set(accept_inconclusive or ()) - set(classes()))
    if unknown:
        raise typer.BadParameter(f"no class {', '.join(unknown)}: the classes are {', '.join(classes())}",
                                 param_hint="--accept-inconclusive")
    with console.steps("release gate") as status:
        settings = settings_of(ctx)
        parts = GateParts(write_slo_html, write_drift_outputs, lambda: lag_inputs(settings),
                          lambda: built.prometheus(settings),
                          load_html=lambda judged, path: path.write_text(
                              load_page(judged, None, settings.slo.latency_p95_seconds)),
                          quality_html=lambda quality, path: path.write_text(quality_page(quality)),
                          index_html=write_gate_index)
        report = run_gate(settings, parts, rps, seconds, skip_load, progress=status.update,
                          accept_inconclusive=tuple(accept_inconclusive or ()))
    finish(report, as_json, gate_table)

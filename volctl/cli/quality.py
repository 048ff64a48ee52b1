"""`volctl quality`: is the detector detecting? Realised quality per variant, served against shadow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from volctl.cli.options import JsonOption, finish, settings_of
from volctl.render import console

if TYPE_CHECKING:
    pass


def quality(
    ctx: typer.Context,
    window: Annotated[str | None, typer.Option(help="The newest stretch of outcomes (event time) to judge "
                                               "(default slo.quality_window, 1h).")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML page.",
                                              metavar="FILE")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every prediction met by its own label 60 s later: per variant (served and challengers scored in
    shadow) labelled ticks, spike episodes, precision, recall, F1, PR-AUC with a 90 % block-bootstrap
    interval and Brier; the served model against each challenger on the same ticks, and against the
    floors slo.min_precision and slo.min_recall.
    """
    from volctl.core.model.quality import pending_outcomes, quality_report
    from volctl.render.quality import quality_table

    settings = settings_of(ctx)
    report = quality_report(settings.state_path, window or settings.slo.quality_window, settings.slo.min_precision,
                            settings.slo.min_recall, pending=pending_outcomes(settings),
                            registry_root=settings.registry_path)
    if html:
        from volctl.domain.files import write_atomically
        from volctl.reports.quality_html import quality_page

        write_atomically(html, quality_page(report))
        console.note(f"HTML report written to {html}")
    finish(report, as_json, quality_table)


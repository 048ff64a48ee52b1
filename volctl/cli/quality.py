"""`volctl quality`: is the detector detecting? Realised quality per variant, served against shadow."""

from __future__ import annotations

from typing import Annotated

import typer

from volctl.cli._boundary import boundary
from volctl.cli.options import JsonOption, finish, settings_of


@boundary
def quality(
    ctx: typer.Context,
    window: Annotated[str, typer.Option(help="The newest stretch of outcomes (event time) to judge.")] = "1h",
    as_json: JsonOption = False,
) -> None:
    """Every prediction met by its own label 60 s later: per variant (served and challengers scored in
    shadow) labelled ticks, spike episodes, precision, recall, F1, PR-AUC with a 90 % block-bootstrap
    interval and Brier; the served model against each challenger on the same ticks.

    Exit 0 the served model is not worse, 1 it is worse than a challenger beyond the interval (the
    rollback that fixes it is printed), 3 too few labelled ticks or spike episodes to judge.
    """
    from volctl.core.quality import quality_report
    from volctl.render.quality import quality_table

    finish(quality_report(settings_of(ctx).state_path, window), as_json, quality_table)

"""`volctl drift report`: have the live features moved away from what the model was trained on?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volctl.cli.options import JsonOption, finish, settings_of
from volctl.render import console

app = typer.Typer(help="Feature drift between the training data and the live stream (Evidently).",
                  no_args_is_help=True)


@app.command()
def report(
    ctx: typer.Context,
    window: Annotated[str | None, typer.Option(help="Current data: the newest stretch of the feature log this "
                                               "long, back from its newest event (default drift.window, 1h).")
                      ] = None,
    current: Annotated[Path | None, typer.Option(help="Current data from a file instead: a recording, or "
                                                 "feature rows (parquet, csv, feature-log jsonl).",
                                                         metavar="PATH")] = None,
    synthetic_seed: Annotated[int | None, typer.Option(
        help="Current data: 45 min of the seeded synthetic source with this seed (another seed than the model "
        "trained on: a stream it has not seen).")] = None,
    perturb: Annotated[str | None, typer.Option(
        metavar="SPEC", help="Change the current stream's microstructure on purpose before judging it, e.g. "
        "spread=5,thin=4 (spreads 5x wider, every 4th tick), vol=3 (a 3x volatile walk); with --current FILE "
        "or --synthetic-seed.")] = None,
    reference: Annotated[Path | None, typer.Option(help="Reference from a file instead of the served model's "
                                                   "training split.", metavar="FILE")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for drift.html, drift.json and drift.md "
                                             "(default: a timestamped folder in `STATE_DIR/drift`).",
                                                     metavar="DIR")] = None,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Drift when more than this share "
                                                    "of the features drifted (default drift.share_threshold).")
                         ] = None,
    min_rows: Annotated[int | None, typer.Option(min=1, help="Rows needed on each side (default drift.min_rows)."
                                                 )] = None,
    as_json: JsonOption = False,
) -> None:
    """Evidently's DataDriftPreset per feature; writes HTML, JSON and Markdown, and drift gauges.
    """
    from volctl.core.model.drift import drift_report
    from volctl.domain.perturb import Perturbation
    from volctl.render.drift import drift_table
    from volctl.reports.drift_files import write_drift_outputs

    try:
        perturbation = Perturbation.parse(perturb) if perturb is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--perturb") from None
    settings = settings_of(ctx, **{"drift.share_threshold": threshold, "drift.min_rows": min_rows})
    with console.steps("drift report", keep=True) as status:
        progress = status.update

        result = drift_report(settings, write_drift_outputs, reference, current, window, out, progress,
                              synthetic_seed, perturbation)
    finish(result, as_json, drift_table)


@app.command()
def calibrate(
    ctx: typer.Context,
    version: Annotated[str | None, typer.Argument(help="Model version (default: the newest).")] = None,
    window: Annotated[list[str] | None, typer.Option(
        help="Window length to calibrate (repeatable, e.g. 10m, 1h); default: the ones training calibrates "
        "(30s, 5m, 1h).")] = None,
    quantile: Annotated[float, typer.Option(min=0.5, max=1.0, help="Threshold: this quantile of the reference "
                                            "chunks' scores (the maximum with fewer than 100 chunks).")] = 0.99,
    as_json: JsonOption = False,
) -> None:
    """Recompute a version's drift thresholds from its own reference: cut it into chunks as long as the
    window, score each chunk against the rest, and alarm only outside that spread."""
    from volctl.core.model.drift_calibration import WINDOWS_S, calibrate_version
    from volctl.domain.clock import seconds_of
    from volctl.domain.errors import ConfigError
    from volctl.domain.registry import Registry
    from volctl.render.drift import calibration_table

    registry = Registry(settings_of(ctx).registry_path)
    version = version or registry.latest()
    try:
        windows_s = [seconds_of(w) for w in window] if window else list(WINDOWS_S)
    except ValueError as exc:
        raise ConfigError(f"--window: {exc}", hint="a duration such as 30s, 10m or 1h") from None
    with console.steps("calibrating") as status:
        document = calibrate_version(registry, version, windows_s, quantile, progress=status.update)
    chosen = {key: value for key, value in document["windows"].items() if float(key) in windows_s}
    if as_json:
        console.emit_json({"version": version, "windows": chosen})
    else:
        calibration_table(version, chosen)

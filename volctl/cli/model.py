"""`volctl model train|list|show`: the model registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from volctl.cli.options import JsonOption, WideOption, settings_of, wide_tables
from volctl.render import console

if TYPE_CHECKING:  # training imports pandas and scikit-learn: never at `--help`
    from volctl.core.model.training import TrainResult
    from volctl.domain.settings import Settings

VersionArgument = Annotated[str | None, typer.Argument(help="Model version (default: the newest).")]
HtmlOption = Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML page (curves, "
                                                 "reliability plots) to this file.", metavar="FILE")]

DataOption = Annotated[list[Path] | None, typer.Option(
    "--data", help="Recording file or folder (repeatable). Default: the configured data dir, ../shared/data when "
    "present, else the seeded synthetic source.", metavar="PATH")]
FromLiveOption = Annotated[bool, typer.Option(
    "--from-live", help="Learn from the ticks the consume service recorded (data.live_recording_mb of them); "
    "--data adds recordings beside them.", metavar="")]
WindowOption = Annotated[str | None, typer.Option(
    help="With --from-live: only the newest stretch of the recording this long (event time), e.g. 24h.")]

app = typer.Typer(help="Train models and inspect the model registry.", no_args_is_help=True)


@app.command()
def train(
    ctx: typer.Context,
    data: DataOption = None,
    synthetic: Annotated[bool, typer.Option(help="Train on the seeded synthetic source.", metavar="")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic source and the model.")] = 7,
    force: Annotated[bool, typer.Option("--force", help="Add a version even when one was trained on the same "
                                        "rows, seed and code.", metavar="")] = False,
    from_live: FromLiveOption = False,
    window: WindowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fit the volatility forecaster and choose and calibrate `ml` on validation beside the
    `baseline` rule, report all three on a later test split, save a version (or name the identical
    one already saved). With --from-live it learns from the ticks the stack consumed."""
    result = _train(settings_of(ctx), data, synthetic, seed, force, from_live, window)
    if as_json:
        console.emit_json({"version": result.version, "path": str(result.path), "identical_to": result.identical_to,
                           "manifest": result.manifest})
    else:
        from volctl.render.models import training_summary

        training_summary(result)


@app.command()
def retrain(
    ctx: typer.Context,
    window: Annotated[str, typer.Option(help="Learn from the newest stretch of the live recording this long "
                                        "(event time).")] = "24h",
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a version from the stream (the ticks the consume service recorded; --data adds
    recordings), add it as a shadow challenger of the served model, and say what `volctl quality`
    will compare. Promotion stays `volctl rollback --to VERSION:VARIANT` or `volctl guard`, on
    evidence."""
    from volctl.core.model.retraining import shadow_plan
    from volctl.core.operations.shadow import change_shadow
    from volctl.domain.errors import Unreachable

    settings = settings_of(ctx)
    result = _train(settings, data, False, 7, False, True, window)
    plan = shadow_plan(settings, result.version)
    change = change_shadow(settings, "shadow_add", plan.target, f"model retrain --window {window}")
    if change.failed:
        problem = "; ".join(f"{name}: {body.get('detail')}" for name, body in change.failed.items())
        raise Unreachable(f"{result.version} was trained but not added in shadow ({problem})",
                          hint=f"start the stack, then `volctl shadow add {plan.target}`")
    if as_json:
        console.emit_json({"version": result.version, "identical_to": result.identical_to, **plan.as_document()})
    else:
        from volctl.render.models import retrain_summary

        retrain_summary(result, plan)


def _train(settings: Settings, data: list[Path] | None, synthetic: bool, seed: int, force: bool, from_live: bool,
           window: str | None) -> TrainResult:
    from volctl.core.model.dataset import live_recording, load_dataset
    from volctl.core.model.training import train_model
    from volctl.domain.registry import Registry

    if window and not from_live:
        raise typer.BadParameter("--window needs --from-live (it is a stretch of the live recording)")
    since = None
    if from_live:  # the stream, and the recordings asked for beside it
        paths, since = live_recording(settings.live_recording_path, window)
        paths += data or []
    else:
        paths = None if synthetic else (data or ([p] if (p := settings.data_path()) else None))
    with console.steps("training", keep=True) as status:
        progress = status.update

        dataset = load_dataset(paths, settings.data.naive_timezone, seed=seed, progress=progress, since=since)
        return train_model(dataset, Registry(settings.registry_path), seed=seed, progress=progress, force=force)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOption = False, wide: WideOption = False) -> None:
    """Show model versions, their variants and test-split metrics."""
    wide_tables(wide)
    from volctl.clients.http import get_json
    from volctl.core.model.models import list_models
    from volctl.render.models import model_table

    settings = settings_of(ctx)
    answer = get_json("predict", settings.predict.url, "/version", timeout_s=1) or {}
    served = (answer["version"], answer.get("model", "")) if answer.get("version") else None
    models = list_models(settings.registry_path, served)
    if as_json:
        console.emit_json(models)
    else:
        model_table(models)


@app.command()
def show(
    ctx: typer.Context,
    version: VersionArgument = None,
    html: HtmlOption = None,
    as_json: JsonOption = False,
    wide: WideOption = False,
) -> None:
    """A version in full: label and splits, metrics of every variant with 90 % block-bootstrap
    intervals, the recommended variant and why, and each variant's reliability table."""
    wide_tables(wide)
    from volctl.core.model.models import show_model
    from volctl.render.models import model_details

    document = show_model(settings_of(ctx).registry_path, version)
    if html:
        from volctl.reports.model_html import model_page

        _write_page(html, model_page(document))
    if as_json:
        console.emit_json(document)
    else:
        model_details(document)


@app.command()
def evaluate(
    ctx: typer.Context,
    version: VersionArgument = None,
    data: Annotated[list[Path] | None, typer.Option(
        "--data", help="Recording file or folder to score (repeatable); best: recordings after the version's "
        "training data.", metavar="PATH")] = None,
    html: HtmlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score recordings out of time with every variant of a version: the training metrics and
    intervals, per file and pooled."""
    from volctl.cli.options import finish
    from volctl.core.model.out_of_time import evaluate_version
    from volctl.render.models import evaluation_report

    settings = settings_of(ctx)
    with console.steps("evaluating") as status:
        evaluation = evaluate_version(settings.registry_path, version, list(data or []),
                                      settings.data.naive_timezone, progress=status.update)
    if html:
        from volctl.reports.model_html import evaluation_page

        _write_page(html, evaluation_page(evaluation))
    finish(evaluation, as_json, evaluation_report)


def _write_page(path: Path, page: str) -> None:
    from volctl.domain.files import write_atomically

    write_atomically(path, page)
    console.note(f"wrote {path}")

"""`volctl model train|list|show`: the model registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volctl.cli._boundary import boundary
from volctl.cli.options import JsonOption, settings_of
from volctl.render import console

VersionArgument = Annotated[str | None, typer.Argument(help="Model version (default: the newest).")]
HtmlOption = Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML page (curves, "
                                                 "reliability plots) to this file.", metavar="FILE")]

app = typer.Typer(help="Train models and inspect the model registry.", no_args_is_help=True)


@app.command()
@boundary
def train(
    ctx: typer.Context,
    data: Annotated[list[Path] | None, typer.Option(
        "--data", help="Recording file or folder (repeatable). Default: the configured data dir, "
        "../shared/data when present, else the seeded synthetic source.")] = None,
    synthetic: Annotated[bool, typer.Option(help="Train on the seeded synthetic source.", metavar="")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic source and the model.")] = 7,
    force: Annotated[bool, typer.Option("--force", help="Add a version even when one was trained on the same "
                                        "rows, seed and code.", metavar="")] = False,
    as_json: JsonOption = False,
) -> None:
    """Choose and calibrate `ml` on validation, evaluate it beside the `baseline` rule on a later
    test split, save a version (or name the identical one already saved)."""
    from volctl.core.dataset import load_dataset
    from volctl.core.training import train_model
    from volctl.domain.registry import Registry
    from volctl.render.models import training_summary

    settings = settings_of(ctx)
    paths = None if synthetic else (data or ([p] if (p := settings.data_path()) else None))
    with console.err.status("training") as status:
        def progress(message: str) -> None:
            status.update(message)
            console.note(message)

        dataset = load_dataset(paths, settings.data.naive_timezone, seed=seed, progress=progress)
        result = train_model(dataset, Registry(settings.registry_path), seed=seed, progress=progress, force=force)
    if as_json:
        console.emit_json({"version": result.version, "path": str(result.path), "identical_to": result.identical_to,
                           "manifest": result.manifest})
    else:
        training_summary(result)


@app.command("list")
@boundary
def list_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show model versions, their variants and test-split metrics."""
    from volctl.core.models import list_models
    from volctl.render.models import model_table

    models = list_models(settings_of(ctx).registry_path)
    if as_json:
        console.emit_json(models)
    else:
        model_table(models)


@app.command()
@boundary
def show(
    ctx: typer.Context,
    version: VersionArgument = None,
    html: HtmlOption = None,
    as_json: JsonOption = False,
) -> None:
    """A version in full: label and splits, metrics of every variant with 90 % block-bootstrap
    intervals, the recommended variant and why, and each variant's reliability table."""
    from volctl.core.models import show_model
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
@boundary
def evaluate(
    ctx: typer.Context,
    version: VersionArgument = None,
    data: Annotated[list[Path] | None, typer.Option(
        "--data", help="Recording file or folder to score (repeatable); best: recordings after the version's "
        "training data.")] = None,
    html: HtmlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score recordings out of time with every variant of a version: the training metrics and
    intervals, per file and pooled. Exit 0 evaluated, 3 no labelled rows with both classes."""
    from volctl.cli.options import finish
    from volctl.core.out_of_time import evaluate_version
    from volctl.render.models import evaluation_report

    settings = settings_of(ctx)
    with console.err.status("evaluating") as status:
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

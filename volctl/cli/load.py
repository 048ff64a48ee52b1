"""`volctl load`: drive the predict service at a fixed arrival rate and judge it against the SLOs."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from volctl.cli.options import JsonOption, finish, settings_of
from volctl.domain.documents import strict_json
from volctl.render import console

Endpoint = Literal["predict", "health", "version"]


def load(
    ctx: typer.Context,
    rps: Annotated[float, typer.Option(min=0.1, help="Requests per second (constant arrival rate).")] = 20.0,
    duration: Annotated[str, typer.Option(help="How long: 30s, 2m, ...")] = "30s",
    endpoint: Annotated[Endpoint, typer.Option(help="predict: POST /predict with real rows; health, version: "
                                               "GET, to measure the service without the model.")] = "predict",
    ramp: Annotated[str | None, typer.Option(help="FROM:TO:DURATION, e.g. 10:200:30s steps the rate "
                                                   "(replaces --rps).")] = None,
    payload: Annotated[str, typer.Option(help="real (rows from the recordings) or a JSON file "
                                         '{"rows": [...]} whose rows are sent one per request.')] = "real",
    save: Annotated[Path | None, typer.Option(help="Keep this run (JSON) for a later --baseline.",
            metavar="FILE")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Compare with a run saved by --save.", metavar="FILE")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML page: the latency "
                                              "distribution by percentile, the rate over the run, errors.",
                                                      metavar="FILE")] = None,
    processes: Annotated[int | None, typer.Option(min=1, help="Processes sharing the schedule (default: one "
                                                  "per 1,500 req/s of the peak rate, at most one per CPU).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Open-model load on POST /predict; latency from the intended send time (no coordinated omission).
    """
    from volctl.clients import built
    from volctl.core.operations import load as core
    from volctl.domain.clock import seconds_of
    from volctl.render.load import load_progress, load_report

    try:
        seconds = seconds_of(duration)
        ramp_spec = core.Ramp.parse(ramp) if ramp else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ramp" if ramp and "--ramp" in str(exc) else "--duration") \
            from None
    peak = max(ramp_spec.start_rps, ramp_spec.end_rps) if ramp_spec else rps
    problem = core.unschedulable(peak, ramp_spec.seconds if ramp_spec else seconds)
    if problem:
        raise typer.BadParameter(problem, param_hint="--ramp" if ramp_spec else "--rps")
    settings = settings_of(ctx)
    core.ensure_answering(settings.predict.url)
    url = f"{settings.predict.url}/{endpoint}"
    bodies, source = core.payload_bodies(settings, payload) if endpoint == "predict" else (None, f"GET /{endpoint}")
    with load_progress(enabled=not as_json) as progress:
        result = core.run_load(url, bodies, rps, seconds, ramp_spec, progress, processes=processes)
    report = core.judge(result, source, settings.slo)
    if endpoint == "predict":  # the service's latency histogram covers /predict only
        with contextlib.closing(built.prometheus(settings, timeout_s=2)) as prometheus:
            report.server_p95_s = core.server_p95(prometheus, result.wall_s)
    saved = _saved_run(baseline) if baseline else None
    if saved is not None:
        report.baseline = core.compare(report, saved)
    document = report.as_document()
    if save:
        save.write_text(strict_json(document))
    if html:
        from volctl.domain.files import write_atomically
        from volctl.reports.load_html import load_page

        write_atomically(html, load_page(report, saved, settings.slo.latency_p95_seconds))
        console.note(f"HTML report written to {html}")
    finish(report, as_json, load_report, document)


def _saved_run(path: Path) -> dict:
    from volctl.domain.errors import ConfigError

    try:
        document = json.loads(path.read_text())
        document["histograms"]["corrected"]["counts"]  # what a comparison needs: KeyError when missing
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--baseline {path} is not a run saved by `volctl load --save`: {exc}",
                          hint="save one with `volctl load ... --save FILE`") from None
    return document

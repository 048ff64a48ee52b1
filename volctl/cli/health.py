"""`volctl health`: deep checks of the running stack, once or as a live view."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from volctl.cli._boundary import boundary
from volctl.cli.options import JsonOption, settings_of
from volctl.errors import EXIT_CANNOT_CHECK, EXIT_CHECK_FAILED
from volctl.render import console


@boundary
def health(
    ctx: typer.Context,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the predict service to answer first.")] = 0.0,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh a live view with latency, rates and lag "
                                        "from Prometheus (Ctrl-C stops).")] = False,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between --watch refreshes.")] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Check predict, consume, broker, Prometheus and its targets, the model's sha256 and consumer lag.

    Exit 0 healthy, 1 a check failed, 3 nothing could be reached (is the stack up?).
    """
    from volctl.clients.http import ServiceClient
    from volctl.core.health import check_stack, wait_until_answering
    from volctl.render.health import health_table

    settings = settings_of(ctx)
    if wait:
        client = ServiceClient("predict", settings.predict.url)
        wait_until_answering(client, "/health", wait)
        client.close()
    if watch:
        _watch(settings, interval)
    report = check_stack(settings)
    if as_json:
        console.emit_json({"healthy": report.healthy, **console.as_plain(report)})
    else:
        health_table(report)
    if report.nothing_answered:
        raise typer.Exit(EXIT_CANNOT_CHECK)
    if not report.healthy:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _watch(settings, interval: float) -> None:
    from rich.live import Live

    from volctl.clients.prometheus import PrometheusClient
    from volctl.core.health import check_stack
    from volctl.core.watch import snapshot
    from volctl.render.stack import watch_view

    prometheus = PrometheusClient(settings.prometheus.url)
    try:
        with Live(console=console.out, auto_refresh=False) as live:
            while True:
                live.update(watch_view(check_stack(settings), snapshot(prometheus, settings.slo)), refresh=True)
                time.sleep(interval)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    finally:
        prometheus.close()

"""`volctl health`: deep checks of the running stack, once or as a live view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from volctl.cli._boundary import boundary
from volctl.cli.options import JsonOption, finish, settings_of

if TYPE_CHECKING:
    from volctl.domain.settings import Settings


@boundary
def health(
    ctx: typer.Context,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the predict service to answer first.")] = 0.0,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh a live view with latency, rates and lag "
                                        "from Prometheus (Ctrl-C stops).", metavar="")] = False,
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
    finish(check_stack(settings), as_json, health_table)


def _watch(settings: Settings, interval: float) -> None:
    from volctl.clients.prometheus import PrometheusClient
    from volctl.core.watch import observe_stack
    from volctl.render.live import show_live
    from volctl.render.stack import watch_view

    prometheus = PrometheusClient(settings.prometheus.url)
    try:
        show_live(watch_view(report, snapshot) for report, snapshot in observe_stack(settings, prometheus, interval))
    finally:
        prometheus.close()
    raise typer.Exit(0)

"""`volctl health`: deep checks of the running services."""

from __future__ import annotations

from typing import Annotated

import typer

from volctl.cli._boundary import boundary
from volctl.cli.options import JsonOption, settings_of
from volctl.errors import EXIT_CANNOT_CHECK, EXIT_CHECK_FAILED
from volctl.render import console


@boundary
def health(
    ctx: typer.Context,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the services to answer first.")] = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Check the predict service, its model's sha256 and a real prediction round trip.

    Exit 0 healthy, 1 a check failed, 3 a service could not be reached.
    """
    from volctl.clients.http import ServiceClient
    from volctl.core.health import check_predict, wait_until_answering
    from volctl.render.health import health_table

    settings = settings_of(ctx)
    client = ServiceClient("predict", settings.predict.url)
    try:
        wait_until_answering(client, "/health", wait)
        report = check_predict(client, settings.registry_path)
    finally:
        client.close()
    if as_json:
        console.emit_json({"healthy": report.healthy, **console.as_plain(report)})
    else:
        health_table(report)
    if report.unreachable:
        raise typer.Exit(EXIT_CANNOT_CHECK)
    if not report.healthy:
        raise typer.Exit(EXIT_CHECK_FAILED)

"""`volctl health`: deep checks of the running stack, once or as a live view."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from volctl.cli.options import JsonOption, finish, settings_of

if TYPE_CHECKING:
    from volctl.core.operations.health import StackClients
    from volctl.domain.settings import Settings


def health(
    ctx: typer.Context,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the predict service to answer first.")] = 0.0,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh a live view with latency, rates and lag "
                                        "from Prometheus (Ctrl-C stops).", metavar="")] = False,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between --watch refreshes.")] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Check predict, consume, broker, Prometheus and its targets, the model's sha256 and consumer lag.
    """
    from volctl.core.monitoring.freshness import expectation
    from volctl.core.operations.health import check_stack, wait_until_answering
    from volctl.render.health import health_table

    settings = settings_of(ctx)
    with _clients(settings) as clients:
        if wait:
            wait_until_answering(clients.predict, "/health", wait)
        if watch:
            _watch(clients, settings, interval)
        report = check_stack(clients, settings, expectation(settings))
    finish(report, as_json, health_table)


@contextmanager
def _clients(settings: Settings) -> Iterator[StackClients]:
    from volctl.clients import built
    from volctl.core.operations.health import StackClients
    from volctl.domain.topology import predict_workers

    workers = predict_workers(settings)
    clients = StackClients(built.predict(settings), built.consumers(settings), built.prometheus(settings),
                           tuple(built.member(w) for w in workers) if len(workers) > 1 else (),
                           built.alertmanager_service(settings),
                           prediction_age=lambda: _prediction_age(settings))
    try:
        yield clients
    finally:
        for client in clients.all():
            client.close()


def _prediction_age(settings: Settings) -> float | None:
    from volctl.clients.built import kafka_reader
    from volctl.core.operations.lag import newest_message_age

    reader = kafka_reader(settings)
    try:
        return newest_message_age(reader, settings.kafka.topic_predictions)
    finally:
        reader.close()


def _watch(clients: StackClients, settings: Settings, interval: float) -> None:
    from volctl.core.operations.watch import observe_stack
    from volctl.render.live import show_live
    from volctl.render.stack import watch_view

    show_live(watch_view(report, snapshot) for report, snapshot in observe_stack(clients, settings, interval))
    raise typer.Exit(0)

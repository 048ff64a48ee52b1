"""Every client volctl uses, built from the settings in this one place: the commands build them and
hand them to core; the few core operations that talk to a service mid-way (a reload, a member's
admin call) build theirs here too. The heavy ones import their library only when built."""

from __future__ import annotations

from typing import TYPE_CHECKING

from volctl.clients.http import ServiceClient
from volctl.domain.incidents import alertmanager_auth
from volctl.domain.settings import Settings
from volctl.domain.topology import Member, consume_members, predict_workers

if TYPE_CHECKING:
    from volctl.clients.alertmanager import AlertmanagerClient
    from volctl.clients.kafka import KafkaReader, Publisher
    from volctl.clients.prometheus import PrometheusClient


def prometheus(settings: Settings, timeout_s: float = 3.0) -> PrometheusClient:
    from volctl.clients.prometheus import PrometheusClient

    return PrometheusClient(settings.prometheus.url, timeout_s=timeout_s)


def alertmanager(settings: Settings) -> AlertmanagerClient:
    from volctl.clients.alertmanager import AlertmanagerClient

    return AlertmanagerClient(settings.alertmanager.url, auth=alertmanager_auth(settings))


def kafka_reader(settings: Settings) -> KafkaReader:
    from volctl.clients.kafka import KafkaReader, bootstrap_of

    return KafkaReader(bootstrap_of(settings.kafka))


def publisher(settings: Settings, outage_s: float) -> Publisher:
    from volctl.clients.kafka import Publisher, bootstrap_of

    return Publisher(bootstrap_of(settings.kafka), timeout_s=settings.kafka.timeout,
                     products=settings.kafka.products, outage_s=outage_s)


def member(member: Member, timeout_s: float = 2.0) -> ServiceClient:
    """One member of a service (a predict worker, a consume member) at its own address."""
    return ServiceClient(member.name, member.url, timeout_s=timeout_s)


def predict(settings: Settings, timeout_s: float = 2.0) -> ServiceClient:
    """The predict service's front port (its workers share it)."""
    return ServiceClient("predict", settings.predict.url, timeout_s=timeout_s)


def consume(settings: Settings, timeout_s: float = 2.0) -> ServiceClient:
    """The first consume member (a single-member stack's consume service)."""
    return ServiceClient("consume", settings.consume.url, timeout_s=timeout_s)


def alertmanager_service(settings: Settings) -> ServiceClient:
    """Alertmanager's own HTTP endpoints (/-/ready), as the other services'."""
    return ServiceClient("alertmanager", settings.alertmanager.url, auth=alertmanager_auth(settings))


def consumers(settings: Settings, timeout_s: float = 2.0) -> tuple[ServiceClient, ...]:
    return tuple(member(m, timeout_s) for m in consume_members(settings))


def admin_clients(settings: Settings, timeout_s: float = 10.0) -> dict[str, ServiceClient]:
    """Every process that serves a model, each at its own address: the predict workers, then the
    consume members (a rollback switches and verifies each of them; `up` brings them to one model)."""
    return {m.name: member(m, timeout_s) for m in [*predict_workers(settings), *consume_members(settings)]}

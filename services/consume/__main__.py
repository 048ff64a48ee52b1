"""Run the consume service: `python -m services.consume [--port 8001] [--variant ml]`.

Reads ticks.raw as group volctl-consumer, writes one prediction per tick to ticks.predictions
(bad messages to ticks.dlq), serves /metrics and /health. SIGTERM or Ctrl-C: the batch in hand
is delivered and committed, then the service exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from prometheus_client import CollectorRegistry, disable_created_metrics

from services.consume.app import ConsumeService
from services.consume.http import serve_http
from services.consume.processor import TickProcessor
from volctl.clients.kafka import bootstrap_of
from volctl.domain.drift_metrics import DriftCollector, latest_summary_path
from volctl.domain.errors import VolctlError
from volctl.domain.feature_log import FeatureLog, JsonLinesLog, TickRecording, member_folder
from volctl.domain.forecast import write_bound
from volctl.domain.metrics import ConsumeMetrics
from volctl.domain.model_admin import ModelAdmin, initial_model, initial_shadow
from volctl.domain.outcomes import OUTCOMES_PREFIX, challengers_of, outcomes_folder
from volctl.domain.registry import Registry
from volctl.domain.service_log import configure_service_logging
from volctl.domain.settings import exposure_warnings, load_settings
from volctl.domain.topology import consume_members
from volctl.domain.variants import CHOICES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.consume", description=__doc__)
    parser.add_argument("--config", help="volctl.toml path")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: the embedded broker)")
    parser.add_argument("--variant", choices=CHOICES)
    parser.add_argument("--version", dest="model_version", help="model version (default: newest)")
    parser.add_argument("--registry", help="model registry folder")
    parser.add_argument("--state-dir", help="state directory (feature log)")
    parser.add_argument("--member", type=int, default=1,
                        help="this member's number in the consumer group (1, 2, ...): port consume.port + n - 1, "
                             "its own feature and outcome logs")
    args = parser.parse_args(argv)
    configure_service_logging()
    # kafka-python retries noisily and we log the state changes; VOLCTL_KAFKA_LOG=INFO shows its own.
    kafka_level = os.environ.get("VOLCTL_KAFKA_LOG", "CRITICAL").upper()
    known_level = kafka_level in logging.getLevelNamesMapping()
    logging.getLogger("kafka").setLevel(kafka_level if known_level else "CRITICAL")
    log = logging.getLogger("volctl.consume")
    if not known_level:
        log.warning("VOLCTL_KAFKA_LOG=%s is not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL): "
                    "kafka-python's log stays off", kafka_level)
    if args.member < 1:
        parser.error("--member must be 1 or more")
    try:
        settings = load_settings(args.config, overrides={
            "consume.host": args.host, "consume.port": args.port, "kafka.bootstrap": args.bootstrap,
            "model.variant": args.variant or os.environ.get("MODEL_VARIANT"),
            "model.version": args.model_version, "model.registry_dir": args.registry, "state_dir": args.state_dir,
        })
        model, why = initial_model(settings)
    except VolctlError as exc:
        log.error("cannot start: %s (%s)", exc.message, exc.hint or "")
        return 3
    for warning in exposure_warnings(settings):
        log.warning(warning)
    member = consume_members(settings, args.member)[-1]
    if args.port is None:  # member n listens on consume.port + n - 1
        settings.consume.port = member.port
    disable_created_metrics()
    registry = CollectorRegistry()
    metrics = ConsumeMetrics(registry)
    registry.register(DriftCollector(latest_summary_path(settings.state_path)))
    service = ConsumeService(settings.kafka, bootstrap_of(settings.kafka),
                             TickProcessor(model, settings.data.naive_timezone,
                                           settings.data.max_clock_skew_s,
                                           max_products=settings.consume.max_products), metrics,
                             FeatureLog(member_folder(settings.state_path / "features", member.name)),
                             JsonLinesLog(member_folder(outcomes_folder(settings.state_path), member.name),
                                          OUTCOMES_PREFIX),
                             lambda served: challengers_of(Registry(settings.registry_path), served,
                                                           settings.model.shadow),
                             initial_shadow(settings, "consume"), member=member.name,
                             publish_bound=lambda bound: write_bound(settings.state_path, bound),
                             recording=TickRecording(settings.live_recording_path / member.name,  # a series each
                                                     int(settings.data.live_recording_mb * 1e6))
                             if settings.data.live_recording_mb > 0 else None)
    admin = ModelAdmin("consume", settings, lambda: service.processor.model, service.install_model,
                       lambda outcome: metrics.model_switches.labels(outcome).inc(), shadow=service)
    try:
        server = serve_http(settings.consume.host, settings.consume.port, registry, service.health_document,
                            service.version_document, admin, lambda: metrics.errors.labels("http_busy").inc())
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", settings.consume.host, settings.consume.port, exc)
        return 3
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stopping.set())
    log.info("member %s scoring with %s model %s (%s); metrics on %s/metrics", member.name, model.variant,
             model.version, why, settings.consume.url)
    service.run()
    server.shutdown()
    log.info("stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())

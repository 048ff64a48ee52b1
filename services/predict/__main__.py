"""Run the predict service: `python -m services.predict [--port 8000] [--variant ml]`.

Settings come from the shared volctl config (file, VOLCTL_* environment); MODEL_VARIANT picks
the starting variant. With no loadable model the service still starts and answers 503 on
/health until one is trained, so a supervisor can tell "up but not ready" from "down".
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from prometheus_client import CollectorRegistry, disable_created_metrics

from services.predict.app import Faults, ModelHolder, PredictService, create_app
from volctl.domain.errors import VolctlError
from volctl.domain.forecast import BoundReader
from volctl.domain.metrics import PredictMetrics
from volctl.domain.model_admin import ModelAdmin, initial_model
from volctl.domain.service_log import configure_service_logging
from volctl.domain.settings import Settings, exposure_warnings, load_settings
from volctl.domain.topology import Member, predict_workers
from volctl.domain.variants import CHOICES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.predict", description=__doc__)
    parser.add_argument("--config", help="volctl.toml path")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--variant", choices=CHOICES)
    parser.add_argument("--version", dest="model_version", help="model version (default: newest)")
    parser.add_argument("--registry", help="model registry folder")
    parser.add_argument("--worker", type=int, default=0,
                        help="this worker's number (1, 2, ...) when predict.workers > 1: it shares the port with "
                             "the others and also listens alone on predict.worker_port + n - 1")
    args = parser.parse_args(argv)
    configure_service_logging()
    log = logging.getLogger("volctl.predict")
    try:
        settings = load_settings(args.config, overrides={
            "predict.host": args.host, "predict.port": args.port,
            "model.variant": args.variant or os.environ.get("MODEL_VARIANT"),
            "model.version": args.model_version, "model.registry_dir": args.registry,
        })
    except VolctlError as exc:
        log.error("bad configuration: %s", exc.message)
        return 3
    for warning in exposure_warnings(settings):
        log.warning(warning)
    app, worker = build_app(settings, args.worker, log)

    import uvicorn

    from services.predict.protocol import bounded_head_protocol

    protocol = bounded_head_protocol(lambda: app.metrics.errors.labels("any", "head_too_large").inc())
    if not args.worker:
        # log_config=None: uvicorn's lines go through the service log (escaped, summarised, rotated),
        # not its own handler on stderr (10,000 malformed requests wrote 410,000 B, one line each)
        uvicorn.run(app, host=settings.predict.host, port=settings.predict.port, http=protocol,
                    log_level="warning", access_log=False, log_config=None)
        return 0
    try:
        sockets = [listen(settings.predict.host, settings.predict.port, shared=True),
                   listen(worker.host, worker.port, shared=False)]
    except OSError as exc:
        log.error("worker %s cannot listen on %s:%s and %s: %s", worker.name, settings.predict.host,
                  settings.predict.port, worker.address, exc)
        return 3
    log.info("worker %s: /predict on the shared port %s, alone on %s", worker.name, settings.predict.port,
             worker.address)
    uvicorn.Server(uvicorn.Config(app, http=protocol, log_level="warning", access_log=False,
                                  log_config=None)).run(sockets=sockets)
    return 0


def build_app(settings: Settings, worker_index: int = 0,
              log: logging.Logger | None = None) -> tuple[PredictService, Member]:
    """The service as one ASGI app (model loaded, metrics, admin) and the worker it answers as;
    `main` serves it, tests call it in process through httpx.ASGITransport."""
    log = log or logging.getLogger("volctl.predict")
    disable_created_metrics()  # *_created series only add scrape weight here
    registry = CollectorRegistry()
    metrics = PredictMetrics(registry)
    holder = ModelHolder(metrics)
    try:
        model, why = initial_model(settings)
        holder.swap(model)
        log.info("serving %s model %s (sha256 %s…): %s", model.variant, model.version, model.sha256[:12], why)
    except VolctlError as exc:
        log.error("no model loaded: %s (%s)", exc.message, exc.hint or "")
    faults = Faults.parse(os.environ["VOLCTL_PREDICT_FAULTS"]) if os.environ.get("VOLCTL_PREDICT_FAULTS") else None
    if faults is not None:
        log.warning("FAULT INJECTION ON (test only): %s", faults)
    admin = ModelAdmin("predict", settings, lambda: holder.current, holder.swap,
                       lambda outcome: metrics.model_switches.labels(outcome).inc())
    # A worker number means several workers (at least 2): the shared port plus one of its own.
    worker = (predict_workers(settings, max(settings.predict.workers, worker_index, 2))[worker_index - 1]
              if worker_index > 0 else predict_workers(settings, 1)[0])
    app = create_app(holder, registry, metrics, faults, admin, worker.name, BoundReader(settings.state_path))
    return app, worker


def listen(host: str, port: int, shared: bool) -> socket.socket:
    """A listening socket; `shared`: SO_REUSEPORT, so every worker binds the same port and the kernel
    spreads new connections over them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


if __name__ == "__main__":
    sys.exit(main())

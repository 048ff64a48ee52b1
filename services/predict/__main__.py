"""Run the predict service: `python -m services.predict [--port 8000] [--variant ml]`.

Settings come from the shared volctl config (file, VOLCTL_* environment); MODEL_VARIANT picks
the starting variant. With no loadable model the service still starts and answers 503 on
/health until one is trained, so a supervisor can tell "up but not ready" from "down".
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from prometheus_client import CollectorRegistry, disable_created_metrics

from services.predict.app import Faults, ModelHolder, create_app
from volctl.domain.errors import VolctlError
from volctl.domain.metrics import PredictMetrics
from volctl.domain.model_admin import ModelAdmin, initial_model
from volctl.domain.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.predict", description=__doc__)
    parser.add_argument("--config", help="volctl.toml path")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--variant", choices=("auto", "baseline", "ml"))
    parser.add_argument("--version", dest="model_version", help="model version (default: newest)")
    parser.add_argument("--registry", help="model registry folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
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
    disable_created_metrics()  # *_created series only add scrape weight here
    registry = CollectorRegistry()
    metrics = PredictMetrics(registry)
    holder = ModelHolder(metrics)
    try:
        model, why = initial_model(settings, "predict")
        holder.swap(model)
        log.info("serving %s model %s (sha256 %s…): %s", model.variant, model.version, model.sha256[:12], why)
    except VolctlError as exc:
        log.error("no model loaded: %s (%s)", exc.message, exc.hint or "")
    faults = Faults.parse(os.environ["VOLCTL_PREDICT_FAULTS"]) if os.environ.get("VOLCTL_PREDICT_FAULTS") else None
    if faults is not None:
        log.warning("FAULT INJECTION ON (test only): %s", faults)
    admin = ModelAdmin("predict", settings, lambda: holder.current, holder.swap,
                       lambda outcome: metrics.model_switches.labels(outcome).inc())
    app = create_app(holder, registry, metrics, faults, admin)

    import uvicorn

    uvicorn.run(app, host=settings.predict.host, port=settings.predict.port,
                log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

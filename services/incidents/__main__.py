"""volctl's Alertmanager receiver: `python -m services.incidents [--port 9095]`.

POST /alerts takes Alertmanager's webhook notifications and appends each alert, firing and
resolved, to the incident timeline (`<state_dir>/incidents/`), with the value Prometheus sees for
a firing alert. The entry is on disk before the 200: an answer other than 200 makes Alertmanager
send it again, so nothing is lost. No token: it listens on loopback only (`--host` is for a
container network, where compose.yaml runs it). /health and /metrics as the other services.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import signal
import sys
import threading
import time
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, disable_created_metrics

from volctl.clients.prometheus import PrometheusClient
from volctl.domain.errors import VolctlError
from volctl.domain.feature_log import JsonLinesLog
from volctl.domain.http_server import ServiceHandler, ServiceHTTPServer
from volctl.domain.incidents import (
    MAX_NOTIFICATION_BYTES,
    BadNotification,
    entries_of,
    incidents_folder,
    receiver_secret,
    timeline_log,
)
from volctl.domain.metrics import IncidentMetrics
from volctl.domain.model_admin import read_admin_token
from volctl.domain.service_log import configure_service_logging
from volctl.domain.settings import load_settings
from volctl.domain.text import printable

log = logging.getLogger("volctl.incidents")


class Receiver:
    def __init__(self, timeline: JsonLinesLog, metrics: IncidentMetrics, prometheus_url: str, secret: str) -> None:
        self.secret = secret  # "" : no admin token here, and then no notification is taken
        self.timeline = timeline
        self.metrics = metrics
        self.prometheus_url = prometheus_url
        self._lock = threading.Lock()  # one writer of the timeline at a time

    def receive(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            entries = entries_of(orjson.loads(body), time.time())
        except orjson.JSONDecodeError:
            return self._refuse("not_json", "the body is not JSON")
        except BadNotification as exc:
            return self._refuse(exc.reason, str(exc))
        if any(e["status"] == "firing" for e in entries):
            self._add_values(entries)
        try:
            with self._lock:
                self.timeline.write(entries)
        except OSError as exc:  # Alertmanager retries a 5xx: the notification is not lost
            log.error("cannot write the incident timeline: %s", exc)
            return 500, {"detail": f"cannot write the incident timeline: {exc}"}
        for entry in entries:
            self.metrics.notifications.labels(entry["status"]).inc()
            log.info("%s %s (%s): %s", entry["status"], entry["alertname"], entry["severity"], entry["summary"])
        return 200, {"kept": len(entries)}

    def authorised(self, header: str) -> bool:
        """Only the stack's Alertmanager: anyone else could forge a page or flush the timeline."""
        if self.secret and hmac.compare_digest(header.encode(), f"Bearer {self.secret}".encode()):
            return True
        self.metrics.rejected.labels("unauthorized").inc()
        log.warning("refused a notification without the receiver's token%s",
                    "" if self.secret else " (no admin token here: none can be authenticated)")
        return False

    def _refuse(self, reason: str, detail: str) -> tuple[int, dict[str, Any]]:
        self.metrics.rejected.labels(reason).inc()
        log.warning("refused a notification: %s", detail)
        return 400, {"detail": detail, "reason": reason}

    def _add_values(self, entries: list[dict[str, Any]]) -> None:
        """The value each firing alert has in Prometheus now, and when its condition first held
        (activeAt: the webhook carries neither); unknown (None) when Prometheus does not answer."""
        client = PrometheusClient(self.prometheus_url, timeout_s=2)
        try:
            active = client.alerts()
        except VolctlError as exc:
            log.warning("alert values unknown: %s", exc.message)
            return
        finally:
            client.close()
        values = {_key(a.get("labels") or {}): a.get("value") for a in active}
        since = {_key(a.get("labels") or {}): a.get("activeAt") for a in active}
        for entry in entries:
            value = values.get(_key(entry["labels"]))
            active_at = since.get(_key(entry["labels"]))
            entry["active_at"] = printable(str(active_at), 64) if active_at else None
            try:
                entry["value"] = float(value) if value is not None else None
            except ValueError:
                entry["value"] = None


def _key(labels: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def serve(host: str, port: int, receiver: Receiver, registry: CollectorRegistry) -> ServiceHTTPServer:
    class Handler(ServiceHandler):
        def health(self) -> dict[str, Any]:
            return {"status": "ok", "timeline": str(receiver.timeline.folder)}

        def get_other(self, path: str) -> None:
            self.json(404, {"detail": f"no {path} here: POST /alerts, GET /health or /metrics"})

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != "/alerts":
                self.json(404, {"detail": "POST notifications to /alerts"})
                return
            if not receiver.authorised(self.headers.get("Authorization", "")):
                self.close_connection = True  # the unread body must not be taken for the next request
                self.json(401, {"detail": "only the stack's Alertmanager posts here (a bearer token from "
                                          "the rendered config)", "reason": "unauthorized"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 < length <= MAX_NOTIFICATION_BYTES:
                receiver.metrics.rejected.labels("size").inc()
                self.close_connection = True  # the unread body must not be taken for the next request
                self.json(413 if length > 0 else 400,
                          {"detail": f"a notification is 1 to {MAX_NOTIFICATION_BYTES} bytes with a Content-Length"})
                return
            self.json(*receiver.receive(self.rfile.read(length)))

    Handler.registry = registry
    server = ServiceHTTPServer((host, port), Handler, on_busy=lambda: receiver.metrics.rejected.labels("busy").inc())
    threading.Thread(target=server.serve_forever, name="incidents-http", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.incidents", description=__doc__)
    parser.add_argument("--config", help="volctl.toml path")
    parser.add_argument("--host", default="127.0.0.1", help="default loopback: the receiver takes no token")
    parser.add_argument("--port", type=int, help="default alertmanager.receiver_port (9095)")
    args = parser.parse_args(argv)
    configure_service_logging()
    try:
        settings = load_settings(args.config)
    except VolctlError as exc:
        log.error("cannot start: %s (%s)", exc.message, exc.hint or "")
        return 3
    port = args.port or settings.alertmanager.receiver_port
    disable_created_metrics()
    registry = CollectorRegistry()
    receiver = Receiver(timeline_log(incidents_folder(settings)), IncidentMetrics(registry), settings.prometheus.url,
                        receiver_secret(read_admin_token(settings)))
    try:
        server = serve(args.host, port, receiver, registry)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, port, exc)
        return 3
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    log.info("receiving Alertmanager notifications on http://%s:%s/alerts; timeline in %s", args.host, port,
             receiver.timeline.folder)
    stopping.wait()
    server.shutdown()
    receiver.timeline.close()
    log.info("stopped cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())

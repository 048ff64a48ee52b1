"""The consume service's small HTTP side: /metrics (Prometheus text), /health and /version (JSON),
and POST /admin/model (volctl/domain/model_admin.py).

The standard library's threading server is enough for two scrape-sized endpoints and keeps the
consume loop free of an event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from volctl.domain.http_server import ServiceHTTPServer
from volctl.domain.model_admin import ADMIN_PATH, MAX_ADMIN_BODY, ModelAdmin


def serve_http(host: str, port: int, registry: CollectorRegistry, health: Callable[[], dict[str, Any]],
               version: Callable[[], dict[str, Any]], admin: ModelAdmin | None = None,
               on_busy: Callable[[], None] = lambda: None) -> ServiceHTTPServer:
    """Start the server in a daemon thread; call `.shutdown()` to stop it. `on_busy` counts each
    connection turned away because every thread of the pool is taken."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/health":
                document = health()
                self._reply(200 if document["status"] == "ok" else 503, orjson.dumps(document), "application/json")
            elif path == "/version":
                self._reply(200, orjson.dumps(version()), "application/json")
            else:
                self._not_found(path)

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path != ADMIN_PATH or admin is None:
                self._not_found(path)
                return
            refused = admin.refusal(self.headers.get("Authorization"))  # before a byte of the body is read
            if refused is not None:
                self._reply(refused.status, orjson.dumps(refused.document), "application/json")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_ADMIN_BODY:
                self._reply(413, orjson.dumps({"detail": f"body must be 0..{MAX_ADMIN_BODY} bytes"}),
                            "application/json")
                return
            reply = admin.handle(self.headers.get("Authorization"), self.rfile.read(length))
            self._reply(reply.status, orjson.dumps(reply.document), "application/json")

        def _not_found(self, path: str) -> None:
            self._reply(404, orjson.dumps({"detail": f"no route {path}; try /health, /version or /metrics"}),
                        "application/json")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if status == 401:
                self.send_header("WWW-Authenticate", "Bearer")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ServiceHTTPServer((host, port), Handler, on_busy)
    threading.Thread(target=server.serve_forever, name="consume-http", daemon=True).start()
    return server

"""The consume service's small HTTP side: /metrics (Prometheus text), /health and /version (JSON),
and POST /admin/model (volctl/domain/model_admin.py).

The standard library's threading server is enough for two scrape-sized endpoints and keeps the
consume loop free of an event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from volctl.domain.http_server import ServiceHandler, ServiceHTTPServer
from volctl.domain.model_admin import ADMIN_PATH, MAX_ADMIN_BODY, ModelAdmin


def serve_http(host: str, port: int, registry: CollectorRegistry, health: Callable[[], dict[str, Any]],
               version: Callable[[], dict[str, Any]], admin: ModelAdmin | None = None,
               on_busy: Callable[[], None] = lambda: None) -> ServiceHTTPServer:
    """Start the server in a daemon thread; call `.shutdown()` to stop it. `on_busy` counts each
    connection turned away because every thread of the pool is taken."""

    class Handler(ServiceHandler):
        def health(self) -> dict[str, Any]:
            return health()

        def get_other(self, path: str) -> None:
            if path == "/version":
                self.json(200, version())
            else:
                self.json(404, {"detail": f"no route {path}; try /health, /version or /metrics"})

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path != ADMIN_PATH or admin is None:
                self.json(404, {"detail": f"no route {path}; try /health, /version or /metrics"})
                return
            refused = admin.refusal(self.headers.get("Authorization"))  # before a byte of the body is read
            if refused is not None:
                self.json(refused.status, refused.document)
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_ADMIN_BODY:
                self.json(413, {"detail": f"body must be 0..{MAX_ADMIN_BODY} bytes"})
                return
            reply = admin.handle(self.headers.get("Authorization"), self.rfile.read(length))
            self.json(reply.status, reply.document)

    Handler.registry = registry
    server = ServiceHTTPServer((host, port), Handler, on_busy)
    threading.Thread(target=server.serve_forever, name="consume-http", daemon=True).start()
    return server

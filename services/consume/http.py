"""The consume service's small HTTP side: /metrics (Prometheus text) and /health (JSON).

The standard library's threading server is enough for two scrape-sized endpoints and keeps the
consume loop free of an event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def serve_http(host: str, port: int, registry: CollectorRegistry,
               health: Callable[[], dict[str, Any]]) -> ThreadingHTTPServer:
    """Start the server in a daemon thread; call `.shutdown()` to stop it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/health":
                document = health()
                self._reply(200 if document["status"] == "ok" else 503, orjson.dumps(document), "application/json")
            else:
                self._reply(404, orjson.dumps({"detail": f"no route {path}; try /health or /metrics"}),
                            "application/json")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="consume-http", daemon=True).start()
    return server

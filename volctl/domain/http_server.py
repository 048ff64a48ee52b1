"""The small HTTP servers of the consume service and the incident receiver: a client that breaks
off is one log line (summarised in bursts by the service log), never a traceback on stderr, a slow
client cannot hold a thread for ever, and slow clients together hold at most MAX_CLIENTS threads
(3,000 half-sent requests made 1,639 threads in consume, which stopped answering for 15 minutes)."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger("volctl.http")

CLIENT_TIMEOUT_S = 10.0  # a request's socket reads and writes; a client silent this long is dropped
MAX_CLIENTS = 32  # connections served at once; Prometheus, volctl and Alertmanager need a handful
_BUSY_BODY = b'{"detail": "busy: too many open connections; try again soon"}'
_BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
         b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class ServiceHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a stop does not wait for a client that hangs
    # socketserver's 5: in a burst of connections the kernel dropped the handshakes beyond it, and a
    # client that thought itself connected waited seconds for the SYN-ACK retransmits to be answered
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 on_busy: Callable[[], None] = lambda: None) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._on_busy = on_busy  # counts each connection refused for want of a slot

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._on_busy()
            with contextlib.suppress(OSError):  # told in one short write; a client that reads nothing loses it
                request.settimeout(0.5)
                request.sendall(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: the slot is free again
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(CLIENT_TIMEOUT_S)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver printed ~400 B of traceback to stderr for each reset connection
        error = sys.exc_info()[1]
        log.warning("a client at %s broke off: %s", client_address[0], type(error).__name__)


class ServiceHandler(BaseHTTPRequestHandler):
    """What every small service answers alike: GET /metrics from its registry, GET /health from
    `health()` (503 unless its status is "ok"), JSON replies, no access log (each service logs what
    matters, once). A service adds its own routes in `get_other` and `do_POST`."""

    registry: ClassVar[CollectorRegistry]

    def health(self) -> dict[str, Any]:
        raise NotImplementedError

    def get_other(self, path: str) -> None:
        self.json(404, {"detail": f"no route {path}"})

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self.reply(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        elif path == "/health":
            document = self.health()
            self.json(200 if document.get("status") == "ok" else 503, document)
        else:
            self.get_other(path)

    def json(self, status: int, document: Any) -> None:
        self.reply(status, orjson.dumps(document), "application/json")

    def reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass

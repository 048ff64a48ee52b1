"""The small HTTP servers of the consume service and the incident receiver: a client that breaks
off is one log line (summarised in bursts by the service log), never a traceback on stderr, and a
slow client cannot hold a thread for ever."""

from __future__ import annotations

import logging
import sys
from http.server import ThreadingHTTPServer
from typing import Any

log = logging.getLogger("volctl.http")

CLIENT_TIMEOUT_S = 10.0  # a request's socket reads and writes; a client silent this long is dropped


class ServiceHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a stop does not wait for a client that hangs

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(CLIENT_TIMEOUT_S)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver printed ~400 B of traceback to stderr for each reset connection
        error = sys.exc_info()[1]
        log.warning("a client at %s broke off: %s", client_address[0], type(error).__name__)

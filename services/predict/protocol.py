"""uvicorn's HTTP protocol (httptools) with a bound on a request's head.

httptools holds a header in memory until it ends: four 100 MB headers took predict from 70 to
500 MB and were answered 200 (issue 41). Consume and the incident receiver (http.server) refuse a
line over 64 KiB with 431; predict refuses a head over MAX_HEAD_BYTES the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 1024 * 1024  # the request line and every header: cookies and tokens fit many times over
_REFUSAL = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%s")
_DETAIL = (b'{"detail": "request line and headers larger than %d bytes", "error_type": "head_too_large"}'
           % MAX_HEAD_BYTES)


def bounded_head_protocol(on_refused: Callable[[], None]) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn's `http=`: `on_refused` counts each refusal."""

    class BoundedHead(HttpToolsProtocol):
        _in_head = True  # until the parser has seen the whole head of the current request
        _head_bytes = 0

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._head_bytes = True, 0

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._in_head and not self.transport.is_closing():
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    on_refused()
                    self.transport.write(_REFUSAL % (len(_DETAIL), _DETAIL))
                    self.transport.close()

    return BoundedHead

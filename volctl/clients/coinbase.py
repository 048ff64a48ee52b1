"""The Coinbase Advanced Trade WebSocket ticker feed, reconnecting with backoff.

Every (re)connection subscribes again to `ticker` (and `heartbeats`, which keeps quiet products'
connections open); frames are yielded as text, exactly as they arrive, so that a recording of
them is a valid replay file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

from volctl.domain.errors import ConfigError

INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0


async def ticker_frames(
    url: str,
    products: list[str],
    on_event: Callable[[str], None] = lambda _message: None,
    max_backoff_s: float = MAX_BACKOFF_S,
) -> AsyncIterator[str]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

    backoff = INITIAL_BACKOFF_S
    connections = 0
    while True:
        try:
            async with connect(url, open_timeout=10, max_size=2**22, proxy=None) as socket:
                for channel in ("ticker", "heartbeats"):
                    await socket.send(json.dumps({"type": "subscribe", "product_ids": products, "channel": channel}))
                connections += 1
                on_event(f"{'re' if connections > 1 else ''}connected to {url}; subscribed to ticker for "
                         f"{', '.join(products)}")
                async for frame in socket:
                    backoff = INITIAL_BACKOFF_S  # data flows again: the next drop starts from a short wait
                    yield frame if isinstance(frame, str) else frame.decode("utf-8", errors="replace")
                on_event(f"{url} closed the connection")
        except InvalidURI as exc:
            raise ConfigError(f"data.live_url {url!r} is not a WebSocket URL", hint="use wss://host/path") from exc
        except (OSError, TimeoutError, InvalidHandshake, WebSocketException) as exc:
            on_event(f"connection to {url} failed: {type(exc).__name__}: {exc}")
        on_event(f"reconnecting in {backoff:g} s")
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_s)

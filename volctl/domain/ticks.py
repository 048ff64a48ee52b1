"""One internal tick record, and the normaliser that builds it from every known message shape.

Shapes are recognised by their field names, never by file name (see shared PROVENANCE.md):
live Advanced Trade messages (`channel` + `events`), recorder envelopes around any of them
(`{"ingest_time", "product_id", "payload": {...}}`: the payload's own time, the envelope's as a
fallback), the exchange recorder wrapper (`ts` + `raw` string), the advtrade recorder (`timestamp`
+ `raw` object), legacy exchange `ticker` objects, flat records (`product_id`, `price` and a time
field, our own wire format included) and trade CSV rows (`timestamp`, `price`, `volume`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from volctl.domain.clock import utc_iso

# Fields that name the event time, best first: exchange time beats receive time.
_FLAT_TIME_FIELDS = ("time", "ws_timestamp", "ts", "timestamp", "event_time", "received_at")
_NOT_TICKS = {"subscriptions", "heartbeat", "heartbeats", "error", "status"}
# A product id has a shape (BTC-USD, ETH-USDC, 1INCH-USD): anything else is a dead letter, never a key
# in every log and metric (10,000-character ids were accepted and grew the logs by megabytes).
PRODUCT_SHAPE = re.compile(r"[A-Za-z0-9]{1,16}-[A-Za-z0-9]{1,16}")


class BadTick(ValueError):
    """A message that is not a valid tick; `reason` is a short machine-friendly label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Tick:
    """A normalised ticker tick. Decimal values stay strings (exact); `ts` is epoch seconds UTC."""

    product: str
    ts: float
    price: str
    best_bid: str | None = None
    best_ask: str | None = None
    bid_size: str | None = None
    ask_size: str | None = None
    volume_24h: str | None = None

    @property
    def time_iso(self) -> str:
        return utc_iso(self.ts, "microseconds")

    def to_wire(self) -> dict[str, Any]:
        """The flat record published to Kafka; `normalise` reads it back unchanged."""
        record: dict[str, Any] = {"product_id": self.product, "time": self.time_iso, "price": self.price}
        for name in ("best_bid", "best_ask", "bid_size", "ask_size", "volume_24h"):
            value = getattr(self, name)
            if value is not None:
                record[name] = value
        return record


def normalise(message: Any, naive_tz: str = "UTC", product: str | None = None,
              fallback_time: Any = None) -> list[Tick]:
    """Turn one decoded message into ticks ([] for known non-tick messages such as subscriptions).
    `fallback_time` is a wrapper's time, used where the message itself carries none.

    Raises BadTick for anything that claims to be a tick but is not a valid one.
    """
    if not isinstance(message, dict):
        raise BadTick("not_an_object", type(message).__name__)
    inner = _enveloped(message)
    if inner is not None:  # {"ingest_time": "...", "payload": {...}}: the exchange message inside a wrapper
        wrapper_product = message.get("product_id")
        return normalise(inner, naive_tz, product or (wrapper_product if isinstance(wrapper_product, str) else None),
                         _time_of(message) or fallback_time)
    if "events" in message and "channel" in message:
        return _from_live_message(message, naive_tz, fallback_time)
    raw = message.get("raw")
    if isinstance(raw, str):  # exchange recorder wrapper: the original WebSocket JSON as a string
        import orjson

        try:
            inner = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadTick("bad_json", "raw field is not JSON") from exc
        return normalise(inner, naive_tz, product or message.get("pair"))
    kind = message.get("type")
    if kind in _NOT_TICKS:
        return []
    if kind not in (None, "ticker"):
        raise BadTick("not_a_ticker", f"type {kind!r}")
    if isinstance(raw, dict):  # advtrade recorder: flat fields plus the Advanced Trade ticker
        merged = {**raw, **{k: v for k, v in message.items() if k != "raw"}}
        return [_from_flat(merged, naive_tz, product, fallback_time)]
    return [_from_flat(message, naive_tz, product, fallback_time)]


_MESSAGE_KEYS = ("type", "product_id", "price", "raw", "channel", "pair", "symbol")
_OWN_CONTENT = ("price", "events", "raw", "type", "channel")  # a line with one of these is a message itself
_WRAPPER_TIME_FIELDS = ("ingest_time", *_FLAT_TIME_FIELDS, "received")


def _recognisable(value: Any) -> bool:
    return isinstance(value, dict) and any(key in value for key in _MESSAGE_KEYS)


def _time_of(message: dict[str, Any]) -> Any:
    return next((message[f] for f in _WRAPPER_TIME_FIELDS if message.get(f) not in (None, "")), None)


def _enveloped(message: dict[str, Any]) -> dict[str, Any] | None:
    """The one exchange message a recorder's envelope wraps (one level, under any field name, as
    an object or as a JSON string), when the line itself is not one; else None. An envelope may
    name the product (`{"ingest_time", "product_id", "payload": {live message}}`): a line is a
    message itself only when it carries a price, events, a raw message or a type."""
    if any(key in message for key in _OWN_CONTENT):
        return None
    found = []
    for value in message.values():
        if isinstance(value, str) and value[:1] == "{":
            import orjson

            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
        if _recognisable(value):
            found.append(value)
    return found[0] if len(found) == 1 else None


def _from_live_message(message: dict[str, Any], naive_tz: str, fallback_time: Any = None) -> list[Tick]:
    if message.get("channel") != "ticker":
        return []
    events = message.get("events")
    if not isinstance(events, list):
        raise BadTick("bad_events", "events is not a list")
    ticks = []
    for event in events:
        for ticker in (event or {}).get("tickers") or []:
            if not isinstance(ticker, dict):
                raise BadTick("bad_events", "ticker is not an object")
            ticks.append(_from_flat({**ticker, "timestamp": message.get("timestamp") or fallback_time}, naive_tz))
    return ticks


def _from_flat(record: dict[str, Any], naive_tz: str, product: str | None = None, fallback_time: Any = None) -> Tick:
    product_id = record.get("product_id") or record.get("pair") or product
    if not isinstance(product_id, str) or not product_id:
        raise BadTick("missing_product")
    if not PRODUCT_SHAPE.fullmatch(product_id):
        raise BadTick("bad_product", f"{len(product_id)} characters, expected letters and digits "
                      f"with one dash: {product_id[:24]!r}")
    when = next((record[f] for f in _FLAT_TIME_FIELDS if record.get(f) not in (None, "")), fallback_time)
    if when is None:
        raise BadTick("missing_time")
    price = _decimal(record.get("price"), "price", required=True)
    bid = _decimal(record.get("best_bid"), "best_bid")
    ask = _decimal(record.get("best_ask"), "best_ask")
    if bid is not None and ask is not None and float(bid) > float(ask):
        bid = ask = None  # crossed book in a recording: treat the quote as missing
    return Tick(
        product=product_id,
        ts=parse_time(when, naive_tz),
        price=price,  # type: ignore[arg-type]
        best_bid=bid,
        best_ask=ask,
        bid_size=_first_decimal(record, ("best_bid_size", "best_bid_quantity", "best_bid_qty", "bid_size")),
        ask_size=_first_decimal(record, ("best_ask_size", "best_ask_quantity", "best_ask_qty", "ask_size")),
        volume_24h=_first_decimal(record, ("volume_24h", "volume_24_h")),
    )


def _first_decimal(record: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = record.get(name)
        if value is not None and (number := _decimal(value, name)) is not None:
            return number
    return None


def _decimal(value: Any, name: str, required: bool = False) -> str | None:
    """A positive finite number as a string; None when absent or zero (recorders write 0 for 'not recorded')."""
    if value is None or value == "":
        if required:
            raise BadTick(f"missing_{name}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadTick(f"bad_{name}", repr(value)[:40])
    try:
        number = float(value)
    except ValueError as exc:
        raise BadTick(f"bad_{name}", repr(value)[:40]) from exc
    if not math.isfinite(number) or number < 0:
        raise BadTick(f"bad_{name}", repr(value)[:40])
    if number == 0:
        if required:
            raise BadTick(f"bad_{name}", "zero")
        return None
    return value if isinstance(value, str) else repr(float(value))


def parse_time(value: Any, naive_tz: str = "UTC") -> float:
    """Epoch seconds from ISO-8601 (any precision, Z or offset, naive = naive_tz) or epoch numbers."""
    if isinstance(value, bool):
        raise BadTick("bad_time", repr(value))
    if isinstance(value, int | float):
        seconds = float(value)
        if seconds > 1e17:  # nanoseconds
            seconds /= 1e9
        elif seconds > 1e14:  # microseconds
            seconds /= 1e6
        elif seconds > 1e11:  # milliseconds
            seconds /= 1e3
        if not math.isfinite(seconds):
            raise BadTick("bad_time", repr(value))
        return seconds
    if not isinstance(value, str):
        raise BadTick("bad_time", repr(value)[:40])
    text = value.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python parses at most 6 fractional digits: trim nanoseconds.
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadTick("bad_time", value[:40]) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(naive_tz))
    return moment.timestamp()

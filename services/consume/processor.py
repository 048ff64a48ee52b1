"""Raw Kafka records in, prediction and dead-letter messages out: no I/O, so it is easy to test.

A poll's records are processed as one batch: the feature windows advance tick by tick (they must,
in order), then the whole feature matrix is scored in one vectorised call.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import orjson

from volctl.domain.clock import utc_iso
from volctl.domain.features import FEATURES, HISTORY_S, FeatureEngine
from volctl.domain.model import Scorer, labels_of
from volctl.domain.ticks import BadTick, Tick, normalise

MAX_MESSAGE_BYTES = 64 * 1024  # a ticker message is < 2 KiB; anything this big is not one
DLQ_PAYLOAD_BYTES = 8 * 1024  # enough of a bad message to see what it was
DEFAULT_MAX_FUTURE_S = 5.0  # data.max_clock_skew_s: how far ahead of our clock an event time may be


class Record(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Batch:
    predictions: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, value)
    dead: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    dead_reasons: Counter[str] = field(default_factory=Counter)
    feature_rows: list[tuple[float, str, list[float], float]] = field(default_factory=list)
    records: int = 0
    warming_up: int = 0  # predictions made before their product's windows were covered
    last_event_ts: float | None = None


class TickProcessor:
    def __init__(self, model: Scorer, naive_tz: str = "UTC", max_future_s: float = DEFAULT_MAX_FUTURE_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = FeatureEngine()
        self.naive_tz = naive_tz
        self.max_future_s = max_future_s
        self.clock = clock
        self.model = model

    def reset_streams(self) -> None:
        """Forget every product's windows (the stream starts again from the beginning)."""
        self.engine = FeatureEngine()

    @property
    def model(self) -> Scorer:
        return self._scoring[0]

    @model.setter
    def model(self, model: Scorer) -> None:
        """Swap the model (an admin switch may come from another thread): the model and its column
        selection change together in one assignment."""
        missing = set(model.features) - set(FEATURES)
        if missing:
            raise ValueError(f"model {model.version} needs features this build does not compute: {sorted(missing)}")
        self._scoring = (model, [FEATURES.index(name) for name in model.features])

    def process(self, records: list[Record]) -> Batch:
        batch = Batch(records=len(records))
        ticks: list[tuple[Record, int, Tick]] = []
        rows: list[list[float]] = []
        warming: list[bool] = []  # windows not covered yet: the score is shown, never counted as a spike
        latest = self.clock() + self.max_future_s
        for record in records:
            try:
                record_ticks = self._ticks_of(record)
            except BadTick as exc:
                batch.dead_reasons[exc.reason] += 1
                batch.dead.append((record.key, _dead_letter(record, exc)))
                continue
            for index, tick in enumerate(record_ticks):
                try:
                    self._admit(tick, latest)
                except BadTick as exc:  # one dead letter per refused tick; its record's others go on
                    batch.dead_reasons[exc.reason] += 1
                    batch.dead.append((record.key, _dead_letter(record, exc, index)))
                    continue
                rows.append(self._features(tick))
                warming.append(self.engine.warming_up(tick.product))
                ticks.append((record, index, tick))
        if not ticks:
            return batch
        matrix = np.array(rows, dtype=float)
        model, columns = self._scoring  # one model for the whole batch, even if it is swapped meanwhile
        scores = model.score(matrix[:, columns])
        labels = labels_of(scores, model.decision_threshold)
        predicted_at = utc_iso(timespec="milliseconds")
        for (record, index, tick), row, score, label, warm in zip(ticks, matrix, scores, labels, warming, strict=True):
            batch.warming_up += warm
            batch.predictions.append((tick.product.encode(), orjson.dumps({
                "product_id": tick.product, "time": tick.time_iso, "score": float(score),
                "label": 0 if warm else int(label), "warming_up": warm,
                "model_variant": model.variant, "model_version": model.version, "predicted_at": predicted_at,
                "source": {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                           "index": index},
            })))
            if not warm and tick.best_bid is not None and tick.best_ask is not None:
                # the drift log holds only rows the model's reference can hold: windows covered, quoted
                batch.feature_rows.append((tick.ts, tick.product, row.tolist(), float(score)))
        batch.last_event_ts = max(tick.ts for _, _, tick in ticks)
        return batch

    def _ticks_of(self, record: Record) -> list[Tick]:
        value = record.value
        if value is None:
            raise BadTick("empty", "tombstone or null value")
        if len(value) > MAX_MESSAGE_BYTES:
            raise BadTick("too_large", f"{len(value)} bytes > {MAX_MESSAGE_BYTES}")
        try:
            message = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise BadTick("not_json", str(exc)[:80]) from exc
        ticks = normalise(message, self.naive_tz)
        if not ticks:
            raise BadTick("no_tick", "a valid message that carries no ticker tick")
        return ticks

    def _admit(self, tick: Tick, latest: float) -> None:
        """A tick from the future would drag its product's clock forward for good (windows stop
        expiring); one older than the window horizon has no window to join. Both are refused."""
        if tick.ts > latest:
            ahead = tick.ts - latest + self.max_future_s
            raise BadTick("future", f"{tick.product} tick at {tick.time_iso} is {ahead:.1f} s ahead of this "
                                    f"consumer's clock (at most {self.max_future_s:g} s)")
        behind = self.engine.staleness(tick.product, tick.ts)
        if behind > 0:
            raise BadTick("too_old", f"{tick.product} tick at {tick.time_iso} is {behind + HISTORY_S:.1f} s older "
                                     f"than the product's newest tick (window horizon {HISTORY_S:g} s)")

    def _features(self, tick: Tick) -> list[float]:
        nan = float("nan")
        return self.engine.update(
            tick.product, tick.ts, float(tick.price),
            float(tick.best_bid) if tick.best_bid is not None else nan,
            float(tick.best_ask) if tick.best_ask is not None else nan,
        )


def _dead_letter(record: Record, error: BadTick, index: int | None = None) -> bytes:
    payload = record.value or b""
    source: dict[str, Any] = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    if index is not None:  # one tick of the message, not the whole message
        source["index"] = index
    document: dict[str, Any] = {
        "reason": error.reason, "detail": str(error), "failed_at": utc_iso(timespec="milliseconds"),
        "source": source,
        "payload_bytes": len(payload),
        "payload": payload[:DLQ_PAYLOAD_BYTES].decode("utf-8", errors="replace"),
    }
    return orjson.dumps(document)

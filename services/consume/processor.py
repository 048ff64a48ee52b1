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
from volctl.domain.forecast import BPS, BoundCalibrator, qlike
from volctl.domain.labels import LEVEL_FEATURE, ForwardLabels, LabelRule, target_of
from volctl.domain.model import Scorer, labels_of
from volctl.domain.outcomes import Waiting, kind_of, outcome_document
from volctl.domain.ticks import BadTick, Tick, normalise
from volctl.domain.variants import model_name

MAX_MESSAGE_BYTES = 64 * 1024  # a ticker message is < 2 KiB; anything this big is not one
DLQ_PAYLOAD_BYTES = 8 * 1024  # enough of a bad message to see what it was
_LEVEL = FEATURES.index(LEVEL_FEATURE)  # the label's denominator, known at the tick
_VOL_RATIO_60 = FEATURES.index("vol_ratio_60s")  # x the level: the trailing 60 s volatility (persistence)
DEFAULT_MAX_FUTURE_S = 5.0  # data.max_clock_skew_s: how far ahead of our clock an event time may be
DEFAULT_MAX_PRODUCTS = 100  # consume.max_products: products one member keeps windows for


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
    outcomes: list[tuple[bytes, bytes]] = field(default_factory=list)  # (key, value) for ticks.outcomes
    outcome_documents: list[dict[str, Any]] = field(default_factory=list)  # the same, for the outcomes log
    outcome_kinds: Counter[tuple[str, str]] = field(default_factory=Counter)  # (variant, tp|fp|fn|tn)
    outcome_scores: list[tuple[str, int, float]] = field(default_factory=list)  # (variant, true label, score)
    outcome_moves: list[tuple[str, int, float]] = field(default_factory=list)  # (variant, alerted, next 60 s vol)
    unlabelled: Counter[str] = field(default_factory=Counter)  # ticks whose horizon closed without a label
    recorded: list[dict[str, Any]] = field(default_factory=list)  # admitted ticks, wire format: the live recording
    # the served forecast met by its realised volatility: (exceeded the bound, QLIKE, persistence's QLIKE or
    # None where the trailing 60 s had no return: the two sums are over the same outcomes)
    forecast_outcomes: list[tuple[bool, float | None, float | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Scoring:
    """What a batch is scored with, swapped in one assignment: the served model, its challengers
    (scored in shadow), each with its feature columns, and the label threshold of the version (its
    level seeds go to the feature engine at the same moment)."""

    model: Scorer
    columns: list[int]
    challengers: tuple[tuple[Scorer, list[int]], ...] = ()
    label_threshold: float | None = None


class TickProcessor:
    def __init__(self, model: Scorer, naive_tz: str = "UTC", max_future_s: float = DEFAULT_MAX_FUTURE_S,
                 clock: Callable[[], float] = time.time, max_products: int = DEFAULT_MAX_PRODUCTS) -> None:
        self.max_products = max_products
        self.engine = FeatureEngine()
        self.seeds: dict = {}
        self.naive_tz = naive_tz
        self.max_future_s = max_future_s
        self.clock = clock
        self.labels = ForwardLabels()
        self.bound: BoundCalibrator | None = None  # the served version's upper bound, recalibrated on outcomes
        self.model = model

    def reset_streams(self) -> None:
        """Forget every product's windows (the stream starts again from the beginning)."""
        self.engine = FeatureEngine(self.seeds)
        self.labels = ForwardLabels()

    @property
    def model(self) -> Scorer:
        return self._scoring.model

    @model.setter
    def model(self, model: Scorer) -> None:
        """Swap the model alone (no challengers, no outcomes)."""
        self.install(model)

    def install(self, model: Scorer, challengers: list[Scorer] | None = None,
                label: LabelRule | None = None) -> None:
        """Swap the model, its challengers and the label rule (an admin switch may come from
        another thread): they change together in one assignment. The version's level seeds apply
        from the next tick on; the levels themselves carry on."""
        for scorer in (model, *(challengers or [])):
            missing = set(scorer.features) - set(FEATURES)
            if missing:
                raise ValueError(f"model {scorer.version} needs features this build does not compute: "
                                 f"{sorted(missing)}")
        unique = {(c.variant, c.version): c for c in challengers or []}  # the last of twins wins
        unique.pop((model.variant, model.version), None)
        shadow = tuple((c, [FEATURES.index(name) for name in c.features]) for c in unique.values())
        self.seeds = dict(label.seeds) if label is not None else {}
        self.engine.set_seeds(self.seeds)
        forecaster = model.forecaster
        if forecaster is None:
            self.bound = None
        elif self.bound is None or self.bound.version != forecaster.version:  # a variant switch keeps its bound
            self.bound = BoundCalibrator(forecaster.upper_multiplier, version=forecaster.version)
        self._scoring = Scoring(model, [FEATURES.index(name) for name in model.features], shadow,
                                label.threshold if label is not None else None)

    @property
    def challengers(self) -> list[Scorer]:
        return [challenger for challenger, _ in self._scoring.challengers]

    def process(self, records: list[Record]) -> Batch:
        batch = Batch(records=len(records))
        ticks: list[tuple[Record, int, Tick]] = []
        rows: list[list[float]] = []
        warming: list[bool] = []  # windows not covered yet: the score is shown, never counted as a spike
        labelable: list[bool] = []  # windows covered and quoted: a row the training reference can hold
        horizons: list[tuple[float, float | None]] = []  # each tick's effective time and return (labels)
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
                batch.recorded.append(tick.to_wire())
                warm = self.engine.warming_up(tick.product)
                warming.append(warm)
                labelable.append(not warm and tick.best_bid is not None and tick.best_ask is not None)
                state = self.engine.products[tick.product]
                horizons.append((state.last_ts, state.last_ret))
                ticks.append((record, index, tick))
        if not ticks:
            return batch
        matrix = np.array(rows, dtype=float)
        scoring = self._scoring  # one model for the whole batch, even if it is swapped meanwhile
        model = scoring.model
        scores = model.score(matrix[:, scoring.columns])
        labels = labels_of(scores, model.decision_threshold)
        forecasts = self._forecasts(model, matrix[:, scoring.columns])
        upper = (self.bound.multiplier if self.bound is not None else 1.0) * BPS
        predicted_at = utc_iso(timespec="milliseconds")
        if scoring.label_threshold is not None:
            self._outcomes(batch, scoring, ticks, matrix, scores, labels, labelable, horizons, predicted_at, forecasts)
        for i, ((record, index, tick), row, score, label, warm, comparable) in enumerate(zip(
                ticks, matrix, scores, labels, warming, labelable, strict=True)):
            batch.warming_up += warm
            forecast = None if forecasts is None else float(forecasts[i])
            batch.predictions.append((tick.product.encode(), orjson.dumps({
                "product_id": tick.product, "time": tick.time_iso, "score": float(score),
                "label": 0 if warm else int(label), "warming_up": warm,
                "forecast_bps": None if forecast is None else forecast * BPS,
                "forecast_upper_bps": None if forecast is None else forecast * upper,
                "model_variant": model.variant, "model_version": model.version, "predicted_at": predicted_at,
                "source": {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                           "index": index},
            })))
            if comparable:  # the drift log holds only rows the model's reference can hold
                batch.feature_rows.append((tick.ts, tick.product, row.tolist(), float(score)))
        batch.last_event_ts = max(tick.ts for _, _, tick in ticks)
        return batch

    @staticmethod
    def _forecasts(model: Scorer, rows: np.ndarray) -> np.ndarray | None:
        """The next-60 s volatility forecast of each row (None: the version has no forecaster)."""
        return None if model.forecaster is None else model.forecaster.volatility(rows, model.features)

    def _outcomes(self, batch: Batch, scoring: Scoring, ticks: list[tuple[Record, int, Tick]], matrix: np.ndarray,
                  scores: np.ndarray, labels: np.ndarray, labelable: list[bool],
                  horizons: list[tuple[float, float | None]], now: str, forecasts: np.ndarray | None) -> None:
        """Every labelable tick waits for its horizon with the scores (and forecasts) of the served
        model and its challengers; the ticks this batch's ticks closed become outcomes (in tick
        order: the label of a tick needs the returns after it)."""
        model = scoring.model
        shadow = [(model_name(c.variant, c.version, model.version), c.score(matrix[:, columns]), c.decision_threshold,
                   self._forecasts(c, matrix[:, columns])) for c, columns in scoring.challengers]
        shadow_labels = [labels_of(values, cut) for _, values, cut, _ in shadow]
        multiplier = self.bound.multiplier if self.bound is not None else None
        persistence = matrix[:, _VOL_RATIO_60] * matrix[:, _LEVEL]
        for i, ((record, index, tick), (ts, ret)) in enumerate(zip(ticks, horizons, strict=True)):
            item = None
            if labelable[i]:
                item = Waiting((record.topic, record.partition, record.offset, index), tick.product, tick.ts,
                               float(matrix[i, _LEVEL]),
                               {model.variant: float(scores[i]), **{name: float(v[i]) for name, v, _, _ in shadow}},
                               {model.variant: int(labels[i]),
                                **{name: int(v[i]) for (name, _, _, _), v in zip(shadow, shadow_labels, strict=True)}})
                if forecasts is not None:
                    item.forecasts = {model.variant: float(forecasts[i]),
                                      **{name: float(f[i]) for name, _, _, f in shadow if f is not None}}
                    item.upper = float(forecasts[i]) * multiplier if multiplier is not None else None
                    item.persistence = float(persistence[i]) if persistence[i] == persistence[i] else None
            for waiting, fwd in self.labels.observe(tick.product, ts, ret, item):
                target = None if fwd is None else target_of(fwd, waiting.level, True)
                if target is None:
                    batch.unlabelled["horizon not covered" if fwd is None else "no volatility level"] += 1
                    continue
                actual = int(target > scoring.label_threshold)  # type: ignore[operator]
                document = outcome_document(waiting, fwd, target, actual, model.variant, model.version, now)
                batch.outcome_documents.append(document)
                batch.outcomes.append((waiting.product.encode(), orjson.dumps(document)))
                for variant, predicted in waiting.labels.items():
                    batch.outcome_kinds[(variant, kind_of(predicted, actual))] += 1
                    batch.outcome_scores.append((variant, actual, waiting.scores[variant]))
                    batch.outcome_moves.append((variant, predicted, fwd))
                self._forecast_outcome(batch, waiting, fwd, model.variant)

    def _forecast_outcome(self, batch: Batch, waiting: Waiting, fwd: float, served: str) -> None:
        """The served forecast met by the realised volatility: its bound exceeded or not, its QLIKE
        and persistence's, and the live bound recalibrated with it."""
        forecast = (waiting.forecasts or {}).get(served)
        if forecast is None or waiting.upper is None or self.bound is None:
            return
        if waiting.persistence is None:
            batch.forecast_outcomes.append((fwd > waiting.upper, None, None))
        else:
            losses = qlike(np.array([fwd, fwd]), np.array([forecast, waiting.persistence]))
            batch.forecast_outcomes.append((fwd > waiting.upper, float(losses[0]), float(losses[1])))
        self.bound.observe(waiting.ts, fwd, forecast)

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
        if tick.product not in self.engine.products and len(self.engine.products) >= self.max_products:
            # 50,000 distinct well-formed ids grew consume by 542 MB, never released: state per product is bounded
            raise BadTick("too_many_products", f"{tick.product}: this consumer already follows "
                                               f"{len(self.engine.products)} products (consume.max_products)")
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

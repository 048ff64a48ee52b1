"""Outcomes (issue 16, point 1): the streaming forward volatility equals the batch label's, tick for
tick, on real recordings; the consume processor joins every labelable prediction (served and shadow)
with its realised label; memory stays bounded when the horizon stalls."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson
import pytest

from services.consume.processor import TickProcessor
from tests.test_consume_units import FakeRecord
from volctl.core.dataset import series_frame
from volctl.domain.features import FeatureEngine
from volctl.domain.labels import ForwardLabels, forward_volatility
from volctl.domain.recordings import iter_series
from volctl.domain.registry import Registry

RECORDINGS = ("btc_eth_2026-04-03_flat.ndjson", "btcusd_2025-11-12_to_14_exchange_ticker.ndjson")


@pytest.mark.parametrize("name", RECORDINGS)
def test_streaming_forward_volatility_equals_the_batch_label_tick_for_tick(shared_data: Path, name: str) -> None:
    ticks = list(iter_series(shared_data / name))
    nan = float("nan")
    bid = np.array([float(t.best_bid) if t.best_bid is not None else nan for t in ticks])
    ask = np.array([float(t.best_ask) if t.best_ask is not None else nan for t in ticks])
    batch = forward_volatility([t.product for t in ticks], np.array([t.ts for t in ticks]),
                               np.array([float(t.price) for t in ticks]), bid, ask)
    engine, labels = FeatureEngine(), ForwardLabels()
    streamed = np.full(len(ticks), nan)
    closed = np.zeros(len(ticks), dtype=bool)
    for i, tick in enumerate(ticks):
        engine.update(tick.product, tick.ts, float(tick.price), bid[i], ask[i])
        state = engine.products[tick.product]
        for index, fwd in labels.observe(tick.product, state.last_ts, state.last_ret, i):
            closed[index] = True
            streamed[index] = nan if fwd is None else fwd
    assert (~np.isnan(batch)).sum() > 2000
    # every tick closed while the stream ran has exactly the batch value (NaN where batch has none)
    np.testing.assert_allclose(streamed[closed], batch[closed], rtol=1e-12, atol=1e-18)
    assert np.isnan(batch[~closed]).all() or (~closed).sum() <= labels.pending  # the tail still waits


def test_waiting_ticks_are_bounded_when_the_horizon_stalls() -> None:
    labels = ForwardLabels(max_pending=100)
    for i in range(1000):  # a stuck clock: every tick at the same time, none closes a horizon
        labels.observe("BTC-USD", 1_700_000_000.0, 0.0 if i else None, i)
    assert labels.pending == 100 and labels.overflow == 900


def test_the_processor_joins_served_and_shadow_predictions_with_their_labels(shared_data: Path,
                                                                           trained_registry: Path) -> None:
    registry = Registry(trained_registry)
    version = registry.latest()
    ml, baseline = registry.load(version, "ml"), registry.load(version, "baseline")
    threshold = registry.manifest(version)["label"]["threshold"]
    path = shared_data / RECORDINGS[0]
    ticks = list(iter_series(path))
    processor = TickProcessor(ml, clock=lambda: ticks[-1].ts)
    processor.install(ml, [baseline], threshold)
    records = [FakeRecord(orjson.dumps(t.to_wire()), offset) for offset, t in enumerate(ticks)]
    documents = []
    for start in range(0, len(records), 500):
        batch = processor.process(records[start:start + 500])
        assert all(orjson.loads(value) in batch.outcome_documents for _, value in batch.outcomes[:3])
        documents += batch.outcome_documents
    expected = series_frame(path.name, ticks)
    labelled = expected["target"].notna().to_numpy()
    by_offset = {d["source"]["offset"]: d for d in documents}
    assert len(by_offset) == len(documents) >= labelled.sum() - 400  # all but the last minute's ticks
    for offset, document in by_offset.items():
        assert labelled[offset], offset  # never a tick the batch leaves unlabelled (warm-up, no quote)
        assert math.isclose(document["target"], expected["target"].iloc[offset], rel_tol=1e-9)
        assert document["label"] == int(expected["target"].iloc[offset] > threshold)
        assert set(document["scores"]) == {"ml", "baseline"} and document["served"] == "ml"
    kinds = sum(batch.outcome_kinds.values())  # the last batch alone: every variant counted once per outcome
    assert kinds == 2 * len(batch.outcome_documents)

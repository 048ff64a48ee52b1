"""The consume service's parts without a broker: batch processing, dead letters, the feature log,
and the process supervisor behind `volctl up`."""

from __future__ import annotations

import json
import math
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from services.consume.processor import MAX_MESSAGE_BYTES, TickProcessor
from volctl.clients.processes import Supervisor
from volctl.domain.feature_log import COLUMNS, FeatureLog, log_files, read_rows
from volctl.domain.features import FEATURES, FeatureEngine
from volctl.domain.model import BaselineScorer


@dataclass
class FakeRecord:
    value: bytes | None
    offset: int
    key: bytes | None = b"BTC-USD"
    topic: str = "ticks.raw"
    partition: int = 0


def _model() -> BaselineScorer:
    return BaselineScorer(version="v1", features=tuple(reversed(FEATURES)), feature="vol_z_60s", threshold=2.0)


def _tick(second: int, price: float = 100.0) -> bytes:
    return orjson.dumps({"product_id": "BTC-USD", "time": 1_700_000_000 + second, "price": str(price),
                         "best_bid": str(price - 0.01), "best_ask": str(price + 0.01)})


def test_a_batch_scores_like_the_streaming_path_in_the_models_column_order() -> None:
    prices = 100 + np.cumsum(np.random.default_rng(1).normal(0, 0.05, 200))
    records = [FakeRecord(_tick(i, p), i) for i, p in enumerate(prices)]
    batch = TickProcessor(_model()).process(records)
    engine, model = FeatureEngine(), _model()
    expected = []
    for i, p in enumerate(prices):
        row = engine.update("BTC-USD", 1_700_000_000 + i, p, p - 0.01, p + 0.01)
        expected.append(model.score(np.array([[row[FEATURES.index(f)] for f in model.features]]))[0])
    scores = [orjson.loads(value)["score"] for _, value in batch.predictions]
    assert np.allclose(scores, expected, rtol=0, atol=1e-12)
    assert [orjson.loads(v)["source"]["offset"] for _, v in batch.predictions] == list(range(200))
    assert batch.last_event_ts == 1_700_000_199


def test_a_flood_of_new_products_is_refused_beyond_the_cap() -> None:
    """Issue 41, point 2: 50,000 distinct well-formed product ids grew consume by 542 MB for good."""
    flood = [FakeRecord(orjson.dumps({"product_id": f"Z{i:07d}-USD", "time": "2026-04-04T10:00:00Z", "price": "1",
                                      "best_bid": "1", "best_ask": "1"}), i) for i in range(5)]
    processor = TickProcessor(_model(), clock=lambda: 1775296800.0 + 10, max_products=3)
    batch = processor.process(flood)
    assert len(processor.engine.products) == 3 and dict(batch.dead_reasons) == {"too_many_products": 2}
    assert "already follows 3 products (consume.max_products)" in orjson.loads(batch.dead[0][1])["detail"]


def test_bad_messages_become_dead_letters_with_reasons() -> None:
    records = [FakeRecord(_tick(0), 0), FakeRecord(b"{nope", 1), FakeRecord(None, 2),
               FakeRecord(b"x" * (MAX_MESSAGE_BYTES + 1), 3),
               FakeRecord(orjson.dumps({"product_id": "BTC-USD", "time": 1, "price": "inf"}), 4),
               FakeRecord(orjson.dumps({"type": "heartbeats"}), 5), FakeRecord(_tick(1), 6)]
    batch = TickProcessor(_model()).process(records)
    assert len(batch.predictions) == 2
    assert dict(batch.dead_reasons) == {"not_json": 1, "empty": 1, "too_large": 1, "bad_price": 1, "no_tick": 1}
    letters = [orjson.loads(v) for _, v in batch.dead]
    assert [d["source"]["offset"] for d in letters] == [1, 2, 3, 4, 5]
    assert letters[2]["payload_bytes"] == MAX_MESSAGE_BYTES + 1 and len(letters[2]["payload"]) == 8192


def test_feature_log_rotates_and_stays_bounded(tmp_path: Path) -> None:
    log = FeatureLog(tmp_path, rows_per_file=10, keep_files=3)
    for i in range(95):
        log.append([(float(i), "BTC-USD", [0.5] * (len(FEATURES) - 1) + [float("nan")], 0.1)])
    log.close()
    assert len(log_files(tmp_path)) == 3
    rows = read_rows(tmp_path)
    assert len(rows) == 25 and rows[-1][0] == 94.0 and len(rows[-1]) == len(COLUMNS)
    assert rows[-1][1] == "BTC-USD" and math.isnan(rows[-1][-2])  # missing stays missing
    assert [r[0] for r in read_rows(tmp_path, limit=4)] == [91.0, 92.0, 93.0, 94.0]


def test_supervisor_starts_stops_and_ignores_stale_pids(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path)
    record = supervisor.start("sleeper", [sys.executable, "-c", "import time; print('up', flush=True); "
                                          "time.sleep(60)"])
    assert supervisor.record("sleeper").pid == record.pid
    outcome = supervisor.stop("sleeper", timeout_s=5)
    assert outcome.how == "stopped" and supervisor.record("sleeper") is None
    assert supervisor.stop("sleeper").how == "not running"
    # A process that asks for SIGINT (the broker: SIGTERM makes it wait for its clients) gets it.
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
            "time.sleep(60)")
    supervisor.start("stubborn", [sys.executable, "-c", code], stop_signal=signal.SIGINT)
    assert json.loads(supervisor.pid_file("stubborn").read_text())["stop_signal"] == "SIGINT"
    assert supervisor.stop("stubborn", timeout_s=60).how == "stopped"  # SIGTERM alone: killed after 60 s
    # A pid file naming a live process that runs another program is stale: never signalled.
    supervisor.pid_file("ghost").write_text(orjson.dumps(
        {"name": "ghost", "pid": 1, "argv": ["/no/such/program"], "started_at": 0}).decode())
    assert supervisor.record("ghost") is None and not supervisor.pid_file("ghost").exists()
    stubborn = supervisor.start("stubborn", [sys.executable, "-c", "import signal, time; "
                                             "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                             "print('handler', 'set', flush=True); time.sleep(60)"])
    assert stubborn.pid
    import time
    while "handler set" not in supervisor.log_path("stubborn").read_text():  # (the log opens with argv)
        time.sleep(0.05)
    assert supervisor.stop("stubborn", timeout_s=0.5).how == "killed"
    assert "up" in supervisor.log_path("sleeper").read_text()


def test_predictions_before_the_windows_are_covered_are_warming_up_and_never_spikes() -> None:
    from volctl.domain.model import BaselineScorer

    always = BaselineScorer("v1", FEATURES, "tick_rate_30s", -1.0)  # fires on every row
    records = [FakeRecord(_tick(i), i) for i in range(400)]
    batch = TickProcessor(always).process(records)
    sent = [orjson.loads(value) for _, value in batch.predictions]
    assert [p["warming_up"] for p in sent] == [True] * 300 + [False] * 100
    assert all(p["label"] == 0 for p in sent[:300]) and all(p["label"] == 1 for p in sent[300:])
    assert batch.warming_up == 300

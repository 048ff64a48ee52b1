"""The next-minute volatility forecast: its loss, its bound recalibrated on the stream and shared with
predict, and the consume processor's forecasts on predictions and outcomes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson

from volctl.domain.features import FEATURES
from volctl.domain.forecast import (
    FLOOR,
    BoundCalibrator,
    BoundReader,
    Forecaster,
    qlike,
    row_columns,
    write_bound,
)


def _forecaster(version: str = "v1") -> Forecaster:
    """log variance = log(rv_60s^2): persistence, as a HAR model (the other inputs weigh nothing)."""
    return Forecaster("test", "persistence as a HAR", [0.0, 2.0, 0.0, 0.0, 0.0], 0.0, [-9.0] * 5, 2.0,
                      version=version)


def test_qlike_is_zero_when_right_and_punishes_an_under_forecast_more() -> None:
    realised = np.array([2e-4, 2e-4, 2e-4])
    losses = qlike(realised, np.array([2e-4, 1e-4, 4e-4]))
    assert losses[0] == 0 and losses[1] > losses[2] > 0
    assert qlike(np.array([0.0]), np.array([FLOOR]))[0] == 0  # a minute without a move counts as 1 bp


def test_one_row_forecasts_what_the_batch_does() -> None:
    rng = np.random.default_rng(3)
    matrix = np.abs(rng.normal(1, 0.5, size=(50, len(FEATURES))))
    matrix[::7, FEATURES.index("spread_bps")] = np.nan  # trade-only rows: the spread is unknown, not 0
    forecaster = Forecaster("test", "", [0.1, 0.5, 0.3, 0.8, -0.1], -1.5, [-9.0, -9.0, -9.0, -8.5, 0.1], 2.0)
    batch = forecaster.volatility(matrix)
    columns = row_columns(FEATURES)
    rows = [forecaster.volatility_of_row(row, columns) for row in matrix.tolist()]
    np.testing.assert_allclose(rows, batch, rtol=1e-12)
    persistence = _forecaster().volatility(matrix)
    trailing = matrix[:, FEATURES.index("vol_ratio_60s")] * matrix[:, FEATURES.index("vol_level_60s")]
    np.testing.assert_allclose(persistence, trailing, rtol=1e-12)


def test_the_bound_is_recalibrated_on_the_last_hour_and_shared(tmp_path: Path) -> None:
    bound = BoundCalibrator(fallback=1.5, window_s=3600, min_outcomes=100, version="v1")
    for i in range(99):
        bound.observe(float(i), realised=3e-4, forecast=1e-4)  # a calmer forecast than what happens
    assert bound.multiplier == 1.5 and not bound.recalibrated  # too few yet: the version's own
    bound.observe(99.0, 3e-4, 1e-4)
    assert bound.recalibrated and math.isclose(bound.multiplier, 3.0)  # wilder than validation: wider
    for i in range(200):  # an hour later the regime is calm again: the old ratios age out
        bound.observe(4000.0 + i, 1e-4, 1e-4)
    assert bound.outcomes == 200 and bound.multiplier == 1.5  # never narrower than validation showed

    reader = BoundReader(tmp_path, every_s=0.0)
    assert reader.multiplier(_forecaster("v1")) == 2.0  # nothing measured yet: the version's own
    write_bound(tmp_path, bound)
    assert reader.multiplier(_forecaster("v1")) == 1.5
    assert reader.multiplier(_forecaster("v2")) == 2.0  # measured for another version: not this one's
    (tmp_path / "forecast_bound.json").write_text('{"version": "v1", "multiplier": "NaN"}')
    assert reader.multiplier(_forecaster("v1")) == 2.0  # a broken file is no measurement


def test_predictions_and_outcomes_carry_the_forecast(shared_data: Path) -> None:
    from services.consume.processor import TickProcessor
    from tests.test_consume_units import FakeRecord
    from volctl.domain.labels import LabelRule
    from volctl.domain.model import BaselineScorer
    from volctl.domain.recordings import iter_series

    model = BaselineScorer("v1", FEATURES, "vol_ratio_60s", 1.5)
    model.forecaster = _forecaster()
    ticks = list(iter_series(shared_data / "btc_eth_2026-04-03_flat.ndjson"))
    processor = TickProcessor(model, clock=lambda: ticks[-1].ts)
    processor.install(model, [], LabelRule(threshold=2.0))
    records = [FakeRecord(orjson.dumps(t.to_wire()), offset) for offset, t in enumerate(ticks)]
    batches = [processor.process(records[start:start + 1000]) for start in range(0, len(records), 1000)]
    predictions = [orjson.loads(value) for batch in batches for _, value in batch.predictions]
    warm = [p for p in predictions if not p["warming_up"]]
    assert all(p["forecast_upper_bps"] >= p["forecast_bps"] > 0 for p in warm)
    outcomes = [d for batch in batches for d in batch.outcome_documents]
    assert outcomes and all(d["forecasts"]["baseline"] > 0 and d["exceeded"] in (0, 1) for d in outcomes)
    exceeded = [d["exceeded"] for d in outcomes if d["upper"] is not None]
    assert exceeded == [int(d["future_vol"] > d["upper"]) for d in outcomes if d["upper"] is not None]
    met = [f for batch in batches for f in batch.forecast_outcomes]
    assert len(met) == len(outcomes) and processor.bound.outcomes == len(outcomes)
    assert sum(len(batch.recorded) for batch in batches) == len(ticks)  # every admitted tick, for retraining

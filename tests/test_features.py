"""One feature module, two paths: streaming and batch give the same numbers on the real data."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from volctl.domain.features import FEATURES, SEGMENT_GAP_S, FeatureEngine, batch_features
from volctl.domain.labels import HORIZON_S, forward_volatility
from volctl.domain.level import Seed
from volctl.domain.recordings import discover_series, iter_series
from volctl.domain.synthetic import PRODUCTS, synthetic_ticks


def _arrays(ticks: list) -> tuple:
    nan = float("nan")
    return (
        [t.product for t in ticks],
        np.array([t.ts for t in ticks]),
        np.array([float(t.price) for t in ticks]),
        np.array([float(t.best_bid) if t.best_bid else nan for t in ticks]),
        np.array([float(t.best_ask) if t.best_ask else nan for t in ticks]),
    )


def _streaming(product, ts, price, bid, ask, seeds=None) -> np.ndarray:
    engine = FeatureEngine(seeds)
    return np.array([engine.update(*row) for row in zip(product, ts, price, bid, ask, strict=True)])


SEEDS = {"BTC-USD": Seed(2.4e-9, 4.4, 15000.0)}  # a training level for one product, none for the others


@functools.cache
def _real_series(folder: Path) -> tuple[tuple[str, tuple], ...]:
    """Every real series as arrays, read once for both parametrisations (reading is half their time)."""
    return tuple((series.name, _arrays(list(iter_series(series)))) for series in discover_series(folder))


@pytest.mark.parametrize("seeds", [None, SEEDS], ids=["own level", "seeded"])
def test_streaming_equals_batch_on_every_real_series(shared_data: Path, seeds) -> None:
    for name, arrays in _real_series(shared_data):
        batch, _, _ = batch_features(*arrays, seeds=seeds)
        stream = _streaming(*arrays, seeds=seeds)
        assert np.array_equal(np.isnan(batch), np.isnan(stream)), name
        # running sums vs prefix sums differ only by float rounding: return-scale features are
        # ~1e-5, the z-score ~1 (its variance comes from a difference of sums, so looser)
        z = FEATURES.index("vol_z_60s")
        others = [i for i in range(len(FEATURES)) if i != z]
        np.testing.assert_allclose(stream[:, others], batch[:, others], rtol=1e-7, atol=1e-10,
                                   equal_nan=True, err_msg=name)
        np.testing.assert_allclose(stream[:, z], batch[:, z], rtol=1e-6, atol=1e-6, equal_nan=True,
                                   err_msg=name)


def test_features_do_not_look_ahead(shared_data: Path) -> None:
    ticks = list(iter_series(shared_data / "btcusd_2025-12-01_advtrade_ticker_10min.ndjson"))
    product, ts, price, bid, ask = _arrays(ticks)
    cut = len(ts) // 2
    before, _, _ = batch_features(product, ts, price, bid, ask)
    price2, bid2, ask2 = price.copy(), bid.copy(), ask.copy()
    for array in (price2, bid2, ask2):
        array[cut + 1:] *= 1.05  # a different future
    after, _, _ = batch_features(product, ts, price2, bid2, ask2)
    np.testing.assert_array_equal(before[: cut + 1], after[: cut + 1])


def test_quote_features_are_missing_not_zero_for_trade_only_data(shared_data: Path) -> None:
    arrays = _arrays(list(iter_series(shared_data / "btcusd_2025-11-17_trades_10min.csv")))
    batch, _, _ = batch_features(*arrays)
    assert np.isnan(batch[:, FEATURES.index("spread_bps")]).all()
    assert np.isfinite(batch[100:, FEATURES.index("ret_std_60s")]).all()


def test_a_gap_starts_a_new_segment_and_labels_never_bridge_it() -> None:
    ts = np.array([0.0, 1, 2, 3, 4, 5 + SEGMENT_GAP_S + 1, 6 + SEGMENT_GAP_S + 1])
    n = len(ts)
    price = np.linspace(100, 101, n)
    nan = np.full(n, np.nan)
    features, _, segments = batch_features(["P"] * n, ts, price, nan, nan)
    assert list(segments) == [0, 0, 0, 0, 0, 1, 1]
    count_30s = features[:, FEATURES.index("tick_rate_30s")] * 30
    assert list(count_30s) == [1, 2, 3, 4, 5, 1, 2]  # the window restarts after the gap
    assert np.isnan(forward_volatility(["P"] * n, ts, price, nan, nan)).all()  # no 60 s of data anywhere


def test_forward_volatility_is_labelled_only_with_a_full_horizon() -> None:
    ticks = list(synthetic_ticks(seed=3, duration_s=600))
    product, ts, price, bid, ask = _arrays(ticks)
    forward = forward_volatility(product, ts, price, bid, ask)
    for name in {t.product for t in ticks}:
        rows = np.array(product) == name
        last = ts[rows].max()
        assert np.isnan(forward[rows][ts[rows] + HORIZON_S > last]).all()
        assert np.isfinite(forward[rows][ts[rows] + HORIZON_S < last - 5]).all()


def test_synthetic_source_is_seeded_and_has_bursts() -> None:
    first = list(synthetic_ticks(seed=11, duration_s=1800))
    assert first == list(synthetic_ticks(seed=11, duration_s=1800))
    assert first != list(synthetic_ticks(seed=12, duration_s=1800))
    assert {t.product for t in first} == {spec.product for spec in PRODUCTS}
    assert all(float(t.best_bid) < float(t.best_ask) for t in first)
    batch, _, _ = batch_features(*_arrays(first))
    vol = batch[:, FEATURES.index("ret_std_60s")]
    vol = vol[np.isfinite(vol)]
    assert np.quantile(vol, 0.99) > 3 * np.quantile(vol, 0.5)  # spikes to detect


@pytest.mark.parametrize("feature", FEATURES)
def test_every_feature_is_scale_free(feature: str) -> None:
    """Scaling all prices by 1000 leaves every feature unchanged."""
    product, ts, price, bid, ask = _arrays(list(synthetic_ticks(seed=5, duration_s=900)))
    base, _, _ = batch_features(product, ts, price, bid, ask)
    scaled, _, _ = batch_features(product, ts, price * 1000, bid * 1000, ask * 1000)
    column = FEATURES.index(feature)
    np.testing.assert_allclose(scaled[:, column], base[:, column], rtol=1e-6, atol=1e-9, equal_nan=True)


def test_the_warm_up_rule_is_the_same_in_batch_and_streaming_and_warm_rows_get_no_label(shared_data: Path) -> None:
    """Issue 14: a tick is labelled only with 300 s of history in its segment; live, predictions
    carry warming_up by the same rule, tick for tick."""
    from volctl.core.model.dataset import load_dataset, series_frame
    from volctl.domain.features import FeatureEngine
    from volctl.domain.labels import HISTORY_S, history_covered
    from volctl.domain.recordings import iter_series

    path = shared_data / "btc_eth_2026-04-03_flat.ndjson"
    ticks = list(iter_series(path))
    nan = float("nan")
    product = [t.product for t in ticks]
    ts = np.array([t.ts for t in ticks])
    price = np.array([float(t.price) for t in ticks])
    bid = np.array([float(t.best_bid) if t.best_bid is not None else nan for t in ticks])
    ask = np.array([float(t.best_ask) if t.best_ask is not None else nan for t in ticks])
    covered = history_covered(product, ts, price, bid, ask)
    engine = FeatureEngine()
    warming = []
    for t, p, b, a, name in zip(ts, price, bid, ask, product, strict=True):
        engine.update(name, t, p, b, a)
        warming.append(engine.warming_up(name))
    assert list(~covered) == warming and 0 < sum(warming) < len(warming)
    frame = series_frame(path.name, ticks)
    assert frame.loc[~covered, "target"].isna().all() and frame.loc[covered, "target"].notna().any()
    drops = load_dataset([path]).label_drops
    assert drops[f"warm-up (< {HISTORY_S:g} s of history in the segment)"] == int((~covered & ~np.isnan(bid)).sum())

"""The normaliser: every recorded shape, the live message shape, and bad ticks."""

from __future__ import annotations

import gzip
import json
import math
import shutil
from pathlib import Path

import pytest

from volctl.domain.recordings import ReadStats, RecordingError, discover_series, iter_file, iter_series
from volctl.domain.ticks import BadTick, Tick, normalise, parse_time

# ticks per series, from shared/data/PROVENANCE.md (exchange file: 5,996 tickers + 4 subscriptions)
EXPECTED_TICKS = {
    "btcusd_2025-11-12_to_14_exchange_ticker.ndjson": 5996,
    "btcusd_2025-11-08_advtrade_ticker.ndjson": 223,
    "btcusd_2025-12-01_advtrade_ticker_10min.ndjson": 3996,
    "btcusd_2025-11-17_trades_10min.csv": 4337,
    "btcusd_2026-04-04_advtrade_live_messages.ndjson": 3108,
    "btc_eth_2026-04-03_flat.ndjson": 5028,
    "btc_eth_2026-04-04_flat_with_sizes.ndjson": 2500,
    "btc_eth_2025-11-07_exchange_ticker_early.parquet": 800,
}


def test_every_real_recording_reads_without_bad_lines(shared_data: Path) -> None:
    seen = {}
    for series in discover_series(shared_data):
        stats = ReadStats()
        ticks = list(iter_series(series, stats=stats))
        assert stats.bad_total == 0, (series.name, stats.bad)
        assert all(t.ts > 1.7e9 and float(t.price) > 0 for t in ticks)
        seen[series.name] = len(ticks)
    for name, count in EXPECTED_TICKS.items():
        assert seen[name] == count, name
    assert seen["btcusd_2025-11-30_to_12-06_advtrade"] > 60_000


def test_exchange_wrapper_skips_subscriptions_and_keeps_quote(shared_data: Path) -> None:
    stats = ReadStats()
    ticks = list(iter_file(shared_data / "btcusd_2025-11-12_to_14_exchange_ticker.ndjson", stats=stats))
    assert stats.skipped == 4
    first = ticks[0]
    assert first == Tick("BTC-USD", first.ts, "103472.28", "103472.27", "103472.28", "0.04145138",
                         "0.02560996", "5461.74127717")
    assert first.time_iso == "2025-11-12T07:20:11.615272Z"


def test_live_message_shape_and_nanosecond_times(shared_data: Path) -> None:
    line = (shared_data / "btcusd_2026-04-04_advtrade_live_messages.ndjson").open().readline()
    (tick,) = normalise(json.loads(line))
    assert tick.product == "BTC-USD" and tick.price == "67223.5"
    assert tick.bid_size == "0.56309243" and tick.volume_24h == "2401.16054813"
    assert tick.time_iso == "2026-04-04T21:13:43.291084Z"


def test_trades_csv_has_no_quote_and_takes_product_from_name(shared_data: Path) -> None:
    ticks = list(iter_file(shared_data / "btcusd_2025-11-17_trades_10min.csv"))
    assert {t.product for t in ticks} == {"BTC-USD"}
    assert all(t.best_bid is None and t.best_ask is None for t in ticks)


def test_flat_zero_volume_means_missing(shared_data: Path) -> None:
    ticks = list(iter_file(shared_data / "btc_eth_2026-04-03_flat.ndjson"))
    assert {t.product for t in ticks} == {"BTC-USD", "ETH-USD"}
    assert all(t.volume_24h is None for t in ticks)


def test_naive_timestamps_use_the_configured_zone(shared_data: Path) -> None:
    path = shared_data / "btcusd_2025-11-08_advtrade_ticker.ndjson"
    utc = next(iter_file(path))
    new_york = next(iter_file(path, naive_tz="America/New_York"))
    assert utc.time_iso == "2025-11-08T15:12:31.463496Z"
    assert new_york.ts - utc.ts == 5 * 3600


def test_gzip_and_wire_format_round_trip(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "btcusd_2025-11-08_advtrade_ticker.ndjson"
    packed = tmp_path / (source.name + ".gz")
    with source.open("rb") as raw, gzip.open(packed, "wb") as out:
        shutil.copyfileobj(raw, out)
    original = list(iter_file(source))
    assert list(iter_file(packed)) == original
    assert [normalise(t.to_wire())[0] for t in original] == original


@pytest.mark.parametrize(("message", "reason"), [
    ([1, 2], "not_an_object"),
    ({"product_id": "BTC-USD", "time": "2025-01-01T00:00:00Z"}, "missing_price"),
    ({"product_id": "BTC-USD", "time": "2025-01-01T00:00:00Z", "price": "NaN"}, "bad_price"),
    ({"product_id": "BTC-USD", "time": "2025-01-01T00:00:00Z", "price": "-3"}, "bad_price"),
    ({"product_id": "BTC-USD", "time": "2025-01-01T00:00:00Z", "price": True}, "bad_price"),
    ({"product_id": "BTC-USD", "price": "1"}, "missing_time"),
    ({"product_id": "BTC-USD", "time": "yesterday", "price": "1"}, "bad_time"),
    ({"time": "2025-01-01T00:00:00Z", "price": "1"}, "missing_product"),
    ({"type": "l2update", "product_id": "BTC-USD"}, "not_a_ticker"),
    ({"ts": 1.0, "raw": "{not json"}, "bad_json"),
])
def test_bad_ticks_are_rejected_with_a_reason(message: object, reason: str) -> None:
    with pytest.raises(BadTick) as caught:
        normalise(message)
    assert caught.value.reason == reason


def test_crossed_quote_is_dropped_not_trusted() -> None:
    (tick,) = normalise({"product_id": "X-USD", "time": 1.7e9, "price": "10", "best_bid": "11", "best_ask": "10"})
    assert tick.best_bid is None and tick.best_ask is None


def test_bad_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "mixed.ndjson"
    good = {"product_id": "BTC-USD", "time": "2025-01-01T00:00:00Z", "price": "1"}
    path.write_text("\n".join([json.dumps(good), "not json", json.dumps({**good, "price": "NaN"}), json.dumps(good)]))
    stats = ReadStats()
    assert len(list(iter_file(path, stats=stats))) == 2
    assert stats.bad == {"bad_json": 1, "bad_price": 1}


def test_unreadable_sources_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="does not exist"):
        discover_series(tmp_path / "missing")
    with pytest.raises(RecordingError, match="holds no recordings"):
        discover_series(tmp_path)
    csv_file = tmp_path / "trades.csv"
    csv_file.write_text("timestamp,price,volume\n2025-01-01T00:00:00Z,1,1\n")
    with pytest.raises(RecordingError, match="no product"):
        list(iter_file(csv_file))


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-04-04T21:13:43.291084825Z", 1775337223.291084),
    ("2026-04-04T21:13:43+00:00", 1775337223.0),
    (1775337223.5, 1775337223.5),
    (1775337223500, 1775337223.5),
    (1775337223500000000, 1775337223.5),
])
def test_parse_time(value: object, expected: float) -> None:
    assert math.isclose(parse_time(value), expected, abs_tol=1e-6)


def test_a_message_inside_an_envelope_is_found_one_level_down() -> None:
    from volctl.domain.ticks import normalise

    ticker = {"type": "ticker", "product_id": "BTC-USD", "price": "90000.5", "best_bid": "90000",
              "best_ask": "90001", "time": "2026-04-04T10:00:00.123Z"}
    for envelope in ({"received": "2026-04-04T10:00:00.2Z", "msg": ticker},
                     {"data": ticker, "seq": 7}, {"payload": json.dumps(ticker), "at": 1}):
        ticks = normalise(envelope)
        assert len(ticks) == 1 and ticks[0].product == "BTC-USD" and ticks[0].price == "90000.5"
    assert normalise({"received": "x", "msg": {"type": "heartbeats"}}) == []  # a wrapped non-tick is still one


def test_a_line_too_long_is_counted_and_skipped_without_being_held(tmp_path: Path) -> None:
    """Issue 41: a 900 MB line inside a 3.9 MB gzip was read whole (2.75 GB)."""
    import resource

    from volctl.domain.recordings import MAX_LINE_CHARS

    tick = b'{"product_id":"BTC-USD","time":"2026-04-04T10:00:0%dZ","price":"1","best_bid":"1","best_ask":"1"}\n'
    path = tmp_path / "bomb.ndjson.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(tick % 0)
        for _ in range(200):  # 200 MB of one line
            handle.write(b"x" * 1_000_000)
        handle.write(b"\n" + tick % 1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats = ReadStats()
    assert len(list(iter_series(path, stats=stats))) == 2
    assert stats.bad == {"line_too_long": 1}, stats
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 20 * MAX_LINE_CHARS / 1e6, grown_mb  # a few line buffers, never the line


def test_a_device_or_a_pipe_is_refused_not_read_for_ever(tmp_path: Path) -> None:
    """Issue 41: a symlink to /dev/zero and a FIFO ended in NotADirectoryError (exit 4)."""
    import os

    fifo = tmp_path / "ticks.ndjson"
    os.mkfifo(fifo)
    (tmp_path / "zero.ndjson").symlink_to("/dev/zero")
    for path in (fifo, tmp_path / "zero.ndjson"):
        with pytest.raises(RecordingError, match="neither a regular file nor a folder"):
            discover_series(path)

"""Issue 12 without real components: ticks from the future or past the window horizon, feature
state bounded for any tick sequence (Hypothesis), lag never negative for any offsets."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.consume.processor import TickProcessor
from tests.test_consume_units import FakeRecord, _model
from volctl.domain.features import FEATURES, HISTORY_S, WINDOWS_S, Z_WINDOW_S

NOW = 1_800_000_000.0
TICK_RATE_30S = FEATURES.index("tick_rate_30s")


def _tick(ts: float, price: float = 100.0) -> bytes:
    return orjson.dumps({"product_id": "BTC-USD", "time": ts, "price": str(price),
                         "best_bid": str(price - 0.01), "best_ask": str(price + 0.01)})


def test_a_tick_from_the_future_is_a_dead_letter_and_does_not_corrupt_its_product() -> None:
    processor = TickProcessor(_model(), max_future_s=5.0, clock=lambda: NOW)
    ticks = [FakeRecord(_tick(NOW - 400 + i), i) for i in range(350)]  # past the 300 s warm-up
    future = FakeRecord(_tick(NOW + 10 * 365 * 86400), 350)  # ten years ahead
    later = [FakeRecord(_tick(NOW - 50 + i), 351 + i) for i in range(50)]
    batch = processor.process([*ticks, future, *later])
    assert dict(batch.dead_reasons) == {"future": 1}
    letter = orjson.loads(batch.dead[0][1])
    assert letter["reason"] == "future" and letter["source"]["offset"] == 350 and "ahead" in letter["detail"]
    assert len(batch.predictions) == 400
    assert len(batch.feature_rows) == 400 - 300  # the drift log: only rows past their warm-up
    # The true rate: 30 ticks in the last 30 s (one a second), not every tick since the future one.
    assert batch.feature_rows[-1][2][TICK_RATE_30S] == 1.0
    state = processor.engine.products["BTC-USD"]
    assert state.last_ts == NOW - 1


def test_a_tick_older_than_the_window_horizon_is_a_dead_letter() -> None:
    processor = TickProcessor(_model(), clock=lambda: NOW)
    batch = processor.process([FakeRecord(_tick(NOW - 10), 0), FakeRecord(_tick(NOW - 10 - HISTORY_S - 1), 1),
                               FakeRecord(_tick(NOW - 12), 2)])  # slightly late: kept (clamped), as before
    assert dict(batch.dead_reasons) == {"too_old": 1}
    assert [orjson.loads(v)["source"]["offset"] for _, v in batch.predictions] == [0, 2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e9, 1e9, allow_nan=False), st.floats(1.0, 1e6)), min_size=1, max_size=200))
def test_feature_windows_stay_bounded_for_any_tick_sequence(offsets: list[tuple[float, float]]) -> None:
    processor = TickProcessor(_model(), max_future_s=5.0, clock=lambda: NOW)
    records = [FakeRecord(_tick(NOW + offset, price), i) for i, (offset, price) in enumerate(offsets)]
    batch = processor.process(records)
    assert len(batch.predictions) + len(batch.dead) == len(records)  # nothing lost
    state = processor.engine.products.get("BTC-USD")
    if state is None:
        return
    assert state.last_ts <= NOW + 5.0
    for window, span in zip(state.windows, WINDOWS_S, strict=True):
        assert all(ts > state.last_ts - span for ts, _, _ in window.ticks)
    assert all(ts > state.last_ts - Z_WINDOW_S for ts, _ in state.z_history)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 10_000)), st.one_of(st.none(), st.integers(0, 10_000))),
                min_size=1, max_size=8))
def test_lag_is_never_negative_for_any_offsets(reads: list[tuple[int | None, int | None]]) -> None:
    """Whatever the broker answers (an under-reported end, a commit racing the read), offset lag,
    time lag and time to drain are never negative: a figure that cannot be known is None."""
    from volctl.core.operations.lag import UNKNOWN, Observation, judge_history

    history = [{0: Observation(1000.0 + i, high, committed, 999.0)} for i, (high, committed) in enumerate(reads)]
    result = judge_history(history, "g", "t", 30.0, None)
    partition = result.partitions[0]
    high, committed = reads[-1]
    if high is None or (committed is not None and high < committed):
        assert partition.offset_lag is None and partition.status == UNKNOWN and result.offset_lag is None
    else:
        assert partition.offset_lag == high - (committed or 0) >= 0
    assert partition.production_rate >= 0 and partition.consumption_rate >= 0
    for figure in (partition.time_lag_s, result.time_lag_s, result.drain_s):
        assert figure is None or figure >= 0


def test_a_group_that_does_not_read_the_topic_is_not_called_stalled() -> None:
    """`lag --topic ticks.predictions` (nobody consumes it) and `lag --group nosuch`: exit 3 with the
    reason, never STALL or ERR."""
    import pytest

    from volctl.core.operations.lag import LagInputs, Observation
    from volctl.domain.errors import NotEnoughData

    class Reader:
        bootstrap = "127.0.0.1:9092"

        def groups(self) -> list[str]:
            return ["volctl-consumer"]

    history = [{p: Observation(1000.0 + i, 500, None, None) for p in range(3)} for i in range(3)]
    for group, message in (("volctl-consumer", "has no committed offset on ticks.predictions"),
                           ("nosuch", "no consumer group 'nosuch'")):
        inputs = LagInputs(Reader(), group, "ticks.predictions", lambda: None, lambda: None)  # type: ignore[arg-type]
        with pytest.raises(NotEnoughData, match=message):
            inputs.judge(history, 30.0, None)


def test_load_against_a_stopped_service_fails_fast_and_never_passes_latency(tmp_path) -> None:
    import socket

    import pytest

    from volctl.core.operations.load import judge, run_load
    from volctl.core.operations.load_schedule import LoadResult
    from volctl.domain.errors import Unreachable
    from volctl.domain.settings import SloSettings

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Unreachable, match="did not answer any of the first"):
        run_load(f"http://127.0.0.1:{port}/predict", None, 20.0, 30.0)  # raises after ~1 s, not 30
    refused = LoadResult("u", 20.0, 3.0, sent=60, errors={"ClientConnectorError": 60})
    for _ in range(60):
        refused.corrected.record(0.0004)  # refusals are instant
    latency = judge(refused, "rows", SloSettings()).objectives[0]
    assert not latency.passed and latency.measured == "no successful answers"


def test_config_values_are_checked_for_meaning(tmp_path) -> None:
    import pytest

    from volctl.domain.errors import ConfigError
    from volctl.domain.settings import load_settings

    cases = [("[slo]\nlatency_p95_seconds = -1\n", {}, "slo.latency_p95_seconds' from .* must be greater than 0"),
             ("[predict]\nport = 0\n", {}, "a port from 1 to 65535"),
             ("", {"VOLCTL_CONSUME_PORT": "70000"}, "VOLCTL_CONSUME_PORT must be a port"),
             ("[slo]\nerror_rate = 1.5\n", {}, "between 0 and 1"),
             ("[slo]\nperiod = 'forever'\n", {}, "a duration"),
             ("[drift]\nshare_threshold = 0\n", {}, "greater than 0 and at most 1"),
             ("[kafka]\npartitions = 0\n", {}, "from 1 to 1000"),
             ("[model]\nvariant = 'best'\n", {}, "ml, baseline or auto")]
    for text, env, message in cases:
        config = tmp_path / "loader.toml"
        config.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_settings(config, env=env)
    assert load_settings(env={}).slo.latency_p95_seconds == 0.8  # the defaults pass their own rules


def test_files_that_are_not_what_they_claim_exit_3(tmp_path) -> None:
    from typer.testing import CliRunner

    from volctl.cli.app import app

    (tmp_path / "junk.jsonl.gz").write_bytes(b"this is not gzip")
    (tmp_path / "junk.csv").write_text('a,b\n1,2,3,4\n"x\n')
    (tmp_path / "empty.ndjson").write_text("")
    (tmp_path / "words.ndjson").write_text('hello\n{"a": 1}\n')
    env = {"NO_COLOR": "1", "COLUMNS": "200", "VOLCTL_STATE_DIR": str(tmp_path / "state")}
    cases = [(["ingest", "--replay", "junk.jsonl.gz"], "not a readable gzip-compressed jsonl file"),
             (["ingest", "--replay", "empty.ndjson"], "holds no records"),
             (["ingest", "--replay", "words.ndjson"], "first bad record: words.ndjson:1: bad_json: hello"),
             (["drift", "report", "--current", "junk.csv", "--reference", "junk.csv"], "not a readable csv file")]
    for args, message in cases:
        paths = [str(tmp_path / a) if a.startswith(("junk", "empty", "words")) else a for a in args]
        result = CliRunner().invoke(app, paths, env=env)
        assert result.exit_code == 3, (args, result.output)
        assert message in " ".join(result.output.split()) and "bug" not in result.output, result.output
        assert "model train" not in result.output


def test_an_end_below_the_committed_offset_is_read_again_then_bounded_by_it() -> None:
    """Issue 24: `lag` exited 3 in 2 of 6 checks on a healthy stack ("the broker reports its end (579)
    below the committed offset (607)"). A committed offset is a lower bound of the end: a stale end
    is read again, and one that stays below is replaced by that bound, never reported as unknown."""
    from kafka import TopicPartition

    from volctl.clients.kafka import Committed
    from volctl.core.operations.lag import OK, judge_history, observe

    class Reader:
        def __init__(self, ends: list[int]) -> None:
            self.ends, self.reads = ends, 0

        def partitions(self, topic: str) -> list:
            return [TopicPartition(topic, 0)]

        def committed(self, group: str, partitions: list) -> dict:
            return {tp: Committed(607, None) for tp in partitions}

        def high_watermarks(self, partitions: list) -> dict:
            self.reads += 1
            return {tp: self.ends[min(self.reads, len(self.ends)) - 1] for tp in partitions}

    refreshed = Reader([579, 579, 612])
    seen = observe(refreshed, "g", "ticks.raw", lambda: {0: ("consume", 1000.0)})[0]
    assert (seen.high, seen.lag, seen.end_from_commit, refreshed.reads) == (612, 5, False, 3)

    stuck = Reader([579])
    seen = observe(stuck, "g", "ticks.raw", lambda: {0: ("consume", 1000.0)})[0]
    assert (seen.high, seen.lag, seen.end_from_commit) == (607, 0, True)
    result = judge_history([{0: seen}], "g", "ticks.raw", 30.0, None)
    assert result.status == OK and result.offset_lag == 0 and "bounds it" in result.partitions[0].why


def test_a_generator_a_few_ms_late_is_information_not_a_failed_release() -> None:
    """Issue 24: at 20 req/s, 12 sends up to 10.9 ms late failed `load` and the gate. Lateness fails
    the run only when the asked rate was missed by more than 2 % or its p95 is a material share of
    the latency objective; the corrected latency counts it either way."""
    from volctl.core.operations.load import judge
    from volctl.core.operations.load_schedule import LoadResult
    from volctl.domain.settings import SloSettings

    def run(late_ms: list[float], sent: int = 300, span_s: float = 15.0) -> LoadResult:
        result = LoadResult("u", 20.0, 15.0, sent=sent, ok=sent, send_span_s=span_s, answered=sent)
        for i in range(sent):
            result.corrected.record(0.002)
            late = late_ms[i] / 1000 if i < len(late_ms) else 0.0
            result.lateness.record(late)
            if late > 0.005:
                result.late, result.max_late_s = result.late + 1, max(result.max_late_s, late)
        return result

    def generator(result: LoadResult):
        return next(o for o in judge(result, "rows", SloSettings()).objectives if o.name == "generator kept up")

    busy = generator(run([10.9] * 12))
    assert busy.passed and "12 late (max 10.9 ms" in busy.measured and "under 10% of the 800 ms" in busy.measured
    stalled = generator(run([120.0] * 40))  # p95 lateness 120 ms: over 80 ms, the answer is distorted
    assert not stalled.passed and "over 10% of the 800 ms objective" in stalled.measured
    short = generator(run([], sent=280))  # 280 sends in 15 s: 18.7 req/s, 6.7 % short
    assert not short.passed and "short of the asked rate" in short.measured

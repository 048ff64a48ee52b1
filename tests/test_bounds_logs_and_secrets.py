"""Bounds on what comes in (durations, rates, product ids, state dirs, the feature log), logs that
cannot be forged or fill the disk (one visible line a record, bursts summarised, size rotation),
pids that are never mistaken for ours, and weak secrets refused."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from volctl.cli.app import app
from volctl.domain.clock import seconds_of
from volctl.domain.errors import ConfigError
from volctl.domain.service_log import SUMMARY_WINDOW_S
from volctl.domain.settings import load_settings

ENV = {"NO_COLOR": "1", "COLUMNS": "100", "VOLCTL_PREDICT_PORT": "1", "VOLCTL_PROMETHEUS_URL": "http://127.0.0.1:1"}


def test_one_duration_parser_for_config_and_commands(tmp_path: Path) -> None:
    """`slo.period = "1y"` passed validation and then `slo check` failed on it (exit 4)."""
    assert seconds_of("1y") == 365 * 86400 and seconds_of("500ms") == 0.5 and seconds_of("1.5m") == 90
    config = tmp_path / "loader.toml"
    config.write_text('[slo]\nperiod = "1y"\n')
    assert seconds_of(load_settings(config, env={}).slo.period) == 365 * 86400
    for bad in ("1.5d", "0s", "5 minutes"):  # PromQL takes whole units; nothing lasts 0 s
        config.write_text(f'[slo]\nperiod = "{bad}"\n')
        with pytest.raises(ConfigError, match=r"slo\.period"):
            load_settings(config, env={})
    with pytest.raises(ValueError, match="longer than 0"):
        seconds_of("0s")
    # issue 41: 99999999999999d passed validation, then Prometheus refused the query
    with pytest.raises(ValueError, match="longer than 100y"):
        seconds_of("99999999999999d")


@pytest.mark.parametrize("argv", [["load", "--duration", "0s"], ["slo", "check", "--window", "0s"],
                                  ["slo", "check", "--window", "1.5m"],
                                  ["slo", "check", "--window", "99999999999999d"]])
def test_a_zero_or_fractional_window_is_a_usage_error(argv: list[str]) -> None:
    """Before: `load --duration 0s` exited 1 ("asked 0.0/s"), `slo check --window 0s` exited 3 with
    Prometheus's raw parse error."""
    result = CliRunner().invoke(app, argv, env=ENV)
    assert result.exit_code == 2, result.output
    flag = argv[-2]
    assert f"Invalid value for {flag}" in " ".join(result.output.split())


@pytest.mark.parametrize("argv", [["load", "--rps", "1e9", "--duration", "1s"],
                                  ["load", "--rps", "1000", "--duration", "100d"], ["gate", "--rps", "1e9"]])
def test_a_rate_the_machine_cannot_schedule_is_a_usage_error(argv: list[str]) -> None:
    """Issue 41: `load --rps 1e9 --duration 1s` ended in a MemoryError at 1.48 GB (exit 4)."""
    result = CliRunner().invoke(app, argv, env=ENV)
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "Invalid value for --rps" in text, result.output
    assert "more than this machine can send" in text or "more than one run schedules" in text, text


def test_the_feature_log_is_bounded_in_bytes_and_read_past_a_torn_line(tmp_path: Path) -> None:
    """700 ticks with a 10,000-character product id grew the feature log by 4.1 MB (bounded by rows
    only); `drift report` failed on a half-written last line (read_rows had no torn-line skip)."""
    from volctl.domain.feature_log import COLUMNS, FeatureLog, JsonLinesLog, log_files, read_rows

    log = JsonLinesLog(tmp_path / "big", "outcomes", rows_per_file=20_000, keep_files=3, bytes_per_file=100_000)
    log.write({"product": "X" * 10_000} for _ in range(700))
    log.close()
    assert sum(p.stat().st_size for p in log_files(tmp_path / "big", "outcomes")) <= 3 * 100_000

    features = FeatureLog(tmp_path / "features")
    row = [0.1] * (len(COLUMNS) - 3)
    features.append([(1.0, "BTC-USD", row, 0.2), (2.0, "BTC-USD", row, 0.3)])
    features.close()
    with log_files(tmp_path / "features")[-1].open("ab") as handle:
        handle.write(b'[3.0, "BTC-USD", 0.1, 0.')  # the writer is mid-line
    assert [r[0] for r in read_rows(tmp_path / "features")] == [1.0, 2.0]


def test_a_product_id_without_the_shape_of_one_is_a_dead_letter() -> None:
    """700 ticks with a 10,000-character product_id were accepted by ingest and consume."""
    import orjson

    from services.consume.processor import TickProcessor
    from tests.test_consume_units import FakeRecord, _model
    from volctl.domain.ticks import BadTick, normalise

    for product in ("X" * 10_000, "BTC USD", "BTC-USD\x1b[2J", "BTCUSD", "-USD"):
        with pytest.raises(BadTick) as refused:
            normalise({"product_id": product, "time": 1_700_000_000, "price": "1"})
        assert refused.value.reason == "bad_product" and len(str(refused.value)) < 120
    assert normalise({"product_id": "1INCH-USDC", "time": 1_700_000_000, "price": "1"})[0].product == "1INCH-USDC"
    long = orjson.dumps({"product_id": "X" * 10_000, "time": 1_700_000_000, "price": "1"})
    batch = TickProcessor(_model()).process([FakeRecord(long, 0, key=b"X" * 10_000)])
    assert batch.dead_reasons == {"bad_product": 1} and not batch.predictions


def test_a_reused_pid_running_the_same_program_is_never_taken_for_ours(tmp_path: Path) -> None:
    """Stopping checked only argv[0]'s basename: any python3 that reused a stale pid could be signalled."""
    import json
    import os
    import sys

    from volctl.clients.processes import Supervisor, kernel_start

    supervisor = Supervisor(tmp_path)
    supervisor.run_dir.mkdir(parents=True)
    me = {"name": "consume", "pid": os.getpid(), "argv": [sys.executable, "-m", "services.consume"],
          "started_at": 0.0, "kernel_start": kernel_start(os.getpid())}
    supervisor.pid_file("consume").write_text(json.dumps(me))
    assert supervisor.record("consume") is not None  # the process that was recorded
    supervisor.pid_file("consume").write_text(json.dumps({**me, "kernel_start": me["kernel_start"] - 1}))
    assert supervisor.record("consume") is None  # same pid, same program, another process: stale
    assert supervisor.stop("consume").how == "not running"  # and never signalled (we are still here)
    record = supervisor.start("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"])
    assert record.kernel_start == kernel_start(record.pid) and supervisor.record("sleeper") is not None
    supervisor.stop("sleeper", timeout_s=5)


def _summarising_handler(clock, written: list[str]):  # type: ignore[no-untyped-def]
    """A handler that collects each message it writes, behind a RepeatSummary on `clock`."""
    import logging

    from volctl.domain.service_log import RepeatSummary

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append(record.getMessage())

    handler = Collect()
    repeats = RepeatSummary(clock=clock)
    repeats.handler = handler
    handler.addFilter(repeats)
    return handler


def test_a_log_record_is_one_visible_line_and_a_burst_is_summarised() -> None:
    import logging

    from volctl.domain.service_log import FORMAT, VisibleFormatter

    record = logging.makeLogRecord({"msg": "model switched by %s (%s)", "args": ("eve", "ok\x1b[2J\nFORGED [red]x[/]"),
                                    "levelname": "WARNING", "name": "volctl"})
    line = VisibleFormatter(FORMAT).format(record)
    assert "\n" not in line and "\x1b" not in line and "\\x1b[2J\\nFORGED [red]x[/]" in line

    now, written = [0.0], []
    handler = _summarising_handler(lambda: now[0], written)
    refused = {"msg": "admin call refused (%s): %s", "args": ("unauthorized", "401 from 127.0.0.1"),
               "levelno": logging.WARNING, "name": "volctl"}
    for i in range(10_000):
        now[0] = i / 1000  # 10,000 calls in 10 s
        handler.handle(logging.makeLogRecord(refused))
    now[0] = 10.5
    handler.handle(logging.makeLogRecord({"msg": "something else", "name": "volctl"}))
    assert written == ["admin call refused (unauthorized): 401 from 127.0.0.1",
                       "admin call refused (unauthorized): 401 from 127.0.0.1 [x 9,999 more in the last 10 s]",
                       "something else"]


def test_a_service_log_rotates_by_size_and_stray_output_follows_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "predict.log"
    program = ("import logging; from volctl.domain import service_log as s; s.MAX_LOG_BYTES = 200_000; "
               "s.configure_service_logging(); log = logging.getLogger('t'); "
               "[log.warning('line %d %s', i, 'x' * 100) for i in range(20_000)]; print('stray', flush=True)")
    subprocess.run([sys.executable, "-c", program], env={"VOLCTL_LOG_FILE": str(path), "PATH": "/usr/bin"},
                   check=True, cwd=Path(__file__).parents[1])
    files = sorted(tmp_path.glob("predict.log*"))
    assert [f.name for f in files] == ["predict.log", "predict.log.1", "predict.log.2", "predict.log.3"]
    assert all(f.stat().st_size <= 200_000 + 200 for f in files)  # 20,000 lines (2.5 MB) wrote at most 4 x 200 kB
    assert path.read_text().rstrip().endswith("stray")


@pytest.mark.integration
def test_ten_thousand_refused_admin_calls_write_a_few_lines_and_a_forged_reason_stays_one_line(
        trained_registry: Path, tmp_path: Path) -> None:
    """10,000 unauthenticated POST /admin/model grew predict.log by 1 MB; an authenticated reason
    holding ESC and a newline forged a line of its own."""
    import os
    import shutil
    import socket

    import httpx

    from tests.conftest import ServiceProcess, free_port, wait_for_http

    registry = tmp_path / "registry"
    shutil.copytree(trained_registry, registry)
    port, log, token = free_port(), tmp_path / "predict.log", "a-long-enough-test-token"
    os.environ.update(VOLCTL_STATE_DIR=str(tmp_path / "state"), VOLCTL_ADMIN_TOKEN=token,
                      VOLCTL_LOG_FILE=str(log))
    try:
        service = ServiceProcess(["-m", "services.predict", "--port", str(port), "--registry", str(registry),
                                  "--variant", "baseline"],  # the switch to ml below is a change, and logged
                                 f"http://127.0.0.1:{port}", tmp_path / "stdout.log")
    finally:
        for name in ("VOLCTL_STATE_DIR", "VOLCTL_ADMIN_TOKEN", "VOLCTL_LOG_FILE"):
            del os.environ[name]
    try:
        wait_for_http(service.url + "/health", process=service.process)
        before = log.stat().st_size
        started = time.monotonic()
        with httpx.Client(timeout=60) as client:
            for _ in range(2000):
                assert client.post(service.url + "/admin/model", json={"variant": "baseline"}).status_code == 401
            forged = client.post(service.url + "/admin/model", headers={"Authorization": f"Bearer {token}"},
                                 json={"variant": "ml", "reason": "ok\x1b[2J\n2026-12-06 INFO forged line",
                                       "change_id": "round2"})  # part of a stack-wide change
            assert forged.status_code == 200, forged.text
        for _ in range(500):  # issue 41: each malformed request wrote one uvicorn line of its own, unsummarised
            with socket.create_connection(("127.0.0.1", port)) as raw:
                raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                raw.recv(100)
        elapsed = time.monotonic() - started
    finally:
        service.stop()
    grown = log.read_bytes()[before:].decode()
    invalid = [line for line in grown.splitlines() if "Invalid HTTP request" in line]
    assert 1 <= len(invalid) <= 2 * (elapsed / SUMMARY_WINDOW_S + 2), (len(invalid), elapsed, invalid[:3])
    # A burst's first refusal, then its summary; a busy machine takes more than one window and each
    # window starts with a line of its own: every refusal is counted once, in a few lines.
    refused = [line for line in grown.splitlines() if "refused" in line]
    summarised = [int(n.replace(",", "")) for line in refused
                  for n in re.findall(r"\[x ([\d,]+) more in the last", line)]
    alone = len(refused) - len(summarised)
    assert alone >= 1 and alone + sum(summarised) == 2000, grown[:2000]
    assert len(refused) <= 2 * (elapsed / SUMMARY_WINDOW_S + 2), (len(refused), elapsed)
    assert "\x1b" not in grown and "\n2026-12-06 INFO forged line" not in grown
    assert "\\x1b[2J\\n2026-12-06 INFO forged line" in grown


@pytest.mark.parametrize("argv", [["up"], ["status"], ["model", "list"], ["health"]])
def test_an_unusable_state_dir_is_a_config_error_naming_the_key(argv: list[str]) -> None:
    """`state_dir = "/proc/x"`: `up` exited 4 (FileNotFoundError, "this is a bug") while `status`
    and `model list` exited 0."""
    result = CliRunner().invoke(app, argv, env={**ENV, "VOLCTL_STATE_DIR": "/proc/x"})
    assert result.exit_code == 3, result.output
    assert "state_dir '/proc/x' is not a folder volctl can write" in " ".join(result.output.split())


def test_weak_secrets_and_exposed_services_are_refused_or_warned(tmp_path: Path) -> None:
    from volctl.domain.settings import exposure_warnings

    with pytest.raises(ConfigError, match="at least 16 characters") as refused:
        load_settings(None, env={"VOLCTL_ADMIN_TOKEN": "a"})
    assert "'a'" not in str(refused.value)  # a secret is never echoed
    token = tmp_path / "admin_token"
    token.write_text("x" * 40)
    token.chmod(0o600)
    quiet = load_settings(None, env={"VOLCTL_STATE_DIR": str(tmp_path)})
    assert exposure_warnings(quiet) == []
    token.chmod(0o644)
    loud = load_settings(None, env={"VOLCTL_STATE_DIR": str(tmp_path), "VOLCTL_PREDICT_HOST": "0.0.0.0"})
    warnings = exposure_warnings(loud)
    assert len(warnings) == 2 and "mode 0644" in warnings[0] and "predict.host = '0.0.0.0'" in warnings[1]
    result = CliRunner().invoke(app, ["status"], env={**ENV, "VOLCTL_STATE_DIR": str(tmp_path),
                                                      "VOLCTL_PREDICT_HOST": "0.0.0.0"})
    assert "warning:" in result.output and "chmod 600" in " ".join(result.output.split())


def test_an_empty_feature_log_during_the_warm_up_says_so(tmp_path: Path) -> None:
    """`drift report` on a fresh stack said "0 rows … is the consume service running?" while it ran:
    the cause is the 5-minute warm-up, with the streams warming and when rows come."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import orjson

    from tests.conftest import free_port
    from volctl.domain.features import FeatureEngine

    engine = FeatureEngine()
    for second in range(100):
        engine.update("BTC-USD", 1_700_000_000 + second, 100.0, 99.99, 100.01)
    assert engine.warm_up_left() == {"BTC-USD": 201.0}  # 300 s of history needed, 99 s seen

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = orjson.dumps({"status": "ok", "warming_up": engine.warm_up_left()})
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = HTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from volctl.core.model.drift_inputs import feature_log_rows
        from volctl.domain.settings import load_settings

        settings = load_settings(None, env={"VOLCTL_STATE_DIR": str(tmp_path), "VOLCTL_CONSUME_PORT": str(port)})
        rows = feature_log_rows(settings, "1h")
    finally:
        server.shutdown()
    assert rows.frame.empty
    assert "1 stream is in the 5 min warm-up" in rows.source and "BTC-USD in 3 min" in rows.source, rows.source


def test_summaries_of_several_bursts_do_not_trip_over_each_other() -> None:
    """Writing a summary used to pass through the filter again: with two bursts over at once, the
    second flush found the first already gone (KeyError) and the exception took the consume
    service down (found by bench/scale.py, dead letters of two kinds)."""
    import logging

    now, written = [0.0], []
    handler = _summarising_handler(lambda: now[0], written)
    for message in ("a", "a", "b", "b", "b"):
        handler.handle(logging.makeLogRecord({"msg": message, "name": "volctl"}))
    now[0] = 11.0
    handler.handle(logging.makeLogRecord({"msg": "c", "name": "volctl"}))
    assert written == ["a", "b", "a [x 1 more in the last 10 s]", "b [x 2 more in the last 10 s]", "c"]


def test_ingest_with_event_time_now_reports_the_times_it_sent() -> None:
    """`ingest --event-time now` reported the recorded times as the "event time"."""
    import time

    from volctl.core.operations.ingest import publish
    from volctl.domain.clock import utc_iso
    from volctl.domain.ticks import Tick

    class Sink:
        acked = failed = resent = 0

        def send(self, topic: str, key: bytes, value: bytes) -> None:
            self.acked += 1

        def flush(self) -> None:
            pass

    ticks = [(1, Tick("BTC-USD", 1_700_000_000.0 + i, "100")) for i in range(3)]
    summary = publish(ticks, Sink(), "ticks.raw", "test", event_time="now")  # type: ignore[arg-type]
    assert summary.first_event[:16] == utc_iso(time.time(), "microseconds")[:16]  # stamped now
    assert summary.recorded_span == (ticks[0][1].time_iso, ticks[-1][1].time_iso)
    kept = publish(ticks, Sink(), "ticks.raw", "test", event_time="original")  # type: ignore[arg-type]
    assert kept.first_event == ticks[0][1].time_iso and kept.recorded_span is None


def test_a_narrow_record_view_shows_no_blank_fields() -> None:
    """Off a terminal at 80 columns `model list` printed blank `version:` and `data:` fields for the
    ml row, and `rollback` an empty `note:`."""
    from rich.console import Console
    from rich.table import Table

    from volctl.render.console import fit

    table = Table(title="switches")
    for column in ("service", "before", "after", "time", "verified", "note"):
        table.add_column(column)
    table.add_row("predict", "ml 20261206-030647-real " * 2, "baseline 20261206-030647-real " * 2, "12 ms", "yes", "")
    console = Console(width=60, record=True, no_color=True)
    console.print(fit(table, console))
    text = console.export_text()
    assert "service: predict" in text and "verified: yes" in text and "note:" not in text, text


def test_any_product_id_is_either_shaped_or_a_bad_product_dead_letter() -> None:
    """The property behind the product shape: whatever a producer puts in product_id, normalise
    accepts exactly the ids with the shape and refuses the rest as bad_product, never crashing."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from volctl.domain.ticks import PRODUCT_SHAPE, BadTick, normalise

    @given(st.one_of(st.text(max_size=40), st.from_regex(PRODUCT_SHAPE, fullmatch=True)))
    @settings(max_examples=300, derandomize=True, database=None)
    def check(product: str) -> None:
        try:
            ticks = normalise({"product_id": product, "time": 1_700_000_000, "price": "1"})
        except BadTick as refused:
            assert refused.reason in ("bad_product", "missing_product") and not PRODUCT_SHAPE.fullmatch(product)
        else:
            assert ticks[0].product == product and PRODUCT_SHAPE.fullmatch(product)

    check()

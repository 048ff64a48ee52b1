"""Reports at 80 columns (a narrow terminal, a CI log): identifiers, versions, times and verdicts
are whole in every table, whatever has to fold or become records to fit."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

VERSION = "20261201-224610-synthetic-12"
SHA = "c003e1f2a9b8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2"
CHANGE = "c003e1f2a9b84d2e"


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch):
    """Every render module prints to one 80-column console; returns a reader of what it printed."""
    import volctl.render as render_package
    from volctl.render import console as console_module

    console = Console(width=80, file=io.StringIO(), highlight=False, emoji=False, color_system=None)
    import importlib
    import pkgutil

    # Import every module first: one imported after console.out is patched would bind the narrow
    # console, and the restore would put it back, leaving later tests printing into this StringIO.
    modules = [importlib.import_module(f"volctl.render.{info.name}")
               for info in pkgutil.iter_modules(render_package.__path__)]
    for module in modules:
        if hasattr(module, "out"):
            monkeypatch.setattr(module, "out", console)
    monkeypatch.setattr(console_module, "out", console)
    return lambda: console.file.getvalue()


def _whole(text: str, *cells: str) -> None:
    flat = re.sub(r"[ \t]+", " ", text)
    for cell in cells:
        assert cell in flat, f"{cell!r} is cut or missing in:\n{text}"
    assert "…" not in text, text


def test_rollback_history(narrow) -> None:
    from volctl.render.rollback import history_table

    entry = {"at": "2026-12-01T22:46:10.123Z", "actor": "oncall@very-long-hostname.example.internal",
             "service": "consume", "from": {"variant": "ml", "version": VERSION, "sha": SHA},
             "to": {"variant": "baseline", "version": VERSION, "sha": SHA}, "outcome": "switched",
             "reason": "latency SLO breached for ten minutes, runbook high-latency step 5", "change_id": CHANGE}
    history_table([entry, {**entry, "service": "predict", "outcome": "not_found"}])
    text = narrow()
    _whole(text, "12-01 22:46:10", VERSION, "switched", "not_found")
    assert "┃ UTC" in text and "not shown below 120 columns: change, reason, service" in " ".join(text.split())
    from volctl.render import console

    console.out.width = 120
    history_table([entry])
    _whole(narrow(), CHANGE, "consume")


def test_model_list(narrow) -> None:
    from volctl.core.model.models import ModelSummary, VariantSummary
    from volctl.render.models import model_table

    variants = [VariantSummary("ml", 0.2391, 0.283, 0.2, 0.4, SHA),
                VariantSummary("baseline", 0.124, 0.031, 0.1, 0.9, SHA)]
    model_table([ModelSummary(VERSION, "2026-12-01T22:46:10Z", True, "2025-11-07T00:00:00Z", "2026-04-04T23:59:59Z",
                              15895, 0.151, variants, "/x", "baseline", "ml does not clearly beat the baseline rule")])
    text = narrow()
    _whole(text, VERSION, "ml", "baseline", "auto serves baseline")  # a table at 80 columns, not records
    assert "version: " not in text and "not shown below 130 columns: data, F1, base rate" in " ".join(text.split())
    from volctl.render import console

    console.out.width = 140
    model_table([ModelSummary(VERSION, "2026-12-01T22:46:10Z", True, "2025-11-07T00:00:00Z", "2026-04-04T23:59:59Z",
                              15895, 0.151, variants, "/x", "baseline", "ml does not clearly beat the baseline rule")])
    _whole(narrow(), "2025-11-07", "2026-04-04", "synthetic")


def test_slo_check(narrow) -> None:
    from volctl.core.monitoring.sli import SloRow
    from volctl.core.monitoring.slo import SloReport
    from volctl.render.slo import slo_table

    report = SloReport("http://127.0.0.1:9090", "30d", "30d", 123456.0, rows=[
        SloRow("latency p95", "<= 800 ms", 0.0031, "3.1 ms", "met"),
        SloRow("error rate", "< 1.00%", 0.0, "0.000%", "met", burn_rates={"1h": 0.0, "6h": 0.0, "1d": 0.0, "3d": 0.0}),
        SloRow("availability", ">= 99.90%", 1.0, "100.000%", "met", burn_rates={"1h": 0.0, "6h": 0.0, "1d": 0.12,
                                                                              "3d": 0.5}),
        SloRow("consumer lag (max)", "< 30 s", 1.0, "1.0 s (now 0.0 s)", "too little traffic"),
    ])
    slo_table(report)
    text = narrow()
    # At 80 columns a table still (it was about 60 lines of records), the burn rates and budgets left
    # out and said so; the names and verdicts whole.
    assert "┃ SLO" in text and "objective: " not in text
    _whole(text, "availability", "consumer lag (max)", "pass")
    assert "not shown below 130 columns: burn 1h/6h/1d/3d, error budget left (--wide or --json shows them)" in " ".join(
        text.split())
    from volctl.render import console

    console.out.width = 140  # a wide terminal shows them
    slo_table(report)
    _whole(narrow(), "0.12", "0.50")


def test_slo_check_on_a_young_stack(narrow) -> None:
    from volctl.core.monitoring.sli import Budget, SloRow
    from volctl.core.monitoring.slo import SloReport
    from volctl.render.slo import slo_table

    report = SloReport("http://127.0.0.1:9090", "5m", "30d", 0.0, data_span_s=120.0,
                       burn_windows_beyond_data=["1h", "6h", "1d", "3d"], rows=[
        SloRow("error rate", "< 1.00%", None, "no data", "too little traffic", Budget(1.0, 0.0, 432.0, None),
               burn_rates={"1h": 0.0, "6h": 0.0, "1d": 0.0, "3d": 0.0})])
    from volctl.render import console

    console.out.width = 140  # where the budget column is shown
    slo_table(report)
    text = " ".join(narrow().split())
    assert "100% (no request yet; 432 min)" in text and "(0 req" not in text
    assert "burn over 1h, 6h, 1d, 3d: not shown: Prometheus holds 2 min of predict data" in text


def test_lag(narrow) -> None:
    from volctl.core.operations.lag import GroupLag, PartitionLag
    from volctl.render.kafka import lag_report

    lag = GroupLag("volctl-consumer-with-a-long-name", "ticks.raw", 5.0, 6, [
        PartitionLag(0, 123456, 123500, 44, 10.0, 9.0, 4.4, "WARN",
                     "not advancing with 44 behind; last commit 12 s ago (STOP after 30 s)"),
        PartitionLag(1, None, None, None, 0.0, 0.0, None, "UNKNOWN", "lag unknown: its end could not be read")])
    lag_report(lag)
    text = narrow()
    # 3 partitions were 33 lines of records at 80 columns: a table, the offsets and rates left out
    _whole(text, "UNKNOWN", "WARN", "44", "volctl-consumer-with-a-long-name")
    assert "┃ part" in text and "part: " not in text
    assert "not shown below 110 columns: in/s, out/s, committed, high" in " ".join(text.split())
    from volctl.render import console

    console.out.width = 120
    lag_report(lag)
    _whole(narrow(), "123456", "123500")


def test_alerts(narrow) -> None:
    from volctl.core.monitoring.alerts import ActiveAlert, AlertsReport
    from volctl.domain.incidents import Incident
    from volctl.render.alerts import alerts_view
    from volctl.render.console import out

    report = AlertsReport("http://127.0.0.1:9093", alerts=[
        ActiveAlert("ModelQualityPrecisionBelowChallenger", "firing", "ticket", "2026-12-07T16:02:11Z",
                    "the served model's realised precision is more than 0.05 below its best shadow challenger's",
                    0.8, "volctl runbook run model-quality", shown="0.800 below the best challenger's precision")],
        incidents=[Incident("ConsumerDown", "page", "f1", "no consume member answers",
                            "volctl runbook run consumer-lag", "2026-12-07T16:02:17Z", 0.0,
                            resolved_at="2026-12-07T16:04:01Z", shown="0 of 1 consume members up", pending_s=6.0)])
    out.print(alerts_view(report))
    text = narrow()
    _whole(text, "ModelQualityPrecisionBelowChallenger", "firing ticket", "ConsumerDown", "16:04:01",
           "110 s", "model-quality", "volctl runbook run consumer-lag")
    assert "┃ alert" in text and "alert: " not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "not shown below 140 columns: summary, since (UTC)" in " ".join(text.split())
    out.width = 140
    out.print(alerts_view(report))
    _whole(narrow(), "2026-12-07 16:02:11")  # the since columns, whole


def test_tail_compact_is_one_whole_line_a_message(narrow) -> None:
    """`tail` printed about 17 lines of pretty JSON a message; --compact prints one (as kcat does),
    which the terminal wraps: nothing is cut."""
    from volctl.clients.kafka import Message
    from volctl.core.operations.topics import TailedMessage
    from volctl.render.kafka import tailed_message

    value = {"product_id": "BTC-USD", "price": "91234.56", "best_bid": "91234.55", "best_ask": "91234.57",
             "time": "2026-12-01T22:46:10.123456Z", "sequence": 123456789012}
    shown = TailedMessage.of(Message("ticks.raw", 3, 987654, 1764629170123, b"BTC-USD",
                                     __import__("json").dumps(value).encode()))
    tailed_message(shown, compact=True)
    lines = narrow().splitlines()
    assert len(lines) == 1 and lines[0].startswith("p3@987654 2025-12-01T22:46:10.123Z key=BTC-USD {")
    assert '"sequence":123456789012}' in lines[0]


def test_runbook_list_names_each_runbooks_alerts_whole(narrow) -> None:
    """`runbook list` broke "ModelQualityPrecisionBelowChalleng / er" and said nothing of which
    runbook an alert points to."""
    from volctl.core.monitoring.alert_rules import alerts
    from volctl.core.monitoring.runbooks import list_runbooks
    from volctl.domain.settings import SloSettings
    from volctl.render.runbook import runbook_list

    by_runbook: dict[str, list[str]] = {}
    for alert in alerts(SloSettings()):
        by_runbook.setdefault(alert.runbook, []).append(alert.name)
    runbook_list(list_runbooks(), by_runbook)
    text = narrow()
    assert "┃ name" in text and max(len(line) for line in text.splitlines()) <= 80
    lines = text.splitlines()
    for name in ("ModelQualityPrecisionBelowChallenger", "SloBurnAvailability3d", "PredictLatencyHigh"):
        assert any(name in line for line in lines), name  # whole, on one line
    row = next(line for line in lines if "high-latency" in line)
    assert "PredictLatencyHigh" in row  # the alert beside the runbook it points to


def test_model_show_keeps_its_variant_table_at_80_columns(narrow) -> None:
    """`model show`'s variant table became one record per variant below about 170 columns."""
    from volctl.render.models import _test_table

    metrics = {"pr_auc": 0.125, "pr_auc_interval": [0.074, 0.209], "roc_auc": 0.522, "f1": 0.124, "precision": 0.096,
               "recall": 0.178, "brier": 0.238, "brier_constant": 0.108, "episodes": 17,
               "alert_lift": {"ratio": 0.99, "interval": [0.70, 1.42]}}
    _test_table({"baseline": {"metrics": metrics}, "ml": {"metrics": metrics}}, "spike alerts, test split")
    text = narrow()
    assert "┃ variant" in text and "variant: " not in text
    _whole(text, "baseline", "0.125", "0.074–0.209", "0.124")
    assert "not shown below 170 columns: constant, Brier, ROC-AUC, episodes, precision, recall" in " ".join(
        text.split())


def _header(text: str) -> str:
    """The table's column names (a long one may wrap over two header lines), or "" when the rows
    were shown as records."""
    rows = [line.strip("┃").split("┃") for line in text.splitlines() if line.startswith("┃")]
    return " | ".join(" ".join(" ".join(row[i] for row in rows).split()) for i in range(len(rows[0]))) if rows else ""


def _lag(why: str, high: int):
    from volctl.core.operations.lag import GroupLag, PartitionLag

    return GroupLag("volctl-consumer", "ticks.raw", 5.0, 6, [
        PartitionLag(0, high - 44, high, 44, 10.0, 9.0, 4.4, "WARN", why),
        PartitionLag(1, 7, 7, 0, 0.0, 0.0, 0.0, "OK", "caught up")])


def _slo(reason: str, shown: str):
    from volctl.core.monitoring.sli import SloRow
    from volctl.core.monitoring.slo import SloReport

    return SloReport("http://127.0.0.1:9090", "5m", "30d", 10.0, rows=[
        SloRow("latency p95", "<= 800 ms", 0.0031, shown, "met"),
        SloRow("realised precision (1h)", ">= best challenger - 0.05, >= 0", None, "no data", reason)])


def _switch(actor: str, reason: str) -> list[dict[str, object]]:
    entry = {"at": "2026-12-01T22:46:10.123Z", "actor": actor, "service": "consume",
             "from": {"variant": "ml", "version": VERSION, "sha": SHA},
             "to": {"variant": "baseline", "version": VERSION, "sha": SHA}, "outcome": "switched",
             "reason": reason, "change_id": CHANGE}
    return [entry, {**entry, "service": "predict", "outcome": "not_found"}]


def _models(version: str, note: str) -> list[object]:
    from volctl.core.model.models import ModelSummary, VariantSummary

    variants = [VariantSummary("ml", 0.2391, 0.283, 0.2, 0.4, SHA, served=False),
                VariantSummary("baseline", 0.124, 0.031, 0.1, 0.9, SHA, served=True)]
    return [ModelSummary(version, "2026-12-01T22:46:10Z", True, "2025-11-07T00:00:00Z", "2026-04-04T23:59:59Z",
                         15895, 0.151, variants, "/x", "baseline", note)]


def _variant_metrics(value: float) -> dict[str, dict[str, object]]:
    metrics = {"pr_auc": value, "pr_auc_interval": [value / 2, value * 1.5], "roc_auc": 0.522, "f1": value,
               "precision": 0.096, "recall": 0.178, "brier": 0.238, "brier_constant": 0.108, "episodes": 17,
               "alert_lift": {"ratio": 0.99, "interval": [0.70, 1.42]}}
    return {"baseline": {"metrics": metrics}, "ml": {"metrics": metrics}}


def _runbooks(summary: str, alerts: list[str]):  # type: ignore[no-untyped-def]
    from pathlib import Path

    from volctl.core.monitoring.runbooks import Runbook

    def render(runbooks):  # type: ignore[no-untyped-def]
        from volctl.render.runbook import runbook_list

        runbook_list(runbooks, {"high-latency": alerts})

    return render, [Runbook("high-latency", Path("x.md"), "Prediction latency above its objective", summary, [], "")]


def _gate(measured: str, threshold: str):  # type: ignore[no-untyped-def]
    from volctl.core.operations.gate import GateCheck, GateReport

    return GateReport("23s", "/b", "2026-12-08T02:44:07Z", [
        GateCheck("slo: forecast bound exceeded (1h)", "quality", measured, "2% to 8%", "fail"),
        GateCheck("drift share", "drift", "0% of 19 features", threshold, "inconclusive", "let the stream run")])


@pytest.mark.parametrize("width", [80, 100, 160])
def test_a_tables_shape_follows_the_width_not_the_values(narrow, width: int) -> None:
    """The same `slo check` printed a table in one run and records in the next: the shape depended on
    the widest value of the moment. At 80, 100 and 160 columns, short and long values give the same
    columns (a table, not records), and no word is broken: lag, slo check, model list, model show's
    variant table, rollback --history and runbook list."""
    from volctl.render import console
    from volctl.render.gate import gate_table
    from volctl.render.kafka import lag_report
    from volctl.render.models import _test_table, model_table
    from volctl.render.rollback import history_table
    from volctl.render.slo import slo_table

    console.out.width = width
    shapes = []
    runbook_list, short_runbooks = _runbooks("when p95 is high", [])
    _, long_runbooks = _runbooks("when the p95 latency of /predict stays above its objective for five minutes "
                                 "or a burn-rate alert of the latency budget fires", [
                                     "PredictLatencyHigh", "ModelQualityPrecisionBelowChallenger", "SloBurnErrors1h"])
    for render, small, large in (
            (lag_report, _lag("caught up", 10), _lag("not advancing with 44 behind; last commit 12 s ago (STOP "
                                                      "after 30 s) and more words to wrap", 123_456_789_012)),
            (slo_table, _slo("too little traffic", "3.1 ms"),
             _slo("too few labels: 0 of 200 labelled ticks, 0 of 3 spike ticks in 1h", "31,415.9 ms")),
            (model_table, _models("v1", ""), _models(VERSION, "ml does not clearly beat the baseline rule on "
                                                              "validation: 0.012 [-0.05, 0.08]")),
            (lambda metrics: _test_table(metrics, "spike alerts"), _variant_metrics(0.1), _variant_metrics(0.123456)),
            (history_table, _switch("me@host", "drill"),
             _switch("oncall@very-long-hostname.example.internal", "latency SLO breached for ten minutes: "
                     "https://wiki.example.com/incidents/2026-12-01-latency-breach-of-the-predict-service")),
            (runbook_list, short_runbooks, long_runbooks),
            (gate_table, _gate("2 ms", "<= 5%"), _gate("1.5% of 8627 forecasts; QLIKE 0.68x persistence's",
                                                      "<= 5% (calibrated on 57 reference chunks of 5 min (the "
                                                      "current rows cover 39 min of the 60 min window))"))):
        narrow()  # what is printed so far
        before = len(narrow())
        render(small)
        first = narrow()[before:]
        render(large)
        second = narrow()[len(first) + before:]
        assert _header(first) and _header(first) == _header(second), (first, second)
        shapes.append(_header(first))
        assert max(len(line) for line in (first + second).splitlines()) <= width, first + second
    for word in ("inconclusive:", "caught"):
        assert any(word in line for line in narrow().splitlines()), word


def test_wide_keeps_every_column_at_80_columns() -> None:
    """The caption of a narrow table says what it left out and how to see it: `--wide` shows it."""
    from typer.testing import CliRunner

    from volctl.cli.app import app

    narrow = CliRunner().invoke(app, ["runbook", "list"], env={"NO_COLOR": "1", "COLUMNS": "80"})
    wide = CliRunner().invoke(app, ["runbook", "list", "--wide"], env={"NO_COLOR": "1", "COLUMNS": "80"})
    assert narrow.exit_code == wide.exit_code == 0, (narrow.output, wide.output)
    assert "not shown below 140 columns: title, when to use (--wide or --json shows them)" in " ".join(
        narrow.output.split())
    assert "when to use" in wide.output.splitlines()[2] and "not shown" not in wide.output
    again = CliRunner().invoke(app, ["runbook", "list"], env={"NO_COLOR": "1", "COLUMNS": "80"})
    assert again.output == narrow.output  # the next command measures its own width again


# A gate on the demo stack (its gate.json): rich's own sharing of the room made this table one column
# wider than the terminal (at 80 columns with its class column, at 64 and 65 without), which cut its
# right edge and its verdicts.
DEMO_GATE = (
    ("load: p95 <= 800 ms (corrected)", "latency", "2.3 ms", "p95 <= 800 ms (corrected)", "pass"),
    ("load: error rate < 1.0%", "errors", "0 of 25", "error rate < 1.0%", "pass"),
    ("load: throughput >= 10 req/s", "load", "5.0 req/s", "throughput >= 10 req/s", "fail"),
    ("load: generator kept up", "load", "achieved 5.0 of 5.0 req/s, 0 late", "generator kept up", "pass"),
    ("slo: latency p95", "latency", "0.7 ms (too little traffic: 38 of 100 requests in 23s)", "<= 800 ms",
     "inconclusive"),
    ("slo: availability", "availability", "100.000% (too little traffic: 38 of 100 requests in 23s)", ">= 99.90%",
     "inconclusive"),
    ("slo: forecast bound exceeded (1h)", "quality", "1.5% of 8627 forecasts; QLIKE 0.68x persistence's",
     "2% to 8%", "fail"),
    ("lag status (Burrow-style)", "lag", "OK, 0 behind: caught up", "OK or WARN", "pass"),
    ("drift share", "drift", "0% of 19 features", "<= 5% (calibrated on 57 reference chunks of 5 min (the current "
     "rows cover 39 min of the 60 min window))", "pass"),
    ("realised quality", "quality", "too little evidence in 1h: 1 of 3 spike episodes", "enough labelled ticks",
     "inconclusive"))


@pytest.mark.parametrize("width", [64, 65, 80, 100, 120])
def test_a_wrapping_table_never_runs_past_the_terminal(narrow, width: int) -> None:
    from volctl.core.operations.gate import GateCheck, GateReport
    from volctl.render import console
    from volctl.render.gate import gate_table

    console.out.width = width
    gate_table(GateReport("23s", "/b", "2026-12-08T02:44:07Z", [GateCheck(*check) for check in DEMO_GATE]))
    text = narrow()
    assert "┃ check" in text and max(len(line) for line in text.splitlines()) <= width, text
    assert text.count("inconclusive") >= 3 and "┓" in text  # the verdicts and the right edge, whole

"""The objective catalogue (`core/monitoring/objectives.py`) is the one place an objective is declared:
one record added there reaches `slo check`, the gate (under its own class), the SLO page, the rules'
alerts, the dashboard and the expressions Prometheus is tested with."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_slo_units import FakePrometheus
from volctl.core.monitoring import objectives
from volctl.domain.settings import SloSettings, load_settings

RUNBOOKS = Path(__file__).resolve().parents[1] / "runbooks"


class RangedPrometheus(FakePrometheus):
    def range(self, expr: str, seconds: float, step_s: float) -> list[tuple[float, float]]:
        import time

        now = time.time()
        return [(now - seconds + i * step_s, 0.2) for i in range(int(seconds / step_s))]

    def close(self) -> None:
        pass


@pytest.fixture
def rejections(monkeypatch: pytest.MonkeyPatch) -> objectives.Objective:
    """A new objective, declared once: at most 5 % of /predict requests rejected (4xx)."""
    from volctl.core.monitoring import queries as q
    from volctl.core.monitoring.rule_records import Alert, Panel, Series
    from volctl.core.monitoring.sli import Evidence, SloRow, verdict_of

    def rejected(found: Evidence) -> list[SloRow]:
        expr = q.rejected_ratio(found.window)
        value = found.measure(expr)
        return [SloRow("rejected inputs (test)", "< 5 %", value, "no data" if value is None else f"{value:.1%}",
                       verdict_of(value, value is not None and value < 0.05, found.enough),
                       explain=[found.measure.line(expr)])]

    added = objectives.Objective(
        "rejected inputs (test)", "rejections", rejected, "error-spike", todo="run `volctl health`",
        trend=objectives.Trend("rejected inputs (test, 4xx / requests)", "rejected, 1 min", "%",
                               lambda slo, window: q.rejected_ratio("1m"), lambda slo: (0.05, "objective < 5 %")),
        alerts=lambda slo: (Alert("PredictRejectingInputsTest", q.rejected_ratio(), ">", 0.05, "5m",
                                  "more than 5 % of /predict requests rejected", runbook="error-spike"),),
        panel=lambda slo: Panel("Rejected inputs (test)", (Series("rejected", q.rejected_ratio()),), "percentunit",
                                0.05))
    monkeypatch.setattr(objectives, "OBJECTIVES", (*objectives.OBJECTIVES, added))
    return added


def test_one_record_reaches_slo_check_the_gate_the_page_the_rules_and_the_dashboard(
        rejections: objectives.Objective, tmp_path: Path) -> None:
    from volctl.core.monitoring import alert_rules
    from volctl.core.monitoring.slo import check_slos, slo_history
    from volctl.core.operations.gate import FAIL, GateReport, _slo_checks, classes, what_to_do
    from volctl.reports.slo_html import objective_charts

    slo = SloSettings()
    client = RangedPrometheus(requests=10000, failed=0, p95=0.004, best_rate=50)  # answers 0.5 rejected
    report = check_slos(client, slo, "5m")
    row = next(r for r in report.rows if r.key == "rejected inputs (test)")
    assert (row.shown, row.verdict, report.verdict) == ("50.0%", "fail", "fail")

    assert "rejections" in classes() and what_to_do("rejections") == "run `volctl health`"
    settings = load_settings(env={}, overrides={"state_dir": str(tmp_path)})
    gate = GateReport("5m", str(tmp_path), "t")
    pages: list[Path] = []
    writers = type("Writers", (), {"prometheus": staticmethod(lambda: client),
                                   "slo_html": staticmethod(lambda *args: pages.append(args[-1]))})()
    _slo_checks(settings, "5m", tmp_path, gate, writers)  # type: ignore[arg-type]
    check = next(c for c in gate.checks if c.name == "slo: rejected inputs (test)")
    assert (check.kind, check.verdict) == ("rejections", FAIL) and "rejections" in gate.failed_classes

    history = slo_history(client, slo, "5m")
    assert "rejected inputs (test)" in history.series
    assert "rejected inputs (test, 4xx / requests)" in [c.title for c in objective_charts(history, slo, "5m")]
    assert "PredictRejectingInputsTest" in [a.name for a in alert_rules.alerts(slo)]
    assert "Rejected inputs (test)" in [p.title for p in alert_rules.dashboard_panels(slo)]
    assert "slo chart rejected inputs (test)" in alert_rules.every_expression(slo)  # evaluated on a real Prometheus


def test_every_objective_is_whole() -> None:
    """Keys are unique, each objective's runbook and its alerts' runbooks exist, `slo check --help`
    names it, and every objective is measured by `slo check` under its key."""
    from volctl.cli.app import app
    from volctl.core.monitoring.slo import check_slos

    keys = [o.key for o in objectives.OBJECTIVES]
    assert len(keys) == len(set(keys))
    slo = SloSettings()
    for objective in objectives.OBJECTIVES:
        assert (RUNBOOKS / f"{objective.runbook}.md").exists(), objective.key
        assert all((RUNBOOKS / f"{a.runbook}.md").exists() for a in objective.alerts(slo)), objective.key
    shown = CliRunner().invoke(app, ["slo", "check", "--help"], env={"NO_COLOR": "1", "COLUMNS": "200"}).output
    assert all(key in " ".join(shown.split()) for key in keys), shown
    report = check_slos(FakePrometheus(requests=10000, failed=0, p95=0.004, best_rate=50), slo, "5m")
    assert {row.key for row in [*report.rows, *report.info]} == set(keys)

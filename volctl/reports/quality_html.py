"""The self-contained HTML page of `volctl quality --html`: per variant realised quality on the same
ticks, PR-AUC with its interval drawn side by side, and the verdict against each challenger."""

from __future__ import annotations

from typing import TYPE_CHECKING

from volctl.reports.charts import interval_chart, page

if TYPE_CHECKING:
    from volctl.core.model.quality import QualityReport


def quality_page(report: QualityReport) -> str:
    verdict = report.outcome.value
    css = {"ok": "ok", "failed": "fail"}.get(verdict, "unknown")
    rows = [(f"{row.variant} ({'served' if row.served else 'shadow'})", row.pr_auc, *row.pr_auc_interval)
            for row in report.variants]
    caption = "Dots: PR-AUC over the window; bars: its 90 % block-bootstrap interval."
    charts = [interval_chart("realised PR-AUC by variant", rows, "PR-AUC", "variant", caption)] if rows else []
    from volctl.core.model.evaluation import skill_line
    from volctl.core.model.quality import live_forecast_line

    skill = [f"{row.variant} spike alerts {skill_line(row.skill)}" for row in report.variants if row.skill]
    forecast = live_forecast_line(report.forecast) if report.forecast else ""
    return page("reports/quality.html.j2", report=report, verdict=verdict, css=css, charts=charts, skill=skill,
                forecast=forecast)

"""The self-contained HTML page of `volctl slo check --html`: the verdict table, one chart per
objective over the window and the last hour (the evaluated window shaded, the objective drawn and
labelled apart from the data), the error budget left over time, the burn rates, and the numbers
each table cell was computed from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from volctl.core.monitoring import objectives
from volctl.core.monitoring.objectives import Objective, Trend
from volctl.core.monitoring.queries import throughput_span
from volctl.reports.charts import Axis, Band, Chart, Margins, Rule, Series, aligned, line_chart, page, time_axis

if TYPE_CHECKING:
    from pathlib import Path

    from volctl.core.monitoring.slo import SloHistory, SloReport
    from volctl.domain.settings import SloSettings

LOG_WHEN_FAR = 20.0  # the objective this many times above every value: a log scale shows both


def objective_charts(history: SloHistory, slo: SloSettings, window: str) -> list[Chart]:
    """One chart per objective, their time axes lined up (each is laid out, then again with the
    widest margins of them all)."""
    return aligned(lambda margins: _charts(history, slo, window, margins))


def _charts(history: SloHistory, slo: SloSettings, window: str, margins: Margins | None
            ) -> list[Chart]:
    band = [Band(history.window_start, history.end, f"evaluated window ({window})")]
    x = time_axis(history.start, history.end)
    charts = [_trend_chart(o.key, o.trend, history, slo, window, x, band, margins)
              for o in objectives.OBJECTIVES if o.trend is not None]
    ratios = [o for o in objectives.ratio_objectives() if f"budget {o.key}" in history.series]
    if ratios:
        # the same failed requests spend every budget: the first wide and pale, the others dashed over it
        charts.append(line_chart(
            f"error budget left over {slo.period}", x, Axis("budget left", unit="%", scale=100),
            [Series(f"{_name(o)} budget", history.series[f"budget {o.key}"], width=6.0 if i == 0 else 2.0,
                    dashed=i > 0) for i, o in enumerate(ratios)],
            [Rule(0.0, "budget spent")], band, margins=margins))
    return charts


def _trend_chart(key: str, trend: Trend, history: SloHistory, slo: SloSettings, window: str, x: Axis,
                 band: list[Band], margins: Margins | None) -> Chart:
    points = history.series.get(key, [])
    value, label = trend.line(slo)
    name, scale = trend.axis or trend.title, _SCALES.get(trend.unit, 1.0)
    if trend.fit == "far":
        axis = _value_axis(name, trend.unit, scale, points, value)
    else:
        axis = Axis(name, unit=trend.unit, scale=scale,
                    high=_headroom(points, value) if trend.fit == "ceiling" else None)
    series = [Series(trend.legend.format(span=throughput_span(window)), points)]
    if trend.with_load and history.offered:  # the load's own count each second: what Prometheus's rate smooths
        series.append(Series("volctl load, answered each second", history.offered, dashed=True))
    return line_chart(trend.title, x, axis, series, [Rule(value, label)], band, caption=trend.caption,
                      margins=margins)


_SCALES = {"ms": 1000.0, "%": 100.0}


def _name(objective: Objective) -> str:
    return objective.trend.axis or objective.trend.title if objective.trend else objective.key


def _headroom(points: list[tuple[float, float | None]], objective: float) -> float:
    """A share's axis top: a little above 100 % (a line at 100 % sat on the frame, hidden), never
    far enough for a tick above it."""
    lowest = min([v for _, v in points if v is not None] + [objective]) * 100
    return 100.0 + (100.0 - lowest) * 0.08


def _value_axis(name: str, unit: str, scale: float, points: list[tuple[float, float | None]],
                objective: float) -> Axis:
    values = [v for _, v in points if v is not None and v > 0]
    far = bool(values) and objective > LOG_WHEN_FAR * max(values)
    return Axis(f"{name} ({unit}{', log scale' if far else ''})", "log" if far else "linear", unit, scale)


def slo_html(report: SloReport, charts: list[Chart]) -> str:
    def css(verdict: str) -> str:
        return verdict if verdict in ("pass", "fail") else "other"

    return page("reports/slo.html.j2", report=report, verdict=report.verdict, charts=charts, css=css)


def write_slo_html(history: SloHistory, report: SloReport, slo: SloSettings, path: Path) -> None:
    """The page from what was measured (`core.monitoring.slo.slo_history`): it queries nothing."""
    path.write_text(slo_html(report, objective_charts(history, slo, report.window)))

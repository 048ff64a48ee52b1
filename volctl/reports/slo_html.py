"""The self-contained HTML page of `volctl slo check --html`: the verdict table, one chart per
objective over the window and the last hour (the evaluated window shaded, the objective drawn and
labelled apart from the data), the error budget left over time, the burn rates, and the numbers
each table cell was computed from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from volctl.core.monitoring.queries import throughput_span
from volctl.reports.charts import Axis, Band, Chart, Rule, Series, line_chart, page, shared_margins, time_axis

if TYPE_CHECKING:
    from pathlib import Path

    from volctl.core.monitoring.slo import SloHistory, SloReport
    from volctl.domain.settings import SloSettings

LOG_WHEN_FAR = 20.0  # the objective this many times above every value: a log scale shows both


def objective_charts(history: SloHistory, slo: SloSettings, window: str) -> list[Chart]:
    """One chart per objective, their time axes lined up (each is laid out, then again with the
    widest margins of them all)."""
    return _charts(history, slo, window, shared_margins(_charts(history, slo, window, None)))


def _charts(history: SloHistory, slo: SloSettings, window: str, margins: tuple[float, float] | None
            ) -> list[Chart]:
    band = [Band(history.window_start, history.end, f"evaluated window ({window})")]
    x = time_axis(history.start, history.end)
    latency = history.series["latency p95"]
    lag = history.series["consumer lag (max)"]
    availability = history.series["availability"]
    return [
        line_chart("p95 latency", x, _value_axis("p95 latency", "ms", 1000, latency, slo.latency_p95_seconds),
                   [Series("p95 latency, 1 min", latency)],
                   [Rule(slo.latency_p95_seconds, f"objective {slo.latency_p95_seconds * 1000:g} ms")], band,
                   margins=margins),
        line_chart("error rate (5xx / requests)", x, Axis("error rate", unit="%", scale=100),
                   [Series("error rate, 1 min", history.series["error rate"])],
                   [Rule(slo.error_rate, f"objective < {slo.error_rate:.2%}")], band, margins=margins),
        line_chart("availability", x, Axis("availability", unit="%", scale=100, high=_headroom(availability, slo)),
                   [Series("availability, 1 min", availability)],
                   [Rule(slo.availability, f"objective >= {slo.availability:.2%}")], band,
                   caption="Failed requests or failed scrapes of the predict service, whichever is worse.",
                   margins=margins),
        line_chart("consumer lag (max over members)", x,
                   _value_axis("consumer lag", "s", 1, lag, slo.consumer_lag_seconds),
                   [Series("lag", lag)],
                   [Rule(slo.consumer_lag_seconds, f"objective < {slo.consumer_lag_seconds:g} s")], band,
                   margins=margins),
        line_chart("throughput", x, Axis("requests per second", unit="req/s"),
                   [Series(f"/predict requests, per {throughput_span(window)}", history.series["throughput"])],
                   [Rule(slo.throughput_rps, f"objective >= {slo.throughput_rps:g} req/s")], band,
                   caption="Judged only under offered load (`volctl load`, `volctl gate`).", margins=margins),
        line_chart(f"error budget left over {slo.period}", x, Axis("budget left", unit="%", scale=100),
                   # the same failed requests spend both: wide and pale under dashed, both stay seen
                   [Series("error-rate budget", history.series["budget error rate"], width=6.0),
                    Series("availability budget", history.series["budget availability"], dashed=True)],
                   [Rule(0.0, "budget spent")], band, margins=margins),
    ]


def _headroom(availability: list[tuple[float, float | None]], slo: SloSettings) -> float:
    """The availability axis's top: a little above 100 % (a line at 100 % sat on the frame, hidden),
    never far enough for a tick above it."""
    lowest = min([v for _, v in availability if v is not None] + [slo.availability]) * 100
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

"""The self-contained HTML page of `volctl slo check --html`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from volctl.reports.templating import render

if TYPE_CHECKING:
    from pathlib import Path

    from volctl.clients.prometheus import PrometheusClient
    from volctl.core.slo import SloReport
    from volctl.domain.settings import SloSettings

WIDTH, HEIGHT = 720, 200


@dataclass
class Chart:
    points: str
    max_ms: float
    slo_ms: float
    slo_y: float
    span: str
    width: int = WIDTH
    height: int = HEIGHT


def chart_of(series: list[tuple[float, float]], slo_s: float, span: str) -> Chart:
    """An SVG polyline of (time, seconds) points, scaled so that the SLO line is visible."""
    top = max([v for _, v in series] + [slo_s]) * 1.1 or 1.0
    if not series:
        return Chart("", 0.0, slo_s * 1000, HEIGHT, span)
    start, end = series[0][0], series[-1][0]
    width = (end - start) or 1.0
    points = " ".join(f"{(t - start) / width * WIDTH:.1f},{HEIGHT - v / top * HEIGHT:.1f}" for t, v in series)
    return Chart(points, max(v for _, v in series) * 1000, slo_s * 1000, HEIGHT - slo_s / top * HEIGHT, span)


def slo_html(report: SloReport, chart: Chart) -> str:
    def css(verdict: str) -> str:
        return verdict if verdict in ("met", "breached") else "other"

    return render("reports/slo.html.j2", report=report, verdict=report.verdict, chart=chart, css=css,
                  generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"))


def write_slo_html(client: PrometheusClient, report: SloReport, slo: SloSettings, path: Path) -> None:
    """The page with the last hour of p95 from a range query."""
    from volctl.core.queries import latency_quantile

    series = client.range(latency_quantile(0.95, "1m"), seconds=3600, step_s=15)
    path.write_text(slo_html(report, chart_of(series, slo.latency_p95_seconds, "hour")))

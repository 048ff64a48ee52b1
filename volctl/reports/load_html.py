"""The self-contained HTML page of `volctl load --html`: the latency distribution on a nines axis
(corrected and uncorrected, as wrk2 and HdrHistogram users read it), the asked and achieved rate
over the run, errors by kind, and with --baseline both runs overlaid and the difference with its
interval."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from volctl.core.operations.histogram import Histogram, percentile_distribution
from volctl.reports.charts import COLOURS, Axis, Chart, Margins, Rule, Series, aligned, line_chart, nines, page

if TYPE_CHECKING:
    from volctl.core.operations.load import LoadReport


def load_charts(document: dict[str, Any], baseline: dict[str, Any] | None, objective_s: float) -> list[Chart]:
    runs = [("this run", document)] + ([("baseline", baseline)] if baseline else [])
    series = []
    for name, run in runs:  # one colour per kind; the baseline dashed
        for kind, colour in (("corrected", COLOURS[0]), ("uncorrected", COLOURS[1])):
            curve = percentile_distribution(Histogram.from_dict(run["histograms"][kind]))
            label = f"{name}, {kind}" + (" (from the intended send time)" if kind == "corrected" else "")
            series.append(Series(label, [(nines(q), s) for q, s in curve], dashed=name == "baseline", colour=colour))
    distribution = line_chart(
        "latency by percentile", Axis("percentile (nines scale)", "nines"),
        Axis("latency (ms, log scale)", "log", "ms", 1000), series,
        [Rule(objective_s, f"p95 objective {objective_s * 1000:g} ms")],
        caption="Corrected latency counts from when each request was due, so a stalled service is not hidden "
                "by a generator that waited for it (no coordinated omission).")
    return [distribution, *aligned(lambda margins: _over_time(document, objective_s, margins))]


def _over_time(document: dict[str, Any], objective_s: float, margins: Margins | None) -> list[Chart]:
    """The run second by second: latency and rate on one time axis."""
    timeline = document.get("timeline") or {}

    def per_second(kind: str) -> list[tuple[float, float | None]]:
        return [(second + 0.5, count) for second, count in enumerate(timeline.get(kind, []))]

    rate = line_chart(
        "asked and achieved rate", Axis("seconds since the start", elapsed=True),
        Axis("requests per second", unit="/s"),
        [Series("asked (due)", per_second("asked"), colour="#b6e3ff", width=7),  # wide and pale: the others on it
         Series("sent", per_second("sent"), colour=COLOURS[1], dashed=True),
         Series("answered 200", per_second("ok"), colour=COLOURS[3]),
         Series("failed", per_second("failed"), colour=COLOURS[4])],
        caption="Per second of the run. When the generator keeps up, sent lies on asked; when the service "
                "keeps up, answered lies on sent.", margins=margins)
    over_time = document.get("latency_timeline_ms") or {}

    def latency(kind: str) -> list[tuple[float, float | None]]:
        return [(second + 0.5, None if ms is None else ms / 1000) for second, ms in enumerate(over_time.get(kind, []))]

    latency_chart = line_chart(
        "latency over the run", Axis("seconds since the start", elapsed=True),
        Axis("latency (ms, log scale)", "log", "ms", 1000),
        [Series("worst in the second", latency("worst"), colour=COLOURS[4], dots=True),
         Series("mean", latency("mean"), colour=COLOURS[0])],
        [Rule(objective_s, f"p95 objective {objective_s * 1000:g} ms")],
        caption="Corrected latency of the requests due in each second: when the slowest answers happened.",
        margins=margins)
    return [latency_chart, rate]


def load_page(report: LoadReport, baseline: dict[str, Any] | None, objective_s: float) -> str:
    document = report.as_document()
    return page("reports/load.html.j2", report=report, document=document, baseline=baseline,
                charts=load_charts(document, baseline, objective_s))

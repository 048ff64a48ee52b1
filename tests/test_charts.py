"""The chart module's arithmetic, without a browser: ticks that read apart, the nines axis, log
scales that hold the objective, time labels in UTC, and an empty chart said plainly."""

from __future__ import annotations

import calendar
from itertools import pairwise

import pytest

from volctl.core.operations.histogram import Histogram, percentile_distribution
from volctl.reports.charts import Axis, Rule, Series, _ticks, line_chart, nines, percentile_of_nines, time_axis


@pytest.mark.parametrize(("low", "high"), [(99.9, 100.0), (0.0, 1.08), (0.0, 35.0), (0.0, 0.25), (-3.0, 7.0)])
def test_neighbouring_tick_labels_never_read_alike(low: float, high: float) -> None:
    labels = [label for _, label in _ticks(Axis("a", unit="%"), low, high, 200)]
    assert len(labels) >= 2 and len(set(labels)) == len(labels), labels


def test_the_nines_axis_puts_90_99_and_99_9_equally_apart() -> None:
    assert [round(nines(p), 6) for p in (0, 90, 99, 99.9)] == [0, 1, 2, 3]
    assert percentile_of_nines(3) == pytest.approx(99.9)
    labels = [label for _, label in _ticks(Axis("p", "nines"), 0, 4, 400)]
    assert labels == ["0%", "90%", "99%", "99.9%", "99.99%"]


def test_the_distribution_ends_where_the_sample_can_still_tell_percentiles_apart() -> None:
    histogram = Histogram()
    for i in range(1, 1001):
        histogram.record(i / 1000)
    curve = percentile_distribution(histogram)
    assert curve[0][0] == 0 and nines(curve[-1][0]) == pytest.approx(3.0)  # 1000 samples: three nines
    assert curve[-1][1] == histogram.max_s and all(a[1] <= b[1] for a, b in pairwise(curve))


def test_a_log_axis_holds_the_objective_far_above_the_values_and_labels_it_apart() -> None:
    chart = line_chart("p95", time_axis(0, 3600), Axis("latency (ms, log scale)", "log", "ms", 1000),
                       [Series("p95", [(t, 0.0008) for t in range(0, 3600, 60)])], [Rule(0.8, "objective 800 ms")])
    ticks = [t.text for t in chart.texts if t.cls == "tick"]
    assert "0.1 ms" in ticks and "1000 ms" in ticks  # four decades: the values and the objective
    objective = next(t for t in chart.texts if t.cls == "objective-label")
    assert objective.x > chart.plot.x + chart.plot.w  # in the margin, not over the data


def test_time_ticks_are_utc_clock_labels() -> None:
    start = calendar.timegm((2026, 12, 2, 6, 0, 0))
    labels = [label for _, label in _ticks(time_axis(), start, start + 3600, 600)]
    assert labels[0] == "06:00" and labels[-1] == "07:00"


def test_a_chart_without_data_is_marked_empty_not_drawn_blank() -> None:
    assert line_chart("nothing", Axis("x"), Axis("y"), [Series("s", [(0, None), (1, None)])]).empty


def _drawn_points(chart) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    points = [tuple(map(float, p.split(","))) for line in chart.lines if line.cls == "data"
              for p in line.points.split()]
    return points + [(x, y) for x, y, _ in chart.dots]


def test_a_series_beyond_the_shared_span_is_cut_at_the_plot_edge() -> None:
    """The throughput line was drawn left of the y axis, through its "0 req/s": points before the
    page's shared time span. Every mark stays inside the plot, the line is cut where it leaves."""
    points = [(t, 5.0 + (t % 7)) for t in range(-600, 3600, 15)]
    for chart in (c for c in [line_chart("throughput", time_axis(0, 3600), Axis("rps", high=8.0),
                                         [Series("rps", points)])] for c in (c, c.narrow)):
        plot = chart.plot
        drawn = _drawn_points(chart)
        assert drawn
        assert all(plot.x - 0.05 <= x <= plot.x + plot.w + 0.05 and plot.y - 0.05 <= y <= plot.y + plot.h + 0.05
                   for x, y in drawn), [(x, y) for x, y in drawn if x < plot.x or y < plot.y]
        assert min(x for x, _ in drawn) == pytest.approx(plot.x, abs=0.1)  # cut at the edge, not dropped


def test_a_legend_swatch_is_drawn_as_its_series() -> None:
    chart = line_chart("load", Axis("x"), Axis("y"), [Series("this run", [(0, 1), (1, 2)]),
                                                       Series("baseline", [(0, 1), (1, 3)], dashed=True),
                                                       Series("worst", [(0, 2), (1, 2)], line=False)])
    swatches = [line for line in chart.lines if line.cls == "legend-swatch"]
    assert [s.dashed for s in swatches] == [False, True]  # "worst" is dots only: a dot, no stroke
    assert len(chart.swatch_dots) == 1


def test_a_log_axis_starts_at_the_bulk_of_the_values_not_at_one_outlier() -> None:
    """A latency curve whose p0 is 1 µs and the rest 2-80 ms: the axis starts at 1 ms, not three
    decades lower, and the outlier sits on the axis's floor."""
    curve = [(0.0, 0.000001)] + [(i / 10, 0.002 + i * 0.0008) for i in range(1, 100)]
    chart = line_chart("latency", Axis("p", "nines"), Axis("latency (ms, log scale)", "log", "ms", 1000),
                       [Series("corrected", curve)])
    ticks = [t.text for t in chart.texts if t.cls == "tick" and t.text.endswith("ms")]
    assert ticks[0] == "1 ms", ticks
    assert max(y for _, y in _drawn_points(chart)) <= chart.plot.y + chart.plot.h + 0.05


def test_every_chart_has_a_phone_twin_with_its_labels_at_full_size() -> None:
    chart = line_chart("p95 latency", time_axis(0, 3600), Axis("latency (ms)", unit="ms", scale=1000),
                       [Series("p95", [(t, 0.2) for t in range(0, 3600, 60)])], [Rule(0.8, "p95 objective 800 ms")])
    narrow = chart.narrow
    assert narrow is not None and narrow.width <= 360 and narrow.narrow is None
    objective = next(t for t in narrow.texts if t.cls == "objective-label")
    assert objective.x <= narrow.plot.x + narrow.plot.w  # not in a 150 px margin: under the plot, in the legend
    assert objective.y > narrow.plot.y + narrow.plot.h
    assert narrow.plot.w > narrow.width * 0.6


def test_an_objective_label_on_a_phone_never_crosses_its_line_or_the_data() -> None:
    """"p95 objective 800 ms" looked struck through at 390 px (pushed onto its line near the top of the
    plot), and a label above its line sat on data running there: on a phone the label is in the
    legend, under the plot, beside a dashed swatch of its line."""
    for value in (0.2, 0.9, 0.99, 1.0):  # low, near the top, at the very top
        chart = line_chart("t", Axis("x"), Axis("y", high=1.0), [Series("s", [(0.0, 0.1), (1.0, 0.95)])],
                           rules=[Rule(value, "p95 objective 800 ms")])
        narrow = chart.narrow
        label = next(text for text in narrow.texts if text.cls == "objective-label")
        assert label.y - 11 > narrow.plot.y + narrow.plot.h, (value, label)  # below the plot
        assert any(line.cls == "legend-swatch" and line.dashed for line in narrow.lines)


def test_both_error_budgets_stay_visible_when_they_coincide() -> None:
    """The two error-budget lines lay on each other, hiding one."""
    from volctl.core.monitoring.objectives import trends
    from volctl.core.monitoring.slo import SloHistory
    from volctl.domain.settings import SloSettings
    from volctl.reports.slo_html import objective_charts

    history = SloHistory(0.0, 3600.0, 3300.0, 15.0)
    flat = [(t, 1.0) for t in range(0, 3600, 15)]
    for name in trends(SloSettings(), "5m"):
        history.series[name] = list(flat)
    budget = next(c for c in objective_charts(history, SloSettings(), "5m") if c.title.startswith("error budget"))
    error_line, availability_line = (line for line in budget.lines if line.cls == "data")
    assert error_line.width > availability_line.width and availability_line.dashed  # wide under, dashed over


def test_a_reliability_plot_spans_where_its_deciles_are() -> None:
    """The ml reliability plot was squeezed into a corner of the 0-1 square (scores of rare spikes)."""
    from volctl.reports.model_html import plots_of

    bins = [{"mean_score": s, "observed_rate": s * 1.1} for s in (0.02, 0.05, 0.08, 0.12, 0.17)]
    metrics = {"ml": {"reliability": bins, "brier": 0.1, "brier_constant": 0.11, "pr_auc": 0.2, "positive_rate": 0.1}}
    (chart,) = plots_of(metrics, {})
    tops = [t for t in chart.texts if t.cls == "tick"]
    assert any(t.text.startswith("0.2") for t in tops) and not any(t.text in ("1", "1.0", "0.8") for t in tops)


def test_the_slo_pages_charts_share_one_time_axis() -> None:
    """The charts' time axes did not line up: each plot began where its own tick labels ended."""
    from volctl.core.monitoring.objectives import trends
    from volctl.core.monitoring.slo import SloHistory
    from volctl.domain.settings import SloSettings
    from volctl.reports.slo_html import objective_charts

    history = SloHistory(0.0, 3600.0, 3300.0, 15.0)
    values = {"latency p95": 0.0042, "errors": 0.0, "availability": 0.99995, "consumer lag": 1234.5,
              "throughput": 12.0, "budget errors": 0.87, "budget availability": 0.5}  # labels of every width
    for name in trends(SloSettings(), "5m"):  # every charted objective of the catalogue
        history.series[name] = [(t, values.get(name, 0.5)) for t in range(0, 3600, 15)]
    charts = [c for c in objective_charts(history, SloSettings(), "5m") if not c.empty]
    assert len({(c.plot.x, c.plot.w) for c in charts}) == 1, [(c.title, c.plot.x, c.plot.w) for c in charts]
    phones = [c.narrow for c in charts if c.narrow is not None]  # a phone's twins too: each had its own
    assert len(phones) == len(charts) and len({(c.plot.x, c.plot.w) for c in phones}) == 1, [
        (c.title, c.plot.x, c.plot.w) for c in phones]


def test_availability_at_100_percent_stands_clear_of_the_frame_with_no_tick_above_it() -> None:
    from volctl.core.monitoring.objectives import trends
    from volctl.core.monitoring.slo import SloHistory
    from volctl.domain.settings import SloSettings
    from volctl.reports.slo_html import objective_charts

    history = SloHistory(0.0, 3600.0, 3300.0, 15.0)
    for name in trends(SloSettings(), "5m"):
        history.series[name] = [(t, 1.0) for t in range(0, 3600, 15)]
    chart = next(c for c in objective_charts(history, SloSettings(), "5m") if c.title == "availability")
    line = next(line for line in chart.lines if line.cls == "data")
    assert all(float(point.split(",")[1]) > chart.plot.y + 1 for point in line.points.split())  # not on the frame
    ticks = [t.text for t in chart.texts if t.cls == "tick" and t.text.endswith("%")]
    assert ticks and all(float(t.rstrip("%")) <= 100 for t in ticks), ticks


def test_an_inconclusive_quality_page_shows_what_the_window_holds_so_far() -> None:
    """A "cannot measure" quality page showed nothing but its reason: no counts per variant."""
    from volctl.core.model.quality import QualityReport
    from volctl.reports.quality_html import quality_page

    nan = float("nan")
    lift = {"alerts": 42, "alert_rate": 0.21, "median_ratio": 1.3, "decile_lift": 0.9,
            "median_ratio_interval": [nan, nan], "decile_lift_interval": [nan, nan]}
    report = QualityReport("1h", outcomes=150, served="baseline", version="v1",
                           problem="too little evidence in 1h: 150 of 200 labelled ticks",
                           lifts={"baseline": lift, "ml": {**lift, "alerts": 7, "alert_rate": 0.05}})
    html = quality_page(report)
    assert "150 of 200 labelled ticks" in html and "baseline (served)" in html and "ml (shadow)" in html
    assert ">42<" in html and ">7<" in html and "21.0%" in html


def test_the_throughput_chart_shows_the_loads_own_rate_beside_prometheus_rate() -> None:
    """A 20 req/s load read 7.3 req/s on the SLO page (a minute's rate over a 25 s run): the gate's
    load is drawn beside it, the requests it had answered each second."""
    from volctl.core.monitoring.objectives import trends
    from volctl.core.monitoring.slo import SloHistory
    from volctl.domain.settings import SloSettings
    from volctl.reports.slo_html import objective_charts

    history = SloHistory(0.0, 3600.0, 3300.0, 15.0)
    for name in trends(SloSettings(), "5m"):
        history.series[name] = [(t, 1.0) for t in range(0, 3600, 15)]
    without = next(c for c in objective_charts(history, SloSettings(), "5m") if c.title == "throughput")
    history.offered = [(3400.5 + s, 20.0) for s in range(25)]
    chart = next(c for c in objective_charts(history, SloSettings(), "5m") if c.title == "throughput")
    drawn = [line for line in chart.lines if line.cls == "data"]
    assert len(drawn) == len([line for line in without.lines if line.cls == "data"]) + 1 and drawn[-1].dashed
    assert "volctl load, answered each second" in [t.text for t in chart.texts]

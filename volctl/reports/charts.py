"""The charts of every HTML page, in one place: axes with ticks and units, series, objectives drawn
as labelled lines, shaded windows, legends. Geometry is worked out here; templates/reports/
_chart.html.j2 draws it as inline SVG (no external asset: a page opens offline).

Labels never sit on each other: tick labels live outside the plot (left, below), objective labels in
the right margin (nudged apart when two are close), the legend under the x axis (wrapping), a window's
label above the plot at the window's end (inside the band when the title is in the way). Axis kinds:
linear, log (decades, for a latency far below its objective), time (UTC clock labels) and nines
(percentiles 0 %, 90 %, 99 %, 99.9 %, ... as wrk2/HdrHistogram users read them).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

COLOURS = ("#0969da", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#57606a")
OBJECTIVE = "#cf222e"
CHAR_W = 6.6  # px per character at the 11 px labels: enough to keep estimated boxes apart
LABEL_H = 11  # px a label stands above its baseline
LINE_H = 15
NARROW_WIDTH = 350  # a phone's 390 px less the page's margins
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
               172800, 604800)


@dataclass(frozen=True)
class Axis:
    label: str  # with its unit: "p95 latency (ms)"
    kind: str = "linear"  # linear | log | time | nines
    unit: str = ""  # after each tick label: "ms", "%", "s"
    scale: float = 1.0  # values are multiplied by it before drawing (seconds -> ms: 1000)
    low: float | None = None  # fixed ends of the domain (after scaling)
    high: float | None = None
    ticks: tuple[tuple[float, str], ...] = ()  # named places instead of computed ones (categories)
    upright: bool = False  # x tick labels turned upright: many long category names side by side
    elapsed: bool = False  # seconds since a start: a timeline, as a clock-time axis is


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float | None]]  # (x, y); None breaks the line
    dashed: bool = False
    dots: bool = False
    colour: str = ""
    line: bool = True  # False: dots only
    width: float = 2.0  # a wide pale line under others shows where they coincide
    step: bool = False  # a step curve: each y holds back to the previous x (a precision-recall curve)


@dataclass(frozen=True)
class Rule:
    """A horizontal line across the plot, such as an objective, labelled in the right margin."""

    value: float  # in the axis's unscaled unit, like the points
    label: str
    colour: str = OBJECTIVE


@dataclass(frozen=True)
class Band:
    """A shaded stretch of the x axis, such as the evaluated window."""

    start: float
    end: float
    label: str


@dataclass
class Text:
    x: float
    y: float
    text: str
    cls: str = "tick"
    anchor: str = "middle"
    rotate: bool = False
    colour: str = "#333"
    size: int = 11


@dataclass
class Line:
    points: str
    colour: str
    cls: str = "data"
    dashed: bool = False
    width: float = 2.0


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float
    cls: str
    colour: str = "#fff"


@dataclass
class Chart:
    title: str
    width: int
    height: int
    plot: Box
    caption: str = ""
    grid: list[tuple[float, float, float, float]] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    dots: list[tuple[float, float, str]] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    empty: bool = False  # no data point at all: the page says so instead of drawing an empty box
    narrow: Chart | None = None  # the same chart laid out for a phone
    swatch_dots: list[tuple[float, float, str]] = field(default_factory=list)  # legend markers, not data
    timeline: str = ""  # the x axis's label when it is time: a page's charts over one timeline line up (`aligned`)


@dataclass(frozen=True)
class Margins:
    """Left and right margins a page's charts share (wide, and their phone twins'), so their plots
    (and so their time axes) line up one under the other."""

    wide: tuple[float, float] | None = None
    narrow: tuple[float, float] | None = None


def line_chart(title: str, x: Axis, y: Axis, series: Sequence[Series], rules: Sequence[Rule] = (),
               bands: Sequence[Band] = (), width: int = 520, height: int = 280, caption: str = "",
               margins: Margins | None = None) -> Chart:
    """A chart of `series` over two axes, with objectives (`rules`) and shaded windows (`bands`), and
    its phone-width twin (`narrow`): an SVG scaled down to a phone draws 11 px labels at 5 px, so a
    narrow screen gets the chart laid out again at its own width instead (the page's CSS picks one).
    `margins`: at least these, so that the charts of a page share one time axis (`aligned`)."""
    shared = margins or Margins()
    chart = _layout(title, x, y, series, rules, bands, width, height, caption, narrow=False, margins=shared.wide)
    if width > NARROW_WIDTH and not chart.empty:
        chart.narrow = _layout(title, x, y, series, rules, bands, NARROW_WIDTH, height, caption, narrow=True,
                               margins=shared.narrow)
    return chart


def _layout(title: str, x: Axis, y: Axis, series: Sequence[Series], rules: Sequence[Rule], bands: Sequence[Band],
            width: int, height: int, caption: str, narrow: bool, margins: tuple[float, float] | None = None
            ) -> Chart:
    coloured = [s if s.colour else Series(s.name, s.points, s.dashed, s.dots, COLOURS[i % len(COLOURS)], s.line,
                                          s.width, s.step) for i, s in enumerate(series)]
    xs = [_x_value(x, p[0]) for s in coloured for p in s.points if p[1] is not None]
    ys = [p[1] * y.scale for s in coloured for p in s.points if p[1] is not None]
    ys = [v for v in ys if math.isfinite(v) and (y.kind != "log" or v > 0)]
    if not xs or not ys:
        return Chart(title, width, height, Box(0, 0, 0, 0, "plot"), caption, empty=True)
    keyed = [s.name for s in coloured] if len(coloured) > 1 else []
    # Objective labels sit in the right margin; on a phone in the legend, beside a swatch of their dashed
    # line (inside the plot, a label sat on the data wherever the data ran).
    keyed += [r.label for r in rules] if narrow else []
    legend_rows = _legend_rows(keyed, width - (50 if narrow else 80)) if keyed else []
    right = 16 if narrow else max([len(r.label) * CHAR_W + 14 for r in rules], default=16)
    x_low, x_high = _domain(x, xs + [_x_value(x, v) for b in bands for v in (b.start, b.end)])
    x_ticks = _ticks(x, x_low, x_high, width - 140)
    upright = x.upright or bool(x.ticks and narrow and _too_wide(x_ticks, width - 100))
    tick_room = max(len(label) for _, label in x_ticks) * CHAR_W - 10 if upright and x_ticks else 0
    # A window's label gets its own line under the title, above the plot: inside the plot it sat on the data.
    top, bottom = (46 if bands else 30), 50 + tick_room + LINE_H * len(legend_rows)
    y_low, y_high = _domain(y, ys + [r.value * y.scale for r in rules if y.kind != "log" or r.value > 0])
    y_ticks = _ticks(y, y_low, y_high, height - top - bottom)
    left = 34 + max(len(label) for _, label in y_ticks) * CHAR_W  # the rotated axis label, then the ticks
    if margins is not None:
        left, right = max(left, margins[0]), max(right, margins[1])
    plot = Box(left, top, width - left - right, height - top - bottom, "plot")
    to_x = _scaler(x, x_low, x_high, plot.x, plot.x + plot.w)
    to_y = _scaler(y, y_low, y_high, plot.y + plot.h, plot.y)
    timeline = x.label if x.kind == "time" or x.elapsed else ""
    chart = Chart(title, width, height, plot, caption, timeline=timeline)
    chart.texts.append(Text(plot.x, 18, title, "title", "start", size=13))

    last_end = -math.inf
    for value, label in (x_ticks if x.ticks else _ticks(x, x_low, x_high, plot.w)):
        px = to_x(value)
        chart.grid.append((px, plot.y, px, plot.y + plot.h))
        if upright:
            chart.texts.append(Text(px + 4, plot.y + plot.h + 8, label, anchor="end", rotate=True))
        elif px - len(label) * CHAR_W / 2 > last_end + 4:  # a label that would touch its neighbour is left out
            chart.texts.append(Text(px, plot.y + plot.h + 18, label))
            last_end = px + len(label) * CHAR_W / 2
    for value, label in y_ticks:
        py = to_y(value)
        chart.grid.append((plot.x, py, plot.x + plot.w, py))
        chart.texts.append(Text(plot.x - 6, py + 4, label, anchor="end"))
    chart.texts.append(Text(plot.x + plot.w / 2, plot.y + plot.h + 36 + tick_room, x.label, "axis-label"))
    chart.texts.append(Text(16, plot.y + plot.h / 2, y.label, "axis-label", rotate=True))

    for band in bands:
        start, end = (max(plot.x, to_x(_x_value(x, v))) for v in (band.start, band.end))
        chart.boxes.append(Box(start, plot.y, max(end - start, 1.0), plot.h, "band", "#ddf4ff"))
        # Above the plot, right-aligned on the band: clear of the title, the data and the objective lines.
        text_w = len(band.label) * CHAR_W
        chart.texts.append(Text(max(end, plot.x + text_w), plot.y - 5, band.label, "band-label", "end",
                                colour="#0550ae"))
    label_ys: list[float] = []
    for rule in rules:
        py = to_y(rule.value * y.scale)
        chart.lines.append(Line(f"{plot.x},{py:.1f} {plot.x + plot.w},{py:.1f}", rule.colour, "objective",
                                dashed=True, width=1.5))
        if not narrow:
            label_y = _apart(py + 4, label_ys)
            chart.texts.append(Text(plot.x + plot.w + 6, label_y, rule.label, "objective-label", "start",
                                    colour=rule.colour))
            label_ys.append(label_y)
    for s in coloured:
        for run in _runs(s.points):
            if s.step:
                run = _steps(run)
            points = [(to_x(_x_value(x, px)), to_y(py * y.scale)) for px, py in run
                      if y.kind != "log" or py * y.scale > 0]
            # Every mark stays inside the plot: a point outside the shared time span, or beyond a
            # fixed end of an axis, is cut where its line leaves the plot (never drawn over an axis).
            if len(points) > 1 and s.line:
                for piece in _clip(points, plot):
                    chart.lines.append(Line(" ".join(f"{a:.1f},{b:.1f}" for a, b in piece), s.colour,
                                            dashed=s.dashed, width=s.width))
            if s.dots or len(points) == 1 or not s.line:
                chart.dots += [(a, b, s.colour) for a, b in points if _inside(a, b, plot)]
    for row, names in enumerate(legend_rows):
        at = plot.x if not narrow else 34.0
        for name in names:
            py = plot.y + plot.h + 56 + tick_room + row * LINE_H
            rule = next((r for r in rules if r.label == name), None) if narrow else None
            if rule is not None:  # an objective: its dashed line, its label in its colour
                chart.lines.append(Line(f"{at},{py - 4} {at + 18},{py - 4}", rule.colour, "legend-swatch",
                                        dashed=True, width=1.5))
                chart.texts.append(Text(at + 22, py, name, "objective-label", "start", colour=rule.colour))
                at += 22 + len(name) * CHAR_W + 18
                continue
            shown = next(s for s in coloured if s.name == name)
            # The swatch is drawn as its series is: dashed, wide or as a dot.
            if shown.line:
                chart.lines.append(Line(f"{at},{py - 4} {at + 18},{py - 4}", shown.colour, "legend-swatch",
                                        dashed=shown.dashed, width=shown.width))
            if shown.dots or not shown.line:
                chart.swatch_dots.append((at + 9, py - 4, shown.colour))
            chart.texts.append(Text(at + 22, py, name, "legend", "start"))
            at += 22 + len(name) * CHAR_W + 18
    return chart


def interval_chart(title: str, rows: Sequence[tuple[str, float, float, float]], value_label: str,
                   category_label: str, caption: str = "") -> Chart:
    """One value per named thing with its interval: (name, value, low, high) rows, side by side."""
    ticks = tuple((i + 1.0, name) for i, (name, *_rest) in enumerate(rows))
    spans: list[tuple[float, float | None]] = []
    for i, (_name, _value, low, high) in enumerate(rows):
        spans += [(i + 1.0, low), (i + 1.0, high), (i + 1.0, None)]
    widest = max(len(name) for name, *_rest in rows) * CHAR_W + 24  # names never run into each other
    width = int(max(360, 110 + len(rows) * max(widest, 120)))
    return line_chart(title, Axis(category_label, low=0.4, high=len(rows) + 0.6, ticks=ticks),
                      Axis(value_label, low=0.0, high=1.0),
                      [Series("90 % interval", spans, colour="#8c959f"),  # under the dots: drawn first
                       Series(value_label, [(i + 1.0, v) for i, (_n, v, _l, _h) in enumerate(rows)], line=False,
                              colour=COLOURS[0])], width=width, height=260, caption=caption)


def time_axis(start: float | None = None, end: float | None = None, label: str = "time (UTC)") -> Axis:
    """Clock time in UTC; `start`/`end` fix the span (every chart of a page then shares it)."""
    return Axis(label, "time", low=start, high=end)


def nines(percentile: float) -> float:
    """A percentile (0..100) as its place on a nines axis: 90 -> 1, 99 -> 2, 99.9 -> 3."""
    return -math.log10(max(1 - percentile / 100, 1e-9))


def percentile_of_nines(value: float) -> float:
    return 100 * (1 - 10 ** -value)


# -- geometry ------------------------------------------------------------------------------------


def _x_value(axis: Axis, value: float) -> float:
    return value * axis.scale if axis.kind in ("linear", "log") else value


def _domain(axis: Axis, values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if axis.kind == "log":
        # From the bulk of the values: one outlier at the bottom (a percentile curve's p0 at 1 µs) would
        # stretch the axis over empty decades; it is drawn on the axis's floor instead.
        low = sorted(values)[len(values) // 100] if len(values) >= 50 else low
        low = 10 ** math.floor(math.log10(low))
        high = 10 ** math.ceil(math.log10(high))
        if high <= low:
            high = low * 10
    elif axis.kind == "linear":
        span = high - low or abs(high) or 1.0
        low = min(low, 0.0) if low >= 0 and low < span else low - span * 0.05
        high = high + span * 0.08
    elif axis.kind == "nines":
        low, high = 0.0, max(math.ceil(high - 1e-9), 1)
    elif high <= low:  # time: one point
        low, high = low - 30, high + 30
    if axis.low is not None:
        low = axis.low
    if axis.high is not None:
        high = axis.high
    return low, high


def _scaler(axis: Axis, low: float, high: float, start: float, end: float):  # type: ignore[no-untyped-def]
    if axis.kind == "log":
        low_log, span = math.log10(low), math.log10(high) - math.log10(low)
        return lambda v: start + (math.log10(max(v, low)) - low_log) / span * (end - start)
    span = (high - low) or 1.0
    return lambda v: start + (v - low) / span * (end - start)


def _ticks(axis: Axis, low: float, high: float, length: float) -> list[tuple[float, str]]:
    if axis.ticks:
        return list(axis.ticks)
    if axis.kind == "time":
        return _time_ticks(low, high, length)
    if axis.kind == "nines":
        return [(float(n), f"{percentile_of_nines(n):.{max(n - 2, 0)}f}%") for n in range(int(high) + 1)]
    if axis.kind == "log":
        first, last = round(math.log10(low)), round(math.log10(high))
        step = max(1, math.ceil((last - first + 1) * LINE_H * 1.5 / length))
        values = [10.0 ** k for k in range(first, last + 1, step)]
        if last - first <= 1:
            values = sorted({v * m for v in values for m in (1, 2, 5) if v * m <= high})
        return [(v, _label(v, axis.unit)) for v in values]
    step = _nice_step((high - low) / max(2, min(6, int(length / 45))))
    first = math.ceil(low / step - 1e-9) * step
    count = int((high - first) / step + 1e-9) + 1
    decimals = len(f"{step:.10f}".rstrip("0").partition(".")[2])  # 0.025 -> 3, 0.5 -> 1, 10 -> 0
    return [(first + i * step, _label(first + i * step, axis.unit, decimals)) for i in range(count)]


def _time_ticks(low: float, high: float, length: float) -> list[tuple[float, str]]:
    fits = max(2, int(length / 80))
    step = next((s for s in _TIME_STEPS if (high - low) / s <= fits), _TIME_STEPS[-1])
    pattern = "%H:%M:%S" if step < 60 else ("%m-%d %H:%M" if high - low > 86400 else "%H:%M")
    first = math.ceil(low / step) * step
    return [(t, time.strftime(pattern, time.gmtime(t))) for t in _frange(first, high, step)]


def _frange(start: float, stop: float, step: float) -> list[float]:
    return [start + i * step for i in range(int((stop - start) / step + 1e-9) + 1)]


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _label(value: float, unit: str, decimals: int | None = None) -> str:
    """A tick label; `decimals`: as many as the tick step needs, so that neighbours never read alike."""
    if decimals is not None:
        text = f"{value:,.{min(decimals, 10)}f}"
    else:
        text = f"{value:.3g}" if abs(value) < 1e4 else f"{value:,.0f}"
        if "e" in text:
            text = f"{value:.10f}".rstrip("0").rstrip(".")
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}".rstrip()


def _too_wide(ticks: list[tuple[float, str]], length: float) -> bool:
    """Category labels side by side would not fit along `length`."""
    return sum(len(label) * CHAR_W + 8 for _, label in ticks) > length


def _inside(px: float, py: float, box: Box) -> bool:
    return box.x - 0.5 <= px <= box.x + box.w + 0.5 and box.y - 0.5 <= py <= box.y + box.h + 0.5


def _clip(points: list[tuple[float, float]], box: Box) -> list[list[tuple[float, float]]]:
    """The polyline's pieces inside `box` (Liang-Barsky on each segment)."""
    pieces: list[list[tuple[float, float]]] = []
    for start, end in itertools.pairwise(points):
        segment = _clip_segment(start, end, box)
        if segment is None:
            continue
        if pieces and pieces[-1][-1] == segment[0]:
            pieces[-1].append(segment[1])
        else:
            pieces.append(list(segment))
    return pieces


def _clip_segment(start: tuple[float, float], end: tuple[float, float], box: Box
                  ) -> tuple[tuple[float, float], tuple[float, float]] | None:
    (x0, y0), (x1, y1) = start, end
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0 - box.x), (dx, box.x + box.w - x0), (-dy, y0 - box.y), (dy, box.y + box.h - y0)):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return ((x0 + t0 * dx, y0 + t0 * dy) if t0 > 0 else start), ((x0 + t1 * dx, y0 + t1 * dy) if t1 < 1 else end)


def _apart(y: float, taken: list[float]) -> float:
    while any(abs(y - other) < LINE_H for other in taken):
        y += LINE_H
    return y


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for px, py in points:
        if py is None or not math.isfinite(py):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((px, py))
    return [r for r in runs if r]


def _steps(run: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Corners of a step curve: from each point straight up or down to the next y, then across."""
    out = run[:1]
    for (x0, _), (x1, y1) in itertools.pairwise(run):
        out += [(x0, y1), (x1, y1)]
    return out


def _legend_rows(names: list[str], width: float) -> list[list[str]]:
    rows: list[list[str]] = [[]]
    used = 0.0
    for name in names:
        need = 22 + len(name) * CHAR_W + 18
        if rows[-1] and used + need > width:
            rows.append([])
            used = 0.0
        rows[-1].append(name)
        used += need
    return rows


def page(template: str, **context: object) -> str:
    """A page of templates/reports/ (they extend _base.html.j2), stamped with the build and the time."""
    from volctl import __version__
    from volctl.reports.templating import render

    return render(template, volctl_version=__version__, generated=time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                                 time.gmtime()), **context)


def shared_margins(charts: Sequence[Chart]) -> Margins:
    """The widest left and right margins of a page's charts and of their phone twins: laid out again
    with them, their plots (and so their time axes) line up one under the other."""
    def widest(drawn: list[Chart]) -> tuple[float, float] | None:
        if not drawn:
            return None
        return max(c.plot.x for c in drawn), max(c.width - c.plot.x - c.plot.w for c in drawn)

    drawn = [c for c in charts if not c.empty]
    return Margins(widest(drawn), widest([c.narrow for c in drawn if c.narrow is not None]))


def aligned(charts_of: Callable[[Margins | None], list[Chart]]) -> list[Chart]:
    """A page's time charts laid out once, then again with the widest margins of them all."""
    return charts_of(shared_margins(charts_of(None)))

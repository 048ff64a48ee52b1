"""Open an HTML report as an on-call engineer would, in a real Chromium (Debian's, driven by
playwright), with the network blocked, and check what a reader would trip over: console errors,
requests leaving the page, charts without axis labels or data, and text drawn over other text."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# WCAG's relative luminance and contrast ratio of two CSS colours.
_CONTRAST = """
  const rgb = c => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const linear = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = c => { const [r, g, b] = rgb(c).map(linear); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
"""

# Every <text> of each chart shown (a chart's phone twin is hidden on a wide screen, and the other way
# round) with its box on screen and its drawn font size; what the chart holds; every data mark's box
# against the plot's; the contrast of each text against the chart's background.
_CHARTS = "() => {" + _CONTRAST + r"""
  return [...document.querySelectorAll('svg.chart')].filter(svg => svg.getBoundingClientRect().width > 0).map(svg => {
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    const plot = svg.querySelector('rect.plot').getBoundingClientRect();
    const background = getComputedStyle(svg).backgroundColor;
    // Every line drawn (data and objective lines), sampled every 2 px on screen: a label must not sit on one.
    const sampled = [...svg.querySelectorAll('polyline.data, polyline.objective')].map(line => {
      const matrix = line.getScreenCTM();
      const pts = line.getAttribute('points').trim().split(/\s+/).map(p => p.split(',').map(Number)).map(([x, y]) => {
        const q = svg.createSVGPoint(); q.x = x; q.y = y; return q.matrixTransform(matrix); });
      const found = [];
      for (let i = 0; i + 1 < pts.length; i++) {
        const [a, b] = [pts[i], pts[i + 1]];
        const steps = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / 2));
        for (let s = 0; s <= steps; s++) found.push([a.x + (b.x - a.x) * s / steps, a.y + (b.y - a.y) * s / steps]);
      }
      return {cls: line.getAttribute('class'), points: found};
    });
    const frame = svg.getBoundingClientRect();
    return {
      title: svg.getAttribute('aria-label'),
      timeline: svg.dataset.timeline || '',
      plotLeft: plot.left - frame.left, plotWidth: plot.width,
      onLines: [...svg.querySelectorAll('text')].filter(t => !t.classList.contains('tick')
                                                          && !t.classList.contains('axis-label')).map(t => {
        const r = t.getBoundingClientRect();
        const inside = ([x, y]) => x > r.left + 1 && x < r.right - 1 && y > r.top + 2 && y < r.bottom - 2;
        const hit = sampled.find(line => line.points.some(inside));
        return hit ? `${JSON.stringify(t.textContent)} on a ${hit.cls} line` : null;
      }).filter(Boolean),
      axisLabels: [...svg.querySelectorAll('text.axis-label')].map(t => t.textContent.trim()).filter(Boolean),
      marks: svg.querySelectorAll('.data').length,
      texts: [...svg.querySelectorAll('text')].map(t => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent, x: r.x, y: r.y, w: r.width, h: r.height,
                px: parseFloat(getComputedStyle(t).fontSize) * scale,
                contrast: contrast(getComputedStyle(t).fill, background)};
      }),
      outside: [...svg.querySelectorAll('.data')].map(m => {
        const r = m.getBoundingClientRect();
        const dot = m.tagName === 'circle' ? m.r.baseVal.value * scale : 0;  // a dot's centre must be inside
        const slack = 1 + dot;
        return (r.left < plot.left - slack || r.right > plot.right + slack || r.top < plot.top - slack
                || r.bottom > plot.bottom + slack) ? `${m.tagName} ${Math.round(r.left)}..${Math.round(r.right)} x `
                + `${Math.round(r.top)}..${Math.round(r.bottom)} outside ${Math.round(plot.left)}..`
                + `${Math.round(plot.right)} x ${Math.round(plot.top)}..${Math.round(plot.bottom)}` : null;
      }).filter(Boolean),
    };
  });
}"""

# The page as a whole: wider than the screen? The body's text against its background. Table cells
# taller than three lines of their text.
_PAGE = "() => {" + _CONTRAST + """
  const body = getComputedStyle(document.body);
  // A cell of a table laid out as a table (a phone's cards are blocks), by the lines its own text takes.
  const tall = [...document.querySelectorAll('td, th')].filter(c => c.getBoundingClientRect().width > 0
                                                                    && getComputedStyle(c).display === 'table-cell')
    .map(c => {
      const range = document.createRange();
      range.selectNodeContents(c);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      return tops.size > 3 ? `${JSON.stringify(c.textContent.trim().slice(0, 60))}: ${tops.size} lines` : null;
    }).filter(Boolean);
  return {scrollWidth: document.documentElement.scrollWidth, viewport: window.innerWidth, tall,
          background: lum(body.backgroundColor), contrast: contrast(body.color, body.backgroundColor),
          evidence: [...document.querySelectorAll('td[data-label="evidence"]')].map(td => {
            const r = td.getBoundingClientRect();
            return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth; })};
}"""


@dataclass
class PageCheck:
    path: Path
    screenshot: Path
    width: int
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    charts: list[dict] = field(default_factory=list)
    layout: dict = field(default_factory=dict)

    def overlaps(self) -> list[str]:
        """Pairs of texts of one chart whose boxes intersect (by more than half a pixel)."""
        found = []
        for chart in self.charts:
            texts = [t for t in chart["texts"] if t["w"] and t["h"]]
            for i, a in enumerate(texts):
                for b in texts[i + 1:]:
                    if (min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > 0.5
                            and min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > 0.5):
                        found.append(f"{chart['title']}: {a['text']!r} over {b['text']!r}")
        return found

    @property
    def evidence_on_screen(self) -> bool:
        """Every evidence cell of a gate page is within the screen's width."""
        return bool(self.layout["evidence"]) and all(self.layout["evidence"])

    def assert_readable(self, min_charts: int = 1) -> None:
        assert not self.console_errors, self.console_errors
        assert not self.outside_requests, f"the page asked the network for {self.outside_requests}"
        assert len(self.charts) >= min_charts, f"{len(self.charts)} charts in {self.path}"
        for chart in self.charts:
            assert len(chart["axisLabels"]) >= 2, f"{chart['title']}: axis labels {chart['axisLabels']}"
            assert chart["marks"] >= 1, f"{chart['title']}: no data mark"
        assert not self.overlaps(), self.overlaps()
        outside = [f"{c['title']}: {o}" for c in self.charts for o in c["outside"]]
        assert not outside, f"data drawn outside the plot: {outside}"
        assert self.layout["scrollWidth"] <= self.layout["viewport"], (
            f"the page is {self.layout['scrollWidth']} px wide on a {self.layout['viewport']} px screen")
        small = [f"{c['title']}: {t['text']!r} at {t['px']:.1f} px" for c in self.charts for t in c["texts"]
                 if t["w"] and t["px"] < 10]
        assert not small, f"chart text under 10 px: {small}"
        faint = [f"{c['title']}: {t['text']!r} {t['contrast']:.1f}:1" for c in self.charts for t in c["texts"]
                 if t["w"] and t["contrast"] < 3]
        assert not faint, f"chart text too faint on its background: {faint}"
        assert self.layout["contrast"] >= 7, f"body text contrast {self.layout['contrast']:.1f}:1"
        on_lines = [f"{c['title']}: {o}" for c in self.charts for o in c["onLines"]]
        assert not on_lines, f"a label drawn over a line: {on_lines}"
        if self.width <= PHONE:
            assert not self.layout["tall"], f"table cells taller than three lines: {self.layout['tall']}"
        for axis in {c["timeline"] for c in self.charts} - {""}:  # the charts over one timeline line up
            plots = {(round(c["plotLeft"]), round(c["plotWidth"])) for c in self.charts if c["timeline"] == axis}
            assert len(plots) == 1, f"the charts over {axis!r} do not line up: {plots}"


@pytest.fixture(scope="module")  # playwright's sync API holds an event loop: closed with the module, so a
def browser() -> Iterator[object]:  # later test in this worker can still call asyncio.run
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium where apt works)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


PHONE = 390  # px: the page an on-call engineer opens from an alert
# Every screenshot is kept here after the run too (build/ is ignored by git): the pages at 1300 px,
# 390 px and dark, to look at.
ARTEFACTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"


def open_report(browser: object, path: Path, screenshots: Path, width: int = 1300, dark: bool = False) -> PageCheck:
    """Load `path` from file:// with everything else refused, `width` px wide, light or dark; a
    full-page screenshot lands in `screenshots`."""
    screenshots.mkdir(parents=True, exist_ok=True)
    check = PageCheck(path, screenshots / f"{path.parent.name}-{path.stem}-{width}{'-dark' if dark else ''}.png",
                      width)
    context = browser.new_context(viewport={"width": width, "height": 900},  # type: ignore[attr-defined]
                                  color_scheme="dark" if dark else "light")

    def route(request_route: object) -> None:
        url = request_route.request.url  # type: ignore[attr-defined]
        if url.startswith("file:") or url.startswith("data:"):
            request_route.continue_()  # type: ignore[attr-defined]
        else:
            check.outside_requests.append(url)
            request_route.abort()  # type: ignore[attr-defined]

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and check.console_errors.append(message.text))
    page.on("pageerror", lambda error: check.console_errors.append(str(error)))
    page.goto(path.resolve().as_uri(), wait_until="load")
    check.charts = page.evaluate(_CHARTS)
    check.layout = page.evaluate(_PAGE)
    page.screenshot(path=str(check.screenshot), full_page=True)
    context.close()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(check.screenshot, ARTEFACTS / check.screenshot.name)
    return check


def open_everywhere(browser: object, path: Path, screenshots: Path, min_charts: int = 1) -> list[PageCheck]:
    """The page on a desktop, on a phone and in dark mode, each checked readable."""
    checks = [open_report(browser, path, screenshots), open_report(browser, path, screenshots, width=PHONE),
              open_report(browser, path, screenshots, dark=True)]
    for check in checks:
        check.assert_readable(min_charts)
    assert checks[2].layout["background"] < 0.05, "dark mode asked for, the page stayed light"
    return checks

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

# Every <text> of each chart with its box on screen, and what the chart holds.
_CHARTS = """() => [...document.querySelectorAll('svg.chart')].map(svg => ({
  title: svg.getAttribute('aria-label'),
  axisLabels: [...svg.querySelectorAll('text.axis-label')].map(t => t.textContent.trim()).filter(Boolean),
  marks: svg.querySelectorAll('.data').length,
  texts: [...svg.querySelectorAll('text')].map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, x: r.x, y: r.y, w: r.width, h: r.height};
  }),
}))"""


@dataclass
class PageCheck:
    path: Path
    screenshot: Path
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    charts: list[dict] = field(default_factory=list)

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

    def assert_readable(self, min_charts: int = 1) -> None:
        assert not self.console_errors, self.console_errors
        assert not self.outside_requests, f"the page asked the network for {self.outside_requests}"
        assert len(self.charts) >= min_charts, f"{len(self.charts)} charts in {self.path}"
        for chart in self.charts:
            assert len(chart["axisLabels"]) >= 2, f"{chart['title']}: axis labels {chart['axisLabels']}"
            assert chart["marks"] >= 1, f"{chart['title']}: no data mark"
        assert not self.overlaps(), self.overlaps()


@pytest.fixture(scope="module")  # playwright's sync API holds an event loop: closed with the module, so a
def browser() -> Iterator[object]:  # later test in this worker can still call asyncio.run
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium where apt works)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_report(browser: object, path: Path, screenshots: Path, width: int = 1300) -> PageCheck:
    """Load `path` from file:// with everything else refused; a full-page screenshot lands in `screenshots`."""
    screenshots.mkdir(parents=True, exist_ok=True)
    check = PageCheck(path, screenshots / f"{path.parent.name}-{path.stem}.png")
    context = browser.new_context(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]

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
    page.screenshot(path=str(check.screenshot), full_page=True)
    context.close()
    return check

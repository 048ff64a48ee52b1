"""Every HTML report, generated from a real run and opened in a real Chromium from file:// with the
network blocked: no console error, no request leaving the page, every chart with axis labels and at
least one data mark, no text drawn over another. A screenshot of each page is saved under the test's
folder (printed with -s)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.browser import PHONE, browser, open_everywhere, open_report  # noqa: F401 (the fixture)
from tests.stacks import Stack, needs_prometheus, on_healthy_stack
from tests.test_drift import APR_3, _config, _drift
from tests.test_outcomes import _outcomes_of_a_replay
from volctl.cli.app import app
from volctl.core.monitoring.slo import SloReport

pytestmark = pytest.mark.integration


def _links(page: Path) -> list[str]:
    return re.findall(r'href="([^"#]+)"', page.read_text())


def test_model_page(browser, trained_registry: Path, tmp_path: Path) -> None:  # noqa: F811
    page = tmp_path / "model.html"
    result = CliRunner().invoke(app, ["model", "show", "--html", str(page)],
                                env={"VOLCTL_MODEL_REGISTRY_DIR": str(trained_registry), "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    checks = open_everywhere(browser, page, tmp_path / "screenshots", min_charts=3)  # precision-recall, reliability
    print(f"\nscreenshots: {[str(c.screenshot) for c in checks]}")


def test_quality_page(browser, shared_data: Path, trained_registry: Path, tmp_path: Path) -> None:  # noqa: F811
    from volctl.domain.feature_log import JsonLinesLog
    from volctl.domain.outcomes import OUTCOMES_PREFIX, outcomes_folder

    log = JsonLinesLog(outcomes_folder(tmp_path), OUTCOMES_PREFIX)
    log.write(_outcomes_of_a_replay(shared_data, trained_registry))
    log.close()
    page = tmp_path / "quality.html"
    result = CliRunner().invoke(app, ["quality", "--window", "30d", "--html", str(page)],
                                env={"VOLCTL_STATE_DIR": str(tmp_path), "NO_COLOR": "1"})
    assert result.exit_code in (0, 1), result.output
    checks = open_everywhere(browser, page, tmp_path / "screenshots")
    print(f"\nscreenshots: {[str(c.screenshot) for c in checks]}")


def test_drift_summary_page(browser, shared_data: Path, trained_registry: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "drift"
    result = _drift(_config(tmp_path, trained_registry), "--current", str(shared_data / APR_3), "--out", str(out))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    page = out / "summary.html"
    assert "drift.html" in _links(page) and (out / "drift.html").exists()
    checks = open_everywhere(browser, page, tmp_path / "screenshots")  # each feature against its threshold
    print(f"\nscreenshots: {[str(c.screenshot) for c in checks]}")
    # Evidently's own page had no Content-Security-Policy (5 inline scripts): it has one now, and
    # its scripts still run under it (a refused script is a console error) with nothing fetched.
    evidently = out / "drift.html"
    assert '<meta http-equiv="Content-Security-Policy"' in evidently.read_text()[:3000]
    shown = open_report(browser, evidently, tmp_path / "screenshots")
    assert not shown.console_errors and not shown.outside_requests, (shown.console_errors, shown.outside_requests)


@needs_prometheus
@on_healthy_stack
def test_load_page_with_a_baseline(browser, healthy_stack: Stack, tmp_path: Path) -> None:  # noqa: F811
    loaded_stack = healthy_stack
    base, page = tmp_path / "base.json", tmp_path / "load.html"
    assert loaded_stack.run("load", "--rps", "30", "--duration", "5s", "--save", str(base)).returncode in (0, 1)
    result = loaded_stack.run("load", "--rps", "30", "--duration", "5s", "--baseline", str(base), "--html", str(page))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert str(page) in result.stderr.replace("\n", "")  # where the page went (it said nothing)
    text = page.read_text()
    assert "Against the baseline run" in text and "this run, corrected" in text and "baseline, corrected" in text
    checks = open_everywhere(browser, page, tmp_path / "screenshots", min_charts=3)  # by percentile, over time, rate
    titles = [c["title"] for c in checks[0].charts]
    assert "latency over the run" in titles, titles
    print(f"\nscreenshots: {[str(c.screenshot) for c in checks]}")


@needs_prometheus
@on_healthy_stack
def test_slo_page_and_the_gate_evidence_page(browser, healthy_stack: Stack, tmp_path: Path) -> None:  # noqa: F811
    loaded_stack = healthy_stack
    gate = loaded_stack.run("gate", "--rps", "20", "--duration", "8s", "--json", timeout=240)
    assert gate.returncode in (0, 1, 3), gate.stdout + gate.stderr
    bundle = Path(json.loads(gate.stdout)["bundle"])
    index = bundle / "index.html"
    text = index.read_text()
    assert json.loads(gate.stdout)["answer"] in text
    for link in _links(index):  # every link of the evidence page leads to a file of the bundle
        assert (bundle / link).is_file(), link
    assert {"load.html", "slo.html", "quality.html"} <= set(_links(index))
    shots = tmp_path / "screenshots"
    open_everywhere(browser, index, shots, min_charts=0)
    phone = open_report(browser, index, shots, width=PHONE)
    assert phone.evidence_on_screen, "the gate's evidence column is off screen on a phone"
    open_everywhere(browser, bundle / "load.html", shots, min_charts=3)
    slo = open_everywhere(browser, bundle / "slo.html", shots, min_charts=4)[0]
    titles = [c["title"] for c in slo.charts]
    assert "p95 latency" in titles and any("error budget" in t for t in titles)
    latency = next(c for c in slo.charts if c["title"] == "p95 latency")
    assert any("ms" in label for label in latency["axisLabels"])
    print(f"\nscreenshots: {sorted(str(p) for p in shots.iterdir())}")


def test_a_chart_keeps_labels_apart_at_any_size(browser, tmp_path: Path) -> None:  # noqa: F811
    """Crowded on purpose: long objective labels close together, a legend that wraps, a log axis
    over six decades, a band label near the title; rendered through the real template."""
    from volctl.reports.charts import Axis, Band, Rule, Series, line_chart, page, time_axis

    now = time.time()
    points = [(now - 4200 + 15 * i, 10 ** (-4 + (i % 40) / 8)) for i in range(280)]  # from before the span
    charts = [line_chart("crowded", time_axis(now - 3600, now), Axis("latency (ms, log scale)", "log", "ms", 1000),
                         [Series(f"series number {i} with a long name", points[i::3]) for i in range(3)],
                         [Rule(0.8, "objective 800 ms"), Rule(0.9, "another objective 900 ms")],
                         [Band(now - 3000, now, "evaluated window (50m)")], width=420, height=300)]
    path = tmp_path / "crowded.html"
    report = SloReport("-", "50m", "30d", 0.0)
    path.write_text(page("reports/slo.html.j2", report=report, verdict="pass", charts=charts, css=lambda v: v))
    for width in (500, PHONE, 1300):
        open_report(browser, path, tmp_path / "screenshots", width=width).assert_readable(min_charts=1)


def test_pages_need_no_network_even_without_playwright(tmp_path: Path) -> None:
    """Without a browser: the pages reference nothing outside themselves (no src=, no external href)."""
    from volctl.reports.charts import Axis, Series, line_chart, page

    chart = line_chart("t", Axis("x"), Axis("y"), [Series("s", [(0, 1), (1, 2)])])
    report = SloReport("-", "5m", "30d", 0.0)
    html = page("reports/slo.html.j2", report=report, verdict="pass", charts=[chart], css=lambda v: v)
    assert not re.search(r'\bsrc=|href="(?:https?:)?//', html)
    assert "Content-Security-Policy" in html and 'class="data"' in html and 'class="axis-label"' in html

"""The files a drift report leaves: Evidently's HTML, JSON, Markdown, and the summary the consume
service exports as drift gauges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from volctl.core.model.drift import DriftReport
from volctl.domain.drift_metrics import latest_summary_path
from volctl.domain.files import write_atomically
from volctl.domain.settings import Settings
from volctl.reports.charts import Axis, Chart, Rule, Series, line_chart, page
from volctl.reports.templating import render


def write_drift_outputs(report: DriftReport, evaluation: Any, out: Path, settings: Settings) -> None:
    """Fills report.outputs first: the JSON and Markdown name the files they sit beside."""
    out.mkdir(parents=True, exist_ok=True)
    report.outputs = outputs = {"html": str(out / "drift.html"), "summary": str(out / "summary.html"),
                                "json": str(out / "drift.json"), "markdown": str(out / "drift.md")}
    evaluation.save_html(outputs["html"])
    document = report.as_document()
    _put_summary_first(Path(outputs["html"]), render("reports/drift_summary.html.j2", report=document,
                                                            standalone=False))
    Path(outputs["summary"]).write_text(page("reports/drift_page.html.j2", report=document, evidently="drift.html",
                                             charts=drift_charts(document)))
    Path(outputs["json"]).write_text(json.dumps(document, indent=2))
    Path(outputs["markdown"]).write_text(render("reports/drift.md.j2", report=document))
    write_atomically(latest_summary_path(settings.state_path), json.dumps(document))  # the consume service's gauges


def drift_charts(document: dict[str, Any]) -> list[Chart]:
    """Each tested feature's score over its calibrated threshold: above 1 it drifted. Coloured by
    verdict; on a log axis when one feature is far over (a linear axis flattened 13 features onto the
    threshold line beside one 40x over it)."""
    tested = [f for f in document["features"] if f.get("score") is not None and f.get("threshold")]
    if not tested:
        return []
    ticks = tuple((i + 1.0, f["name"]) for i, f in enumerate(tested))
    ratios = [(i + 1.0, f["score"] / f["threshold"], bool(f.get("drifted"))) for i, f in enumerate(tested)]
    log = max(r for _, r, _ in ratios) > LOG_FROM * max(min(r for _, r, _ in ratios), 1e-9)
    floor = RATIO_FLOOR if log else 0.0
    series = [Series(name, [(i, max(r, floor)) for i, r, drifted in ratios if drifted == flag], line=False,
                     colour=colour) for name, flag, colour in (("drifted", True, "#cf222e"),
                                                              ("within its threshold", False, "#1a7f37"))]
    axis = Axis("score ÷ threshold (log scale)", "log") if log else Axis("score ÷ threshold")
    caption = "A dot above the line is a feature that drifted."
    if log:
        caption += f" Log scale: one feature is over {LOG_FROM:g}x another; ratios under {RATIO_FLOOR:g} sit on it."
    width = max(480, 120 + 34 * len(tested))
    return [line_chart("each feature against its threshold", Axis("feature", low=0.4, high=len(tested) + 0.6,
                                                                   ticks=ticks, upright=True),
                       axis, [s for s in series if s.points],
                       [Rule(1.0, "threshold" + ("" if document.get("calibrated") else " (not calibrated)"))],
                       width=width, height=360, caption=caption)]


LOG_FROM = 10.0  # the largest ratio this many times the smallest: a log axis
RATIO_FLOOR = 0.01


# Evidently's page runs its bundled scripts inline (and its charting evaluates code): those may run,
# nothing may be fetched or sent, so the page works offline and cannot call out.
EVIDENTLY_CSP = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
                 "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'")


def _put_summary_first(path: Path, summary: str) -> None:
    """Evidently's page shows scores and thresholds, not the verdict, the calibration or its
    false-alarm rates: volctl's summary goes at the top of its body. Its head gets the policy
    every other page has (Evidently's has none)."""
    page = path.read_text()
    head = page.find("<head")
    if head >= 0:
        at = page.find(">", head) + 1
        page = page[:at] + f'<meta http-equiv="Content-Security-Policy" content="{EVIDENTLY_CSP}">' + page[at:]
    body = page.find("<body")
    at = page.find(">", body) + 1 if body >= 0 else 0
    path.write_text(page[:at] + summary + page[at:])

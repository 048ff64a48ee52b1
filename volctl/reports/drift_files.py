"""The files a drift report leaves: Evidently's HTML, JSON, Markdown, and the summary the consume
service exports as drift gauges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from volctl.core.drift import DriftReport
from volctl.domain.drift_metrics import latest_summary_path
from volctl.domain.files import write_atomically
from volctl.domain.settings import Settings
from volctl.reports.charts import page
from volctl.reports.templating import render


def write_drift_outputs(report: DriftReport, evaluation: Any, out: Path, settings: Settings) -> None:
    """Fills report.outputs first: the JSON and Markdown name the files they sit beside."""
    out.mkdir(parents=True, exist_ok=True)
    report.outputs = outputs = {"html": str(out / "drift.html"), "summary": str(out / "summary.html"),
                                "json": str(out / "drift.json"), "markdown": str(out / "drift.md")}
    evaluation.save_html(outputs["html"])
    document = report.as_document()
    _put_summary_first(Path(outputs["html"]), render("reports/drift_summary.html.j2", report=document))
    Path(outputs["summary"]).write_text(page("reports/drift_page.html.j2", report=document, evidently="drift.html"))
    Path(outputs["json"]).write_text(json.dumps(document, indent=2))
    Path(outputs["markdown"]).write_text(render("reports/drift.md.j2", report=document))
    write_atomically(latest_summary_path(settings.state_path), json.dumps(document))  # the consume service's gauges


def _put_summary_first(path: Path, summary: str) -> None:
    """Evidently's page shows scores and thresholds, not the verdict, the calibration or its
    false-alarm rates: volctl's summary goes at the top of its body."""
    page = path.read_text()
    body = page.find("<body")
    at = page.find(">", body) + 1 if body >= 0 else 0
    path.write_text(page[:at] + summary + page[at:])

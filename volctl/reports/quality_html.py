"""The self-contained HTML page of `volctl quality --html`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from volctl import __version__
from volctl.reports.templating import render

if TYPE_CHECKING:
    from volctl.core.quality import QualityReport


def quality_page(report: QualityReport) -> str:
    verdict = report.outcome.value
    css = {"ok": "ok", "failed": "failed"}.get(verdict, "unknown")
    return render("reports/quality.html.j2", report=report, verdict=verdict, css=css, volctl_version=__version__,
                  generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"))

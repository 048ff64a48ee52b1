"""The incident record a runbook run leaves: Markdown for people, JSON for tools."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from volctl.core.monitoring.runbook_run import RunbookRun
from volctl.domain.clock import utc_stamp
from volctl.reports.templating import render


def write_incident(run: RunbookRun, state_dir: Path) -> Path:
    """<state>/incidents/<UTC time>-<runbook>.md (for people) and .json (for tools)."""
    folder = state_dir / "incidents"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{utc_stamp()}-{run.runbook}"
    markdown = folder / f"{stem}.md"
    run.record = str(markdown)
    (folder / f"{stem}.json").write_text(json.dumps(asdict(run), indent=2))
    markdown.write_text(render("reports/incident.md.j2", run=run))
    return markdown

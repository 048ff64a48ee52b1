"""The evidence page of `volctl gate` (`<state>/gates/<time>/index.html`): the verdict and the failed
classes on top, one row per check with what was measured against what threshold, and links to the
pages and files of the bundle. It is the page a release ticket links to."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from volctl.core.monitoring import objectives
from volctl.reports.charts import page

if TYPE_CHECKING:
    from volctl.core.operations.gate import GateCheck, GateReport

# Where the evidence of a check lives in the bundle: a load objective's on the load page, an SLO's on
# the SLO page, any other by its class (a name may change: "realised quality" had no link beside
# quality.html).
_LOAD_PAGE = "load.html"
_OWN_PAGES = {"lag": "lag.json", "drift": "drift/summary.html", "quality": "quality.html", "load": _LOAD_PAGE}
_PAGES = (("load", "load.html", "the load run: latency by percentile, rate over time, errors"),
          ("SLOs", "slo.html", "every objective over the window, error budgets, burn rates"),
          ("drift", "drift/summary.html", "calibrated drift per feature (and Evidently's report beside it)"),
          ("quality", "quality.html", "realised precision, recall and PR-AUC per variant"),
          ("lag", "lag.json", "the consumer group per partition (JSON)"),
          ("served models", "model.json", "what predict and consume served during the gate (JSON)"),
          ("all results", "gate.json", "this page's data (JSON)"))


def write_gate_index(report: GateReport, path: Path) -> None:
    bundle = path.parent
    pages = [(name, target, what) for name, target, what in _PAGES if (bundle / target).exists()]
    links = {id(check): _part_of(check, bundle) for check in report.checks}
    path.write_text(page("reports/gate.html.j2", report=report, pages=pages,
                         link=lambda check: links.get(id(check))))


def _part_of(check: GateCheck, bundle: Path) -> str | None:
    name = check.name.lower()
    target = (_LOAD_PAGE if name.startswith("load:") else "slo.html" if name.startswith("slo")
              else _OWN_PAGES.get(check.kind) or ("slo.html" if check.kind in objectives.kinds() else None))
    return target if target and (bundle / target).exists() else None

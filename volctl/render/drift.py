"""The drift table and verdict."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from volctl.core.drift import DriftReport
from volctl.render.console import fit, out


def drift_table(report: DriftReport) -> None:
    out.print(f"reference: {escape(report.reference)} ({report.reference_rows} rows)")
    out.print(f"current:   {escape(report.current)} ({report.current_rows} rows)")
    table = Table(title=f"feature drift ({report.at})", title_justify="left")
    table.add_column("feature")
    table.add_column("test")
    table.add_column("score", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("drifted")
    for feature in sorted(report.features, key=lambda f: (f.score is None, not f.drifted, f.name)):
        if feature.score is None:
            table.add_row(feature.name, "-", "-", "-", f"[dim]not tested: {escape(feature.note)}[/]")
            continue
        table.add_row(feature.name, feature.method, f"{feature.score:.4g}",
                      "-" if feature.threshold is None else f"{feature.threshold:g}",
                      "[red]yes[/]" if feature.drifted else "[green]no[/]")
    out.print(fit(table, out))
    drifted, tested = sum(f.drifted for f in report.tested), len(report.tested)
    verdict = "[bold red]DRIFT[/]" if report.drift else "[bold green]no drift[/]"
    out.print(f"{verdict}: {drifted}/{tested} features drifted = {report.share:.0%} "
              f"(threshold: more than {report.threshold:.0%})")
    for kind, path in report.outputs.items():
        out.print(f"  {kind:<9}{path}")

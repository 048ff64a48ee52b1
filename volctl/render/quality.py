"""The quality table and verdict."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from volctl.core.model.evaluation import skill_line
from volctl.core.model.quality import QualityReport, live_forecast_line
from volctl.domain.figures import lift_text
from volctl.render.console import fit, out


def quality_table(report: QualityReport) -> None:
    if report.answer:
        out.print(f"[bold]{escape(report.answer)}[/]")
    if report.outcomes:
        out.print(f"outcomes {report.start} → {report.end} (last {report.window} of event time): "
                  f"{report.outcomes:,}, {report.duplicates:,} duplicate deliveries dropped; "
                  f"served: {report.served} {report.version}; waiting for their label now: "
                  f"{'unknown (consume not reachable)' if report.pending is None else f'{report.pending:,.0f}'}")
    if report.variants:
        table = Table(title="realised quality (each prediction against its label 60 s later)", title_justify="left")
        for column in ("variant", "labelled", "episodes", "base rate", "precision", "recall", "F1", "PR-AUC",
                       "90 % interval", "Brier", "alert lift"):
            table.add_column(column, justify="left" if column == "variant" else "right")
        for row in report.variants:
            low, high = row.pr_auc_interval
            table.add_row(f"{row.variant} (served)" if row.served else f"{row.variant} (shadow)",
                          f"{row.labelled:,}", str(row.episodes), f"{row.base_rate:.3f}", f"{row.precision:.3f}",
                          f"{row.recall:.3f}", f"{row.f1:.3f}", f"{row.pr_auc:.3f}", f"{low:.3f}–{high:.3f}",
                          f"{row.brier:.3f}", lift_text(row.alert_lift))
        out.print(fit(table, out))
        for row in report.variants:  # what each spike alert knows beyond chance, said plainly
            out.print(f"{row.variant} spike alerts {escape(skill_line(row.skill))}")
    if report.forecast:
        out.print(escape(live_forecast_line(report.forecast)))
    if report.inside_training:
        out.print(f"[yellow]inside the training period[/]: {escape(report.inside_training)}")
    for comparison in report.comparisons:
        low, high = comparison.interval
        out.print(f"{report.served} − {comparison.challenger} PR-AUC {comparison.difference:+.3f} "
                  f"[{low:+.3f}, {high:+.3f}]: [bold]{comparison.verdict}[/]")
    if report.problem:
        out.print(f"[yellow]inconclusive[/]: {escape(report.problem)}")
        if report.next_step:
            out.print(f"next: {escape(report.next_step)}")
        if report.lifts and not report.variants:  # the alert lift needs no label: shown meanwhile
            out.print("alert lift (next-60 s volatility after an alert / after silence): " + "; ".join(
                f"{variant} {lift_text(lift)}" for variant, lift in report.lifts.items()))
    elif report.floors:
        out.print(f"[bold red]the served model is below its quality objective[/]: {escape('; '.join(report.floors))}")
    if report.rollback:
        out.print(f"[bold red]the served model is worse[/]; to serve the better one:\n  {escape(report.rollback)}")
    if not (report.problem or report.floors or report.rollback):
        out.print(f"[bold green]the served model ({report.served}) is not worse than its challengers[/]")

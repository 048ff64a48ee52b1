"""The drift table and verdict."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from volctl.core.model.drift import DriftReport, FeatureDrift
from volctl.render.console import fit, out


def _rate(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.0%}"


def _table(title: str, rows: list[FeatureDrift]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("feature")
    table.add_column("score", justify="right")
    table.add_column("threshold", justify="right")
    table.add_column("false alarms", justify="right")
    table.add_column("drifted")
    for row in rows:  # in core's order: drifted first, furthest over its threshold first
        if row.score is None:
            table.add_row(row.name, "-", "-", "-", f"[dim]not tested: {escape(row.note)}[/]")
            continue
        table.add_row(row.name, f"{row.score:.4g}", "-" if row.threshold is None else f"{row.threshold:.4g}",
                      _rate(row.false_alarm_rate), "[red]yes[/]" if row.drifted else "[green]no[/]")
    return table


def drift_table(report: DriftReport) -> None:
    out.print(f"reference: {escape(report.reference)} ({report.reference_rows} rows)")
    out.print(f"current:   {escape(report.current)} ({report.current_rows} rows)")
    method = next((f.method for f in report.tested), "")
    how = "" if report.calibrated else "[yellow]NOT calibrated[/]: "
    out.print(f"thresholds: {how}{escape(report.calibration)}")
    out.print(fit(_table(f"feature drift ({report.at}; {method}; false alarms: the threshold's rate on the "
                         "reference's own chunks)", report.features_ranked), out))
    if report.predictions:
        out.print(fit(_table("prediction and label drift against the test split (shown, not counted in the "
                             "verdict)", report.predictions_ranked), out))
    drifted, tested = sum(f.drifted for f in report.tested), len(report.tested)
    verdict = "[bold red]fail: drift[/]" if report.drift else "[bold green]pass: no drift[/]"
    rate = "" if report.share_false_alarm_rate is None else f", false-alarm rate {_rate(report.share_false_alarm_rate)}"
    out.print(f"{verdict}: {drifted}/{tested} features drifted = {report.share:.0%} "
              f"(threshold: more than {report.threshold:.0%}{rate})")
    moved = [f.name for f in report.features_ranked if f.drifted]
    if moved:
        out.print(f"moved: {', '.join(moved)}")
    if report.live:
        out.print(quality_line(report.quality))
    for kind, path in report.outputs.items():
        out.print(f"  {kind:<9}{path}")


def calibration_table(version: str, windows: dict[str, dict]) -> None:
    """`volctl drift calibrate`: each window's thresholds and their false-alarm rates."""
    for key, calibration in sorted(windows.items(), key=lambda item: float(item[0])):
        share = calibration["share"]
        table = Table(title=f"model {version}: {float(key):g} s windows, {calibration['chunks']} reference chunks, "
                            f"{calibration['method']}", title_justify="left")
        for column in ("feature", "threshold", "false alarms", "chunks"):
            table.add_column(column, justify="left" if column == "feature" else "right")
        for name, entry in calibration["features"].items():
            table.add_row(name, f"{entry['threshold']:.4g}", _rate(entry["false_alarm_rate"]), str(entry["chunks"]))
        out.print(fit(table, out))
        out.print(f"drift when more than {share['threshold']:.0%} of the features drift together "
                  f"(false-alarm rate {_rate(share['false_alarm_rate'])} on the reference's own chunks)")


def _share(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.2f}"


def quality_line(quality: dict | None) -> str:
    """The served model's realised quality in the window, beside its test split's."""
    if quality is None:
        return "quality in the window: unknown (no outcomes yet: labels come 60 s after each tick)"
    line = (f"quality in the window: {quality['variant']} precision {_share(quality['precision'])}, recall "
            f"{_share(quality['recall'])} on {quality['labelled']:,} labelled ticks ({quality['spikes']:,} spikes)")
    if "test_precision" in quality:
        line += (f"; on its test split {_share(quality['test_precision'])} and "
                 f"{_share(quality['test_recall'])}")
    return line

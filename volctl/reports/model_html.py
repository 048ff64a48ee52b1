"""Self-contained HTML pages of `volctl model show --html` and `volctl model evaluate --html`: the
metrics tables, and per variant a precision-recall curve and a reliability plot (inline SVG, no
external assets: the page opens offline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from volctl.domain.figures import lift_text
from volctl.domain.variants import compared
from volctl.reports.charts import Axis, Chart, Series, line_chart, page

if TYPE_CHECKING:
    from volctl.core.model.out_of_time import ModelEvaluation, Part



@dataclass
class Section:
    heading: str
    lines: list[str] = field(default_factory=list)  # a leading "!" marks a warning
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    plots: list[Chart] = field(default_factory=list)


def plots_of(metrics: dict[str, dict[str, Any]], curves: dict[str, dict[str, Any]]) -> list[Chart]:
    """One precision-recall chart with every variant's step curve over the base-rate line, then a
    reliability plot per variant."""
    plots = []
    series = [Series(variant, curve, step=True)
              for variant in metrics if (curve := (curves.get(variant) or {}).get("precision_recall"))]
    if series:
        base = next(iter(metrics.values()))["positive_rate"]
        aucs = "; ".join(f"{v} {m['pr_auc']:.3f}" for v, m in metrics.items())
        plots.append(line_chart(
            "precision-recall", Axis("recall", low=0.0, high=1.0), Axis("precision", low=0.0, high=1.0),
            [*series, Series(f"base rate {base:.3f}", [(0, base), (1, base)], dashed=True, colour="#999999")],
            width=420, height=340, caption=f"PR-AUC {aucs}; dashed: the base rate (a coin's precision)"))
    for variant, m in metrics.items():
        bins = m.get("reliability") or []
        if not bins:
            continue
        pairs = [(min(max(b["mean_score"], 0), 1), b["observed_rate"]) for b in bins]
        # Both axes up to where the deciles reach (a calibrated scorer of rare spikes stays near 0:
        # on the whole 0-1 square its points sat in a corner), the diagonal still at 45 degrees.
        reach = _reach(max(max(x, y) for x, y in pairs))
        plots.append(line_chart(
            f"{variant}: reliability", Axis("mean score (decile)", low=0.0, high=reach),
            Axis("observed spike rate", low=0.0, high=reach),
            [Series("observed", pairs, dots=True), Series("calibrated", [(0, 0), (reach, reach)], dashed=True,
                                                          colour="#999999")],
            width=340, height=330, caption=f"Brier {m['brier']:.3f} vs constant {m['brier_constant']:.3f}; "
                                           "dashed: perfectly calibrated"))
    return plots


def _reach(value: float) -> float:
    """The next of 0.1, 0.2, 0.25, 0.5 or 1 above `value` (with a little room): a round axis end."""
    return next((end for end in (0.1, 0.2, 0.25, 0.5) if value * 1.05 <= end), 1.0)


def _page(title: str, answer: str, lines: list[str], sections: list[Section]) -> str:
    return page("reports/model.html.j2", title=title, answer=answer, lines=lines, sections=sections, level=0.9)


def model_page(document: dict[str, Any]) -> str:
    """`model show --html`: the version's test split."""
    label, data = document.get("label") or {}, document.get("data") or {}
    lines = [f"label: {label.get('definition')} (threshold {label.get('threshold', float('nan')):.4g})"]
    properties = label.get("test_properties")
    if properties:
        lines.append(label_properties_text(properties))
    # in time order (a manifest read back from JSON lists them alphabetically: test, train, validation)
    for name, part in sorted((data.get("splits") or {}).items(), key=lambda item: item[1].get("start") or ""):
        lines.append(f"{name}: {part['rows']:,} rows, {part['start']} → {part['end']}")
    if data.get("synthetic"):
        lines.append("!trained on the SYNTHETIC tick source, not market data")
    recommendation = document.get("recommendation") or {}
    if recommendation:
        lines.append(f"recommended variant (decided on {recommendation.get('decided_on', 'the test split')}): "
                     f"{recommendation['variant']} ({recommendation['reason']})")
    lines += forecast_lines(document.get("forecast"))
    section = Section("spike alerts, test split (strictly after the training and validation data)")
    curves = {}
    for name, entry in document["variants"].items():
        section.lines += skill_lines({name: entry.get("metrics") or {}})
        if entry.get("rule"):
            section.lines.append(f"{name}: {entry['rule']}")
        if entry.get("estimator"):
            section.lines.append(f"{name}: {entry['estimator']}, threshold {entry['decision_threshold']:.3f}")
        metrics = entry.get("metrics") or {}
        if "pr_auc_interval" in metrics:
            section.metrics[name] = metrics
            curves[name] = entry.get("curves") or {}
    section.plots = plots_of(section.metrics, curves)
    return _page(f"volctl model {document['version']}", document.get("answer", ""), lines, [section])


def forecast_lines(forecast: dict[str, Any] | None) -> list[str]:
    """The model's first output on a page: the forecast against persistence and the mean, its bound."""
    from volctl.core.model.forecasting import forecast_line

    if not forecast:
        return ["!no forecast: this version was trained before volctl forecast the next minute's volatility"]
    test = forecast.get("test") or {}
    lines = [f"forecast of the next-60 s realised volatility ({forecast['name']}, chosen on validation), test split: "
             f"{forecast_line(test)}"]
    r2 = test.get("r2_log_vs_training_mean")
    if r2:
        lines.append("R-squared of log volatility against the training mean {:.2f} [{:.2f}, {:.2f}]".format(
            r2["value"], *r2["interval"]))
    return lines


def skill_lines(metrics_of: dict[str, dict[str, Any]]) -> list[str]:
    from volctl.core.model.evaluation import skill_line

    return [f"{variant} spike alerts {skill_line(m['skill'])}" for variant, m in metrics_of.items() if m.get("skill")]


def evaluation_page(evaluation: ModelEvaluation) -> str:
    """`model evaluate --html`: pooled first, then each recording."""
    lines = [f"label threshold {evaluation.label_threshold:.4g} (the version's own); recommended "
             f"{evaluation.recommended_variant} when it was trained"]
    if evaluation.left_out_test:
        lines.append(f"left out: {evaluation.left_out_test:,} ticks inside the version's own test split")
    if evaluation.label_properties:
        lines.append(label_properties_text(evaluation.label_properties))
    lines += [f"!{name} gave no tick: {why}" for name, why in evaluation.empty_sources.items()]
    sections = [_part_section(part) for part in (evaluation.pooled, *evaluation.parts)]
    return _page(f"volctl model evaluate {evaluation.version}: {evaluation.outcome.value}", evaluation.answer, lines,
                 sections)


def _part_section(part: Part) -> Section:
    section = Section(part.name, [f"{part.start} → {part.end}: {part.ticks:,} ticks, {part.labelled:,} labelled, "
                                  f"{part.spikes:,} spikes in {part.episodes} episodes"])
    if part.overlaps_training:
        section.lines.append("!inside the version's training or validation period: not out of time")
    if part.note:
        section.lines.append(f"!not scored: {part.note}")
    if part.forecast.get("rows"):
        from volctl.core.model.forecasting import forecast_line

        section.lines.append(forecast_line(part.forecast))
    section.lines += skill_lines(part.metrics)
    if part.recommendation:
        pair, value = compared(part.recommendation, "−"), part.recommendation["pr_auc_difference"]
        section.lines.append(f"{pair} PR-AUC {value:+.3f}, interval "
                             "[{:+.3f}, {:+.3f}]: {}".format(*part.recommendation["pr_auc_difference_interval"],
                                                             part.recommendation["verdict"]))
    for variant, metrics in part.metrics.items():
        if metrics.get("brier_worse_than_constant"):
            section.lines.append(f"!{variant}: Brier {metrics['brier']:.3f} worse than the constant rate's "
                                 f"{metrics['brier_constant']:.3f}: its scores are not calibrated here")
    if not part.metrics:
        section.lines += [f"{variant}: alert lift {lift_text(lift)}" for variant, lift in part.lifts.items()]
    section.metrics = part.metrics
    if part.name == "pooled":
        section.plots = plots_of(part.metrics, part.curves)
    return section


def label_properties_text(properties: dict[str, Any]) -> str:
    return (f"is the label decided by the future? A scorer that knows the next 60 s volatility: PR-AUC "
            f"{properties['future_pr_auc']:.3f}; the volatility level alone ({properties['level_direction']}): "
            f"{properties['level_pr_auc']:.3f}; base rate {properties['base_rate']:.3f}")

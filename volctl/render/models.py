"""Tables for `volctl model list` and `volctl model train`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from volctl.domain import variants
from volctl.domain.figures import lift_text
from volctl.domain.variants import CANDIDATES, LEAD, REFERENCE
from volctl.render.console import fit, out

if TYPE_CHECKING:  # training imports pandas and sklearn: keep them out of `model list`
    from volctl.core.model.models import ModelSummary
    from volctl.core.model.out_of_time import ModelEvaluation
    from volctl.core.model.retraining import ShadowPlan
    from volctl.core.model.training import TrainResult


def _metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def model_table(models: list[ModelSummary]) -> None:
    if not models:
        out.print("no trained models yet: run `volctl model train`")
        return
    table = Table(title="Model registry (metrics on each version's test split)", title_justify="left")
    table.add_column("version", no_wrap=True)
    table.add_column("variant")
    for column in ("PR-AUC", "F1", "base rate"):
        table.add_column(column, justify="right")
    table.add_column("served now")
    table.add_column("auto serves")
    table.add_column("data")
    for model in models:
        data = f"{model.data_start[:10]} → {model.data_end[:10]}"
        if model.synthetic:
            data += " [yellow]synthetic[/]"
        for index, variant in enumerate(model.variants):
            first = index == 0
            table.add_row(  # the version on every row: each names its model whole, in a record view too
                model.version, variant.variant, _metric(variant.pr_auc), _metric(variant.f1),
                _metric(model.positive_rate) if first else "", _served(variant.served),
                (model.recommended_variant or LEAD) if first else "",
                data if first else "", end_section=index == len(model.variants) - 1,
            )
    out.print(fit(table, out, optional={"data": 130, "F1": 110, "base rate": 110, "auto serves": 80}))
    newest = models[-1]
    if newest.recommended_variant == REFERENCE:
        out.print(f"[yellow]{newest.version}: model.variant = auto serves {REFERENCE}[/]: "
                  f"{escape(newest.recommendation) or _not_beaten()}")


def _not_beaten() -> str:
    """Says that no candidate beats the reference ("ml does not beat the baseline rule")."""
    return f"{' or '.join(CANDIDATES)} does not beat {variants.variant(REFERENCE).title}"


def _served(served: bool | None) -> str:
    return "[bold green]yes[/]" if served else "unknown" if served is None else ""


def training_summary(result: TrainResult) -> None:
    manifest = result.manifest
    data, label = manifest["data"], manifest["label"]
    splits = data["splits"]
    if data["synthetic"]:
        source = "[yellow]SYNTHETIC ticks (no recordings found)[/]"
    else:
        source = f"{len(data['sources'])} real recordings"
    if result.identical_to:
        out.print(f"[bold]identical to {result.identical_to}[/]: trained on the same rows with the same seed and "
                  f"code; no new version added (--force adds one). {result.path}")
    else:
        out.print(f"[bold]model {result.version}[/] written to {result.path}")
    products = ", ".join(data["products"])
    out.print(f"data: {source}, {data['ticks']:,} ticks, {data['labelled']:,} labelled, products {products}")
    for name in ("train", "validation", "test"):
        part = splits[name]
        out.print(f"  {name:<10} {part['rows']:>7,} rows  {part['start']} → {part['end']}")
    percentile = f"p{label['quantile'] * 100:g}"
    out.print(f"label: {label['definition']} ({label['threshold']:.3f}, the train split's {percentile})")
    _label_properties(label)
    forecast_summary(manifest.get("forecast"))
    _test_table(manifest["variants"], "Spike alerts, test split (strictly after training data)")
    _skill_lines(manifest["variants"])
    alert_definitions(manifest.get("alert_definitions"))
    reference = manifest["variants"].get(REFERENCE, {})
    if reference.get("rule"):
        out.print(f"{REFERENCE}: {reference['rule']}")
        if reference.get("selection"):
            out.print(f"  why: {escape(reference['selection']['reason'])}")
    for name in CANDIDATES:
        entry = manifest["variants"].get(name, {})
        if entry.get("candidate"):
            tried = ", ".join(f"{c['name']} {c['validation_pr_auc']:.3f}" for c in entry["candidates"])
            mean, base = entry["calibration"]["validation_mean_score"], entry["calibration"]["validation_base_rate"]
            out.print(f"{name}: {entry['candidate']} (validation PR-AUC: {tried}); calibrated on validation: "
                      f"mean score {mean:.3f} for a base rate of {base:.3f}")
    recommendation = manifest.get("recommendation")
    if recommendation:
        if recommendation["variant"] == REFERENCE:
            out.print(f"[yellow]{_not_beaten()} on validation[/]: model.variant = auto serves {REFERENCE}")
        out.print(f"recommended variant (decided on validation; the test split only reports): "
                  f"[bold]{recommendation['variant']}[/] ({recommendation['reason']})")


def retrain_summary(result: TrainResult, plan: ShadowPlan) -> None:
    training_summary(result)
    out.print(f"\n[bold]{plan.target}[/] is scored in shadow beside the served {escape(plan.served)}: every new "
              "tick gets its spike score and its forecast, and each is met by what happened 60 s later.")
    out.print(f"`{plan.quality}` compares them on ticks after {plan.judged_from} (the new version's data ends there; "
              "earlier ticks taught it and judge nothing): PR-AUC, alert lift and skill against chance, and the "
              "forecast's QLIKE and bound.")
    out.print(f"to serve it once the evidence says so: {escape(plan.promote)} (or let `volctl guard` decide)")


def forecast_summary(forecast: dict | None) -> None:
    """The model's first output: the next-minute volatility forecast against persistence and the
    training mean, and its bound (versions trained before it: said so)."""
    from volctl.core.model.forecasting import forecast_line

    if not forecast:
        out.print("[yellow]forecast: none (trained before volctl forecast the next minute's volatility)[/]")
        return
    out.print(f"[bold]forecast[/] of the next-60 s realised volatility: {escape(forecast['name'])} "
              f"({escape(forecast['selection']['chosen_on'])})")
    test = forecast.get("test") or {}
    out.print(f"  test split: {escape(forecast_line(test))}")
    for against, name in (("training_mean", "the training mean"), ("persistence", "persistence")):
        r2 = test.get(f"r2_log_vs_{against}")
        if r2:
            low, high = r2["interval"]
            out.print(f"  R-squared of log volatility against {name} {r2['value']:.2f} [{low:.2f}, {high:.2f}]")
    out.print(f"  upper bound: {escape(forecast['selection']['upper_bound'])}")


def alert_definitions(definitions: list[dict] | None) -> None:
    """The alerts a user can rely on, measured: each definition and its skill against chance."""
    from volctl.core.model.evaluation import skill_line

    for definition in definitions or []:
        out.print(f"alert definition: {escape(definition['definition'])}")
        out.print(f"  test split {escape(skill_line(definition['skill']))}")


def _skill_lines(variants: dict) -> None:
    from volctl.core.model.evaluation import skill_line

    for name, entry in variants.items():
        skill = (entry.get("metrics") or {}).get("skill")
        if skill:
            out.print(f"{name} spike alerts {escape(skill_line(skill))}")


def _label_properties(label: dict) -> None:
    properties = label.get("test_properties")
    if properties:
        out.print(f"is the label decided by the future? On the test split a scorer that knows the next 60 s "
                  f"volatility has PR-AUC {properties['future_pr_auc']:.3f}; the volatility level alone "
                  f"({properties['level_direction']}) {properties['level_pr_auc']:.3f}; base rate "
                  f"{properties['base_rate']:.3f}")


def _test_table(variants: dict, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("variant", "PR-AUC", "90 % interval", "ROC-AUC", "F1", "precision", "recall", "Brier",
                   "constant", "episodes", "alert lift"):
        table.add_column(column, justify="left" if column in ("variant", "alert lift") else "right",
                         overflow="fold" if column == "alert lift" else "ellipsis")
    resampling = ""
    for name, entry in variants.items():
        m = entry.get("metrics") or {}
        low, high = m.get("pr_auc_interval") or (None, None)
        interval = m.get("interval_note") or f"{_metric(low)}–{_metric(high)}"
        brier = _metric(m.get("brier")) + (" (worse)" if m.get("brier_worse_than_constant") else "")
        table.add_row(name, _metric(m.get("pr_auc")), interval, _metric(m.get("roc_auc")),
                      _metric(m.get("f1")), _metric(m.get("precision")), _metric(m.get("recall")),
                      brier, _metric(m.get("brier_constant")), str(m.get("episodes", "-")),
                      lift_text(m.get("alert_lift")))
        resampling = m.get("resampling", resampling)
    # Narrow terminals keep the ranking (PR-AUC and its interval) and the alert's use (F1, lift) first.
    out.print(fit(table, out, optional={"constant": 170, "Brier": 150, "ROC-AUC": 140, "episodes": 130,
                                        "precision": 110, "recall": 110}))
    if resampling:
        out.print(f"intervals: bootstrap over {resampling}")


def model_details(document: dict) -> None:
    """`volctl model show`: label, splits, metrics with intervals, recommendation, reliability."""
    data, label = document["data"], document["label"] or {}
    if document.get("answer"):
        out.print(f"[bold]{escape(document['answer'])}[/]")
    out.print(f"[bold]model {document['version']}[/] ({document['created_at']}) in {document['path']}")
    out.print(f"label: {label.get('definition')} (threshold {label.get('threshold', float('nan')):.3f})")
    _label_properties(label)
    splits = data.get("splits") or {}
    for name in ("train", "validation", "test"):
        if name in splits:
            part = splits[name]
            out.print(f"  {name:<10} {part['rows']:>7,} rows  {part['start']} → {part['end']}")
    if data.get("unlabelled_by_rule"):
        out.print("unlabelled: " + ", ".join(f"{rule} {count:,}" for rule, count in data["unlabelled_by_rule"].items()))
    forecast_summary(document.get("forecast"))
    _test_table(document["variants"], "spike alerts, test split")
    _skill_lines(document["variants"])
    alert_definitions(document.get("alert_definitions"))
    for name, entry in document["variants"].items():
        if entry.get("rule"):
            out.print(f"{name}: {entry['rule']}")
    recommendation = document.get("recommendation")
    if recommendation:
        out.print(f"recommended variant (decided on {recommendation.get('decided_on', 'the test split')}): "
                  f"[bold]{recommendation['variant']}[/] ({recommendation['reason']})")
    for name, entry in document["variants"].items():
        bins = (entry.get("metrics") or {}).get("reliability") or []
        if not bins:
            continue
        reliability = Table(title=f"reliability of {name} (score deciles of the test split)", title_justify="left")
        for column in ("decile", "rows", "mean score", "observed spike rate"):
            reliability.add_column(column, justify="right")
        for index, row in enumerate(bins, 1):
            reliability.add_row(str(index), f"{row['rows']:,}", f"{row['mean_score']:.3f}",
                                f"{row['observed_rate']:.3f}")
        out.print(fit(reliability, out))


def evaluation_report(evaluation: ModelEvaluation) -> None:
    """`volctl model evaluate`: the answer, each recording, then all of them pooled, a small table each."""
    if evaluation.answer:
        out.print(f"[bold]{escape(evaluation.answer)}[/]")
    out.print(f"[bold]model {evaluation.version}[/] (label threshold {evaluation.label_threshold:.4g}; "
              f"recommended {evaluation.recommended_variant} when it was trained)")
    properties = evaluation.label_properties
    if properties:
        out.print(f"pooled: a scorer that knows the next 60 s volatility has PR-AUC "
                  f"{properties['future_pr_auc']:.3f}, the volatility level alone {properties['level_pr_auc']:.3f}, "
                  f"base rate {properties['base_rate']:.3f}")
    for name, why in evaluation.empty_sources.items():
        out.print(f"[yellow]{escape(name)} gave no rows[/]: {escape(why)}")
    if evaluation.left_out_test:
        out.print(f"left out: {evaluation.left_out_test:,} ticks inside the version's own test split "
                  "(`volctl model show` reports that split; it is never scored twice)")
    for part in (*evaluation.parts, evaluation.pooled):
        out.print(f"\n[bold]{escape(part.name)}[/]: {part.start} → {part.end}, {part.labelled:,} labelled rows, "
                  f"{part.spikes:,} spikes in {part.episodes} episodes")
        if part.forecast:
            from volctl.core.model.forecasting import forecast_line

            out.print(f"  {escape(forecast_line(part.forecast))}")
        if part.overlaps_training:
            out.print("[yellow]inside the version's training or validation period: not out of time[/]")
        if not part.metrics:
            out.print(f"[yellow]not scored[/]: {escape(part.note)}")
            for variant, lift in part.lifts.items():
                out.print(f"  {variant} alert lift {lift_text(lift)}")
            continue
        table = Table()
        for column in ("variant", "PR-AUC", "90 % interval", "ROC-AUC", "F1", "Brier", "constant", "alert lift"):
            table.add_column(column, justify="left" if column == "variant" else "right")
        for variant, m in part.metrics.items():
            low, high = m["pr_auc_interval"]
            table.add_row(variant, _metric(m["pr_auc"]), m.get("interval_note") or f"{_metric(low)}–{_metric(high)}",
                          _metric(m["roc_auc"]), _metric(m["f1"]),
                          _metric(m["brier"]) + (" [yellow](worse)[/]" if m.get("brier_worse_than_constant") else ""),
                          _metric(m["brier_constant"]), lift_text(m.get("alert_lift")))
        out.print(fit(table, out))
        for variant, m in part.metrics.items():
            if m.get("brier_worse_than_constant"):
                out.print(f"[yellow]{variant}: Brier worse than the constant rate: not calibrated here[/]")
        _skill_lines({variant: {"metrics": m} for variant, m in part.metrics.items()})
        if part.recommendation:
            low, high = part.recommendation["pr_auc_difference_interval"]
            pair, value = variants.compared(part.recommendation, "−"), part.recommendation["pr_auc_difference"]
            out.print(f"{pair} PR-AUC {value:+.3f} [{low:+.3f}, {high:+.3f}] over "
                      f"{part.recommendation.get('resampling', '')}: "
                      f"[bold]{part.recommendation.get('verdict', part.recommendation['variant'])}[/]")
    if not evaluation.pooled.metrics:
        drops = ", ".join(f"{rule} {count:,}" for rule, count in evaluation.unlabelled_by_rule.items() if count)
        out.print(f"[yellow]cannot evaluate[/]: {escape(evaluation.pooled.note)}"
                  + (f"; unlabelled: {drops}" if drops else ""))

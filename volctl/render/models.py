"""Tables for `volctl model list` and `volctl model train`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from volctl.render.console import fit, out

if TYPE_CHECKING:  # training imports pandas and sklearn: keep them out of `model list`
    from volctl.core.models import ModelSummary
    from volctl.core.out_of_time import ModelEvaluation
    from volctl.core.training import TrainResult


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
    table.add_column("auto serves")
    table.add_column("data")
    for model in models:
        data = f"{model.data_start[:10]} → {model.data_end[:10]}"
        if model.synthetic:
            data += " [yellow]synthetic[/]"
        for index, variant in enumerate(model.variants):
            first = index == 0
            table.add_row(
                model.version if first else "", variant.variant, _metric(variant.pr_auc), _metric(variant.f1),
                _metric(model.positive_rate) if first else "", (model.recommended_variant or "ml") if first else "",
                data if first else "", end_section=index == len(model.variants) - 1,
            )
    out.print(fit(table, out))
    newest = models[-1]
    if newest.recommended_variant == "baseline":
        out.print(f"[yellow]{newest.version}: ml does not beat the baseline rule[/] ({newest.recommendation}); "
                  "model.variant = auto serves baseline")


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
    table = Table(title="Test split (strictly after training data)", title_justify="left")
    for column in ("variant", "PR-AUC", "F1", "precision", "recall", "base rate"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for variant, entry in manifest["variants"].items():
        m = entry["metrics"]
        table.add_row(variant, _metric(m["pr_auc"]), _metric(m["f1"]), _metric(m["precision"]),
                      _metric(m["recall"]), _metric(m["positive_rate"]))
    out.print(fit(table, out))
    rule = manifest["variants"].get("baseline", {}).get("rule")
    if rule:
        out.print(f"baseline rule (the strongest single feature on validation): {rule}")
    ml = manifest["variants"].get("ml", {})
    if ml.get("candidate"):
        tried = ", ".join(f"{c['name']} {c['validation_pr_auc']:.3f}" for c in ml["candidates"])
        mean, base = ml["calibration"]["validation_mean_score"], ml["calibration"]["validation_base_rate"]
        out.print(f"ml: {ml['candidate']} (validation PR-AUC: {tried}); calibrated on validation: mean score "
                  f"{mean:.3f} for a base rate of {base:.3f}")
    recommendation = manifest.get("recommendation")
    if recommendation:
        if recommendation["variant"] != "ml":
            out.print("[yellow]ml does not beat the baseline rule on the test split[/]: "
                      "model.variant = auto serves baseline")
        out.print(f"recommended variant: [bold]{recommendation['variant']}[/] ({recommendation['reason']})")


def model_details(document: dict) -> None:
    """`volctl model show`: label, splits, metrics with intervals, recommendation, reliability."""
    data, label = document["data"], document["label"] or {}
    out.print(f"[bold]model {document['version']}[/] ({document['created_at']}) in {document['path']}")
    out.print(f"label: {label.get('definition')} (threshold {label.get('threshold', float('nan')):.3f})")
    splits = data.get("splits") or {}
    for name in ("train", "validation", "test"):
        if name in splits:
            part = splits[name]
            out.print(f"  {name:<10} {part['rows']:>7,} rows  {part['start']} → {part['end']}")
    if data.get("unlabelled_by_rule"):
        out.print("unlabelled: " + ", ".join(f"{rule} {count:,}" for rule, count in data["unlabelled_by_rule"].items()))
    table = Table(title="test split", title_justify="left")
    for column in ("variant", "PR-AUC", "90 % interval", "ROC-AUC", "F1", "precision", "recall", "Brier",
                   "constant", "episodes"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, entry in document["variants"].items():
        m = entry.get("metrics") or {}
        low, high = m.get("pr_auc_interval") or (None, None)
        table.add_row(name, _metric(m.get("pr_auc")), f"{_metric(low)}–{_metric(high)}", _metric(m.get("roc_auc")),
                      _metric(m.get("f1")), _metric(m.get("precision")), _metric(m.get("recall")),
                      _metric(m.get("brier")), _metric(m.get("brier_constant")), str(m.get("episodes", "-")))
    out.print(fit(table, out))
    for name, entry in document["variants"].items():
        if entry.get("rule"):
            out.print(f"{name}: {entry['rule']}")
    recommendation = document.get("recommendation")
    if recommendation:
        out.print(f"recommended variant: [bold]{recommendation['variant']}[/] ({recommendation['reason']})")
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
    """`volctl model evaluate`: each recording, then all of them pooled, a small table each."""
    out.print(f"[bold]model {evaluation.version}[/] scored out of time (label threshold "
              f"{evaluation.label_threshold:.4g}; its own test split recommended {evaluation.recommended_variant})")
    for part in (*evaluation.parts, evaluation.pooled):
        episodes = max((m["episodes"] for m in part.metrics.values()), default=0)
        out.print(f"\n[bold]{part.name}[/]: {part.start} → {part.end}, {part.labelled:,} labelled rows, "
                  f"{part.spikes:,} spikes" + (f" in {episodes} episodes" if part.metrics else ""))
        if part.overlaps_training:
            out.print("[yellow]inside the version's training or validation period: not out of time[/]")
        if not part.metrics:
            out.print(f"[yellow]not scored[/]: {part.note}")
            continue
        table = Table()
        for column in ("variant", "PR-AUC", "90 % interval", "ROC-AUC", "F1", "Brier", "constant"):
            table.add_column(column, justify="left" if column == "variant" else "right")
        for variant, m in part.metrics.items():
            low, high = m["pr_auc_interval"]
            table.add_row(variant, _metric(m["pr_auc"]), f"{_metric(low)}–{_metric(high)}", _metric(m["roc_auc"]),
                          _metric(m["f1"]), _metric(m["brier"]), _metric(m["brier_constant"]))
        out.print(fit(table, out))
        if part.recommendation:
            low, high = part.recommendation["pr_auc_difference_interval"]
            out.print(f"ml − baseline PR-AUC {part.recommendation['pr_auc_difference']:+.3f} "
                      f"[{low:+.3f}, {high:+.3f}]: [bold]{part.recommendation['variant']}[/]")
    if not evaluation.pooled.metrics:
        drops = ", ".join(f"{rule} {count:,}" for rule, count in evaluation.unlabelled_by_rule.items() if count)
        out.print(f"[yellow]cannot evaluate[/]: {evaluation.pooled.note}" + (f"; unlabelled: {drops}" if drops else ""))

"""Tables for `volctl model list` and `volctl model train`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from volctl.render.console import fit, out

if TYPE_CHECKING:  # training imports pandas and sklearn: keep them out of `model list`
    from volctl.core.models import ModelSummary
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
    table.add_column("data")
    for model in models:
        data = f"{model.data_start[:10]} → {model.data_end[:10]}"
        if model.synthetic:
            data += " [yellow]synthetic[/]"
        for index, variant in enumerate(model.variants):
            first = index == 0
            table.add_row(
                model.version if first else "", variant.variant, _metric(variant.pr_auc), _metric(variant.f1),
                _metric(model.positive_rate) if first else "", data if first else "",
                end_section=index == len(model.variants) - 1,
            )
    out.print(fit(table, out))


def training_summary(result: TrainResult) -> None:
    manifest = result.manifest
    data, label = manifest["data"], manifest["label"]
    splits = data["splits"]
    if data["synthetic"]:
        source = "[yellow]SYNTHETIC ticks (no recordings found)[/]"
    else:
        source = f"{len(data['sources'])} real recordings"
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
    ml, baseline = (manifest["variants"].get(v, {}).get("metrics", {}).get("pr_auc") for v in ("ml", "baseline"))
    if ml is not None and baseline is not None and ml <= baseline:
        out.print(f"[yellow]ml does not beat the baseline rule on the test split[/] (PR-AUC {ml:.3f} vs "
                  f"{baseline:.3f}): serve baseline (`volctl rollback --to baseline`)")
    recommendation = manifest.get("recommendation")
    if recommendation:
        out.print(f"recommended variant: [bold]{recommendation['variant']}[/] ({recommendation['reason']})")

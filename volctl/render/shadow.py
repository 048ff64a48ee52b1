"""The models scored in shadow."""

from __future__ import annotations

from rich.table import Table

from volctl.render.console import fit, out


def shadow_table(document: dict) -> None:
    out.print(f"served: {document.get('model')} {document.get('version')}")
    table = Table(title="scored in shadow by the consume service", title_justify="left")
    for column in ("name", "variant", "version", "sha256", "how"):
        table.add_column(column)
    for model in document.get("shadow", []):
        table.add_row(model["name"], model["variant"], model["version"], model["sha"][:12] + "…",
                      "added (volctl shadow add)" if model.get("added") else "the served version's other variant")
    out.print(fit(table, out))

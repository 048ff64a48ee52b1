"""Options shared by many commands, and the settings every command starts from."""

from __future__ import annotations

from typing import Annotated

import typer

from volctl.config import Settings, load_settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def settings_of(ctx: typer.Context, **overrides: object) -> Settings:
    """Settings from the root --config, environment, then this command's flags."""
    config_file = (ctx.find_root().params or {}).get("config")
    return load_settings(config_file, overrides=overrides)

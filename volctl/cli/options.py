"""Options shared by many commands, and the settings every command starts from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from volctl.domain.settings import DEFAULT_CONFIG_FILE, Settings, load_settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.", metavar="")]


def config_file_of(ctx: typer.Context) -> Path | None:
    """The root --config (or VOLCTL_CONFIG), for processes that must read the same file."""
    given = (ctx.find_root().params or {}).get("config")
    if given:
        return Path(given)
    return Path(DEFAULT_CONFIG_FILE) if Path(DEFAULT_CONFIG_FILE).exists() else None


def settings_of(ctx: typer.Context, **overrides: object) -> Settings:
    """Settings from the root --config, environment, then this command's flags."""
    config_file = (ctx.find_root().params or {}).get("config")
    return load_settings(config_file, overrides=overrides)

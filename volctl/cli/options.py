"""Options shared by many commands, and the settings every command starts from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer

from volctl.domain.settings import DEFAULT_CONFIG_FILE, Settings, load_settings
from volctl.domain.verdict import Verdict

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.", metavar="")]
WideOption = Annotated[bool, typer.Option(
    "--wide", "-w", help="Every column, however narrow the terminal (a narrow one leaves some out).", metavar="")]


def wide_tables(wide: bool) -> None:
    """--wide: tables keep every column, their lines as long as they need (the terminal wraps them)."""
    if wide:
        from volctl.render import console

        console.widen()


def config_file_of(ctx: typer.Context) -> Path | None:
    """The root --config (or VOLCTL_CONFIG), for processes that must read the same file."""
    given = (ctx.find_root().params or {}).get("config")
    if given:
        return Path(given)
    return Path(DEFAULT_CONFIG_FILE) if Path(DEFAULT_CONFIG_FILE).exists() else None


def settings_of(ctx: typer.Context, **overrides: object) -> Settings:
    """Settings from the root --config, environment, then this command's flags."""
    from volctl.domain.settings import check_state_dir, exposure_warnings
    from volctl.render.console import warn

    config_file = (ctx.find_root().params or {}).get("config")
    settings = load_settings(config_file, overrides=overrides)
    check_state_dir(settings)
    for warning in exposure_warnings(settings):
        warn(warning)
    return settings


class Report(Protocol):
    @property
    def outcome(self) -> Verdict: ...

    def as_document(self) -> dict[str, Any]: ...


def finish(report: Report, as_json: bool, show: Callable[[Any], None],
           document: dict[str, Any] | None = None) -> None:
    """The end of every read command: one JSON document (the report's, or `document`) or the
    human report, then the report's verdict as the exit code (0 ok, 1 the answer is no, 3 could
    not measure)."""
    from volctl.render import console

    if as_json:
        console.emit_json(report.as_document() if document is None else document)
    else:
        show(report)
    if report.outcome.exit_code:
        raise typer.Exit(report.outcome.exit_code)

"""stdout is for data (tables, JSON); stderr is for people (progress, warnings, errors)."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

from rich.console import Console

out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)


def emit_json(document: Any) -> None:
    """One JSON document on stdout and nothing else."""
    sys.stdout.write(json.dumps(as_plain(document), indent=2, default=str) + "\n")


def emit_json_line(document: Any) -> None:
    """One compact JSON document per line (a stream, for `--follow --json`)."""
    sys.stdout.write(json.dumps(as_plain(document), default=str) + "\n")
    sys.stdout.flush()


def as_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): as_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_plain(v) for v in value]
    return value


def error(message: str, hint: str | None = None) -> None:
    err.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    if hint:
        err.print(f"[yellow]hint:[/] {hint}", soft_wrap=True)


def note(message: str) -> None:
    err.print(f"[dim]{message}[/]", soft_wrap=True)

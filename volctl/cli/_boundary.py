"""The one place that turns errors into a message, a hint and an exit code: `cover(app)` puts every
command (and every group's own callback) behind it, so no command can be left out."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from volctl.domain.errors import EXIT_BUG, EXIT_INTERRUPTED, VolctlError, disk_full
from volctl.render import console

F = TypeVar("F", bound=Callable[..., Any])
debug_enabled = False


def boundary(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):  # typer reports these itself (usage: exit 2)
            raise
        except VolctlError as exc:
            if debug_enabled:
                console.err.print(traceback.format_exc())
            console.error(exc.message, exc.hint)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:
            full = disk_full(exc)
            if full is None:
                raise _bug(exc) from None
            console.error(full.message, full.hint)
            raise typer.Exit(full.exit_code) from None
        except KeyboardInterrupt:
            console.error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            raise _bug(exc) from None

    return wrapper  # type: ignore[return-value]


def cover(app: typer.Typer) -> None:
    """Every command of a typer app and of its groups, and each group's callback, behind `boundary`."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = boundary(info.callback)
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is None:
            continue
        if sub.registered_callback is not None and sub.registered_callback.callback is not None:
            sub.registered_callback.callback = boundary(sub.registered_callback.callback)
        cover(sub)


def _bug(exc: Exception) -> typer.Exit:
    if debug_enabled:
        console.err.print(traceback.format_exc())
    console.error(f"unexpected {type(exc).__name__}: {exc} (this is a bug)",
                  "rerun with --debug for the traceback, and report it")
    return typer.Exit(EXIT_BUG)

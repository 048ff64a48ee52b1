"""Live views (`--watch`): on a terminal each frame replaces the last; off a terminal (a pipe, a CI
log) every frame is printed after the one before, stamped, so a watch never prints nothing."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import RenderableType
from rich.live import Live

from volctl.domain.clock import utc_iso
from volctl.render.console import out


def show_live(frames: Iterable[RenderableType]) -> None:
    """Show frames until they end or Ctrl-C (which ends the view quietly)."""
    try:
        if out.is_terminal:
            with Live(console=out, auto_refresh=False) as live:
                for frame in frames:
                    live.update(frame, refresh=True)
        else:
            for frame in frames:
                out.rule(utc_iso(timespec="seconds"))
                out.print(frame)
                out.file.flush()
    except KeyboardInterrupt:
        return

"""stdout is for data (tables, JSON); stderr is for people (progress, warnings, errors)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from volctl.domain.documents import strict_json

WIDE_DEFAULT = 160  # off a terminal without COLUMNS (a pipe, a CI log): rich would assume 80


def _width(stream: Any) -> int | None:
    """COLUMNS when set, the terminal's width (rich finds it), else a wide default."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    return None if stream.isatty() else WIDE_DEFAULT


out = Console(highlight=False, emoji=False, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, emoji=False, width=_width(sys.stderr))


def measure_width() -> None:
    """Take the width from this command's environment (each command, not the import: a process
    that runs several commands, a test or a runbook, may run them at different widths)."""
    out.width, err.width = _width(sys.stdout), _width(sys.stderr)  # type: ignore[assignment]  # None: the terminal's


WIDE = 400  # --wide: a width no table's optional column waits for


def widen() -> None:
    """Tables drawn from now on keep every column (`--wide`)."""
    out.width = max(out.width, WIDE)


def fit(table: Table, console: Console, optional: dict[str, int] | None = None,
        free: dict[str, int] | None = None) -> RenderableType:
    """The table, never cutting an identifier, version, time or verdict: every column not marked
    to wrap (overflow="fold") keeps its cells whole on one line, and a wrapping column is at least
    its longest word wide, so a name is never broken. `free`: header -> the width of a column of
    text a caller typed (a reason, an actor): it wraps there, and a longer word folds, so what a
    caller wrote never changes the table's shape. `optional`: header -> the narrowest terminal
    that shows that column; below it the column is left out and the caption says so (as `kubectl
    get` leaves out what `-o wide` adds): the shape follows the width, never the values. Only when
    even the rest does not fit are the rows shown as records ("header: value" lines), which fit any
    width."""
    for column in table.columns:
        if str(column.header) in (free or {}):
            column.overflow, column.min_width = "fold", (free or {})[str(column.header)]
        elif column.overflow != "fold":
            column.no_wrap = True
        else:  # a wrapping column is at least its longest word wide: a name or version is never broken
            column.min_width = max(column.min_width or 0, _longest_word(column, console))
    hidden = [header for header, width in (optional or {}).items() if console.width < width]
    shown = _without(table, hidden) if hidden else table
    if _needed_width(shown, console) <= console.width:
        _share_free_room(shown, console, set(free or {}))
        _fixed_widths(shown, console)
        if hidden:
            widest = max(optional[h] for h in hidden)  # type: ignore[index]
            left_out = f"not shown below {widest} columns: {', '.join(hidden)} (--wide or --json shows them)"
            shown.caption = f"{shown.caption}; {left_out}" if shown.caption else left_out
            shown.caption_justify = "left"
        return shown
    headers = [str(column.header) for column in table.columns]
    blocks: list[RenderableType] = [Text(str(table.title), style="bold")] if table.title else []
    for row in range(table.row_count):
        lines = []
        for header, column in zip(headers, table.columns, strict=True):
            cell = list(column.cells)[row]
            if isinstance(cell, str | Text) and not str(cell).strip():
                continue  # a blank cell ("as above" in a grouped table) is no field of the record
            label = Text(f"{header or '·'}: ", style="dim")
            lines.append(Text.assemble(label, _renderable(cell)))
        blocks.append(Group(*lines, Text("")))
    return Group(*blocks)


def _without(table: Table, headers: list[str]) -> Table:
    """The same table less some columns (rich has no way to remove one)."""
    kept = [c for c in table.columns if str(c.header) not in headers]
    narrow = Table(title=table.title, caption=table.caption, title_justify=table.title_justify,
                   caption_justify=table.caption_justify, box=table.box, show_header=table.show_header,
                   show_lines=table.show_lines, header_style=table.header_style)
    for column in kept:
        narrow.add_column(column.header, justify=column.justify, overflow=column.overflow, style=column.style,
                          no_wrap=column.no_wrap, min_width=column.min_width, max_width=column.max_width)
    cells = [list(c.cells) for c in kept]
    for index, row in enumerate(table.rows):
        narrow.add_row(*(column[index] for column in cells), style=row.style, end_section=row.end_section)
    return narrow


def emit_json(document: Any) -> None:
    """One JSON document on stdout and nothing else."""
    sys.stdout.write(strict_json(document, indent=2) + "\n")


def emit_json_line(document: Any) -> None:
    """One compact JSON document per line (a stream, for `--follow --json`)."""
    sys.stdout.write(strict_json(document) + "\n")
    sys.stdout.flush()


def error(message: str, hint: str | None = None) -> None:
    """Messages may quote what a caller typed: shown as text, never read as markup."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err.print(f"[yellow]hint:[/] {escape(hint)}", soft_wrap=True)


def warn(message: str) -> None:
    err.print(f"[bold yellow]warning:[/] {escape(message)}", soft_wrap=True)


def note(message: str) -> None:
    err.print(f"[dim]{escape(message)}[/]", soft_wrap=True)


class _Lines:
    """Off a terminal a spinner shows nothing: each new step is a line instead, with the seconds
    since the start (`up` trained for 98 s in silence when piped)."""

    def __init__(self, title: str) -> None:
        self.title, self.started, self.last = title, time.monotonic(), ""

    def update(self, message: str) -> None:
        if message != self.last:
            self.last = message
            note(f"{self.title} [{time.monotonic() - self.started:.0f} s]: {message}")


@contextmanager
def steps(title: str, keep: bool = False) -> Iterator[Any]:
    """Progress of a long command on stderr: a live status on a terminal, one line a step off one.
    Either way `.update(message)` reports a step; `keep`: on a terminal each step also stays as a
    line above the status (a training's steps are its log)."""
    if not err.is_terminal:
        yield _Lines(title)
        return
    with err.status(title) as status:
        if not keep:
            yield status
            return

        class _Kept:
            def update(self, message: str) -> None:
                status.update(message)
                note(message)

        yield _Kept()


FREE_TEXT_MIN = 12  # a folding column still needs room for a word or two


def _share_free_room(table: Table, console: Console, free: set[str]) -> None:
    """A free-text column takes what the others leave, shared evenly: rich would otherwise widen it
    to its longest word (a long actor pushed the table past the terminal)."""
    columns = [c for c in table.columns if str(c.header) in free]
    if not columns:
        return
    others = Table(box=table.box)
    for column in table.columns:
        if column not in columns:
            others.columns.append(column)
    room = console.width - _needed_width(others, console) - 3 * len(columns)
    for column in columns:
        column.max_width = max(column.min_width or 0, room // len(columns))


def _fixed_widths(table: Table, console: Console) -> None:
    """When the table must wrap to fit, every column's width decided here: each at least its
    narrowest, the room left shared by how much more each would take. Rich's own sharing rounds,
    and a table of wrapping columns came out a column wider than the terminal (its edge cut)."""
    measured = [table._measure_column(console, console.options, column) for column in table.columns]
    room = console.width - (len(table.columns) + 1)  # the vertical borders
    if sum(m.maximum for m in measured) <= room:
        return  # its natural width fits: rich lays it out as it is
    widths = [m.maximum if column.no_wrap else m.minimum for m, column in zip(measured, table.columns, strict=True)]
    spare = room - sum(widths)
    wants = [m.maximum - m.minimum if not column.no_wrap else 0 for m, column in zip(measured, table.columns,
                                                                                          strict=True)]
    total = sum(wants)
    if spare > 0 and total:
        shares = [spare * want // total for want in wants]
        for index in sorted(range(len(wants)), key=lambda i: -wants[i])[:spare - sum(shares)]:
            shares[index] += 1  # what the floors left, to the columns that want the most
        widths = [w + s for w, s in zip(widths, shares, strict=True)]
    for column, width in zip(table.columns, widths, strict=True):
        column.width = max(1, width - 2)  # less the cell's padding: rich adds it back


def _needed_width(table: Table, console: Console) -> int:
    """The narrowest width at which no whole-cell column is cut: those at their widest cell (and
    header), folding ones at a few characters, plus padding and borders."""
    total = 1  # the left border
    for column in table.columns:
        cells = [column.header, *column.cells]
        widest = max(Measurement.get(console, console.options, _renderable(c)).maximum for c in cells)
        folded = max(min(widest, FREE_TEXT_MIN), column.min_width or 0)
        total += (widest if column.no_wrap else folded) + 3  # padding 2, separator 1
    return total


def _longest_word(column: Any, console: Console) -> int:
    words = [word for cell in [column.header, *column.cells] if isinstance(cell, str | Text)
             for word in _renderable(cell).plain.split()]
    return max((Measurement.get(console, console.options, Text(w)).maximum for w in words), default=0)


def _renderable(cell: Any) -> RenderableType:
    return Text.from_markup(cell) if isinstance(cell, str) else cell

"""Files other processes read while they are being replaced."""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Write-then-rename: a reader (or a crash) sees the old file or the new one, never half of one."""
    write_bytes_atomically(path, text.encode())


def write_bytes_atomically(path: Path, content: bytes) -> None:
    """The file is whole on disk before it replaces the old one (fsync), and a write that fails (a
    full disk) leaves the old file and no partial temporary beside it."""
    stage_bytes(path, content).commit()


@dataclass(frozen=True)
class Staged:
    """A file written and synced beside `path`, not yet in its place: `commit` renames it there
    (no space needed), `discard` drops it."""

    temporary: Path
    path: Path

    def commit(self) -> None:
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        self.temporary.unlink(missing_ok=True)


def stage_bytes(path: Path, content: bytes) -> Staged:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return Staged(temporary, path)


MIN_FREE_BYTES = 1 << 20  # a change that writes a few small files refuses to start with less free


def no_room(folder: Path, change: str) -> OSError | None:
    """ENOSPC when `folder`'s disk has less than MIN_FREE_BYTES free: a `change` that writes its
    record there is refused before anything changes, not half-made."""
    free = free_bytes(folder)
    if free >= MIN_FREE_BYTES:
        return None
    return OSError(errno.ENOSPC, f"{free:,} bytes free, {change} needs {MIN_FREE_BYTES:,}", str(folder))


def free_bytes(folder: Path) -> int:
    """Free bytes on the disk that holds `folder` (or its nearest existing parent)."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    return shutil.disk_usage(existing).free

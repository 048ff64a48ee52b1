"""What the benchmarks share: ports, a trained registry, the repository root on sys.path."""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def registry_with_model(given: str | None) -> Path:
    """The given registry, else a fresh one trained on ../shared/data (synthetic without it)."""
    if given:
        return Path(given)
    from volctl.core.model.dataset import load_dataset
    from volctl.core.model.training import train_model
    from volctl.domain.registry import Registry

    root = Path(tempfile.mkdtemp(prefix="volctl-bench-"))
    train_model(load_dataset([SHARED_DATA] if SHARED_DATA.is_dir() else None), Registry(root))
    return root

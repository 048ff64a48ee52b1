"""`make demo` on a machine without recordings: the seeded synthetic source end to end, and its drift
step shows both answers (a held-out seed: no drift; the same stream perturbed on purpose: fail: drift).

The registry holds the synthetic version `up` would train (the same rows, seed and code: the run's one
synthetic training, shared with test_training); `up` training an empty registry is test_stack's."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, cached_registry
from tests.stacks import Stack, needs_prometheus

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@needs_prometheus
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_synthetic_demo_finds_drift_only_where_it_was_put(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(cached_registry("synthetic", None), registry)
    stack = Stack(tmp_path / "state", registry)
    env = {**os.environ, "VOLCTL_CONFIG": str(stack.config), "NO_COLOR": "1", "COLUMNS": "160"}
    try:
        demo = subprocess.run(["make", "--no-print-directory", "demo", "DATA="], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=1200)
    finally:
        stack.run("down")
    out = demo.stdout + demo.stderr
    assert demo.returncode == 0, out[-4000:]
    assert "trained model" not in out  # the registry's version is served, not trained again
    served = stack_model(out)
    assert served.endswith("-synthetic"), out[:4000]  # trained on the synthetic source
    assert "held out, expected: pass: no drift. another seed (8) of the synthetic source" in out
    assert "(drift exit 0: expected 0" in out, out[-4000:]
    assert "perturbed on purpose (spreads 5x wider, every 4th tick), expected: fail: drift" in out
    assert "(drift exit 1: expected 1" in out, out[-4000:]
    assert "fail: drift:" in out and "moved:" in out  # the verdict names the features that moved
    assert "the SEEDED SYNTHETIC source" in demo.stdout.strip().splitlines()[-1]  # the closing line


def stack_model(out: str) -> str:
    """The version `health` names on its predict line: "predict /health │ pass │ … │ baseline VERSION"."""
    line = next(line for line in out.splitlines() if "predict /health" in line)
    return line.replace("│", " ").split()[-1]

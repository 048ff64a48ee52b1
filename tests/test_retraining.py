"""Learning from the stream on a real stack: the consume service records what it consumed, `volctl
model retrain` learns a version from that recording and adds it in shadow, and `volctl quality`
compares it with the served model, forecast included, on ticks after its training period."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.stacks import Stack, needs_prometheus
from volctl.domain.registry import Registry

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_prometheus]
EARLIER = "btc_eth_2026-04-04_0330-0519_flat_from_features.ndjson"  # 03:30-05:19, 27,625 ticks
LATER = "btcusd_2026-04-04_advtrade_live_messages.ndjson"  # 21:13-21:28 the same day


def _replay_and_drain(stack: Stack, path: Path, timeout_s: float = 120) -> None:
    result = stack.run("ingest", "--replay", str(path), "--speed", "0", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    stack.caught_up(timeout_s)


def test_the_stream_is_recorded_retrained_on_scored_in_shadow_and_judged_after(
        tmp_path: Path, week_registry: Path, shared_data: Path) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(week_registry, registry)  # served: a version of December 2025, before both replays
    served = Registry(registry).latest()
    stack = Stack(tmp_path / "state", registry)
    assert stack.run("up").returncode == 0
    try:
        assert stack.run("model", "retrain").returncode == 3  # nothing recorded yet: cannot, and says so
        _replay_and_drain(stack, shared_data / EARLIER)
        recorded = list((stack.state / "recording").glob("*/ticks-*.jsonl"))
        assert sum(len(f.read_bytes().splitlines()) for f in recorded) == 27_625  # every tick consumed, kept

        retrained = stack.run("model", "retrain", "--window", "365d", "--json", timeout=300)
        assert retrained.returncode == 0, retrained.stdout + retrained.stderr
        plan = json.loads(retrained.stdout)
        version = plan["version"]
        assert version != served and plan["target"].startswith(f"{version}:")
        manifest = Registry(registry).manifest(version)
        assert manifest["data"]["range"]["end"].startswith("2026-04-04T05:19")  # the recording, nothing else
        assert manifest["forecast"]["test"]["rows"] > 0 and plan["judged_from"] == manifest["data"]["range"]["end"]
        shadow = json.loads(stack.run("shadow", "list", "--json").stdout)["shadow"]
        challenger = f"{plan['target'].split(':')[1]}@{version}"
        assert challenger in {s["name"] for s in shadow}

        _replay_and_drain(stack, shared_data / LATER)  # ticks after the new version's training period
        quality = stack.run("quality", "--window", "20m", "--json")
        assert quality.returncode in (0, 1, 3), quality.stdout + quality.stderr
        report = json.loads(quality.stdout)
        assert report["version"] == served and report["start"] > plan["judged_from"]
        assert report["inside_training"] == ""  # neither version learnt from these ticks
        assert challenger in report["lifts"]  # scored beside the served model on the same ticks
        assert report["forecast"]["outcomes"] > 0 and challenger in report["forecast"]["shadow"], report["forecast"]
    finally:
        stack.run("down")

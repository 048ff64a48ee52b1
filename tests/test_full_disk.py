"""Issue 41, point 1: a full disk under the state dir and the registry. A real tmpfs of 4 MiB,
mounted by the test (it needs root, as in CI; skipped where mounting is not allowed), then filled."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA, InProcessPredict, volctl, write_config
from volctl.domain.files import MIN_FREE_BYTES, free_bytes

pytestmark = pytest.mark.integration
TOKEN = "full-disk-test-token"


@contextlib.contextmanager
def tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `mount` (skips the test where mounting is not allowed), unmounted after."""
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", "4m") as mount:
        yield mount


def fill(disk: Path) -> Path:
    """Write until the disk refuses; the filler's path (remove it to free the space)."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as handle:
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()
    assert free_bytes(disk) < MIN_FREE_BYTES
    return filler


def _switch(service: InProcessPredict, variant: str, version: str, **extra: object):
    return service.post("/admin/model", headers={"Authorization": f"Bearer {TOKEN}"},
                        json={"variant": variant, "version": version, "change_id": "full-disk-1", "actor": "test",
                              **extra})


def test_a_switch_on_a_full_disk_changes_nothing_and_says_so(disk: Path, trained_registry: Path) -> None:
    """It once served ml in predict (consume stayed on baseline), answered 500 and wrote no audit line."""
    from volctl.domain.settings import load_settings

    state = disk / "state"
    service = InProcessPredict(load_settings(overrides={
        "model.registry_dir": str(trained_registry), "model.variant": "baseline", "state_dir": str(state),
        "admin_token": TOKEN}))
    before = service.get("/version").json()
    filler = fill(disk)
    for extra in ({"dry_run": True}, {}):  # `volctl rollback` asks every service with a dry run first
        reply = _switch(service, "ml", before["version"], **extra)
        assert reply.status_code == 507, reply.text
        assert "disk" in reply.json()["detail"] and str(state) in reply.json()["detail"], reply.text
    assert service.get("/version").json()["model"] == "baseline"  # not switched in memory
    assert not (state / "model" / "served.json").exists()
    assert not [p for p in state.rglob("*") if p.name.endswith(".tmp")]  # no partial file left behind
    metrics = service.get("/metrics").text
    assert 'volatility_model_switches_total{outcome="disk_full"} 2.0' in metrics, metrics[-1500:]

    filler.unlink()  # space again: the same switch goes through, recorded and audited
    assert _switch(service, "ml", before["version"]).status_code == 200
    assert json.loads((state / "model" / "served.json").read_text())["variant"] == "ml"
    audit = [json.loads(line) for line in (state / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["outcome"] == "switched"


@pytest.mark.slow
def test_training_onto_a_full_disk_is_exit_3_naming_it_and_leaves_no_version(disk: Path, tmp_path: Path) -> None:
    """It was exit 4 ("this is a bug") and left a 0-byte ml.joblib in the new version's folder."""
    registry = disk / "registry"
    registry.mkdir()
    config = write_config(tmp_path / "volctl.toml", {"state_dir": str(tmp_path / "state"),
                                                     "model.registry_dir": str(registry)})
    fill(disk)
    week = SHARED_DATA / "btcusd_2025-11-30_to_12-06_advtrade"
    result = volctl("model", "train", "--data", str(week), env={"VOLCTL_CONFIG": str(config), "NO_COLOR": "1"},
                    timeout=600)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "the disk is full" in result.stderr, result.stderr
    assert str(registry) in result.stderr.replace("\n", ""), result.stderr
    assert "bug" not in result.stderr
    assert list(registry.iterdir()) == []  # no half-written version


@pytest.mark.e2e
@pytest.mark.slow
def test_rollback_on_a_full_disk_switches_nothing_and_exits_3(tmp_path: Path, trained_registry: Path) -> None:
    """The issue's own reproduction, on a real stack whose state dir is a tmpfs: `rollback --to ml`
    exited 1 with predict on ml and consume on baseline, no audit line, and health at 0."""
    import shutil

    from tests.stacks import Stack, started

    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed")
    with tmpfs(tmp_path / "disk", "256m") as mount:
        stack = Stack(mount / "state", trained_registry, {"model.variant": "baseline"})
        try:
            started(stack)
            filler = fill(mount)
            result = stack.run("rollback", "--to", "ml", "--yes", "--reason", "full disk test")
            output = result.stdout + result.stderr
            assert result.returncode == 3 and "the disk is full" in output, output
            assert "not switched" in result.stdout and "already serving" not in result.stdout, result.stdout
            served = {c["name"]: c["detail"] for c in stack.json("status") if c["name"] in ("predict", "consume")}
            assert all(detail.startswith("model baseline ") for detail in served.values()), served
            health = json.loads(stack.run("health", "--json").stdout)
            one = [c for c in health["checks"] if c["name"] == "one served model"]
            assert one and one[0]["ok"], health["checks"]  # predict and consume on the same model
            filler.unlink()
            again = stack.run("rollback", "--to", "ml", "--yes", "--reason", "space again")
            assert again.returncode == 0, again.stdout + again.stderr
        finally:
            stack.run("down")


def test_a_silence_on_a_full_disk_is_not_made_or_is_taken_back(disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`alerts silence` on a full disk exited 4 ("this is a bug"), the silence made and not audited."""
    import httpx

    from volctl.clients.alertmanager import AlertmanagerClient
    from volctl.core.monitoring import alerts as core_alerts
    from volctl.core.monitoring.alert_rules import alerts as catalogue
    from volctl.domain.errors import DiskFull
    from volctl.domain.settings import SloSettings

    calls: list[str] = []

    def alertmanager(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            return httpx.Response(200, json={"silenceID": "s-1"})
        return httpx.Response(200, json=[] if request.method == "GET" else None)

    client = AlertmanagerClient("http://am:9093", transport=httpx.MockTransport(alertmanager))
    incidents = disk / "incidents"
    incidents.mkdir()
    fill(disk)

    def silence() -> None:
        core_alerts.silence(client, catalogue(SloSettings()), TOKEN, "ServiceDown", 600, "restarting", "me",
                            incidents)

    with pytest.raises(DiskFull, match="the disk is full"):
        silence()
    assert calls == []  # refused before Alertmanager was asked
    from volctl.domain import files

    monkeypatch.setattr(files, "MIN_FREE_BYTES", 0)  # the disk fills between the check and the audit
    with pytest.raises(DiskFull, match=str(incidents)):
        silence()
    assert calls[0] == "POST /api/v2/silences" and calls[-1] == "DELETE /api/v2/silence/s-1"  # taken back

"""`volctl rollback` against the real running services: under load, audited, token-checked,
persisted across a restart, and all-or-nothing when one service cannot switch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, VOLCTL
from tests.stacks import Stack
from volctl.clients.processes import Supervisor

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, trained_registry: Path) -> Iterator[Stack]:
    registry = tmp_path_factory.mktemp("rollback") / "registry"
    shutil.copytree(trained_registry, registry)  # this module adds a version; others must not see it
    running = Stack(tmp_path_factory.mktemp("rollback-state"), registry)
    result = running.run("up")
    assert result.returncode == 0, result.stdout + result.stderr
    yield running
    running.run("down")


def _served(stack: Stack) -> dict[str, str]:
    return {name: httpx.get(stack.url(name) + "/version").json()["model"] for name in ("predict", "consume")}


def _switch_counter(stack: Stack, service: str, outcome: str) -> float:
    text = httpx.get(stack.url(service) + "/metrics").text
    line = f'volatility_model_switches_total{{outcome="{outcome}"}} '
    return next((float(row.split()[-1]) for row in text.splitlines() if row.startswith(line)), 0.0)


class Probe(threading.Thread):
    """Sequential /predict calls recording (send time, status, variant): which model answered when."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        features = httpx.get(stack.url("predict") + "/version").json()["features"]
        self.body = {"rows": [{name: 0.5 for name in features}]}
        self.url = stack.url("predict") + "/predict"
        self.seen: list[tuple[float, int, str]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                answer = client.post(self.url, json=self.body)
                self.seen.append((sent, answer.status_code, answer.json().get("model_variant", "?")))

    def variants_between(self, start: float, end: float) -> set[str]:
        return {variant for sent, _, variant in self.seen if start <= sent < end}


def test_the_stack_serves_the_recommended_variant_until_told_otherwise(stack: Stack) -> None:
    from volctl.domain.registry import Registry

    registry = Registry(Path(stack.config.read_text().split('registry_dir = "')[1].split('"')[0]))
    recommended = registry.manifest(registry.latest())["recommended_variant"]
    assert _served(stack) == {"predict": recommended, "consume": recommended}  # model.variant = auto
    assert stack.run("rollback", "--to", "ml", "--yes", "--reason", "test: start from ml").returncode == 0
    assert _served(stack) == {"predict": "ml", "consume": "ml"}
    listed = stack.json("model", "list")
    served = [(m["version"], v["variant"]) for m in listed for v in m["variants"] if v["served"]]
    assert served == [(registry.latest(), "ml")]  # `model list` says what is served now, not only auto's pick


def test_wrong_or_missing_token_is_refused_and_changes_nothing(stack: Stack) -> None:
    before = _served(stack)
    for service in ("predict", "consume"):
        url = stack.url(service) + "/admin/model"
        forbidden = _switch_counter(stack, service, "forbidden")
        assert httpx.post(url, json={"variant": "baseline"}).status_code == 401
        answer = httpx.post(url, json={"variant": "baseline"}, headers={"Authorization": "Bearer wrong"})
        assert answer.status_code == 403 and "wrong token" in answer.json()["detail"]
        assert _switch_counter(stack, service, "forbidden") == forbidden + 1
        token = (stack.state / "admin_token").read_text().strip()
        bad = httpx.post(url, content=b"{not json", headers={"Authorization": f"Bearer {token}"})
        assert bad.status_code == 400 and "not JSON" in bad.json()["detail"]
    assert _served(stack) == before
    dry = stack.run("rollback", "--to", "baseline", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert json.loads(dry.stdout)["changed"] is False and _served(stack) == before
    refused = stack.run("rollback", "--to", "baseline")  # no TTY, no --yes: refuses, changes nothing
    assert refused.returncode == 2 and "--yes" in refused.stderr and _served(stack) == before


def test_rollback_and_roll_forward_under_load_lose_no_request(stack: Stack) -> None:
    assert _served(stack) == {"predict": "ml", "consume": "ml"}
    env = {**os.environ, "VOLCTL_CONFIG": str(stack.config)}
    load = subprocess.Popen([VOLCTL, "load", "--rps", "100", "--duration", "8s", "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    probe = Probe(stack)
    probe.start()
    try:
        time.sleep(2)
        back = stack.run("rollback", "--to", "baseline", "--yes", "--reason", "test: spike storm", "--json")
        switched_back = time.monotonic()
        time.sleep(2)
        forwarding = time.monotonic()
        forward = stack.run("rollback", "--to", "ml", "--yes", "--reason", "test: fixed", "--json")
        switched_forward = time.monotonic()
        time.sleep(1)
    finally:
        probe.stop.set()
        out, err = load.communicate(timeout=60)
    for result in (back, forward):
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert report["ok"] and all(s["verified"] for s in report["plan"]["switches"])
        assert report["seconds"] > 0  # how fast is bench/rollback.py's business, not a test's
    sent = json.loads(out)
    assert sent["sent"] == 800 and sent["ok"] == 800 and not sent["errors"], err
    assert {status for _, status, _ in probe.seen} == {200}
    # Sent after the rollback returned (verified) and before the roll-forward began: baseline, no margin.
    assert probe.variants_between(switched_back, forwarding) == {"baseline"}
    assert probe.variants_between(switched_forward, float("inf")) == {"ml"}

    entries = json.loads(stack.run("rollback", "--history", "--json").stdout)
    switches = [e for e in entries if e["outcome"] == "switched"]
    assert [(e["service"], e["to"]["variant"]) for e in switches[-4:]] == [
        ("predict", "baseline"), ("consume", "baseline"), ("predict", "ml"), ("consume", "ml")]
    assert switches[-4]["reason"] == "test: spike storm" and "@" in switches[-4]["actor"]
    assert switches[-4]["change_id"] == switches[-3]["change_id"] != switches[-2]["change_id"]


def test_a_restart_keeps_the_rolled_back_model(stack: Stack) -> None:
    assert stack.run("rollback", "--to", "baseline", "--yes").returncode == 0
    supervisor = Supervisor(stack.state)
    for service in ("predict", "consume"):
        assert supervisor.stop(service, 10).pid is not None
    result = stack.run("up")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _served(stack) == {"predict": "baseline", "consume": "baseline"}
    assert stack.run("rollback", "--to", "ml", "--yes").returncode == 0


def test_one_served_model_a_lone_switch_is_refused_and_a_split_fails_health(stack: Stack) -> None:
    """Issue 38: one POST /admin/model to predict left predict on baseline and consume on ml, and
    health said healthy; after down and up each service restored its own choice."""
    assert stack.run("rollback", "--to", "ml", "--yes", "--reason", "test: start from ml").returncode == 0
    token = (stack.state / "admin_token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    lone = httpx.post(stack.url("predict") + "/admin/model", headers=auth,
                      json={"variant": "baseline", "actor": "mallory", "reason": "just predict"})
    assert lone.status_code == 409 and "volctl rollback --to baseline" in lone.json()["hint"], lone.text
    assert _served(stack) == {"predict": "ml", "consume": "ml"}
    audit = [json.loads(line) for line in (stack.state / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["outcome"] == "split_refused" and audit[-1]["actor"] == "mallory"
    healthy = stack.json("health")
    one = next(c for c in healthy["checks"] if c["name"] == "one served model")
    assert one["ok"] and one["detail"].startswith("predict and 1 consume member(s) serve ml "), one

    # A switch that claims a stack-wide change but reaches one service: health fails by name.
    split = httpx.post(stack.url("predict") + "/admin/model", headers=auth,
                       json={"variant": "baseline", "actor": "mallory", "change_id": "by-hand"})
    assert split.status_code == 200 and _served(stack) == {"predict": "baseline", "consume": "ml"}
    result = stack.run("health", "--json")
    one = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "one served model")
    assert result.returncode == 1 and not one["ok"] and "predict serves baseline" in one["detail"], one
    # `up` brings a running service that differs to the stack's recorded choice (predict's switch wrote it)
    up = stack.run("up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "one served model: switched consume to the recorded baseline" in " ".join(up.stdout.split()), up.stdout
    assert _served(stack) == {"predict": "baseline", "consume": "baseline"}
    again = stack.run("up")
    assert again.returncode == 0 and "one served model" not in again.stdout  # nothing to do
    assert stack.run("rollback", "--to", "ml", "--yes", "--reason", "test: one model again").returncode == 0
    assert _served(stack) == {"predict": "ml", "consume": "ml"}
    recorded = json.loads((stack.state / "model" / "served.json").read_text())  # the stack's one choice,
    assert recorded["variant"] == "ml" and recorded["change_id"] != "by-hand"  # which every service starts on


def test_when_consume_cannot_switch_predict_is_switched_back(stack: Stack) -> None:
    """A version made by a newer build, needing a feature this consume service does not compute:
    predict can load it, consume refuses, so predict must return to what it served."""
    assert stack.run("rollback", "--to", "baseline", "--yes").returncode == 0  # the rule loads any feature list
    registry = stack.config.read_text().split('registry_dir = "')[1].split('"')[0]
    current = httpx.get(stack.url("predict") + "/version").json()
    source = Path(registry) / current["version"]
    target = Path(registry) / "0000-needs-a-new-feature"  # sorts first: never "the newest version"
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = target.name
    manifest["features"] = [*manifest["features"], "order_book_imbalance"]
    (target / "manifest.json").write_text(json.dumps(manifest))

    result = stack.run("rollback", "--to", target.name, "--yes", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert "consume refused" in report["problem"] and "order_book_imbalance" in report["problem"]
    predict = report["plan"]["switches"][0]
    assert predict["changed"] and predict["reverted"]
    for service in ("predict", "consume"):
        assert httpx.get(stack.url(service) + "/version").json()["version"] == current["version"]
    assert stack.run("rollback", "--to", "ml", "--yes").returncode == 0


def test_the_guard_rolls_back_when_the_served_model_is_worse(stack: Stack, shared_data: Path,
                                                             trained_registry: Path) -> None:
    """Outcomes of a real replay, a year after the version's training (ticks it never saw), in
    which ml knows the label and the served baseline's scores are its upside down: `volctl quality`
    finds baseline worse than ml, and `volctl guard` (limit 2) switches both services to ml on its
    own, audited with its reason; the next evaluation starts counting afresh. (The real scores have
    no skill on these recordings: test_training.)"""
    from tests.test_outcomes import _outcomes_of_a_replay
    from volctl.domain.feature_log import JsonLinesLog
    from volctl.domain.outcomes import OUTCOMES_PREFIX, outcomes_folder

    assert stack.run("rollback", "--to", "baseline", "--yes").returncode == 0
    documents = _outcomes_of_a_replay(shared_data, trained_registry)
    for document in documents:
        document["ts"] += 365 * 86400
        document["served"] = "baseline"
        document["scores"]["ml"], document["labels"]["ml"] = float(document["label"]), document["label"]
        document["scores"]["baseline"] = 1 - document["scores"]["ml"]
        document["labels"]["baseline"] = 1 - document["labels"]["ml"]
    log = JsonLinesLog(outcomes_folder(stack.state), OUTCOMES_PREFIX)
    log.write(documents)
    log.close()
    quality = stack.run("quality", "--window", "30d")
    assert quality.returncode == 1 and "volctl rollback --to ml" in quality.stdout, quality.stdout

    dry = stack.run("guard", "--interval", "1s", "--failure-limit", "1", "--count", "1", "--window", "30d",
                    "--dry-run", "--json")
    assert json.loads(dry.stdout)["action"] == "would roll back" and _served(stack)["predict"] == "baseline"
    guard = stack.run("guard", "--interval", "1s", "--failure-limit", "2", "--count", "3", "--window", "30d",
                      "--json", timeout=120)
    assert guard.returncode == 0, guard.stdout + guard.stderr
    lines = [json.loads(line) for line in guard.stdout.splitlines()]
    assert [(e["verdict"], e["failures"], e["action"]) for e in lines] == [
        ("fail", 1, "none"), ("fail", 2, "rolled back"), ("fail", 1, "none")]  # then counts afresh
    assert "baseline worse than ml" in lines[1]["why"]
    assert _served(stack) == {"predict": "ml", "consume": "ml"}
    entries = json.loads(stack.run("rollback", "--history", "--json").stdout)
    assert entries[-1]["reason"].startswith("guard: baseline worse than ml") and entries[-1]["to"]["variant"] == "ml"


def test_a_challenger_added_in_shadow_is_verified_audited_and_kept_across_a_restart(stack: Stack) -> None:
    registry = Path(stack.config.read_text().split('registry_dir = "')[1].split('"')[0])
    served = httpx.get(stack.url("consume") + "/version").json()
    challenger = registry / "0002-challenger"  # sorts first: never "the newest version"
    shutil.copytree(registry / served["version"], challenger)
    manifest = json.loads((challenger / "manifest.json").read_text())
    manifest["version"] = challenger.name
    (challenger / "manifest.json").write_text(json.dumps(manifest))

    assert stack.run("shadow", "add", "nosuch:ml").returncode == 3
    added = stack.run("shadow", "add", f"{challenger.name}:ml", "--reason", "test: a challenger")
    assert added.returncode == 0, added.stdout + added.stderr
    listed = json.loads(stack.run("shadow", "list", "--json").stdout)["shadow"]
    names = {m["name"]: m for m in listed}
    assert names[f"ml@{challenger.name}"]["added"] and len(names) == 2  # plus the served version's other variant
    assert httpx.get(stack.url("predict") + "/version").json()["version"] == served["version"]  # served unchanged

    Supervisor(stack.state).stop("consume", 10)
    assert stack.run("up").returncode == 0
    listed = json.loads(stack.run("shadow", "list", "--json").stdout)["shadow"]
    assert f"ml@{challenger.name}" in {m["name"] for m in listed}  # kept across the restart

    assert stack.run("shadow", "remove", f"{challenger.name}:ml").returncode == 0
    assert stack.run("shadow", "remove", f"{challenger.name}:ml").returncode == 3  # nothing left to remove
    entries = json.loads(stack.run("rollback", "--history", "--json").stdout)
    outcomes = [e["outcome"] for e in entries if e["service"] == "consume"][-2:]
    assert outcomes == ["shadow_added", "shadow_removed"]
    assert httpx.post(stack.url("consume") + "/admin/model",
                      json={"action": "shadow_add", "variant": "ml", "version": challenger.name}).status_code == 401


def test_up_guard_keeps_the_guard_running_beside_the_stack(stack: Stack) -> None:
    result = stack.json("up", "--guard")
    components = {c["name"]: c["action"] for c in result["components"]}
    assert components["guard"] == "started" and components["predict"] == "running"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "failures in a row" not in stack.run("logs", "guard").stdout:
        time.sleep(0.5)
    assert "failures in a row" in stack.run("logs", "guard").stdout  # its first evaluation, one line
    status = {c["name"]: c["action"] for c in stack.json("status")}
    assert status["guard"] == "running"

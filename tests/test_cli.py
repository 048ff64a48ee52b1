"""The CLI through CliRunner and as the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import WEEK, free_port, ports_env
from volctl.cli.app import app
from volctl.domain.registry import Registry

ENV = {"NO_COLOR": "1", "COLUMNS": "120"}
HEAVY_MODULES = ("sklearn", "pandas", "evidently", "kafka", "scipy", "fastapi")


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env={**ENV, **(env or {})})


def _command_paths() -> list[list[str]]:
    """Every group and command of the real app, found by walking it (a new command is covered at once)."""
    import typer

    paths: list[list[str]] = []

    def walk(command, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "volctl")
def test_every_command_has_help(path: list[str]) -> None:
    result = _run(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = f"import sys, volctl.cli.app; print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_model_list_json_and_table(trained_registry: Path) -> None:
    env = {"VOLCTL_MODEL_REGISTRY_DIR": str(trained_registry)}
    result = _run("model", "list", "--json", env=env)
    assert result.exit_code == 0
    models = json.loads(result.stdout)
    assert models[0]["synthetic"] is False
    assert {v["variant"] for v in models[0]["variants"]} == {"ml", "baseline"}
    assert all(v["served"] is None for v in models[0]["variants"])  # no predict answers: unknown, not "no"
    table = _run("model", "list", env=env)
    assert models[0]["version"] in table.stdout and "PR-AUC" in table.stdout and "unknown" in table.stdout


def test_model_list_with_an_empty_registry(tmp_path: Path) -> None:
    result = _run("model", "list", "--json", env={"VOLCTL_MODEL_REGISTRY_DIR": str(tmp_path)})
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_train_from_the_cli_on_real_data(shared_data: Path, tmp_path: Path, week_registry: Path) -> None:
    """Through the CLI into the state dir's registry; the week is trained once per run (the cached
    registry), so this training finds its twin there: the same rows, seed and code."""
    shutil.copytree(week_registry, tmp_path / "models")
    result = _run("model", "train", "--data", str(shared_data / WEEK), "--json",
                  env={"VOLCTL_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["identical_to"] == document["version"] == Registry(week_registry).latest()
    assert (tmp_path / "models" / document["version"] / "manifest.json").is_file()


def test_train_errors_say_what_and_what_next(tmp_path: Path, shared_data: Path) -> None:
    missing = _run("model", "train", "--data", str(tmp_path / "absent"), env={"VOLCTL_STATE_DIR": str(tmp_path)})
    assert missing.exit_code == 3
    assert "does not exist" in missing.output and "hint:" in missing.output
    short = _run("model", "train", "--data", str(shared_data / "btcusd_2025-11-08_advtrade_ticker.ndjson"),
                 env={"VOLCTL_STATE_DIR": str(tmp_path)})
    assert short.exit_code == 3 and "Traceback" not in short.output


def test_bad_config_exits_3_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[predict]\nport = 'x'\n")
    result = _run("--config", str(config), "model", "list")
    assert result.exit_code == 3 and "must be int" in result.output and "Traceback" not in result.output


def _nothing_listening(tmp_path: Path) -> dict[str, str]:
    return {**ports_env(), "VOLCTL_STATE_DIR": str(tmp_path)}


def test_health_with_nothing_running_exits_3(tmp_path: Path) -> None:
    result = _run("health", "--json", env=_nothing_listening(tmp_path))
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert document["healthy"] is False
    assert document["unreachable"] == ["predict", "consume", "broker", "prometheus", "alertmanager"]


@pytest.mark.integration
def test_health_against_a_running_service(start_predict, trained_registry: Path, tmp_path: Path) -> None:
    service = start_predict(trained_registry, "--variant", "ml")  # the file tampered with below
    port = service.url.rsplit(":", 1)[1]
    env = {**_nothing_listening(tmp_path), "VOLCTL_PREDICT_PORT": port,
           "VOLCTL_MODEL_REGISTRY_DIR": str(trained_registry)}
    result = _run("health", "--json", env=env)
    assert result.exit_code == 1, result.output  # predict answers; the rest of the stack does not
    document = json.loads(result.stdout)
    checks = {c["name"]: c for c in document["checks"]}
    assert checks["predict /health"]["ok"] and checks["model sha256"]["ok"] and checks["predict round trip"]["ok"]
    assert document["unreachable"] == ["consume", "broker", "prometheus", "alertmanager"]
    other = tmp_path / "other"  # a registry whose ml differs from the one served
    shutil.copytree(trained_registry, other)
    manifest_path = next(p for p in other.iterdir()) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["variants"]["ml"]["params"]["intercept"] += 1  # edited by hand: its sha256 no longer matches
    manifest_path.write_text(json.dumps(manifest))
    result = _run("health", env={**env, "VOLCTL_MODEL_REGISTRY_DIR": str(other)})
    assert result.exit_code == 1 and "does not match" in result.stdout, result.output


def test_installed_console_script(trained_registry: Path) -> None:
    script = shutil.which("volctl", path=str(Path(sys.executable).parent))
    assert script, "the volctl console script is not installed next to this python"
    env = {**os.environ, **ENV, "VOLCTL_MODEL_REGISTRY_DIR": str(trained_registry)}
    assert subprocess.run([script, "--help"], capture_output=True, env=env, check=False).returncode == 0
    listed = subprocess.run([script, "model", "list", "--json"], capture_output=True, text=True, env=env, check=False)
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["variants"]


def test_ingest_needs_exactly_one_source() -> None:
    assert _run("ingest").exit_code == 2
    assert _run("ingest", "--synthetic", "--live").exit_code == 2
    result = _run("ingest", "--synthetic", "--record", "x.ndjson")
    assert result.exit_code == 2 and "--record works with --live" in result.output


def test_ingest_says_what_is_wrong_without_a_traceback(tmp_path: Path) -> None:
    missing = _run("ingest", "--replay", str(tmp_path / "nope.ndjson"))
    assert missing.exit_code == 3 and "does not exist" in missing.output and "Traceback" not in missing.output
    port = free_port()  # nothing listens there
    result = _run("ingest", "--synthetic", "--limit", "1", env={"VOLCTL_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"})
    assert result.exit_code == 3 and f"Kafka at 127.0.0.1:{port} does not answer" in result.output


def test_runbook_show_and_check_answer_in_json(tmp_path) -> None:
    shown = _run("runbook", "show", "high-latency", "--json")
    document = json.loads(shown.stdout)
    assert shown.exit_code == 0 and document["name"] == "high-latency"
    assert all(step["command"][0] == "volctl" for step in document["steps"])
    assert any(step["changes_state"] for step in document["steps"])  # it can end in a rollback
    checked = _run("runbook", "check", "--json")
    assert checked.exit_code == 0 and all(r["ok"] and r["problems"] == [] for r in json.loads(checked.stdout))
    broken = tmp_path / "broken.md"
    broken.write_text("# Broken\n\nWhen: never.\n\n## 1. Nothing\n\n```volctl\nvolctl nosuchcommand\n```\n")
    refused = _run("runbook", "check", str(broken), "--json")
    (found,) = json.loads(refused.stdout)
    assert refused.exit_code == 1 and not found["ok"] and "nosuchcommand" in " ".join(found["problems"])

"""One config model: defaults < file < VOLCTL_* environment < flags; bad input is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from volctl.domain.errors import ConfigError
from volctl.domain.settings import load_settings


def test_precedence(tmp_path: Path) -> None:
    config = tmp_path / "loader.toml"
    config.write_text('state_dir = "/tmp/s"\n[predict]\nport = 8100\nhost = "0.0.0.0"\n[slo]\nerror_rate = 0.02\n')
    settings = load_settings(config, env={"VOLCTL_PREDICT_PORT": "8200"}, overrides={"predict.host": "::1"})
    assert settings.state_dir == "/tmp/s"
    assert settings.predict.port == 8200
    assert settings.predict.host == "::1"
    assert settings.slo.error_rate == 0.02
    assert settings.consume.port == 8001 and settings.kafka.topic_raw == "ticks.raw"
    assert settings.registry_path == Path("/tmp/s/models")


@pytest.mark.parametrize(("text", "env", "message"), [
    ("[predict]\nprot = 1\n", {}, "unknown config key 'predict.prot'"),
    ("[nope]\nx = 1\n", {}, "unknown config section 'nope'"),
    ("[predict]\nport = 'abc'\n", {}, "must be int"),
    ("[predict\n", {}, "not valid TOML"),
    ("", {"VOLCTL_SLO_ERROR_RATE": "lots"}, "VOLCTL_SLO_ERROR_RATE"),
])
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, env: dict, message: str) -> None:
    config = tmp_path / "loader.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(config, env=env)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.toml", env={})

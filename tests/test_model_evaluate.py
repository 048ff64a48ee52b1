"""`volctl model evaluate` scores recordings a version never saw; `model show --html` draws its curves
(issue 14, point 4). The version here is trained on one week of BTC only, so later recordings are out
of time."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from volctl.cli.app import app

WEEK = "btcusd_2025-11-30_to_12-06_advtrade"
LATER = ("btc_eth_2026-04-03_flat.ndjson", "btc_eth_2026-04-04_flat_with_sizes.ndjson")


@pytest.fixture(scope="module")
def week_registry(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    from volctl.core.dataset import load_dataset
    from volctl.core.training import train_model
    from volctl.domain.registry import Registry

    root = tmp_path_factory.mktemp("week-registry")
    train_model(load_dataset([shared_data / WEEK]), Registry(root))
    return root


def _run(registry: Path, *args: str):
    env = {"NO_COLOR": "1", "COLUMNS": "80", "VOLCTL_MODEL_REGISTRY_DIR": str(registry)}
    return CliRunner().invoke(app, ["model", *args], env=env)


def test_later_recordings_are_scored_with_every_variant_per_file_and_pooled(
        week_registry: Path, shared_data: Path, tmp_path: Path) -> None:
    data = [arg for name in LATER for arg in ("--data", str(shared_data / name))]
    page = tmp_path / "evaluate.html"
    result = _run(week_registry, "evaluate", *data, "--json", "--html", str(page))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [part["name"] for part in document["parts"]] == list(LATER)
    assert not any(part["overlaps_training"] for part in document["parts"])
    pooled = document["pooled"]
    assert pooled["labelled"] == sum(part["labelled"] for part in document["parts"]) > 0
    for part in (*document["parts"], pooled):
        assert set(part["metrics"]) == {"ml", "baseline"}
        for metrics in part["metrics"].values():
            low, high = metrics["pr_auc_interval"]
            assert low <= metrics["pr_auc"] <= high and metrics["rows"] == part["labelled"]
    assert pooled["recommendation"]["variant"] in ("ml", "baseline")

    text = _run(week_registry, "evaluate", *data).output
    assert "90 % interval" in text and "ml − baseline PR-AUC" in text
    assert re.search(r"│ ml +│ +0\.\d{3} │ +0\.\d{3}–\d\.\d{3} │", text)
    assert re.search(r"│ baseline +│ +0\.\d{3} │ +0\.\d{3}–\d\.\d{3} │", text)
    html = page.read_text()
    assert html.count("<svg") == 4 and "ml: precision-recall" in html and "baseline: reliability" in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "<script" not in html  # opens offline


def test_a_recording_inside_the_training_period_is_flagged(week_registry: Path, shared_data: Path) -> None:
    inside = shared_data / WEEK / "ticks_BTCUSD_20251205_203300.ndjson"  # in the train split
    document = json.loads(_run(week_registry, "evaluate", "--data", str(inside), "--json").stdout)
    assert document["parts"][0]["overlaps_training"] is True


def test_nothing_labelled_is_exit_3_with_the_counts(week_registry: Path, shared_data: Path) -> None:
    result = _run(week_registry, "evaluate", "--data", str(shared_data / "btcusd_2025-11-08_advtrade_ticker.ndjson"))
    assert result.exit_code == 3, result.output
    assert "cannot evaluate" in result.output and "warm-up" in result.output
    assert _run(week_registry, "evaluate").exit_code == 3  # no --data: says what to give


def test_model_show_html_draws_both_variants(week_registry: Path, tmp_path: Path) -> None:
    page = tmp_path / "show.html"
    result = _run(week_registry, "show", "--html", str(page))
    assert result.exit_code == 0, result.output
    html = page.read_text()
    for variant in ("ml", "baseline"):
        assert f"{variant}: precision-recall" in html and f"{variant}: reliability" in html
    points = [float(v) for pair in re.findall(r'points="([^"]+)"', html) for xy in pair.split() for v in xy.split(",")]
    assert points and all(0 <= v <= 340 for v in points)  # every point inside the 340 x 330 drawing

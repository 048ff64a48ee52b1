"""`volctl drift report` on real recordings: different periods drift, a period against itself does
not, too little data is "cannot check", and the feature log against the model's reference works
end to end (with the gauges the consume service exports)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.conftest import volctl, write_config
from volctl.domain.features import FEATURES

pytestmark = pytest.mark.integration  # drift reports run as processes (Evidently: ~8 s to import)
DEC_1 = "btcusd_2025-12-01_advtrade_ticker_10min.ndjson"  # BTC ~85k, one product, with bid/ask
APR_3 = "btc_eth_2026-04-03_flat.ndjson"  # four months later, BTC and ETH interleaved
NOV_8 = "btcusd_2025-11-08_advtrade_ticker.ndjson"  # 223 ticks


def _config(tmp_path: Path, registry: Path | None = None) -> Path:
    settings: dict[str, object] = {"state_dir": str(tmp_path / "state")}
    if registry:
        settings["model.registry_dir"] = str(registry)
    return write_config(tmp_path / "volctl.toml", settings)


def _drift(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return volctl("drift", "report", *args, env={"VOLCTL_CONFIG": str(config), "NO_COLOR": "1", "COLUMNS": "160"})


def test_a_later_period_drifts_feature_by_feature(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "report"
    result = _drift(_config(tmp_path), "--reference", str(shared_data / DEC_1), "--current", str(shared_data / APR_3),
                    "--out", str(out), "--json")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert [f["name"] for f in report["features"]] == list(FEATURES)
    assert all(f["method"] and f["score"] is not None for f in report["features"])
    assert report["drifted"] and report["share"] == len(report["drifted"]) / len(FEATURES)
    assert result.returncode == (1 if report["share"] > 0.5 else 0)
    assert (out / "drift.html").stat().st_size > 100_000  # Evidently's own page
    markdown = (out / "drift.md").read_text()
    assert "| feature | test | score |" in markdown and report["drifted"][0] in markdown
    assert json.loads((tmp_path / "state" / "drift" / "latest.json").read_text())["share"] == report["share"]

    human = _drift(_config(tmp_path), "--reference", str(shared_data / DEC_1), "--current",
                   str(shared_data / APR_3), "--out", str(out), "--threshold", "0.9")
    assert human.returncode == 0 and "no drift" in human.stdout and "Wasserstein" in human.stdout


def test_a_period_against_itself_does_not_drift(tmp_path: Path, shared_data: Path) -> None:
    path = str(shared_data / DEC_1)
    result = _drift(_config(tmp_path), "--reference", path, "--current", path, "--out", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["share"] == 0 and not report["drift"] and len(report["features"]) == len(FEATURES)


def test_too_little_current_data_is_cannot_check_with_the_counts(tmp_path: Path, shared_data: Path) -> None:
    result = _drift(_config(tmp_path), "--reference", str(shared_data / DEC_1), "--current", str(shared_data / NOV_8))
    assert result.returncode == 3
    assert "0 rows" in result.stderr and "need 500" in result.stderr and "Traceback" not in result.stderr
    assert "223 warm-up or unquoted rows left out" in result.stderr  # 43 s of ticks: all in warm-up


def test_feature_log_window_against_the_model_reference(tmp_path: Path, shared_data: Path,
                                                        trained_registry: Path) -> None:
    """The consume service's feature log (written by the real FeatureLog) over --window, against
    reference.parquet of the newest model version; then the consume service's drift gauges."""
    from volctl.core.model.dataset import load_dataset
    from volctl.domain.drift_metrics import DriftCollector, latest_summary_path
    from volctl.domain.feature_log import FeatureLog

    frame = load_dataset([shared_data / DEC_1]).frame
    log = FeatureLog(tmp_path / "state" / "features", rows_per_file=1000)
    log.append((row.ts, row.product, [getattr(row, name) for name in FEATURES], 0.5)
               for row in frame.itertuples(index=False))
    log.close()
    from volctl.domain.feature_log import JsonLinesLog
    from volctl.domain.outcomes import OUTCOMES_PREFIX, outcomes_folder

    version = json.loads((trained_registry / sorted(p.name for p in trained_registry.iterdir())[-1]
                          / "manifest.json").read_text())["version"]
    outcomes = JsonLinesLog(outcomes_folder(tmp_path / "state"), OUTCOMES_PREFIX)
    newest = float(frame["ts"].max())
    outcomes.write({"ts": newest - i, "product_id": "BTC-USD", "label": i % 4 == 0, "served": "ml",
                    "version": version, "labels": {"ml": i % 2 == 0}, "scores": {"ml": 0.5},
                    "source": {"topic": "ticks.raw", "partition": 0, "offset": i, "index": 0}} for i in range(100))
    outcomes.write({"ts": newest - 3600, "product_id": "BTC-USD", "label": 1, "served": "ml", "version": version,
                    "labels": {"ml": 1}, "scores": {"ml": 0.5},
                    "source": {"topic": "ticks.raw", "partition": 0, "offset": 999, "index": 0}} for _ in range(1))
    outcomes.close()
    result = _drift(_config(tmp_path, trained_registry), "--window", "5m", "--min-rows", "100", "--json")
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    quality = report["quality"]  # beside the verdict: the served model's realised quality in the window
    assert quality["labelled"] == 100 and quality["precision"] == 0.5 and quality["recall"] == 1.0
    assert "test_precision" in quality
    assert report["reference"].startswith("training split of model ")
    assert "feature log, last 5m" in report["current"]
    assert 100 < report["current_rows"] < len(frame) * 0.6  # 5 of the recording's 10 minutes
    assert len(report["features"]) == len(FEATURES)
    assert report["calibrated"] and "of 5 min" in report["calibration"]  # the window's own calibration
    predictions = {row["name"]: row for row in report["predictions"]}  # every logged score is 0.5 here
    scores = next(row for name, row in predictions.items() if name.endswith(" scores"))
    assert scores["score"] > 0 and scores["threshold"] > 0 and scores["method"] == "wasserstein"

    registry = CollectorRegistry()
    registry.register(DriftCollector(latest_summary_path(tmp_path / "state")))
    text = generate_latest(registry).decode()
    assert f"volatility_drift_share {report['share']}" in text
    assert 'volatility_feature_drifted{feature="ret_std_60s"}' in text
    threshold = next(f["threshold"] for f in report["features"] if f["name"] == "ret_std_60s")
    assert f'volatility_drift_score_threshold{{calibrated="true",feature="ret_std_60s"}} {threshold}' in text


def test_no_current_data_yet(tmp_path: Path, trained_registry: Path) -> None:
    result = _drift(_config(tmp_path, trained_registry))
    assert result.returncode == 3 and "0 rows" in result.stderr and "consume service running" in result.stderr
